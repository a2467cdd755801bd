import { keepPreviousData, useQuery } from "@tanstack/react-query";
import { api, unwrap, type Schemas } from "./client";

export type RunStats = Schemas["RunStats"];
export type RunStatsGroup = Schemas["RunStatsGroup"];
export type StatsKind = "train" | "evaluate" | "tune" | "all";

export interface StatsFilters {
  kind: StatsKind;
  /** Inclusive, YYYY-MM-DD (UTC day). */
  createdAfter?: string;
}

/** Run analytics (GET /api/tunix/runs/stats); refreshed every 30 s while shown. */
export function useRunStats(filters: StatsFilters) {
  return useQuery({
    queryKey: ["runs", "stats", filters] as const,
    // The JSON form (the schema also lists the CSV one, a string, for format=csv).
    queryFn: async () =>
      (await unwrap(api.GET("/api/tunix/runs/stats", {
        params: { query: { kind: filters.kind, created_after: filters.createdAfter, format: "json" } },
      }))) as RunStats,
    placeholderData: keepPreviousData,
    refetchInterval: 30_000,
  });
}

/** The same statistics as a CSV download: a plain link to `stats.csv`, which the sign-in
 * cookie opens (docs/security.md). */
export function statsCsvUrl(filters: StatsFilters): string {
  const query = new URLSearchParams({ kind: filters.kind });
  if (filters.createdAfter) query.set("created_after", filters.createdAfter);
  return `/api/tunix/runs/stats.csv?${query.toString()}`;
}
