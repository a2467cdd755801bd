import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { request } from "./http";

export interface UngarStatus {
  available: boolean;
  version: string | null;
  games: string[];
}

export interface GenerateResult {
  trace_ids: string[];
  preview: Record<string, unknown>[];
}

export interface HighCardDuelRequest {
  count: number;
  seed: number | null;
  persist?: boolean;
}

/** Arithmetic options; only the fields set are sent, the server fills defaults. */
export interface ArithmeticRequest {
  count: number;
  seed: number | null;
  digits?: number;
  ops?: string[];
  terms?: number;
  style?: "plain" | "word";
}

export function useUngarStatus() {
  return useQuery({
    queryKey: ["ungar", "status"],
    queryFn: () => request<UngarStatus>("GET", "/api/ungar/status"),
  });
}

export function useGenerateHighCardDuel() {
  const client = useQueryClient();
  return useMutation({
    mutationFn: (body: HighCardDuelRequest) =>
      request<GenerateResult>("POST", "/api/ungar/high-card-duel/generate", { body }),
    onSuccess: () => client.invalidateQueries({ queryKey: ["traces"] }),
  });
}

export function useGenerateArithmetic() {
  const client = useQueryClient();
  return useMutation({
    mutationFn: (body: ArithmeticRequest) =>
      request<GenerateResult>("POST", "/api/generators/arithmetic/generate", { body }),
    onSuccess: () => client.invalidateQueries({ queryKey: ["traces"] }),
  });
}
