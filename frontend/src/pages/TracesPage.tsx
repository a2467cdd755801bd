import { useState } from "react";
import { useNavigate, useSearchParams } from "react-router-dom";
import { useTraceCount, useTraceList, type TraceFilters } from "../api/traces";
import { ErrorMessage } from "../components/ErrorMessage";
import { TraceFilterBar, type FilterForm } from "../components/TraceFilterBar";
import { TraceTable } from "../components/TraceTable";
import { UploadPanel } from "../components/UploadPanel";
import { dayStartIso, parseMetaFilter, shortId } from "../lib/format";

const PAGE_SIZE = 20;

/** Filters and the page offset live in the URL, so reload and back keep the view. */
function readForm(params: URLSearchParams): FilterForm {
  const get = (key: string) => params.get(key) ?? "";
  return { q: get("q"), meta: get("meta"), from: get("from"), to: get("to") };
}

function toFilters(form: FilterForm): TraceFilters {
  return {
    q: form.q.trim() || undefined,
    meta: parseMetaFilter(form.meta),
    createdAfter: form.from ? dayStartIso(form.from) : undefined,
    createdBefore: form.to ? dayStartIso(form.to, 1) : undefined,
  };
}

export function TracesPage() {
  const [params, setParams] = useSearchParams();
  const form = readForm(params);
  const filters = toFilters(form); // query keys compare by value, so no memo needed
  const offset = Math.max(0, Number(params.get("offset")) || 0);

  const list = useTraceList(filters, PAGE_SIZE, offset);
  const count = useTraceCount(filters);
  const [selected, setSelected] = useState<string[]>([]);

  const update = (next: Record<string, string>) => {
    const merged = new URLSearchParams();
    for (const [key, value] of Object.entries({ ...Object.fromEntries(params), ...next })) {
      if (value && !(key === "offset" && value === "0")) merged.set(key, value);
    }
    setParams(merged);
  };
  const applyFilters = (next: FilterForm) => update({ ...next, offset: "0" });
  const toggle = (id: string) =>
    setSelected((prev) => (prev.includes(id) ? prev.filter((x) => x !== id) : [...prev, id].slice(-2)));

  const rows = list.data?.data ?? [];
  const nextOffset = list.data?.pagination.next_offset ?? null;

  return (
    <div className="page two-column">
      <div className="main-column">
        <h1>Traces</h1>
        <TraceFilterBar key={params.toString()} initial={form} onApply={applyFilters} />
        <CompareBar selected={selected} onClear={() => setSelected([])} />
        <ErrorMessage error={list.error} testId="traces:error" />
        {rows.length > 0 ? (
          <TraceTable traces={rows} selected={selected} onToggle={toggle} />
        ) : (
          <p className="hint" data-testid="traces:empty">
            {list.isPending ? "Loading…" : "No traces match."}
          </p>
        )}
        <div className="pager">
          <button type="button" className="secondary" data-testid="traces:prev"
            disabled={offset === 0}
            onClick={() => update({ offset: String(Math.max(0, offset - PAGE_SIZE)) })}>
            ← Prev
          </button>
          <span data-testid="traces:range">
            {rows.length ? `${offset + 1}–${offset + rows.length}` : "0"}
            {count.data !== undefined && <> of <span data-testid="traces:count">{count.data}</span></>}
          </span>
          <button type="button" className="secondary" data-testid="traces:next"
            disabled={nextOffset === null || list.isPlaceholderData}
            onClick={() => update({ offset: String(nextOffset) })}>
            Next →
          </button>
        </div>
      </div>
      <aside className="side-column">
        <UploadPanel />
      </aside>
    </div>
  );
}

function CompareBar({ selected, onClear }: { selected: string[]; onClear: () => void }) {
  const navigate = useNavigate();
  const [base, other] = selected;
  return (
    <div className="compare-bar" data-testid="compare:bar">
      <span>
        Compare:{" "}
        {selected.length ? selected.map(shortId).join(" vs ") : "tick two traces"}
      </span>
      <button type="button" data-testid="compare:submit" disabled={!base || !other}
        onClick={() => navigate(`/traces/compare?base=${base}&other=${other}`)}>
        Compare selected
      </button>
      {selected.length > 0 && (
        <button type="button" className="secondary" onClick={onClear} data-testid="compare:clear">
          Clear selection
        </button>
      )}
    </div>
  );
}
