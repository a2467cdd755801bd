import { keepPreviousData, useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { ApiError } from "./client";
import { request, type Page } from "./http";

export type Verdict = "pass" | "fail" | "uncertain";

export interface DetailedMetric {
  name: string;
  score: number;
  max_score: number;
  details: Record<string, unknown> | unknown[] | null;
}

export interface Evaluation {
  evaluation_id: string;
  run_id: string;
  score: number;
  verdict: Verdict;
  metrics: Record<string, number>;
  detailed_metrics: DetailedMetric[];
  judge: { name: string; version: string };
  evaluated_at: string;
  item_count?: number;
  eval_set?: string | null;
  predictions_artifact?: string | null;
}

/** One generated answer next to the expected one. */
export interface PredictionItem {
  id: string;
  prompt?: string;
  output?: string;
  extracted_answer?: string | null;
  expected_answer?: string | null;
  correct?: boolean | null;
}

export interface LeaderboardRow {
  run_id: string;
  model_id: string;
  dataset_key: string | null;
  score: number;
  verdict: Verdict;
  metrics: Record<string, number>;
  evaluated_at: string;
}

export interface LeaderboardFilters {
  dataset_key?: string;
  model_id?: string;
  evaluated_after?: string;
  evaluated_before?: string;
}

export interface Baseline {
  name: string;
  run_id: string;
  metric: string;
  value?: number;
  lower_is_better?: boolean;
  created_at?: string;
}

export interface RegressionCheck {
  run_id: string;
  baseline_name: string;
  baseline_run_id: string;
  metric_name: string;
  baseline_value: number;
  current_value: number;
  delta: number;
  delta_percent: number | null;
  verdict: "pass" | "fail";
  details?: unknown;
}

const runPath = (id: string) => `/api/tunix/runs/${encodeURIComponent(id)}`;

/** The run's latest evaluation, or null when it has none yet (404). */
export function useEvaluation(runId: string, live: boolean) {
  return useQuery({
    queryKey: ["evaluation", runId],
    queryFn: async () => {
      try {
        return await request<Evaluation>("GET", `${runPath(runId)}/evaluation`);
      } catch (error) {
        if (error instanceof ApiError && error.status === 404) return null;
        throw error;
      }
    },
    refetchInterval: (query) => (live || query.state.data === null ? 3_000 : false),
  });
}

export interface PredictionPage {
  evaluation_id: string;
  run_id: string;
  total: number;
  wrong: number;
  data: PredictionItem[];
  pagination: { limit: number; offset: number; next_offset: number | null };
}

/** What the model answered, item by item (optionally only the wrong ones). */
export function usePredictions(runId: string, evaluationId: string | undefined, wrongOnly: boolean) {
  return useQuery({
    queryKey: ["predictions", runId, evaluationId, wrongOnly],
    enabled: Boolean(evaluationId),
    queryFn: () =>
      request<PredictionPage>("GET", `${runPath(runId)}/predictions`, {
        query: { evaluation_id: evaluationId, wrong_only: wrongOnly, limit: 500 },
      }),
    placeholderData: keepPreviousData,
  });
}

export function useEvaluate(runId: string) {
  const client = useQueryClient();
  return useMutation({
    mutationFn: (judgeOverride?: string) =>
      request<Evaluation>("POST", `${runPath(runId)}/evaluate`, {
        body: judgeOverride ? { judge_override: judgeOverride } : {},
      }),
    onSuccess: () => client.invalidateQueries({ queryKey: ["evaluation", runId] }),
  });
}

export function useLeaderboard(filters: LeaderboardFilters, limit: number, offset: number) {
  return useQuery({
    queryKey: ["leaderboard", filters, limit, offset],
    queryFn: () =>
      request<Page<LeaderboardRow>>("GET", "/api/tunix/evaluations", {
        query: { ...filters, limit, offset },
      }),
    placeholderData: keepPreviousData,
  });
}

export function useBaselines() {
  return useQuery({
    queryKey: ["baselines"],
    queryFn: async () => {
      const body = await request<unknown>("GET", "/api/regression/baselines");
      if (Array.isArray(body)) return body as Baseline[];
      const record = body as { data?: Baseline[]; baselines?: Baseline[] } | null;
      return record?.data ?? record?.baselines ?? [];
    },
    retry: false,
  });
}

export function useCreateBaseline() {
  const client = useQueryClient();
  return useMutation({
    mutationFn: (body: { name: string; run_id: string; metric: string; lower_is_better: boolean }) =>
      request<Baseline>("POST", "/api/regression/baselines", { body }),
    onSuccess: () => client.invalidateQueries({ queryKey: ["baselines"] }),
  });
}

export function useRegressionCheck() {
  return useMutation({
    mutationFn: (body: { run_id: string; baseline_name: string }) =>
      request<RegressionCheck>("POST", "/api/regression/check", { body }),
  });
}
