import { outOfBounds, type Bounds } from "../api/contract";

/**
 * One number input → its value: null for an empty optional field, undefined for an empty field
 * the server has a default for (left out of the request), or the error to show.
 */
export function numberField(text: string, b: Bounds): [number | null | undefined, string | null] {
  if (text.trim() === "") {
    if (b.nullable) return [null, null];
    return b.default !== undefined ? [undefined, null] : [undefined, "required"];
  }
  const value = Number(text);
  const problem = outOfBounds(value, b);
  return problem ? [undefined, problem] : [value, null];
}

/** A value from the server as the text of a number input ("" for null or missing). */
export function numberText(value: unknown): string {
  return typeof value === "number" && Number.isFinite(value) ? String(value) : "";
}
