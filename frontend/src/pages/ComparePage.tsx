import { useState, type FormEvent } from "react";
import { Link, useSearchParams } from "react-router-dom";
import { useCompareTraces, type ScoredTrace } from "../api/traces";
import { ErrorMessage } from "../components/ErrorMessage";
import { TraceBody } from "../components/TraceBody";
import { formatDate, formatScore, shortId } from "../lib/format";

type Side = "base" | "other";

export function ComparePage() {
  const [params, setParams] = useSearchParams();
  const base = params.get("base") ?? "";
  const other = params.get("other") ?? "";
  const compare = useCompareTraces(base, other);
  const data = compare.data;

  const winner = data ? pickWinner(data.base.score, data.other.score) : null;

  return (
    <div className="page">
      <p><Link to="/traces">← All traces</Link></p>
      <h1>Compare traces</h1>
      <CompareForm key={`${base}|${other}`} base={base} other={other}
        onSubmit={(b, o) => setParams({ base: b, other: o })} />
      <ErrorMessage error={compare.error} testId="compare:error" />
      {compare.isLoading && <p className="hint">Loading…</p>}
      {data && (
        <>
          <p className="compare-summary" data-testid="compare:summary">
            {winner === "tie"
              ? "Both traces score the same."
              : `${winner === "base" ? "Base" : "Other"} scores higher by ${formatScore(
                  Math.abs(data.base.score - data.other.score))} points.`}
          </p>
          <div className="compare-grid">
            <CompareColumn side="base" trace={data.base} wins={winner === "base"} />
            <CompareColumn side="other" trace={data.other} wins={winner === "other"} />
          </div>
        </>
      )}
    </div>
  );
}

function pickWinner(base: number, other: number): Side | "tie" {
  if (base === other) return "tie";
  return base > other ? "base" : "other";
}

function CompareColumn({ side, trace, wins }: { side: Side; trace: ScoredTrace; wins: boolean }) {
  return (
    <section className={`panel compare-column${wins ? " winner" : ""}`}
      data-testid={`compare:${side}`} data-winner={wins}>
      <h2>
        {side === "base" ? "Base" : "Other"}{" "}
        <Link to={`/traces/${trace.id}`} className="mono" title={trace.id}>{shortId(trace.id)}</Link>
      </h2>
      <p className="hint">{formatDate(trace.created_at)} · v{trace.trace_version}</p>
      <p className="score">
        Score <strong data-testid={`compare:${side}-score`}>{formatScore(trace.score)}</strong> / 100
        {wins && <span className="badge" data-testid="compare:winner">higher</span>}
      </p>
      <TraceBody trace={trace.payload} />
    </section>
  );
}

interface FormProps {
  base: string;
  other: string;
  onSubmit: (base: string, other: string) => void;
}

/** Two id boxes, so any pair can be compared (the list's checkboxes fill them). */
function CompareForm({ base, other, onSubmit }: FormProps) {
  const [b, setB] = useState(base);
  const [o, setO] = useState(other);
  const submit = (event: FormEvent) => {
    event.preventDefault();
    onSubmit(b.trim(), o.trim());
  };
  return (
    <form className="filters" onSubmit={submit}>
      <label className="field wide">
        <span>Base trace ID</span>
        <input value={b} onChange={(e) => setB(e.target.value)} data-testid="compare:base-input" />
      </label>
      <label className="field wide">
        <span>Other trace ID</span>
        <input value={o} onChange={(e) => setO(e.target.value)} data-testid="compare:other-input" />
      </label>
      <div className="filter-actions">
        <button type="submit" data-testid="compare:go" disabled={!b.trim() || !o.trim()}>
          Compare
        </button>
        <button type="button" className="secondary" onClick={() => onSubmit(other, base)}
          data-testid="compare:swap" disabled={!base || !other}>
          Swap
        </button>
      </div>
    </form>
  );
}
