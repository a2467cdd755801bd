import type { MetricPoint } from "../api/runs";
import { formatNumber } from "../lib/runs";

const W = 640;
const H = 240;
const PAD = { left: 52, right: 16, top: 12, bottom: 32 };

interface Series {
  name: string;
  className: string;
  points: [number, number][];
}

type NumericKey = {
  [K in keyof MetricPoint]: MetricPoint[K] extends number | null | undefined ? K : never;
}[keyof MetricPoint];

function seriesOf(points: MetricPoint[], key: NumericKey): [number, number][] {
  return points
    .map((p): [number, number | null | undefined] => [p.step, p[key]])
    .filter((pair): pair is [number, number] => typeof pair[1] === "number" && Number.isFinite(pair[1]));
}

/** Lines against step, in plain SVG; the figure's data-* attributes count each series' points. */
function StepChart({ series, testId, label, empty }: {
  series: Series[]; testId: string; label: string; empty: string;
}) {
  const all = series.flatMap((s) => s.points);
  if (!all.length) {
    return <p className="hint" data-testid={`${testId}-empty`}>{empty}</p>;
  }
  const xs = all.map(([x]) => x);
  const ys = all.map(([, y]) => y);
  const [x0, x1] = [Math.min(...xs), Math.max(...xs)];
  let [y0, y1] = [Math.min(...ys), Math.max(...ys)];
  if (y0 === y1) [y0, y1] = [y0 - 0.5, y1 + 0.5];
  const sx = (x: number) =>
    PAD.left + (x1 === x0 ? 0.5 : (x - x0) / (x1 - x0)) * (W - PAD.left - PAD.right);
  const sy = (y: number) => PAD.top + (1 - (y - y0) / (y1 - y0)) * (H - PAD.top - PAD.bottom);
  const counts = Object.fromEntries(
    series.map((s) => [`data-${s.className.replace(/^line-/, "")}-points`, s.points.length]),
  );

  return (
    <figure className="chart" data-testid={testId} data-last-step={x1} {...counts}>
      <svg viewBox={`0 0 ${W} ${H}`} role="img" aria-label={label}>
        <line className="axis" x1={PAD.left} y1={H - PAD.bottom} x2={W - PAD.right} y2={H - PAD.bottom} />
        <line className="axis" x1={PAD.left} y1={PAD.top} x2={PAD.left} y2={H - PAD.bottom} />
        <text className="tick" x={PAD.left - 6} y={sy(y1) + 4} textAnchor="end">{formatNumber(y1, 3)}</text>
        <text className="tick" x={PAD.left - 6} y={sy(y0) + 4} textAnchor="end">{formatNumber(y0, 3)}</text>
        <text className="tick" x={sx(x0)} y={H - PAD.bottom + 16} textAnchor="middle">{x0}</text>
        {x1 !== x0 && (
          <text className="tick" x={sx(x1)} y={H - PAD.bottom + 16} textAnchor="middle">{x1}</text>
        )}
        <text className="tick" x={(W + PAD.left) / 2} y={H - 2} textAnchor="middle">step</text>
        {series.map((s) =>
          s.points.length ? (
            <g key={s.name} className={s.className} data-testid={`${testId}-${s.className}`}>
              <polyline fill="none" points={s.points.map(([x, y]) => `${sx(x)},${sy(y)}`).join(" ")} />
              {s.points.length <= 60 && s.points.map(([x, y]) => (
                <circle key={x} cx={sx(x)} cy={sy(y)} r={2.5} />
              ))}
            </g>
          ) : null,
        )}
      </svg>
      <figcaption className="legend">
        {series.map((s) => (
          <span key={s.name}><span className={`swatch ${s.className}`} /> {s.name} ({s.points.length}) </span>
        ))}
      </figcaption>
    </figure>
  );
}

/** Train and eval loss against step. */
export function LossChart({ points }: { points: MetricPoint[] }) {
  return (
    <StepChart
      testId="run:chart"
      label="Loss by step"
      empty="No loss reported yet."
      series={[
        { name: "train loss", className: "line-train", points: seriesOf(points, "loss") },
        { name: "eval loss", className: "line-eval", points: seriesOf(points, "eval_loss") },
      ]}
    />
  );
}

/** A GRPO run's mean reward and rollout accuracy against step. */
export function RewardChart({ points }: { points: MetricPoint[] }) {
  return (
    <StepChart
      testId="run:reward-chart"
      label="Reward and accuracy by step"
      empty="No reward reported yet."
      series={[
        { name: "reward (mean)", className: "line-train", points: seriesOf(points, "reward_mean") },
        { name: "accuracy", className: "line-eval", points: seriesOf(points, "accuracy") },
      ]}
    />
  );
}
