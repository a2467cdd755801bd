import type { RunStats, RunStatsGroup } from "../api/stats";
import { formatDuration } from "../lib/runs";

// Fill colours are SVG presentation attributes (no inline style: the CSP allows none).
const STATUS_FILL: Record<string, string> = {
  completed: "#16a34a",
  failed: "#dc2626",
  timeout: "#ea580c",
  cancelled: "#6b7280",
  cancel_requested: "#9ca3af",
  running: "#2563eb",
  pending: "#a855f7",
};
const W = 640;
const ROW = 22;
const LABEL_W = 150;
const VALUE_W = 90;

interface Bar {
  label: string;
  value: number;
  text: string;
  fill: string;
}

/** Horizontal bars in plain SVG, one row per bar; data-* attributes carry the values. */
function Bars({ bars, testId, label }: { bars: Bar[]; testId: string; label: string }) {
  const max = Math.max(1e-9, ...bars.map((b) => b.value));
  const height = bars.length * ROW + 4;
  const span = W - LABEL_W - VALUE_W;
  return (
    <figure className="chart" data-testid={testId} data-bars={bars.length}>
      <svg viewBox={`0 0 ${W} ${height}`} role="img" aria-label={label}>
        {bars.map((b, i) => (
          <g key={b.label} data-testid={`${testId}-bar`} data-label={b.label} data-value={b.value}>
            <text className="tick" x={LABEL_W - 8} y={i * ROW + 15} textAnchor="end">{b.label}</text>
            <rect x={LABEL_W} y={i * ROW + 3} height={ROW - 6} fill={b.fill}
              width={b.value > 0 ? Math.max(2, (b.value / max) * span) : 0} />
            <text className="tick" x={LABEL_W + (b.value / max) * span + 6} y={i * ROW + 15}>{b.text}</text>
          </g>
        ))}
      </svg>
    </figure>
  );
}

export function StatusCountsChart({ stats }: { stats: RunStats }) {
  const bars = Object.entries(stats.overall.by_status)
    .filter(([, n]) => (n ?? 0) > 0)
    .map(([status, n]) => ({
      label: status, value: n ?? 0, text: String(n ?? 0), fill: STATUS_FILL[status] ?? "#6b7280",
    }));
  if (!bars.length) return <p className="hint" data-testid="stats:status-empty">No runs yet.</p>;
  return <Bars bars={bars} testId="stats:status-chart" label="Runs by status" />;
}

/** Runs created per UTC day: the bar is every run, its label how many completed. */
export function RunsPerDayChart({ stats }: { stats: RunStats }) {
  const days = stats.per_day.slice(-30);
  if (!days.length) return <p className="hint" data-testid="stats:days-empty">No runs yet.</p>;
  const bars = days.map((d) => ({
    label: d.key ?? "?", value: d.runs, fill: "#2563eb",
    text: `${d.runs} (${d.by_status.completed ?? 0} completed)`,
  }));
  return <Bars bars={bars} testId="stats:days-chart" label="Runs per day" />;
}

/** p50 / p90 / p99 of completed runs' durations (started → completed). */
export function DurationChart({ group }: { group: RunStatsGroup }) {
  const p = group.duration_seconds;
  if (p.p50 === null) {
    return <p className="hint" data-testid="stats:duration-empty">No completed runs yet.</p>;
  }
  const bars = (["p50", "p90", "p99"] as const).map((name) => ({
    label: name, value: p[name] ?? 0, text: formatDuration(p[name]), fill: "#0891b2",
  }));
  return <Bars bars={bars} testId="stats:duration-chart" label="Run duration percentiles" />;
}

const percent = (rate: number | null) => (rate === null ? "—" : `${(rate * 100).toFixed(0)}%`);

/** Runs, success rate and duration percentiles per dataset or model. */
export function GroupTable({ groups, title, testId }: {
  groups: RunStatsGroup[]; title: string; testId: string;
}) {
  if (!groups.length) return null;
  return (
    <table className="table" data-testid={testId}>
      <thead>
        <tr><th>{title}</th><th>runs</th><th>success</th><th>p50</th><th>p90</th><th>p99</th></tr>
      </thead>
      <tbody>
        {groups.slice(0, 10).map((g) => (
          <tr key={g.key ?? "(none)"} data-testid={`${testId}-row`} data-key={g.key ?? ""}>
            <td className="mono">{g.key ?? "—"}</td>
            <td>{g.runs}</td>
            <td>{percent(g.success_rate)}</td>
            <td>{formatDuration(g.duration_seconds.p50)}</td>
            <td>{formatDuration(g.duration_seconds.p90)}</td>
            <td>{formatDuration(g.duration_seconds.p99)}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

export { percent as formatRate };
