import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { api, unwrap, type Schemas } from "./client";
import { queryEnumValues } from "./contract";
import type { operations } from "./schema";

type ExportQuery = NonNullable<operations["export_dataset"]["parameters"]["query"]>;
export type SelectionStrategy = Schemas["DatasetBuild"]["selection_strategy"];
export type ExportFormat = NonNullable<ExportQuery["format"]>;
export type Split = NonNullable<ExportQuery["split"]>;
/** The export formats the server offers, from the OpenAPI document. */
export const EXPORT_FORMATS: ExportFormat[] =
  queryEnumValues("/api/datasets/{dataset_key}/export.jsonl", "get", "format");

export type BuildRequest = Schemas["DatasetBuild"];
export type BuildResult = Schemas["DatasetBuilt"];
export type DatasetStats = Schemas["DatasetStats"];
export type Manifest = Schemas["DatasetManifest"];
export type DatasetSummary = Schemas["DatasetSummary"];
export type DatasetPreview = Schemas["DatasetPreview"];
export type PreviewToken = Schemas["PreviewToken"];

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
      (await unwrap(api.GET("/api/datasets", { params: { query: { limit: 100 } } }))).data,
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
      unwrap(api.DELETE("/api/datasets/{dataset_key}", { params: { path: { dataset_key: key } } })),
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

/** A download link (NDJSON, not JSON): the browser fetches it, so it is a plain URL. */
export function exportUrl(key: string, format: ExportFormat, split: Split): string {
  const query = new URLSearchParams({ format, split });
  return `/api/datasets/${encodeURIComponent(key)}/export.jsonl?${query.toString()}`;
}
