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

/** Train and eval loss against step, in plain SVG. */
export function LossChart({ points }: { points: MetricPoint[] }) {
  const train: [number, number][] = points
    .filter((p) => p.loss !== null && Number.isFinite(p.loss))
    .map((p) => [p.step, p.loss as number]);
  const evals: [number, number][] = points
    .filter((p) => p.eval_loss !== null && Number.isFinite(p.eval_loss))
    .map((p) => [p.step, p.eval_loss as number]);
  const series: Series[] = [
    { name: "train loss", className: "line-train", points: train },
    { name: "eval loss", className: "line-eval", points: evals },
  ];
  const all = [...train, ...evals];
  if (!all.length) {
    return (
      <p className="hint" data-testid="run:chart-empty">
        No loss reported yet.
      </p>
    );
  }
  const xs = all.map(([x]) => x);
  const ys = all.map(([, y]) => y);
  const [x0, x1] = [Math.min(...xs), Math.max(...xs)];
  let [y0, y1] = [Math.min(...ys), Math.max(...ys)];
  if (y0 === y1) [y0, y1] = [y0 - 0.5, y1 + 0.5];
  const sx = (x: number) =>
    PAD.left + (x1 === x0 ? 0.5 : (x - x0) / (x1 - x0)) * (W - PAD.left - PAD.right);
  const sy = (y: number) => PAD.top + (1 - (y - y0) / (y1 - y0)) * (H - PAD.top - PAD.bottom);

  return (
    <figure className="chart" data-testid="run:chart" data-train-points={train.length}
      data-eval-points={evals.length} data-last-step={x1}>
      <svg viewBox={`0 0 ${W} ${H}`} role="img" aria-label="Loss by step">
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
            <g key={s.name} className={s.className} data-testid={`run:chart-${s.className}`}>
              <polyline fill="none" points={s.points.map(([x, y]) => `${sx(x)},${sy(y)}`).join(" ")} />
              {s.points.length <= 60 && s.points.map(([x, y]) => (
                <circle key={x} cx={sx(x)} cy={sy(y)} r={2.5} />
              ))}
            </g>
          ) : null,
        )}
      </svg>
      <figcaption className="legend">
        <span className="swatch line-train" /> train loss ({train.length})
        <span className="swatch line-eval" /> eval loss ({evals.length})
      </figcaption>
    </figure>
  );
}
