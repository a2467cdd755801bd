import { keepPreviousData, useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { ApiError, type Schemas } from "./client";
import { request } from "./http";

export type Verdict = Schemas["Evaluation"]["verdict"];
export type DetailedMetric = Schemas["DetailedMetric"];
export type Evaluation = Schemas["Evaluation"];
export type PredictionItem = Schemas["Prediction"];
export type PredictionPage = Schemas["PredictionPage"];
export type LeaderboardRow = Schemas["LeaderboardRow"];
export type Baseline = Schemas["Baseline"];
export type RegressionCheck = Schemas["RegressionCheck"];

export interface LeaderboardFilters {
  dataset_key?: string;
  model_id?: string;
  evaluated_after?: string;
  evaluated_before?: string;
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
      request<Schemas["Page_LeaderboardRow_"]>("GET", "/api/tunix/evaluations", {
        query: { ...filters, limit, offset },
      }),
    placeholderData: keepPreviousData,
  });
}

export function useBaselines() {
  return useQuery({
    queryKey: ["baselines"],
    queryFn: async () =>
      (await request<Schemas["BaselineList"]>("GET", "/api/regression/baselines")).data,
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
