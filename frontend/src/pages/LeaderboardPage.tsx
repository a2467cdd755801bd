import { useState } from "react";
import { Link, useSearchParams } from "react-router-dom";
import { useLeaderboard } from "../api/evals";
import { ErrorMessage } from "../components/ErrorMessage";
import { StatusBadge } from "../components/StatusBadge";
import { dayStartIso, formatDate, shortId } from "../lib/format";
import { formatNumber } from "../lib/runs";

const PAGE_SIZE = 20;

export function LeaderboardPage() {
  const [params, setParams] = useSearchParams();
  const get = (key: string) => params.get(key) ?? "";
  const offset = Math.max(0, Number(params.get("offset")) || 0);
  const filters = {
    ...(get("dataset_key") ? { dataset_key: get("dataset_key") } : {}),
    // name@version or name@alias is a registered model; anything else a base model id.
    ...(get("model_id") ? (get("model_id").includes("@") ? { model: get("model_id") } : { model_id: get("model_id") }) : {}),
    ...(get("from") ? { evaluated_after: dayStartIso(get("from")) } : {}),
    ...(get("to") ? { evaluated_before: dayStartIso(get("to"), 1) } : {}),
  };
  const board = useLeaderboard(filters, PAGE_SIZE, offset);
  const rows = board.data?.data ?? [];
  const nextOffset = board.data?.pagination.next_offset ?? null;
  const [form, setForm] = useState({
    dataset_key: get("dataset_key"), model_id: get("model_id"), from: get("from"), to: get("to"),
  });

  const update = (next: Record<string, string>) => {
    const merged = new URLSearchParams();
    for (const [key, value] of Object.entries({ ...Object.fromEntries(params), ...next })) {
      if (value && !(key === "offset" && value === "0")) merged.set(key, value);
    }
    setParams(merged);
  };
  const metricNames = [...new Set(rows.flatMap((row) => Object.keys(row.metrics ?? {})))]
    .filter((name) => name !== "score").slice(0, 4);

  return (
    <div className="page">
      <h1>Leaderboard</h1>
      <p className="hint">One row per run (its latest evaluation), best score first.</p>
      <form className="filters" onSubmit={(e) => { e.preventDefault(); update({ ...form, offset: "0" }); }}>
        <label className="field">Dataset
          <input value={form.dataset_key} data-testid="leaderboard:dataset"
            onChange={(e) => setForm({ ...form, dataset_key: e.target.value })} />
        </label>
        <label className="field">Model
          <input value={form.model_id} data-testid="leaderboard:model" placeholder="model id or name@alias"
            onChange={(e) => setForm({ ...form, model_id: e.target.value })} />
        </label>
        <label className="field">Evaluated from
          <input type="date" value={form.from} data-testid="leaderboard:from"
            onChange={(e) => setForm({ ...form, from: e.target.value })} />
        </label>
        <label className="field">to
          <input type="date" value={form.to} data-testid="leaderboard:to"
            onChange={(e) => setForm({ ...form, to: e.target.value })} />
        </label>
        <div className="filter-actions">
          <button type="submit" data-testid="leaderboard:apply">Apply</button>
          <button type="button" className="secondary" data-testid="leaderboard:clear"
            onClick={() => { setForm({ dataset_key: "", model_id: "", from: "", to: "" }); setParams(new URLSearchParams()); }}>
            Clear
          </button>
        </div>
      </form>
      <ErrorMessage error={board.error} testId="leaderboard:error" />
      {rows.length === 0 ? (
        <p className="hint" data-testid="leaderboard:empty">{board.isPending ? "Loading…" : "No evaluated runs match."}</p>
      ) : (
        <table className="table" data-testid="leaderboard:list">
          <thead>
            <tr><th>#</th><th>Run</th><th>Model</th><th>Dataset</th><th>Score</th><th>Verdict</th>
              {metricNames.map((m) => <th key={m}>{m}</th>)}<th>Evaluated</th></tr>
          </thead>
          <tbody>
            {rows.map((row, i) => (
              <tr key={row.run_id} data-testid="leaderboard:row" data-run-id={row.run_id}>
                <td>{offset + i + 1}</td>
                <td><Link to={`/runs/${row.run_id}`} className="mono" data-testid="leaderboard:run-link">{shortId(row.run_id)}</Link></td>
                <td>
                  <span className="mono">{row.model_id}</span>
                  {(row.registered_as ?? []).map((ref) => (
                    <Link key={ref} to={`/models/${encodeURIComponent(ref.split("@")[0] ?? ref)}`}
                      className="badge" data-testid="leaderboard:registered" title="Registered as">
                      {ref}
                    </Link>
                  ))}
                </td>
                <td>{row.dataset_key ?? "—"}</td>
                <td data-testid="leaderboard:score">{formatNumber(row.score, 4)}</td>
                <td><StatusBadge status={row.verdict} testId="leaderboard:verdict" /></td>
                {metricNames.map((m) => <td key={m}>{formatNumber(row.metrics?.[m], 4)}</td>)}
                <td className="nowrap">{formatDate(row.evaluated_at)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <div className="pager">
        <button type="button" className="secondary" data-testid="leaderboard:prev" disabled={offset === 0}
          onClick={() => update({ offset: String(Math.max(0, offset - PAGE_SIZE)) })}>← Prev</button>
        <span data-testid="leaderboard:range">{rows.length ? `${offset + 1}–${offset + rows.length}` : "0"}</span>
        <button type="button" className="secondary" data-testid="leaderboard:next"
          disabled={nextOffset === null || board.isPlaceholderData}
          onClick={() => update({ offset: String(nextOffset) })}>Next →</button>
      </div>
    </div>
  );
}
