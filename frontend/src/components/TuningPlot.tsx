import type { SearchParam, Trial } from "../api/tuning";
import { trialValue } from "../lib/tuning";
import { formatNumber } from "../lib/runs";

const W = 340;
const H = 220;
const PAD = { left: 52, right: 14, top: 12, bottom: 40 };

interface Props {
  param: string;
  spec: SearchParam;
  trials: Trial[];
  metric: string;
  bestTrialId?: string;
}

interface Point {
  trial: Trial;
  x: number;
  y: number;
}

/** Decades (10^k) strictly inside (lo, hi), for a log axis; none if there are too many. */
function decades(lo: number, hi: number): number[] {
  const out: number[] = [];
  for (let k = Math.ceil(Math.log10(lo)); 10 ** k < hi && out.length <= 6; k++) {
    if (10 ** k > lo) out.push(10 ** k);
  }
  return out.length <= 6 ? out : [];
}

/**
 * The metric of each finished trial against the value it sampled for one parameter, in plain
 * SVG: a log x axis for a loguniform search, the best trial filled green, early-stopped trials
 * hollow.
 */
export function TuningPlot({ param, spec, trials, metric, bestTrialId }: Props) {
  const sampled = trials
    .map((trial) => ({ trial, x: trialValue(trial, param) }))
    .filter((p): p is { trial: Trial; x: number } => p.x !== null);
  const log = spec.type === "loguniform" && sampled.every((p) => p.x > 0);
  const points: Point[] = sampled
    .filter((p) => p.trial.metric_value !== null && Number.isFinite(p.trial.metric_value))
    .map((p) => ({ ...p, y: p.trial.metric_value as number }));

  // The x range is the searched range (so the points show where they fell in it), widened to
  // any sampled value outside it (a choice, quniform rounding).
  const xs = sampled.map((p) => p.x);
  if (spec.type === "choice") xs.push(...spec.values.filter((v): v is number => typeof v === "number"));
  else xs.push(spec.min, spec.max);
  const usable = log ? xs.filter((x) => x > 0) : xs;
  let [x0, x1] = [Math.min(...usable), Math.max(...usable)];
  const tx = (x: number) => (log ? Math.log10(x) : x);
  let [t0, t1] = [tx(x0), tx(x1)];
  if (t0 === t1) [t0, t1] = [t0 - 0.5, t1 + 0.5];
  if (!Number.isFinite(t0) || !Number.isFinite(t1)) [t0, t1, x0, x1] = [0, 1, 0, 1];

  const ys = points.map((p) => p.y);
  let [y0, y1] = ys.length ? [Math.min(...ys), Math.max(...ys)] : [0, 1];
  if (y0 === y1) [y0, y1] = [y0 - Math.max(Math.abs(y0) * 0.05, 0.05), y1 + Math.max(Math.abs(y1) * 0.05, 0.05)];

  // An inset inside the axes, so no point sits on an axis or the frame.
  const INSET = 8;
  const sx = (x: number) =>
    PAD.left + INSET + ((tx(x) - t0) / (t1 - t0)) * (W - PAD.left - PAD.right - 2 * INSET);
  const sy = (y: number) =>
    PAD.top + INSET + (1 - (y - y0) / (y1 - y0)) * (H - PAD.top - PAD.bottom - 2 * INSET);
  const bottom = H - PAD.bottom;
  const xTicks = [x0, ...(log ? decades(x0, x1) : []), x1].filter(
    (x, i, all) => all.indexOf(x) === i && Number.isFinite(tx(x)),
  );

  return (
    <figure className="chart tuning-plot" data-testid="job:plot" data-param={param}
      data-scale={log ? "log" : "linear"} data-points={points.length}>
      <svg viewBox={`0 0 ${W} ${H}`} role="img" aria-label={`${metric} by ${param}`}>
        <line className="axis" x1={PAD.left} y1={bottom} x2={W - PAD.right} y2={bottom} />
        <line className="axis" x1={PAD.left} y1={PAD.top} x2={PAD.left} y2={bottom} />
        {ys.length > 0 && (
          <>
            <text className="tick" x={PAD.left - 6} y={sy(y1) + 4} textAnchor="end">{formatNumber(y1, 3)}</text>
            <text className="tick" x={PAD.left - 6} y={sy(y0) + 4} textAnchor="end">{formatNumber(y0, 3)}</text>
          </>
        )}
        {xTicks.map((x) => (
          <g key={x}>
            <line className="axis" x1={sx(x)} y1={bottom} x2={sx(x)} y2={bottom + 4} />
            <text className="tick" x={sx(x)} y={bottom + 16} textAnchor="middle">{formatNumber(x, 3)}</text>
          </g>
        ))}
        <text className="tick" x={(W + PAD.left) / 2} y={H - 4} textAnchor="middle">
          {param}{log ? " (log)" : ""}
        </text>
        <text className="tick" x={12} y={(PAD.top + bottom) / 2} textAnchor="middle"
          transform={`rotate(-90 12 ${(PAD.top + bottom) / 2})`}>{metric}</text>
        {points.length === 0 && (
          <text className="tick" x={(W + PAD.left) / 2} y={(PAD.top + bottom) / 2} textAnchor="middle">
            no trial has a metric yet
          </text>
        )}
        {points.map((p) => {
          const best = p.trial.trial_id === bestTrialId;
          const className = ["point", best ? "best" : "", p.trial.stopped_early ? "stopped" : ""].filter(Boolean).join(" ");
          return (
            <circle key={p.trial.trial_id} className={className} cx={sx(p.x)} cy={sy(p.y)} r={best ? 5 : 4}
              data-testid="job:plot-point" data-trial-id={p.trial.trial_id} data-x={p.x} data-y={p.y}>
              <title>{`trial ${p.trial.trial_id}: ${param}=${formatNumber(p.x, 6)}, ${metric}=${formatNumber(p.y, 6)}${p.trial.stopped_early ? " (stopped early)" : ""}`}</title>
            </circle>
          );
        })}
      </svg>
      <figcaption className="legend">{metric} vs {param}{log ? " · log scale" : ""} · {points.length} trial{points.length === 1 ? "" : "s"}</figcaption>
    </figure>
  );
}
