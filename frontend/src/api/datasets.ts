import { useMutation, useQuery, useQueryClient } from "@tanstack/react-query";
import { request } from "./http";

export type SelectionStrategy = "latest" | "random";
export type ExportFormat = "trace" | "tunix_sft" | "training_example" | "messages";
export type Split = "train" | "eval" | "all";
export const EXPORT_FORMATS: ExportFormat[] = ["trace", "tunix_sft", "training_example", "messages"];

export interface BuildRequest {
  dataset_name: string;
  dataset_version: string;
  filters: Record<string, string>;
  limit: number;
  selection_strategy: SelectionStrategy;
  seed?: number | null;
  eval_fraction: number;
}

export interface BuildResult {
  dataset_key: string;
  build_id: string;
  trace_count: number;
  manifest_path: string;
}

export interface DatasetStats {
  trace_count: number;
  avg_step_count: number;
  min_step_count: number;
  max_step_count: number;
  avg_total_chars: number;
}

export interface Manifest {
  dataset_key: string;
  build_id: string;
  dataset_name: string;
  dataset_version: string;
  dataset_schema_version?: string;
  created_at: string;
  filters: Record<string, unknown>;
  selection_strategy: SelectionStrategy;
  seed: number | null;
  trace_ids: string[];
  trace_count: number;
  stats: DatasetStats;
  splits: { train: string[]; eval: string[] };
  sha256: string;
  session_id?: string | null;
  parent_dataset_id?: string | null;
  training_run_id?: string | null;
}

/** A list row: whatever the list endpoint returns, at least the key. */
export interface DatasetSummary {
  dataset_key: string;
  dataset_name?: string;
  dataset_version?: string;
  trace_count?: number;
  created_at?: string;
  sha256?: string;
  splits?: { train: number | string[]; eval: number | string[] } | null;
  train_count?: number;
  eval_count?: number;
}

/** One token of a preview; `loss` marks tokens the trainer learns from. */
export interface PreviewToken {
  text: string;
  id?: number | null;
  loss: boolean;
  truncated?: boolean;
}

/** `GET /api/datasets/{key}/preview`: one example as the trainer sees it. */
export interface DatasetPreview {
  dataset_key: string;
  index: number;
  total?: number | null;
  split?: string;
  trace_id?: string | null;
  prompt: string;
  completion: string;
  text?: string;
  char_count: number;
  token_count: number;
  prompt_token_count?: number | null;
  completion_token_count?: number | null;
  loss_token_count?: number | null;
  max_seq_length: number;
  truncated: boolean;
  truncated_token_count?: number | null;
  tokens?: PreviewToken[] | null;
  tokenizer?: string | null;
}

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
      listItems<DatasetSummary>(await request<unknown>("GET", "/api/datasets", {
        query: { limit: 100 },
      })),
  });
}

export function useDataset(key: string) {
  return useQuery({
    queryKey: keys.detail(key),
    queryFn: () => request<Manifest>("GET", `/api/datasets/${encodeURIComponent(key)}`),
    enabled: Boolean(key),
  });
}

export function useBuildDataset() {
  const client = useQueryClient();
  return useMutation({
    mutationFn: (body: BuildRequest) =>
      request<BuildResult>("POST", "/api/datasets/build", { body }),
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
      request<DatasetPreview>("GET", `/api/datasets/${encodeURIComponent(key)}/preview`, {
        query: { index, split, max_seq_length: maxSeqLength },
      }),
    enabled: Boolean(key) && maxSeqLength > 0,
    retry: false,
  });
}

export function exportUrl(key: string, format: ExportFormat, split: Split): string {
  const query = new URLSearchParams({ format, split });
  return `/api/datasets/${encodeURIComponent(key)}/export.jsonl?${query.toString()}`;
}
