import {
  keepPreviousData,
  useMutation,
  useQuery,
  useQueryClient,
} from "@tanstack/react-query";
import { api, unwrap, type Schemas } from "./client";

export type ReasoningTrace = Schemas["ReasoningTrace"];
export type TraceStep = Schemas["TraceStep"];
export type Trace = Schemas["Trace"];
export type TraceSummary = Schemas["TraceSummary"];
export type TraceCreated = Schemas["TraceCreated"];
export type TraceScore = Schemas["TraceScore"];
export type ScoredTrace = Schemas["ScoredTrace"];
export type TraceComparison = Schemas["TraceComparison"];

/** What the list and the count filter on; empty fields are left out. */
export interface TraceFilters {
  q?: string;
  meta?: Record<string, string>;
  createdAfter?: string;
  createdBefore?: string;
}

// `meta.<key>` parameters are open-ended, so the schema cannot name them.
type FilterQuery = {
  q?: string;
  created_after?: string;
  created_before?: string;
} & { [metaKey: `meta.${string}`]: string };

function filterQuery(filters: TraceFilters): FilterQuery {
  const query: FilterQuery = {};
  if (filters.q) query.q = filters.q;
  if (filters.createdAfter) query.created_after = filters.createdAfter;
  if (filters.createdBefore) query.created_before = filters.createdBefore;
  for (const [key, value] of Object.entries(filters.meta ?? {})) {
    query[`meta.${key}`] = value;
  }
  return query;
}

const keys = {
  all: ["traces"] as const,
  list: (filters: TraceFilters, limit: number, offset: number) =>
    ["traces", "list", filters, limit, offset] as const,
  count: (filters: TraceFilters) => ["traces", "count", filters] as const,
  detail: (id: string) => ["traces", "detail", id] as const,
  compare: (base: string, other: string) => ["traces", "compare", base, other] as const,
};

export function useTraceList(filters: TraceFilters, limit: number, offset: number) {
  return useQuery({
    queryKey: keys.list(filters, limit, offset),
    queryFn: () =>
      unwrap(api.GET("/api/traces", {
        params: { query: { ...filterQuery(filters), limit, offset } },
      })),
    placeholderData: keepPreviousData,
  });
}

export function useTraceCount(filters: TraceFilters = {}) {
  return useQuery({
    queryKey: keys.count(filters),
    queryFn: () =>
      unwrap(api.GET("/api/traces/count", { params: { query: filterQuery(filters) } })),
    select: (body) => body.count,
  });
}

export function useTrace(id: string) {
  return useQuery({
    queryKey: keys.detail(id),
    queryFn: () =>
      unwrap(api.GET("/api/traces/{trace_id}", { params: { path: { trace_id: id } } })),
  });
}

export function useCompareTraces(base: string, other: string) {
  return useQuery({
    queryKey: keys.compare(base, other),
    queryFn: () =>
      unwrap(api.GET("/api/traces/compare", { params: { query: { base, other } } })),
    enabled: Boolean(base && other),
  });
}

/** Upload one trace, or a list of traces through the all-or-nothing batch endpoint. */
export function useUploadTraces() {
  const client = useQueryClient();
  return useMutation({
    mutationFn: async (body: ReasoningTrace | ReasoningTrace[]): Promise<TraceCreated[]> => {
      if (Array.isArray(body)) {
        const created = await unwrap(api.POST("/api/traces/batch", { body }));
        return created.traces;
      }
      return [await unwrap(api.POST("/api/traces", { body }))];
    },
    onSuccess: () => client.invalidateQueries({ queryKey: keys.all }),
  });
}

export function useScoreTrace(id: string) {
  return useMutation({
    mutationFn: () =>
      unwrap(api.POST("/api/traces/{trace_id}/score", {
        params: { path: { trace_id: id } },
        body: { criteria: "baseline" },
      })),
  });
}

export function useDeleteTrace(id: string) {
  const client = useQueryClient();
  return useMutation({
    mutationFn: () =>
      unwrap(api.DELETE("/api/traces/{trace_id}", { params: { path: { trace_id: id } } })),
    onSuccess: () => {
      client.removeQueries({ queryKey: keys.detail(id) });
      return client.invalidateQueries({ queryKey: keys.all });
    },
  });
}
