// The API contract read at run time from the committed OpenAPI document (the same file
// `schema.d.ts` is generated from, and that `npm run check:api` keeps equal to the server's).
// Enum values, numeric bounds and defaults come from here instead of being copied by hand.
import openapi from "../../openapi.json";
import type { components, paths } from "./schema";

type Schemas = components["schemas"];
export type SchemaName = keyof Schemas;

/** The part of JSON Schema / OpenAPI 3.1 that the UI reads. */
export interface JsonSchema {
  $ref?: string;
  anyOf?: JsonSchema[];
  oneOf?: JsonSchema[];
  allOf?: JsonSchema[];
  type?: string | string[];
  enum?: unknown[];
  const?: unknown;
  default?: unknown;
  examples?: unknown[];
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  exclusiveMaximum?: number;
  minLength?: number;
  maxLength?: number;
  pattern?: string;
  title?: string;
  description?: string;
  items?: JsonSchema;
  properties?: Record<string, JsonSchema>;
}

interface Parameter {
  name: string;
  in: string;
  required?: boolean;
  description?: string;
  schema?: JsonSchema;
}

interface OpenApiDocument {
  paths: Record<string, Record<string, { parameters?: Parameter[] }>>;
  components: { schemas: Record<string, JsonSchema> };
}

const doc = openapi as unknown as OpenApiDocument;

function contractError(what: string): Error {
  return new Error(`openapi.json has no ${what}; regenerate it (make api-client)`);
}

const isNull = (s: JsonSchema) => s.type === "null";

/**
 * Follow `$ref`s and unwrap `anyOf`/`oneOf` [X, null] (how Pydantic writes an optional field)
 * to X; the outer schema's own keys (default, description, title…) are kept.
 */
export function resolve(schema: JsonSchema): JsonSchema {
  const { $ref, anyOf, oneOf, ...own } = schema;
  if ($ref) {
    const name = $ref.replace(/^#\/components\/schemas\//, "");
    const target = doc.components.schemas[name];
    if (!target) throw contractError(`schema ${$ref}`);
    return { ...resolve(target), ...own };
  }
  const branches = (anyOf ?? oneOf)?.filter((s) => !isNull(s));
  if (branches?.length === 1 && branches[0]) return { ...resolve(branches[0]), ...own };
  return schema;
}

/** Whether the schema admits null (an optional field that the server may leave unset). */
export function isNullable(schema: JsonSchema): boolean {
  const branches = schema.anyOf ?? schema.oneOf ?? [];
  return branches.some(isNull) || schema.type === "null"
    || (Array.isArray(schema.type) && schema.type.includes("null"));
}

/** A named schema from `components.schemas`. */
export function schemaOf(name: SchemaName): JsonSchema {
  const schema = doc.components.schemas[name];
  if (!schema) throw contractError(`schema ${name}`);
  return resolve(schema);
}

/** One property of a named schema, unresolved (so `anyOf` with null is still visible). */
export function rawProperty<N extends SchemaName>(name: N, prop: keyof Schemas[N] & string): JsonSchema {
  const schema = schemaOf(name).properties?.[prop];
  if (!schema) throw contractError(`property ${name}.${prop}`);
  return schema;
}

/** One property of a named schema, with `$ref` and optional-null resolved. */
export function property<N extends SchemaName>(name: N, prop: keyof Schemas[N] & string): JsonSchema {
  return resolve(rawProperty(name, prop));
}

function enumOf<T>(schema: JsonSchema, what: string): T[] {
  let resolved = resolve(schema);
  if (resolved.type === "array" && resolved.items) resolved = resolve(resolved.items);
  if (resolved.enum) return resolved.enum as T[];
  if (resolved.const !== undefined) return [resolved.const as T];
  throw contractError(`enum for ${what}`);
}

/**
 * The allowed values of an enum: a named enum schema (`enumValues("Split")`), or an enum-valued
 * property (`enumValues("Run", "status")`), in the order the server declares them.
 */
export function enumValues<N extends SchemaName>(name: N): Schemas[N][];
export function enumValues<N extends SchemaName, P extends keyof Schemas[N] & string>(
  name: N,
  prop: P,
): NonNullable<Schemas[N][P]>[];
export function enumValues(name: SchemaName, prop?: string): unknown[] {
  const schema = prop === undefined ? schemaOf(name) : rawProperty(name, prop as never);
  return enumOf(schema, prop === undefined ? name : `${name}.${prop}`);
}

type Method = "get" | "post" | "put" | "delete" | "patch";
type QueryOf<P extends keyof paths, M extends Method> =
  paths[P][M] extends { parameters: { query?: infer Q } } ? NonNullable<Q> : never;

/** One parameter's schema of an operation (`parameter("/api/tunix/run", "post", "mode")`). */
export function parameter(path: keyof paths, method: Method, name: string): JsonSchema {
  const found = doc.paths[path]?.[method]?.parameters?.find((p) => p.name === name);
  if (!found?.schema) throw contractError(`parameter ${name} of ${method.toUpperCase()} ${path}`);
  return found.schema;
}

/** The allowed values of an enum-valued query parameter (arrays give their item values). */
export function queryEnumValues<
  P extends keyof paths,
  M extends Method,
  Q extends keyof QueryOf<P, M> & string,
>(path: P, method: M, name: Q): NonNullable<QueryOf<P, M>[Q]> extends (infer I)[] ? I[] : NonNullable<QueryOf<P, M>[Q]>[] {
  return enumOf(parameter(path, method, name), `${name} of ${method.toUpperCase()} ${path}`) as never;
}

/** Numeric limits, default and description of one field, for a form input and its check. */
export interface Bounds {
  min?: number;
  max?: number;
  /** The minimum itself is not allowed (`exclusiveMinimum`). */
  minExclusive: boolean;
  maxExclusive: boolean;
  integer: boolean;
  nullable: boolean;
  default?: unknown;
  description?: string;
}

export function boundsOf(schema: JsonSchema): Bounds {
  const s = resolve(schema);
  const bounds: Bounds = {
    minExclusive: false,
    maxExclusive: false,
    integer: s.type === "integer",
    nullable: isNullable(schema),
    default: s.default,
    description: s.description,
  };
  if (s.exclusiveMinimum !== undefined) {
    bounds.min = s.exclusiveMinimum;
    bounds.minExclusive = true;
  } else if (s.minimum !== undefined) {
    bounds.min = s.minimum;
  }
  if (s.exclusiveMaximum !== undefined) {
    bounds.max = s.exclusiveMaximum;
    bounds.maxExclusive = true;
  } else if (s.maximum !== undefined) {
    bounds.max = s.maximum;
  }
  return bounds;
}

/** `boundsOf` for a property of a named schema (`bounds("RunRequest", "batch_size")`). */
export function bounds<N extends SchemaName>(name: N, prop: keyof Schemas[N] & string): Bounds {
  return boundsOf(rawProperty(name, prop));
}

/** Why `value` is outside `b`, in the words the form shows, or null when it is inside. */
export function outOfBounds(value: number, b: Bounds): string | null {
  if (!Number.isFinite(value)) return "must be a number";
  if (b.integer && !Number.isInteger(value)) return "must be a whole number";
  const low = b.min === undefined || (b.minExclusive ? value > b.min : value >= b.min);
  const high = b.max === undefined || (b.maxExclusive ? value < b.max : value <= b.max);
  if (low && high) return null;
  if (b.min !== undefined && b.max !== undefined) {
    return b.minExclusive || b.maxExclusive
      ? `must be in ${b.minExclusive ? "(" : "["}${b.min}, ${b.max}${b.maxExclusive ? ")" : "]"}`
      : `must be between ${b.min} and ${b.max}`;
  }
  if (b.min !== undefined) return `must be ${b.minExclusive ? "above" : "at least"} ${b.min}`;
  return `must be ${b.maxExclusive ? "below" : "at most"} ${b.max}`;
}

/** The first example the schema documents (`examples[0]`), or an empty object. */
export function exampleOf<N extends SchemaName>(name: N): Partial<Schemas[N]> {
  const example = schemaOf(name).examples?.[0];
  return typeof example === "object" && example !== null ? (example as Partial<Schemas[N]>) : {};
}

/** Narrow a string (from a URL or a `<select>`) to one of the contract's values. */
export function oneOf<T extends string>(values: readonly T[], value: string | null | undefined): T | undefined {
  return values.find((v) => v === value);
}
