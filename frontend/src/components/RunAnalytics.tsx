import { useState } from "react";
import { statsCsvUrl, useRunStats, type StatsFilters, type StatsKind } from "../api/stats";
import { ErrorMessage } from "./ErrorMessage";
import {
  DurationChart, formatRate, GroupTable, RunsPerDayChart, StatusCountsChart,
} from "./RunStatsCharts";

const STATS_KINDS: StatsKind[] = ["train", "evaluate", "tune", "all"];
const STATS_RANGES: { label: string; days: number | null }[] = [
  { label: "7 days", days: 7 }, { label: "30 days", days: 30 }, { label: "all time", days: null },
];

function daysAgo(days: number | null): string | undefined {
  if (days === null) return undefined;
  return new Date(Date.now() - days * 86_400_000).toISOString().slice(0, 10);
}

/** Run analytics: status counts, runs per day, duration percentiles (GET /api/tunix/runs/stats). */
export function RunAnalytics() {
  const [kind, setKind] = useState<StatsKind>("train");
  const [days, setDays] = useState<number | null>(30);
  const filters: StatsFilters = { kind, createdAfter: daysAgo(days) };
  const stats = useRunStats(filters);
  const data = stats.data;
  return (
    <section className="panel" data-testid="stats:panel">
      <h2>Run analytics</h2>
      <div className="row">
        <label>Kind{" "}
          <select value={kind} data-testid="stats:kind"
            onChange={(e) => setKind(e.target.value as StatsKind)}>
            {STATS_KINDS.map((k) => <option key={k} value={k}>{k}</option>)}
          </select>
        </label>
        <label>Range{" "}
          <select value={days ?? ""} data-testid="stats:range"
            onChange={(e) => setDays(e.target.value ? Number(e.target.value) : null)}>
            {STATS_RANGES.map((r) => <option key={r.label} value={r.days ?? ""}>{r.label}</option>)}
          </select>
        </label>
        <a href={statsCsvUrl(filters)} download="run-stats.csv" data-testid="stats:csv">Download CSV</a>
      </div>
      {stats.isError ? (
        <ErrorMessage error={stats.error} testId="stats:error" />
      ) : !data ? (
        <p className="hint">Loading…</p>
      ) : (
        <>
          <p data-testid="stats:summary">
            <strong data-testid="stats:runs">{data.overall.runs}</strong> runs ·{" "}
            success rate <strong data-testid="stats:success-rate">
              {formatRate(data.overall.success_rate)}</strong>{" "}
            <span className="hint">(completed / finished: {data.overall.finished})</span>
          </p>
          <h3>By status</h3>
          <StatusCountsChart stats={data} />
          <h3>Runs per day (UTC)</h3>
          <RunsPerDayChart stats={data} />
          <h3>Duration of completed runs (started → completed)</h3>
          <DurationChart group={data.overall} />
          <GroupTable groups={data.by_dataset} title="dataset" testId="stats:by-dataset" />
          <GroupTable groups={data.by_model} title="model" testId="stats:by-model" />
        </>
      )}
    </section>
  );
}
