import { useQuery } from "@tanstack/react-query";
import { api, type Schemas } from "./client";

export type Health = Schemas["Health"];
export type RediHealth = Schemas["RediHealth"];

const REFRESH_MS = 15_000;

/** API and database health. A 503 still carries a body (degraded / db down). */
export function useHealth() {
  return useQuery({
    queryKey: ["health"],
    queryFn: async (): Promise<Health> => {
      const { data, error } = await api.GET("/api/health");
      const body = data ?? error;
      if (!body) throw new Error("empty health response");
      return body;
    },
    refetchInterval: REFRESH_MS,
    retry: false,
  });
}

export function useRediHealth() {
  return useQuery({
    queryKey: ["redi-health"],
    queryFn: async (): Promise<RediHealth> => {
      const { data, response } = await api.GET("/api/redi/health");
      if (!data) throw new Error(`HTTP ${response.status}`);
      return data;
    },
    refetchInterval: REFRESH_MS,
    retry: false,
  });
}
