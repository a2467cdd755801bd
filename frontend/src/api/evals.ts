import { keepPreviousData, useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { ApiError, api, unwrap, type Schemas } from "./client";

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

const runPath = (id: string) => ({ run_id: id });

/** The run's latest evaluation, or null when it has none yet (404). */
export function useEvaluation(runId: string, live: boolean) {
  return useQuery({
    queryKey: ["evaluation", runId],
    queryFn: async () => {
      try {
        return await unwrap(api.GET("/api/tunix/runs/{run_id}/evaluation", {
          params: { path: runPath(runId) },
        }));
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
      unwrap(api.GET("/api/tunix/runs/{run_id}/predictions", {
        params: {
          path: runPath(runId),
          query: { evaluation_id: evaluationId, wrong_only: wrongOnly, limit: 500 },
        },
      })),
    placeholderData: keepPreviousData,
  });
}

export function useEvaluate(runId: string) {
  const client = useQueryClient();
  return useMutation({
    mutationFn: (judgeOverride?: string) =>
      unwrap(api.POST("/api/tunix/runs/{run_id}/evaluate", {
        params: { path: runPath(runId) },
        // Only the override is sent; the generated type marks the fields the server fills
        // from its defaults (seed, temperature) as required, the contract does not.
        body: (judgeOverride ? { judge_override: judgeOverride } : {}) as Schemas["EvaluateRequest"],
      })),
    onSuccess: () => client.invalidateQueries({ queryKey: ["evaluation", runId] }),
  });
}

export function useLeaderboard(filters: LeaderboardFilters, limit: number, offset: number) {
  return useQuery({
    queryKey: ["leaderboard", filters, limit, offset],
    queryFn: () =>
      unwrap(api.GET("/api/tunix/evaluations", {
        params: { query: { ...filters, limit, offset } },
      })),
    placeholderData: keepPreviousData,
  });
}

export function useBaselines() {
  return useQuery({
    queryKey: ["baselines"],
    queryFn: async () =>
      (await unwrap(api.GET("/api/regression/baselines"))).data,
    retry: false,
  });
}

export function useCreateBaseline() {
  const client = useQueryClient();
  return useMutation({
    mutationFn: (body: Schemas["BaselineCreate"]) =>
      unwrap(api.POST("/api/regression/baselines", { body })),
    onSuccess: () => client.invalidateQueries({ queryKey: ["baselines"] }),
  });
}

export function useRegressionCheck() {
  return useMutation({
    mutationFn: (body: Schemas["RegressionCheckRequest"]) =>
      unwrap(api.POST("/api/regression/check", { body })),
  });
}
