/** The first block of a UUID: enough to tell traces apart in a table. */
export function shortId(id: string): string {
  return id.split("-")[0] ?? id;
}

export function formatDate(iso: string): string {
  const date = new Date(iso);
  return Number.isNaN(date.getTime()) ? iso : date.toLocaleString();
}

export function formatScore(score: number): string {
  return score.toFixed(2);
}

/** Start of a local calendar day (`YYYY-MM-DD`) as an ISO instant, `days` later. */
export function dayStartIso(day: string, days = 0): string | undefined {
  const [y, m, d] = day.split("-").map(Number);
  if (!y || !m || !d) return undefined;
  return new Date(y, m - 1, d + days).toISOString();
}

/** `source=ungar, game=high_card_duel` → `{source: "ungar", game: "high_card_duel"}`. */
export function parseMetaFilter(text: string): Record<string, string> {
  const meta: Record<string, string> = {};
  for (const pair of text.split(",")) {
    const at = pair.indexOf("=");
    if (at <= 0) continue;
    const key = pair.slice(0, at).trim();
    if (key) meta[key] = pair.slice(at + 1).trim();
  }
  return meta;
}
