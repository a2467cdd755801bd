import { useState } from "react";
import {
  usePreview,
  type DatasetPreview,
  type Manifest,
  type PreviewToken,
  type Split,
} from "../api/datasets";
import { ErrorMessage } from "./ErrorMessage";

const MAX_TOKENS_SHOWN = 2_000;

/**
 * One example exactly as the trainer sees it: the rendered Gemma turn template, its
 * character and token counts (the dataset's fitted SentencePiece tokenizer, BOS and EOS
 * included), where `max_seq_length` cuts it, and which tokens carry loss (the completion).
 */
export function TemplatePreview({ datasetKey, manifest }: { datasetKey: string; manifest: Manifest }) {
  const [index, setIndex] = useState(0);
  const [split, setSplit] = useState<Split>("train");
  const [maxLenText, setMaxLenText] = useState("128");
  const maxSeqLength = Math.max(16, Number(maxLenText) || 0);
  const sizes: Record<Split, number> = {
    all: manifest.trace_count,
    train: manifest.splits.train.length,
    eval: manifest.splits.eval.length,
  };
  const total = sizes[split];
  const preview = usePreview(datasetKey, index, split, maxSeqLength);

  return (
    <section className="panel" data-testid="dataset:preview">
      <h2>Template preview</h2>
      <div className="row">
        <label className="field">Split
          <select value={split} data-testid="dataset:preview-split"
            onChange={(e) => { setSplit(e.target.value as Split); setIndex(0); }}>
            <option value="train">train</option>
            <option value="eval" disabled={sizes.eval === 0}>eval</option>
            <option value="all">all</option>
          </select>
        </label>
        <label className="field">max_seq_length (≥16)
          <input type="number" min={16} value={maxLenText} data-testid="dataset:preview-max-len"
            onChange={(e) => setMaxLenText(e.target.value)} />
        </label>
        <button type="button" className="secondary" data-testid="dataset:preview-prev"
          disabled={index === 0} onClick={() => setIndex((i) => Math.max(0, i - 1))}>← Prev</button>
        <span data-testid="dataset:preview-index">Example {total ? index + 1 : 0} of {total}</span>
        <button type="button" className="secondary" data-testid="dataset:preview-next"
          disabled={index + 1 >= total} onClick={() => setIndex((i) => i + 1)}>Next →</button>
      </div>
      <ErrorMessage error={preview.error} testId="dataset:preview-error" />
      {preview.isPending && total > 0 && <p className="hint">Tokenizing…</p>}
      {preview.data && <PreviewBody preview={preview.data} />}
    </section>
  );
}

const BYTE_PIECE = /^<0x([0-9A-Fa-f]{2})>$/;

/** The text each token stands for: `▁` is a space, `<0xNN>` a byte, BOS/EOS nothing. */
function tokenTexts(tokens: PreviewToken[]): string[] {
  const texts: string[] = tokens.map(() => "");
  const decoder = new TextDecoder();
  let bytes: number[] = [];
  let byteStart = -1;
  const flush = (end: number) => {
    if (!bytes.length) return;
    texts[end] = decoder.decode(new Uint8Array(bytes));
    bytes = [];
    byteStart = -1;
  };
  tokens.forEach((token, n) => {
    const byte = BYTE_PIECE.exec(token.piece);
    if (byte?.[1]) {
      if (byteStart < 0) byteStart = n;
      bytes.push(parseInt(byte[1], 16));
      return;
    }
    flush(n - 1);
    const special = (n === 0 && token.piece === "<s>") || (n === tokens.length - 1 && token.piece === "</s>");
    texts[n] = special ? "" : token.piece.replaceAll("▁", " ");
  });
  flush(tokens.length - 1);
  return texts;
}

interface Segment {
  kind: "prompt" | "completion" | "cut";
  text: string;
}

/** Consecutive tokens of one kind joined, so the rendered text reads as one string. */
function segments(tokens: PreviewToken[]): Segment[] {
  const texts = tokenTexts(tokens);
  const out: Segment[] = [];
  tokens.forEach((token, n) => {
    const kind: Segment["kind"] = token.truncated ? "cut" : token.loss ? "completion" : "prompt";
    const last = out[out.length - 1];
    if (last && last.kind === kind) last.text += texts[n] ?? "";
    else out.push({ kind, text: texts[n] ?? "" });
  });
  return out.filter((s) => s.text);
}

function showPiece(piece: string): string {
  return piece === "\n" ? "⏎" : piece;
}

function PreviewBody({ preview }: { preview: DatasetPreview }) {
  const tokens = preview.tokens;
  const cutTokens = preview.truncate_at_token === null ? 0 : preview.token_count - preview.truncate_at_token;
  return (
    <div data-testid="dataset:preview-body" data-truncated={preview.truncated ? "true" : "false"}>
      <dl className="details">
        <div><dt>Trace</dt><dd className="mono" data-testid="dataset:preview-trace">{preview.trace_id}</dd></div>
        <div><dt>Characters</dt><dd data-testid="dataset:preview-chars">{preview.char_count}</dd></div>
        <div><dt>Tokens</dt><dd data-testid="dataset:preview-tokens-count">{preview.token_count}</dd></div>
        <div><dt>Prompt / completion tokens</dt>
          <dd data-testid="dataset:preview-split-counts">{preview.prompt_token_count} / {preview.completion_token_count}</dd>
        </div>
        <div><dt>Tokens with loss</dt><dd data-testid="dataset:preview-loss-count">{preview.loss_token_count}</dd></div>
        <div><dt>At max_seq_length {preview.max_seq_length}</dt>
          <dd data-testid="dataset:preview-truncation">
            {preview.truncated ? `truncated at token ${preview.truncate_at_token}: ${cutTokens} tokens dropped` : "fits"}
          </dd>
        </div>
        <div><dt>Tokenizer</dt>
          <dd data-testid="dataset:preview-tokenizer">{preview.tokenizer} · vocab {preview.vocab_size}</dd>
        </div>
      </dl>
      <h3>Rendered text (plain = prompt, no loss · green = completion, trained on · struck = dropped)</h3>
      <pre className="text-block rendered" data-testid="dataset:preview-rendered">
        {segments(tokens).map((segment, i) => (
          <span key={i} className={`part-${segment.kind === "cut" ? "truncated" : segment.kind}`}
            data-testid={`dataset:preview-${segment.kind}`}>{segment.text}</span>
        ))}
      </pre>
      <h3>Tokens (BOS … EOS; green = carries loss, struck = beyond max_seq_length)</h3>
      <div className="tokens" data-testid="dataset:preview-token-list">
        {tokens.slice(0, MAX_TOKENS_SHOWN).map((token, i) => (
          <span key={i} title={`#${i} id ${token.id}`}
            className={`token${token.loss ? " loss" : ""}${token.truncated ? " truncated" : ""}`}
            data-testid="dataset:token" data-loss={token.loss ? "true" : "false"}
            data-truncated={token.truncated ? "true" : "false"}>
            {showPiece(token.piece)}
          </span>
        ))}
        {tokens.length > MAX_TOKENS_SHOWN && <span className="hint"> …{tokens.length - MAX_TOKENS_SHOWN} more</span>}
      </div>
    </div>
  );
}
