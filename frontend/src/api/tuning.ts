import { keepPreviousData, useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { api, unwrap, type Schemas } from "./client";
import { enumValues, property, rawProperty } from "./contract";
import { isTerminal } from "./runs";

export type TuningJob = Schemas["TuningJob"];
export type TuningJobSummary = Schemas["TuningJobSummary"];
export type Trial = Schemas["Trial"];
export type BestTrial = Schemas["BestTrial"];
export type JobStatus = TuningJob["status"];
export type TuneMode = Schemas["TuningJobCreate"]["mode"];
export type SearchAlgorithm = Schemas["TuningJobCreate"]["search"];
export type Scheduler = Schemas["TuningJobCreate"]["scheduler"];
export type ChoiceParam = Schemas["ChoiceParam"];
export type RangeParam = Schemas["RangeParam"];
export type SearchParam = ChoiceParam | RangeParam;
export type SearchType = SearchParam["type"];
export type TrainParams = Schemas["TrainParams"];

/**
 * What the create form sends. As with runs, the generated type marks every field with a server
 * default as required; the contract requires only name, dataset_key, model_id and search_space.
 */
export type TuningJobRequest = Omit<Partial<Schemas["TuningJobCreate"]>, "base"> &
  Pick<Schemas["TuningJobCreate"], "name" | "dataset_key" | "model_id" | "search_space"> & {
    base?: Partial<TrainParams>;
  };

/** Every job status, in the server's order (from the OpenAPI document). */
export const JOB_STATUSES: JobStatus[] = enumValues("TuningJob", "status");
export const TUNE_MODES: TuneMode[] = enumValues("TuningJobCreate", "mode");
export const SEARCH_ALGORITHMS: SearchAlgorithm[] = enumValues("TuningJobCreate", "search");
export const SCHEDULERS: Scheduler[] = enumValues("TuningJobCreate", "scheduler");
/** `choice` (ChoiceParam's const) then the range types of RangeParam. */
export const SEARCH_TYPES: SearchType[] = [
  ...enumValues("ChoiceParam", "type"),
  ...enumValues("RangeParam", "type"),
];

/** The parameters a search may vary: the enum of `search_space`'s keys in the contract. */
export const SEARCHABLE: string[] = (() => {
  const names = (rawProperty("TuningJobCreate", "search_space") as { propertyNames?: { enum?: string[] } })
    .propertyNames?.enum ?? [];
  if (!names.length) {
    throw new Error("openapi.json: TuningJobCreate.search_space has no parameter enum; regenerate it");
  }
  return names;
})();

/** The metrics a job can optimise (the contract's enum). */
export const METRICS = enumValues("TuningJobCreate", "metric");
export const DEFAULT_METRIC = (property("TuningJobCreate", "metric").default as string | undefined) ?? "eval_loss";
/** Lower is better only for a loss; every evaluation metric is higher-is-better. */
export const modeFor = (metric: string): TuneMode => (metric.endsWith("loss") ? "min" : "max");

const FINISHED: JobStatus[] = ["completed", "failed", "cancelled"];
export const isFinished = (status: string | undefined) =>
  status !== undefined && (FINISHED as string[]).includes(status);

const LIVE_MS = 2_000;

const keys = {
  all: ["tuning"] as const,
  list: (limit: number, offset: number) => ["tuning", "list", limit, offset] as const,
  detail: (id: string) => ["tuning", "detail", id] as const,
};

const jobParams = (id: string) => ({ params: { path: { job_id: id } } });

/** The jobs, newest first; refreshes every 2 s while any listed job is still moving. */
export function useTuningJobs(limit: number, offset: number) {
  return useQuery({
    queryKey: keys.list(limit, offset),
    queryFn: () => unwrap(api.GET("/api/tuning/jobs", { params: { query: { limit, offset } } })),
    placeholderData: keepPreviousData,
    refetchInterval: (query) =>
      query.state.data?.data.some((job) => !isFinished(job.status)) ? LIVE_MS : 5_000,
  });
}

/** Whether the job or one of its trials' runs is still moving (a cancelled job's trials end
 * `cancelled` a moment after the job does). */
export const isLive = (job: TuningJob | undefined) =>
  !job || !isFinished(job.status) || job.trials.some((trial) => !isTerminal(trial.status));

/** One job with its trials; refreshes every 2 s until it and its trials are finished. */
export function useTuningJob(id: string) {
  return useQuery({
    queryKey: keys.detail(id),
    queryFn: () => unwrap(api.GET("/api/tuning/jobs/{job_id}", jobParams(id))),
    refetchInterval: (query) => (isLive(query.state.data) ? LIVE_MS : false),
  });
}

export function useCreateTuningJob() {
  const client = useQueryClient();
  return useMutation({
    mutationFn: (body: TuningJobRequest) =>
      unwrap(api.POST("/api/tuning/jobs", {
        // The defaults left out are the server's (see TuningJobRequest above).
        body: body as Schemas["TuningJobCreate"],
      })),
    onSuccess: () => client.invalidateQueries({ queryKey: keys.all }),
  });
}

export function useCancelTuningJob(id: string) {
  const client = useQueryClient();
  return useMutation({
    mutationFn: () => unwrap(api.POST("/api/tuning/jobs/{job_id}/cancel", jobParams(id))),
    onSuccess: () => client.invalidateQueries({ queryKey: keys.all }),
  });
}
