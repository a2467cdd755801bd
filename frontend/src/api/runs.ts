import { keepPreviousData, useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import type { Schemas } from "./client";
import { request } from "./http";

export type RunStatus = Schemas["Run"]["status"];
export type RunMode = Schemas["Run"]["mode"];
export const RUN_STATUSES: RunStatus[] = [
  "pending", "running", "cancel_requested", "completed", "failed", "timeout", "cancelled",
];
export const TERMINAL: RunStatus[] = ["completed", "failed", "timeout", "cancelled"];
export const isTerminal = (status: string | undefined) =>
  status !== undefined && (TERMINAL as string[]).includes(status);

export const MODEL_PRESETS = ["tunix-rt/tiny-gemma", "tunix-rt/small-gemma"];

/** Only the fields set are sent; the server fills the defaults. */
export type RunRequest = Partial<Schemas["RunRequest"]> & { dataset_key: string; model_id: string };
export type RunSummary = Schemas["RunSummary"];
export type Run = Schemas["Run"];
export type MetricPoint = Schemas["RunMetricPoint"];
export type RunMetrics = Schemas["RunMetrics"];
export type Artifact = Schemas["Artifact"];

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
      request<Schemas["Page_RunSummary_"]>("GET", "/api/tunix/runs", { query: { ...filters, limit, offset } }),
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
      (await request<Schemas["ArtifactList"]>("GET", `${runPath(id)}/artifacts`)).artifacts,
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
    mutationFn: () => request<Schemas["RunMessage"]>("POST", `${runPath(id)}/cancel`),
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
