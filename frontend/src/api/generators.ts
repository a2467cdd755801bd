import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { api, unwrap, type Schemas } from "./client";

export type UngarStatus = Schemas["UngarStatus"];
/**
 * Only the fields set are sent; the server fills the defaults. (The generated types mark the
 * fields that have a default as required; the contract does not.)
 */
export type HighCardDuelRequest = Partial<Schemas["HighCardDuelGenerate"]>;
export type ArithmeticRequest = Partial<Schemas["ArithmeticGenerate"]>;

/** What both generators answer: the new trace ids and a preview of the first few. */
export type GenerateResult = Schemas["ArithmeticGenerated"] | Schemas["HighCardDuelGenerated"];

export function useUngarStatus() {
  return useQuery({
    queryKey: ["ungar", "status"],
    queryFn: () => unwrap(api.GET("/api/ungar/status")),
  });
}

export function useGenerateHighCardDuel() {
  const client = useQueryClient();
  return useMutation({
    mutationFn: (body: HighCardDuelRequest) =>
      unwrap(api.POST("/api/ungar/high-card-duel/generate", {
        body: body as Schemas["HighCardDuelGenerate"],
      })),
    onSuccess: () => client.invalidateQueries({ queryKey: ["traces"] }),
  });
}

export function useGenerateArithmetic() {
  const client = useQueryClient();
  return useMutation({
    mutationFn: (body: ArithmeticRequest) =>
      unwrap(api.POST("/api/generators/arithmetic/generate", {
        body: body as Schemas["ArithmeticGenerate"],
      })),
    onSuccess: () => client.invalidateQueries({ queryKey: ["traces"] }),
  });
}
