import { useState, type ReactNode } from "react";
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

export type Scale = "log" | "linear";

/** A log axis shows only positive values; the ticks are the powers of ten in the range. */
function logTicks(y0: number, y1: number): number[] {
  const ticks: number[] = [];
  for (let e = Math.ceil(Math.log10(y0)); e <= Math.floor(Math.log10(y1)); e += 1) ticks.push(10 ** e);
  return ticks.length <= 6 ? ticks : [];
}

/**
 * Lines against step, in plain SVG; the figure's data-* attributes count each series' points.
 * On a log axis (`scale="log"`) points that are not positive are left out: a loss that falls
 * from 10 to 0.01 stays readable after the first hundred steps.
 */
function StepChart({ series: given, testId, label, empty, scale = "linear", controls }: {
  series: Series[]; testId: string; label: string; empty: string; scale?: Scale;
  controls?: ReactNode;
}) {
  const series = scale === "log"
    ? given.map((s) => ({ ...s, points: s.points.filter(([, y]) => y > 0) }))
    : given;
  const all = series.flatMap((s) => s.points);
  if (!all.length) {
    return <>{controls}<p className="hint" data-testid={`${testId}-empty`}>{empty}</p></>;
  }
  const f = scale === "log" ? Math.log10 : (y: number) => y;
  const xs = all.map(([x]) => x);
  const ys = all.map(([, y]) => y);
  const [x0, x1] = [Math.min(...xs), Math.max(...xs)];
  let [y0, y1] = [Math.min(...ys), Math.max(...ys)];
  let [f0, f1] = [f(y0), f(y1)];
  if (f0 === f1) {
    [f0, f1] = [f0 - 0.5, f1 + 0.5];
    if (scale === "linear") [y0, y1] = [f0, f1];
  }
  const sx = (x: number) =>
    PAD.left + (x1 === x0 ? 0.5 : (x - x0) / (x1 - x0)) * (W - PAD.left - PAD.right);
  const sy = (y: number) => PAD.top + (1 - (f(y) - f0) / (f1 - f0)) * (H - PAD.top - PAD.bottom);
  const inner = scale === "log" ? logTicks(y0, y1).filter((t) => t !== y0 && t !== y1) : [];
  const counts = Object.fromEntries(
    series.map((s) => [`data-${s.className.replace(/^line-/, "")}-points`, s.points.length]),
  );

  return (
    <figure className="chart" data-testid={testId} data-last-step={x1} data-scale={scale} {...counts}>
      {controls}
      <svg viewBox={`0 0 ${W} ${H}`} role="img" aria-label={label}>
        <line className="axis" x1={PAD.left} y1={H - PAD.bottom} x2={W - PAD.right} y2={H - PAD.bottom} />
        <line className="axis" x1={PAD.left} y1={PAD.top} x2={PAD.left} y2={H - PAD.bottom} />
        <text className="tick" x={PAD.left - 6} y={sy(y1) + 4} textAnchor="end">{formatNumber(y1, 3)}</text>
        <text className="tick" x={PAD.left - 6} y={sy(y0) + 4} textAnchor="end">{formatNumber(y0, 3)}</text>
        {inner.map((t) => (
          <text key={t} className="tick" x={PAD.left - 6} y={sy(t) + 4} textAnchor="end"
            data-testid={`${testId}-tick`}>{formatNumber(t, 3)}</text>
        ))}
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

/** Train and eval loss against step, on a log axis by default (a linear one on request). */
export function LossChart({ points }: { points: MetricPoint[] }) {
  const [scale, setScale] = useState<Scale>("log");
  const controls = (
    <div className="row chart-controls" role="group" aria-label="Loss axis">
      <span className="hint">Loss axis</span>
      {(["log", "linear"] as const).map((s) => (
        <button key={s} type="button" className={scale === s ? "" : "secondary"}
          aria-pressed={scale === s} data-testid={`run:chart-scale-${s}`}
          onClick={() => setScale(s)}>{s}</button>
      ))}
    </div>
  );
  return (
    <StepChart
      testId="run:chart"
      label={`Loss by step (${scale} axis)`}
      empty="No loss reported yet."
      scale={scale}
      controls={controls}
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
