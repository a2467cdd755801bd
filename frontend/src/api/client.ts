import createClient from "openapi-fetch";
import { authStore } from "../lib/authToken";
import type { components, paths } from "./schema";

export type Schemas = components["schemas"];
export type FieldError = Pick<Schemas["ValidationError"], "loc" | "msg">;

/** The one typed client; paths are relative so it works wherever the app is served. */
export const api = createClient<paths>({ baseUrl: "" });

// Every call carries the signed-in token; any 401 asks the user for one (docs/security.md).
api.use({
  onRequest({ request }) {
    const token = authStore.token();
    if (token && !request.headers.has("Authorization")) {
      request.headers.set("Authorization", `Bearer ${token}`);
    }
    return request;
  },
  onResponse({ response }) {
    if (response.status === 401) authStore.unauthorized();
    return response;
  },
});

/** A non-2xx answer from the API, with the server's `detail` kept as sent. */
export class ApiError extends Error {
  readonly status: number;
  readonly detail: unknown;

  constructor(status: number, detail: unknown) {
    super(describe(status, detail));
    this.name = "ApiError";
    this.status = status;
    this.detail = detail;
  }

  /** The field errors of a 422, or an empty list for any other error. */
  get fieldErrors(): FieldError[] {
    return Array.isArray(this.detail) ? this.detail.filter(isFieldError) : [];
  }
}

function isFieldError(value: unknown): value is FieldError {
  return typeof value === "object" && value !== null && "loc" in value && "msg" in value;
}

/** `["body", "steps", 0, "content"]` → `steps[0].content`. */
export function formatLoc(loc: FieldError["loc"]): string {
  const parts = loc[0] === "body" && loc.length > 1 ? loc.slice(1) : loc;
  return parts
    .map((part, index) => (typeof part === "number" ? `[${part}]` : index ? `.${part}` : part))
    .join("");
}

function describe(status: number, detail: unknown): string {
  if (typeof detail === "string") return detail;
  if (Array.isArray(detail)) {
    return detail
      .filter(isFieldError)
      .map((e) => `${formatLoc(e.loc)}: ${e.msg}`)
      .join("; ");
  }
  return `HTTP ${status}`;
}

interface Result<T> {
  data?: T;
  error?: unknown;
  response: Response;
}

/** Resolve to the body of a 2xx answer; throw ApiError for anything else. */
export async function unwrap<T>(request: Promise<Result<T>>): Promise<T> {
  const { data, error, response } = await request;
  if (!response.ok) {
    const detail = typeof error === "object" && error !== null && "detail" in error
      ? error.detail
      : error;
    throw new ApiError(response.status, detail);
  }
  return data as T;
}
