import { keepPreviousData, useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { request, type Page } from "./http";

export type RunStatus =
  | "pending" | "running" | "cancel_requested" | "completed" | "failed" | "timeout" | "cancelled";
export type RunMode = "dry-run" | "local";
export const RUN_STATUSES: RunStatus[] = [
  "pending", "running", "cancel_requested", "completed", "failed", "timeout", "cancelled",
];
export const TERMINAL: RunStatus[] = ["completed", "failed", "timeout", "cancelled"];
export const isTerminal = (status: string | undefined) =>
  status !== undefined && (TERMINAL as string[]).includes(status);

export const MODEL_PRESETS = ["tunix-rt/tiny-gemma", "tunix-rt/small-gemma"];

export interface RunRequest {
  dataset_key: string;
  model_id: string;
  dry_run: boolean;
  learning_rate: number;
  num_epochs: number;
  batch_size: number;
  max_seq_length: number;
  max_steps?: number | null;
  seed?: number;
  lora_rank?: number;
  eval_every?: number | null;
  checkpoint_every?: number | null;
  timeout_seconds?: number | null;
  priority?: number;
  completion_format?: "reasoning" | "answer_only";
}

export interface RunSummary {
  run_id: string;
  kind?: string;
  dataset_key: string | null;
  model_id: string;
  mode: RunMode;
  status: RunStatus;
  priority?: number;
  attempt?: number;
  queued_at?: string;
  started_at: string | null;
  completed_at?: string | null;
  duration_seconds: number | null;
  created_at?: string;
}

export interface Run extends RunSummary {
  output_dir: string;
  exit_code: number | null;
  stdout: string;
  stderr: string;
  message: string | null;
  config?: Record<string, unknown>;
  parent_run_id?: string | null;
  max_attempts?: number;
  worker_id?: string | null;
  timeout_seconds?: number | null;
  report?: Record<string, unknown> | null;
}

export interface MetricPoint {
  step: number;
  loss: number | null;
  eval_loss: number | null;
  learning_rate: number | null;
  tokens_per_second: number | null;
  elapsed_seconds: number | null;
  total_steps?: number | null;
}

export interface RunMetrics {
  run_id: string;
  status?: RunStatus;
  total_steps?: number | null;
  data: MetricPoint[];
}

export interface Artifact {
  name: string;
  size: number;
  path: string;
}

export interface RunFilters {
  status?: string;
  dataset_key?: string;
  mode?: string;
}

const LIVE_MS = 1_000;

const keys = {
  all: ["runs"] as const,
  list: (filters: RunFilters, limit: number, offset: number) =>
    ["runs", "list", filters, limit, offset] as const,
  detail: (id: string) => ["runs", "detail", id] as const,
  metrics: (id: string) => ["runs", "metrics", id] as const,
  artifacts: (id: string) => ["runs", "artifacts", id] as const,
};

const runPath = (id: string) => `/api/tunix/runs/${encodeURIComponent(id)}`;

/** The history; refreshes every second while any listed run is still moving. */
export function useRuns(filters: RunFilters, limit: number, offset: number) {
  return useQuery({
    queryKey: keys.list(filters, limit, offset),
    queryFn: () =>
      request<Page<RunSummary>>("GET", "/api/tunix/runs", { query: { ...filters, limit, offset } }),
    placeholderData: keepPreviousData,
    refetchInterval: (query) =>
      query.state.data?.data.some((run) => !isTerminal(run.status)) ? LIVE_MS : 5_000,
  });
}

export function useRun(id: string) {
  return useQuery({
    queryKey: keys.detail(id),
    queryFn: () => request<Run>("GET", runPath(id)),
    refetchInterval: (query) => (isTerminal(query.state.data?.status) ? false : LIVE_MS),
  });
}

export function useRunMetrics(id: string, live: boolean) {
  return useQuery({
    queryKey: keys.metrics(id),
    queryFn: () => request<RunMetrics>("GET", `${runPath(id)}/metrics`),
    refetchInterval: live ? LIVE_MS : false,
  });
}

export function useArtifacts(id: string, live: boolean) {
  return useQuery({
    queryKey: keys.artifacts(id),
    queryFn: async () =>
      (await request<{ artifacts: Artifact[] }>("GET", `${runPath(id)}/artifacts`)).artifacts,
    refetchInterval: live ? 5_000 : false,
    retry: false,
  });
}

export function artifactUrl(id: string, path: string): string {
  const encoded = path.split("/").map(encodeURIComponent).join("/");
  return `${runPath(id)}/artifacts/${encoded}/download`;
}

export function useLaunchRun() {
  const client = useQueryClient();
  return useMutation({
    mutationFn: ({ body, async }: { body: RunRequest; async: boolean }) =>
      request<Run>("POST", "/api/tunix/run", { body, query: async ? { mode: "async" } : {} }),
    onSuccess: () => client.invalidateQueries({ queryKey: keys.all }),
  });
}

export function useCancelRun(id: string) {
  const client = useQueryClient();
  return useMutation({
    mutationFn: () => request<{ message: string }>("POST", `${runPath(id)}/cancel`),
    onSuccess: () => client.invalidateQueries({ queryKey: keys.all }),
  });
}

export function useDeleteRun(id: string) {
  const client = useQueryClient();
  return useMutation({
    mutationFn: () => request<unknown>("DELETE", runPath(id)),
    onSuccess: () => {
      client.removeQueries({ queryKey: keys.detail(id) });
      return client.invalidateQueries({ queryKey: keys.all });
    },
  });
}
