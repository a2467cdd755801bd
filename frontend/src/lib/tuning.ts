import { bounds } from "../api/contract";
import type { RunRequest } from "../api/runs";
import type { SearchParam, Trial, TuningJob } from "../api/tuning";

/**
 * What the Tuning page hands the Runs page's launch form (as router location state): a run
 * request to pre-fill it with, and where it came from.
 */
export interface LaunchPrefill {
  request: RunRequest;
  source: string;
}

/** The `launch` entry of a location state, if it is a pre-fill (anything else is ignored). */
export function readLaunchPrefill(state: unknown): LaunchPrefill | undefined {
  if (typeof state !== "object" || state === null || !("launch" in state)) return undefined;
  const launch = (state as { launch: unknown }).launch;
  if (typeof launch !== "object" || launch === null) return undefined;
  const { request, source } = launch as Partial<LaunchPrefill>;
  if (typeof request !== "object" || request === null) return undefined;
  if (typeof request.dataset_key !== "string" || typeof request.model_id !== "string") return undefined;
  return { request, source: typeof source === "string" ? source : "" };
}

/** Whether a run parameter is an integer in the contract (Ray may sample 8.0 for it). */
function isIntegerParam(name: string): boolean {
  try {
    return bounds("TrainParams", name as never).integer;
  } catch {
    return false;
  }
}

/**
 * The run a trial was: the job's base parameters with the trial's sampled ones (integers rounded,
 * as the server does for each trial), on the job's dataset and model.
 */
export function trialRunRequest(job: TuningJob, params: Record<string, unknown>): RunRequest {
  const merged: Record<string, unknown> = { ...(job.request.base ?? {}), ...params };
  for (const [name, value] of Object.entries(merged)) {
    if (typeof value === "number" && !Number.isInteger(value) && isIntegerParam(name)) {
      merged[name] = Math.round(value);
    }
  }
  return {
    ...(merged as Partial<RunRequest>),
    dataset_key: job.dataset_key,
    model_id: job.model_id,
    dry_run: false,
  };
}

/** The launch-form pre-fill of the job's best trial, or undefined while it has none. */
export function bestTrialPrefill(job: TuningJob): LaunchPrefill | undefined {
  if (!job.best) return undefined;
  return {
    request: trialRunRequest(job, job.best.params),
    source: `tuning job ${job.name}, trial ${job.best.trial_id}`,
  };
}

/** The parameters the job searches, in the order of its request. */
export function searchedParams(job: TuningJob): [string, SearchParam][] {
  return Object.entries(job.request.search_space);
}

/** A numeric parameter is plotted: any range, or a choice of numbers only. */
export function isNumericParam(spec: SearchParam): boolean {
  return spec.type !== "choice" || spec.values.every((v) => typeof v === "number");
}

/** The numeric value a trial sampled for `name`, or null. */
export function trialValue(trial: Trial, name: string): number | null {
  const value = trial.params[name];
  return typeof value === "number" && Number.isFinite(value) ? value : null;
}

/** Each parameter's distribution in words: `loguniform [0.0001, 0.01]`, `choice {8, 16}`. */
export function describeParam(spec: SearchParam): string {
  if (spec.type === "choice") return `choice {${spec.values.join(", ")}}`;
  const q = spec.q !== null && spec.q !== undefined ? `, q=${spec.q}` : "";
  const close = spec.type === "randint" ? ")" : "]";
  return `${spec.type} [${spec.min}, ${spec.max}${close}${q}`;
}
