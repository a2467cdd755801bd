import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { api, unwrap, type Schemas } from "./client";
import { request } from "./http";

export type SelectionStrategy = "latest" | "random";
export type ExportFormat = "trace" | "tunix_sft" | "training_example" | "messages";
export type Split = "train" | "eval" | "all";
export const EXPORT_FORMATS: ExportFormat[] = ["trace", "tunix_sft", "training_example", "messages"];

export type BuildRequest = Schemas["DatasetBuild"];
export type BuildResult = Schemas["DatasetBuilt"];
export type DatasetStats = Schemas["DatasetStats"];
export type Manifest = Schemas["DatasetManifest"];
export type DatasetSummary = Schemas["DatasetSummary"];
export type DatasetPreview = Schemas["DatasetPreview"];
export type PreviewToken = Schemas["PreviewToken"];

export function listItems<T>(body: unknown): T[] {
  if (Array.isArray(body)) return body as T[];
  if (body && typeof body === "object") {
    const record = body as Record<string, unknown>;
    for (const key of ["data", "datasets", "items"]) {
      if (Array.isArray(record[key])) return record[key] as T[];
    }
  }
  return [];
}

const keys = {
  all: ["datasets"] as const,
  list: ["datasets", "list"] as const,
  detail: (key: string) => ["datasets", "detail", key] as const,
  preview: (key: string, index: number, split: string, maxLen: number) =>
    ["datasets", "preview", key, index, split, maxLen] as const,
};

export function useDatasets() {
  return useQuery({
    queryKey: keys.list,
    queryFn: async () =>
      listItems<DatasetSummary>(await unwrap(api.GET("/api/datasets", {
        params: { query: { limit: 100 } },
      }))),
  });
}

export function useDataset(key: string) {
  return useQuery({
    queryKey: keys.detail(key),
    queryFn: () =>
      unwrap(api.GET("/api/datasets/{dataset_key}", { params: { path: { dataset_key: key } } })),
    enabled: Boolean(key),
  });
}

export function useBuildDataset() {
  const client = useQueryClient();
  return useMutation({
    mutationFn: (body: BuildRequest) => unwrap(api.POST("/api/datasets/build", { body })),
    onSuccess: () => client.invalidateQueries({ queryKey: keys.all }),
  });
}

export function useDeleteDataset() {
  const client = useQueryClient();
  return useMutation({
    mutationFn: (key: string) =>
      request<unknown>("DELETE", `/api/datasets/${encodeURIComponent(key)}`),
    onSuccess: () => client.invalidateQueries({ queryKey: keys.all }),
  });
}

export function usePreview(key: string, index: number, split: Split, maxSeqLength: number) {
  return useQuery({
    queryKey: keys.preview(key, index, split, maxSeqLength),
    queryFn: () =>
      unwrap(api.GET("/api/datasets/{dataset_key}/preview", {
        params: { path: { dataset_key: key }, query: { index, split, max_seq_length: maxSeqLength } },
      })),
    enabled: Boolean(key) && maxSeqLength > 0,
    retry: false,
  });
}

export function exportUrl(key: string, format: ExportFormat, split: Split): string {
  const query = new URLSearchParams({ format, split });
  return `/api/datasets/${encodeURIComponent(key)}/export.jsonl?${query.toString()}`;
}
