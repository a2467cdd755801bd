import { ApiError } from "./client";

/**
 * A plain JSON request for endpoints whose shapes are written by hand in the domain files
 * (generators, datasets, runs, evaluation); same error contract as `unwrap`.
 */
export type Query = Record<string, string | number | boolean | null | undefined>;

export function withQuery(path: string, query?: Query): string {
  const params = new URLSearchParams();
  for (const [key, value] of Object.entries(query ?? {})) {
    if (value !== undefined && value !== null && value !== "") params.set(key, String(value));
  }
  const text = params.toString();
  return text ? `${path}?${text}` : path;
}

export async function request<T>(
  method: "GET" | "POST" | "DELETE" | "PUT",
  path: string,
  options: { query?: Query; body?: unknown } = {},
): Promise<T> {
  const init: RequestInit = { method, headers: { accept: "application/json" } };
  if (options.body !== undefined) {
    init.body = JSON.stringify(options.body);
    init.headers = { ...init.headers, "content-type": "application/json" };
  }
  const response = await fetch(withQuery(path, options.query), init);
  const text = await response.text();
  let body: unknown = null;
  if (text) {
    try {
      body = JSON.parse(text);
    } catch {
      body = text;
    }
  }
  if (!response.ok) {
    const detail = typeof body === "object" && body !== null && "detail" in body
      ? (body as { detail: unknown }).detail
      : body;
    throw new ApiError(response.status, detail);
  }
  return body as T;
}

/** NDJSON text → objects (blank lines skipped). */
export function parseNdjson<T>(text: string): T[] {
  return text.split("\n").filter((line) => line.trim()).map((line) => JSON.parse(line) as T);
}

export interface Pagination {
  limit: number;
  offset: number;
  next_offset: number | null;
}

export interface Page<T> {
  data: T[];
  pagination: Pagination;
}
