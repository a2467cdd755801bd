export type ParsedUpload =
  | { ok: true; value: unknown }
  | { ok: false; error: string };

/**
 * The upload box takes one JSON trace, a JSON array of traces, or JSON Lines (one trace
 * per line, as `tunix-rt traces export` writes). Several lines become a list.
 */
export function parseUpload(text: string): ParsedUpload {
  const trimmed = text.trim();
  if (!trimmed) return { ok: false, error: "Paste a trace as JSON first." };
  const whole = tryParse(trimmed);
  if (whole.ok) return whole;
  const lines = trimmed.split("\n");
  // Only JSON Lines if the first line is a document by itself; otherwise the text is one
  // (broken) document and the whole-text error is the useful one.
  if (lines.length < 2 || !tryParse(lines[0] ?? "").ok) {
    return { ok: false, error: `Invalid JSON: ${whole.error}` };
  }
  const items: unknown[] = [];
  for (const [index, line] of lines.entries()) {
    if (!line.trim()) continue;
    const item = tryParse(line);
    if (!item.ok) return { ok: false, error: `Invalid JSON on line ${index + 1}: ${item.error}` };
    items.push(item.value);
  }
  return { ok: true, value: items };
}

function tryParse(text: string): ParsedUpload {
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch (error) {
    return { ok: false, error: error instanceof Error ? error.message : String(error) };
  }
}
