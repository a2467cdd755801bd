import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import type { Schemas } from "./client";
import { request } from "./http";

export type UngarStatus = Schemas["UngarStatus"];
export type HighCardDuelRequest = Partial<Schemas["HighCardDuelGenerate"]>;
/** Only the fields set are sent; the server fills the defaults. */
export type ArithmeticRequest = Partial<Schemas["ArithmeticGenerate"]>;

/** What both generators answer: the new trace ids and a preview of the first few. */
export interface GenerateResult {
  trace_ids: string[];
  preview: (Schemas["ArithmeticPreview"] | Schemas["HighCardDuelPreview"])[];
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
      request<Schemas["HighCardDuelGenerated"]>("POST", "/api/ungar/high-card-duel/generate", { body }),
    onSuccess: () => client.invalidateQueries({ queryKey: ["traces"] }),
  });
}

export function useGenerateArithmetic() {
  const client = useQueryClient();
  return useMutation({
    mutationFn: (body: ArithmeticRequest) =>
      request<Schemas["ArithmeticGenerated"]>("POST", "/api/generators/arithmetic/generate", { body }),
    onSuccess: () => client.invalidateQueries({ queryKey: ["traces"] }),
  });
}
