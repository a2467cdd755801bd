import { useQuery } from "@tanstack/react-query";
import { useState } from "react";
import { ApiError } from "../api/client";
import {
  exportUrl,
  usePreview,
  type DatasetPreview,
  type Manifest,
  type PreviewToken,
  type Split,
} from "../api/datasets";
import { parseNdjson } from "../api/http";
import { ErrorMessage } from "./ErrorMessage";

const MAX_TOKENS_SHOWN = 2_000;

/**
 * One example exactly as the trainer sees it: the rendered Gemma turn template, its
 * character and token counts, where `max_seq_length` cuts it, and which tokens carry loss
 * (the completion). Token counts come from the server's tokenizer; if the server cannot
 * preview, a whitespace stand-in over the `tunix_sft` export is shown and labelled as such.
 */
export function TemplatePreview({ datasetKey, manifest }: { datasetKey: string; manifest: Manifest }) {
  const [index, setIndex] = useState(0);
  const [split, setSplit] = useState<Split>("train");
  const [maxLenText, setMaxLenText] = useState("128");
  const maxSeqLength = Math.max(1, Number(maxLenText) || 0);
  const total = split === "all" ? manifest.trace_count
    : split === "eval" ? (manifest.splits?.eval?.length ?? 0)
      : (manifest.splits?.train?.length ?? manifest.trace_count);

  const server = usePreview(datasetKey, index, split, maxSeqLength);
  const serverMissing = server.error instanceof ApiError
    && (server.error.status === 404 || server.error.status === 405)
    && typeof server.error.detail === "string" && /not found/i.test(server.error.detail)
    && !server.error.detail.includes(datasetKey);
  const fallback = useFallbackPreview(datasetKey, index, split, maxSeqLength, serverMissing);
  const preview = server.data ?? fallback.data;
  const shownTotal = preview?.total ?? total;

  return (
    <section className="panel" data-testid="dataset:preview">
      <h2>Template preview</h2>
      <div className="row">
        <label className="field">Split
          <select value={split} data-testid="dataset:preview-split"
            onChange={(e) => { setSplit(e.target.value as Split); setIndex(0); }}>
            <option value="train">train</option>
            <option value="eval">eval</option>
            <option value="all">all</option>
          </select>
        </label>
        <label className="field">max_seq_length
          <input type="number" min={1} value={maxLenText} data-testid="dataset:preview-max-len"
            onChange={(e) => setMaxLenText(e.target.value)} />
        </label>
        <button type="button" className="secondary" data-testid="dataset:preview-prev"
          disabled={index === 0} onClick={() => setIndex((i) => Math.max(0, i - 1))}>← Prev</button>
        <span data-testid="dataset:preview-index">
          Example {shownTotal ? index + 1 : 0} of {shownTotal}
        </span>
        <button type="button" className="secondary" data-testid="dataset:preview-next"
          disabled={index + 1 >= shownTotal} onClick={() => setIndex((i) => i + 1)}>Next →</button>
      </div>
      {!serverMissing && <ErrorMessage error={server.error} testId="dataset:preview-error" />}
      <ErrorMessage error={fallback.error} testId="dataset:preview-error" />
      {(server.isPending || fallback.isFetching) && !preview && <p className="hint">Loading…</p>}
      {preview && <PreviewBody preview={preview} />}
    </section>
  );
}

function PreviewBody({ preview }: { preview: DatasetPreview }) {
  const tokens = preview.tokens ?? [];
  const limit = preview.max_seq_length;
  const isCut = (token: PreviewToken, i: number) => token.truncated ?? i >= limit;
  const lossTokens = preview.loss_token_count
    ?? tokens.filter((t, i) => t.loss && !isCut(t, i)).length;
  const cutCount = preview.truncated_token_count ?? Math.max(0, preview.token_count - limit);
  const promptChars = preview.prompt.length;
  // Characters kept before the cut, from the tokens when the server gives their text.
  const keptChars = tokens.length
    ? tokens.filter((t, i) => !isCut(t, i)).reduce((n, t) => n + t.text.length, 0)
    : preview.char_count;
  const full = preview.prompt + preview.completion;

  return (
    <div data-testid="dataset:preview-body" data-truncated={preview.truncated ? "true" : "false"}>
      <dl className="details">
        {preview.trace_id && <div><dt>Trace</dt><dd className="mono">{preview.trace_id}</dd></div>}
        <div><dt>Characters</dt><dd data-testid="dataset:preview-chars">{preview.char_count}</dd></div>
        <div><dt>Tokens</dt><dd data-testid="dataset:preview-tokens-count">{preview.token_count}</dd></div>
        <div><dt>Prompt / completion tokens</dt>
          <dd>{preview.prompt_token_count ?? "—"} / {preview.completion_token_count ?? "—"}</dd>
        </div>
        <div><dt>Tokens with loss</dt><dd data-testid="dataset:preview-loss-count">{lossTokens}</dd></div>
        <div><dt>Truncation at {limit}</dt>
          <dd data-testid="dataset:preview-truncation">
            {preview.truncated ? `truncated: ${cutCount} tokens cut` : "fits"}
          </dd>
        </div>
        <div><dt>Tokenizer</dt><dd data-testid="dataset:preview-tokenizer">{preview.tokenizer ?? "—"}</dd></div>
      </dl>
      <h3>Rendered text (what the model reads; green = completion, trained on)</h3>
      <pre className="text-block rendered" data-testid="dataset:preview-rendered">
        <span className="part-prompt" data-testid="dataset:preview-prompt">
          {full.slice(0, Math.min(promptChars, keptChars))}
        </span>
        <span className="part-completion" data-testid="dataset:preview-completion">
          {full.slice(promptChars, Math.max(promptChars, keptChars))}
        </span>
        {keptChars < full.length && (
          <span className="part-truncated" data-testid="dataset:preview-cut">
            {full.slice(keptChars)}
          </span>
        )}
      </pre>
      {tokens.length > 0 && (
        <>
          <h3>Tokens (green = carries loss, struck out = beyond max_seq_length)</h3>
          <div className="tokens" data-testid="dataset:preview-token-list">
            {tokens.slice(0, MAX_TOKENS_SHOWN).map((token, i) => (
              <span key={i} title={`#${i}${token.id !== undefined && token.id !== null ? ` id ${token.id}` : ""}`}
                className={`token${token.loss ? " loss" : ""}${isCut(token, i) ? " truncated" : ""}`}
                data-testid="dataset:token" data-loss={token.loss ? "true" : "false"}>
                {token.text}
              </span>
            ))}
            {tokens.length > MAX_TOKENS_SHOWN && <span className="hint"> …{tokens.length - MAX_TOKENS_SHOWN} more</span>}
          </div>
        </>
      )}
    </div>
  );
}

interface SftRow {
  id: string;
  prompt?: string;
  completion?: string;
  prompts?: string;
}

/** Whitespace pieces (each keeps its trailing space), a stand-in for the real tokenizer. */
function whitespaceTokens(text: string): string[] {
  return text.match(/\S+\s*|\s+/g) ?? [];
}

function useFallbackPreview(key: string, index: number, split: Split, maxSeqLength: number,
  enabled: boolean) {
  return useQuery({
    queryKey: ["datasets", "preview-fallback", key, index, split, maxSeqLength],
    enabled,
    queryFn: async (): Promise<DatasetPreview> => {
      const response = await fetch(exportUrl(key, "tunix_sft", split));
      if (!response.ok) throw new ApiError(response.status, await response.text());
      const rows = parseNdjson<SftRow>(await response.text());
      const row = rows[index];
      if (!row) throw new Error(`no example ${index + 1} in the ${split} split`);
      const prompt = row.prompt ?? "";
      const completion = row.completion ?? (row.prompts ?? "").slice(prompt.length);
      const promptTokens = whitespaceTokens(prompt);
      const completionTokens = whitespaceTokens(completion);
      const tokens: PreviewToken[] = [
        ...promptTokens.map((text) => ({ text, loss: false })),
        ...completionTokens.map((text) => ({ text, loss: true })),
      ];
      return {
        dataset_key: key,
        index,
        total: rows.length,
        split,
        trace_id: row.id,
        prompt,
        completion,
        char_count: prompt.length + completion.length,
        token_count: tokens.length,
        prompt_token_count: promptTokens.length,
        completion_token_count: completionTokens.length,
        max_seq_length: maxSeqLength,
        truncated: tokens.length > maxSeqLength,
        tokens,
        tokenizer: "whitespace stand-in (server preview unavailable)",
      };
    },
  });
}
