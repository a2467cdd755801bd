import type { MetricPoint } from "../api/runs";

export function formatDuration(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds)) return "—";
  if (seconds < 60) return `${seconds.toFixed(1)} s`;
  const m = Math.floor(seconds / 60);
  const s = Math.round(seconds % 60);
  if (m < 60) return `${m} min ${s} s`;
  return `${Math.floor(m / 60)} h ${m % 60} min`;
}

export interface Progress {
  step: number;
  total: number | null;
  percent: number | null;
  etaSeconds: number | null;
}

/** Newest step of the series, planned total and a linear ETA from the elapsed time. */
export function progressOf(points: MetricPoint[], totalSteps: number | null | undefined): Progress | null {
  const last = points[points.length - 1];
  if (!last) return null;
  const total = totalSteps ?? last.total_steps ?? null;
  const percent = total ? Math.min(100, (last.step / total) * 100) : null;
  let etaSeconds: number | null = null;
  if (total && last.elapsed_seconds && last.step > 0) {
    etaSeconds = Math.max(0, ((total - last.step) * last.elapsed_seconds) / last.step);
  }
  return { step: last.step, total, percent, etaSeconds };
}

export function formatBytes(size: number): string {
  if (size < 1024) return `${size} B`;
  if (size < 1024 * 1024) return `${(size / 1024).toFixed(1)} KB`;
  if (size < 1024 ** 3) return `${(size / 1024 / 1024).toFixed(1)} MB`;
  return `${(size / 1024 ** 3).toFixed(2)} GB`;
}

export function formatNumber(value: number | null | undefined, digits = 4): string {
  if (value === null || value === undefined || !Number.isFinite(value)) return "—";
  return Number(value.toPrecision(digits)).toString();
}
