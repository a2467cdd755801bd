import { useEffect, useRef } from "react";
import {
  keepPreviousData,
  useMutation,
  useQuery,
  useQueryClient,
  type UseQueryResult,
} from "@tanstack/react-query";
import { api, unwrap, type Schemas } from "./client";
import { enumValues } from "./contract";

export type RunStatus = Schemas["Run"]["status"];
export type RunMode = Schemas["Run"]["mode"];
export type RunKind = Schemas["Run"]["kind"];
export type ModelPreset = Schemas["ModelPreset"];
export type TunixStatus = Schemas["TunixStatus"];

/** Every run status, in the server's order (from the OpenAPI document, not a copy). */
export const RUN_STATUSES: RunStatus[] = enumValues("Run", "status");
/** Every run mode (dry-run, local). */
export const RUN_MODES: RunMode[] = enumValues("Run", "mode");
/** Every run kind (train, evaluate, tune). */
export const RUN_KINDS: RunKind[] = enumValues("Run", "kind");

/** How a run's kind reads in lists: evaluation jobs must not pass for training runs. */
export const KIND_LABELS: Record<string, string> = {
  train: "training",
  evaluate: "evaluation",
  tune: "tuning job",
};
export const kindLabel = (kind: string | undefined) => KIND_LABELS[kind ?? "train"] ?? kind ?? "training";

/** A run that ended without success can be queued again with the same config. */
const RETRYABLE: RunStatus[] = ["failed", "timeout", "cancelled"];
export const isRetryable = (run: { status: string; kind?: string }) =>
  (RETRYABLE as string[]).includes(run.status) && (run.kind ?? "train") !== "tune";

// The contract has no "terminal" flag: a run is still moving while it is queued (pending) or
// active (running, cancel_requested — the server's ACTIVE_STATUSES); every other status is
// final. The type checks these names against the schema's enum.
const MOVING: RunStatus[] = ["pending", "running", "cancel_requested"];
export const TERMINAL: RunStatus[] = RUN_STATUSES.filter((s) => !MOVING.includes(s));
export const isTerminal = (status: string | undefined) =>
  status !== undefined && (TERMINAL as string[]).includes(status);

/**
 * What the launch form sends. The generated type marks every field with a server default as
 * required; the contract does not (only dataset_key and model_id are), so the rest may be left
 * out and the server fills them.
 */
export type RunRequest = Partial<Schemas["RunRequest"]> & { dataset_key: string };
export type RunSummary = Schemas["RunSummary"];
export type Run = Schemas["Run"];
export type MetricPoint = Schemas["RunMetricPoint"];
export type RunMetrics = Schemas["RunMetrics"];
export type Artifact = Schemas["Artifact"];
export type BulkDeleteResult = Schemas["BulkDeleteResult"];

export interface RunFilters {
  status?: RunStatus;
  dataset_key?: string;
  mode?: RunMode;
  kind?: RunKind;
}

const LIVE_MS = 1_000;

const keys = {
  all: ["runs"] as const,
  list: (filters: RunFilters, limit: number, offset: number) =>
    ["runs", "list", filters, limit, offset] as const,
  detail: (id: string) => ["runs", "detail", id] as const,
  metrics: (id: string) => ["runs", "metrics", id] as const,
  artifacts: (id: string) => ["runs", "artifacts", id] as const,
  tunixStatus: ["tunix", "status"] as const,
};

/** Whether Tunix/JAX are installed, and the built-in model presets the server offers. */
export function useTunixStatus() {
  return useQuery({
    queryKey: keys.tunixStatus,
    queryFn: () => unwrap(api.GET("/api/tunix/status")),
    staleTime: 60_000,
  });
}

const runParams = (id: string) => ({ params: { path: { run_id: id } } });

/** The history; refreshes every second while any listed run is still moving. */
export function useRuns(filters: RunFilters, limit: number, offset: number, enabled = true) {
  return useQuery({
    enabled,
    queryKey: keys.list(filters, limit, offset),
    queryFn: () =>
      unwrap(api.GET("/api/tunix/runs", {
        params: {
          query: {
            limit,
            offset,
            status: filters.status ? [filters.status] : undefined,
            mode: filters.mode,
            kind: filters.kind,
            dataset_key: filters.dataset_key,
          },
        },
      })),
    placeholderData: keepPreviousData,
    refetchInterval: (query) =>
      query.state.data?.data.some((run) => !isTerminal(run.status)) ? LIVE_MS : 5_000,
  });
}

export function useRun(id: string) {
  return useQuery({
    queryKey: keys.detail(id),
    queryFn: () => unwrap(api.GET("/api/tunix/runs/{run_id}", runParams(id))),
    refetchInterval: (query) => (isTerminal(query.state.data?.status) ? false : LIVE_MS),
  });
}

/**
 * A query polled while its run moves stops polling when the run ends; the rows the run wrote
 * between the last poll and its end (the final step, the last checkpoint) would then never
 * show. Fetch once more when `live` turns false.
 */
function useFinalFetch<T>(query: UseQueryResult<T>, live: boolean): UseQueryResult<T> {
  const wasLive = useRef(live);
  const { refetch } = query;
  useEffect(() => {
    if (wasLive.current && !live) void refetch();
    wasLive.current = live;
  }, [live, refetch]);
  return query;
}

export function useRunMetrics(id: string, live: boolean) {
  const query = useQuery({
    queryKey: keys.metrics(id),
    queryFn: () => unwrap(api.GET("/api/tunix/runs/{run_id}/metrics", runParams(id))),
    refetchInterval: live ? LIVE_MS : false,
  });
  return useFinalFetch(query, live);
}

export function useArtifacts(id: string, live: boolean) {
  const query = useQuery({
    queryKey: keys.artifacts(id),
    queryFn: async () =>
      (await unwrap(api.GET("/api/tunix/runs/{run_id}/artifacts", runParams(id)))).artifacts,
    refetchInterval: live ? 5_000 : false,
    retry: false,
  });
  return useFinalFetch(query, live);
}

/**
 * A link (not a JSON call) to download one artifact file; the browser fetches it. The path keeps
 * its slashes: the route's {path} parameter takes the rest of the URL.
 */
export function artifactUrl(id: string, path: string): string {
  const encoded = path.split("/").map(encodeURIComponent).join("/");
  return `/api/tunix/runs/${encodeURIComponent(id)}/artifacts/${encoded}/download`;
}

/** The whole log as a plain-text download (the metric lines included). */
export function logDownloadUrl(id: string): string {
  return `/api/tunix/runs/${encodeURIComponent(id)}/logs/download`;
}

export function useLaunchRun() {
  const client = useQueryClient();
  return useMutation({
    mutationFn: ({ body, async }: { body: RunRequest; async: boolean }) =>
      unwrap(api.POST("/api/tunix/run", {
        params: { query: { mode: async ? "async" : "sync" } },
        // The defaults left out are the server's (see RunRequest above).
        body: body as Schemas["RunRequest"],
      })),
    onSuccess: () => client.invalidateQueries({ queryKey: keys.all }),
  });
}

export function useCancelRun(id: string) {
  const client = useQueryClient();
  return useMutation({
    mutationFn: () => unwrap(api.POST("/api/tunix/runs/{run_id}/cancel", runParams(id))),
    onSuccess: () => client.invalidateQueries({ queryKey: keys.all }),
  });
}

export function useDeleteRun(id: string) {
  const client = useQueryClient();
  return useMutation({
    mutationFn: () => unwrap(api.DELETE("/api/tunix/runs/{run_id}", runParams(id))),
    onSuccess: () => {
      client.removeQueries({ queryKey: keys.detail(id) });
      return client.invalidateQueries({ queryKey: keys.all });
    },
  });
}

/** Queue a new run with a failed or cancelled run's config; resolves to the new run. */
export function useRetryRun(id: string) {
  const client = useQueryClient();
  return useMutation({
    mutationFn: () => unwrap(api.POST("/api/tunix/runs/{run_id}/retry", runParams(id))),
    onSuccess: () => client.invalidateQueries({ queryKey: keys.all }),
  });
}

/** Delete runs by id; `dry_run` only counts (unfinished runs are skipped, with the reason). */
export function useBulkDeleteRuns() {
  const client = useQueryClient();
  return useMutation({
    mutationFn: ({ ids, dryRun }: { ids: string[]; dryRun: boolean }) =>
      unwrap(api.POST("/api/tunix/runs/bulk-delete", { body: { ids, dry_run: dryRun } })),
    onSuccess: (result) => {
      if (!result.dry_run) void client.invalidateQueries({ queryKey: keys.all });
    },
  });
}
