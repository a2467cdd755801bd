import { useState } from "react";
import { Link } from "react-router-dom";
import {
  useGenerateArithmetic,
  useGenerateHighCardDuel,
  useUngarStatus,
  type GenerateResult,
} from "../api/generators";
import { ErrorMessage } from "../components/ErrorMessage";
import { shortId } from "../lib/format";

const OPERATIONS = [
  { op: "+", label: "+ add" },
  { op: "-", label: "− subtract" },
  { op: "×", label: "× multiply" },
];

const seedValue = (text: string) => (text.trim() === "" ? null : Number(text));

export function GeneratorsPage() {
  return (
    <div className="page">
      <h1>Generators</h1>
      <p className="hint">
        Built-in trace generators. The same seed always gives the same traces; generated traces
        are stored like uploaded ones and can be built into datasets.
      </p>
      <ArithmeticPanel />
      <HighCardDuelPanel />
    </div>
  );
}

function ArithmeticPanel() {
  const [count, setCount] = useState("20");
  const [seed, setSeed] = useState("0");
  const [digits, setDigits] = useState("2");
  const [terms, setTerms] = useState("2");
  const [style, setStyle] = useState<"plain" | "word">("plain");
  const [ops, setOps] = useState<string[]>(["+"]);
  const generate = useGenerateArithmetic();

  const toggle = (op: string) =>
    setOps((prev) => (prev.includes(op) ? prev.filter((x) => x !== op) : [...prev, op]));

  const submit = () => {
    generate.mutate({
      count: Number(count),
      seed: Number(seed) || 0,
      ...(digits ? { digits: Number(digits) } : {}),
      ...(terms ? { terms: Number(terms) } : {}),
      ...(ops.length ? { ops } : {}),
      style,
    });
  };

  return (
    <section className="panel" aria-labelledby="arith-title">
      <h2 id="arith-title">Arithmetic reasoning</h2>
      <p className="hint">
        Word and multi-step problems with verifiable answers, solved step by step (column
        addition with carries, multiplication by decomposition). This is the data the training
        demo learns from.
      </p>
      <div className="form-grid">
        <label className="field">Count (1–100000)
          <input type="number" min={1} value={count} data-testid="generators:arith-count"
            onChange={(e) => setCount(e.target.value)} />
        </label>
        <label className="field">Seed
          <input type="number" value={seed} data-testid="generators:arith-seed"
            onChange={(e) => setSeed(e.target.value)} />
        </label>
        <label className="field">Digits per number (1–6)
          <input type="number" min={1} max={6} value={digits} data-testid="generators:arith-digits"
            onChange={(e) => setDigits(e.target.value)} />
        </label>
        <label className="field">Terms per problem (2–5)
          <input type="number" min={2} max={5} value={terms} data-testid="generators:arith-terms"
            onChange={(e) => setTerms(e.target.value)} />
        </label>
        <label className="field">Style
          <select value={style} data-testid="generators:arith-style"
            onChange={(e) => setStyle(e.target.value as "plain" | "word")}>
            <option value="plain">plain (27 × 19)</option>
            <option value="word">word problems</option>
          </select>
        </label>
      </div>
      <div className="row">
        <span className="hint">Operations:</span>
        {OPERATIONS.map(({ op, label }) => (
          <label key={op} className="field checkbox">
            <input type="checkbox" checked={ops.includes(op)} data-testid="generators:arith-op"
              data-op={op} onChange={() => toggle(op)} />
            {label}
          </label>
        ))}
      </div>
      <div className="row">
        <button type="button" data-testid="generators:arith-submit" onClick={submit}
          disabled={generate.isPending}>
          {generate.isPending ? "Generating…" : "Generate arithmetic traces"}
        </button>
      </div>
      <ErrorMessage error={generate.error} testId="generators:arith-error" />
      {generate.data && <Generated result={generate.data} area="arith" />}
    </section>
  );
}

function HighCardDuelPanel() {
  const status = useUngarStatus();
  const [count, setCount] = useState("10");
  const [seed, setSeed] = useState("42");
  const generate = useGenerateHighCardDuel();

  return (
    <section className="panel" aria-labelledby="hcd-title">
      <h2 id="hcd-title">High Card Duel</h2>
      <p className="hint" data-testid="generators:ungar-status">
        {status.isPending ? "checking…" : status.data
          ? `${status.data.available ? "available" : "unavailable"}${status.data.version ? ` · v${status.data.version}` : ""} · games: ${status.data.games.join(", ")}`
          : "status unavailable"}
      </p>
      <p className="hint">
        Each episode deals one hidden card to each player from a 52-card deck; the only move is
        to reveal and the higher rank wins.
      </p>
      <div className="form-grid">
        <label className="field">Count (1–100)
          <input type="number" min={1} max={100} value={count} data-testid="generators:hcd-count"
            onChange={(e) => setCount(e.target.value)} />
        </label>
        <label className="field">Seed (empty = random)
          <input type="number" value={seed} data-testid="generators:hcd-seed"
            onChange={(e) => setSeed(e.target.value)} />
        </label>
      </div>
      <div className="row">
        <button type="button" data-testid="generators:hcd-submit" disabled={generate.isPending}
          onClick={() => generate.mutate({ count: Number(count), seed: seedValue(seed), persist: true })}>
          {generate.isPending ? "Generating…" : "Generate episodes"}
        </button>
        <a className="secondary" href="/api/ungar/high-card-duel/export.jsonl?limit=100"
          data-testid="generators:hcd-export" download>
          Export latest 100 (JSONL)
        </a>
      </div>
      <ErrorMessage error={generate.error} testId="generators:hcd-error" />
      {generate.data && <Generated result={generate.data} area="hcd" />}
    </section>
  );
}

function Generated({ result, area }: { result: GenerateResult; area: string }) {
  const shown = result.trace_ids.slice(0, 50);
  return (
    <div className="success" data-testid={`generators:${area}-result`}
      data-count={result.trace_ids.length}>
      Generated <strong data-testid="generators:count">{result.trace_ids.length}</strong> traces.{" "}
      <Link to="/traces">All traces</Link> · <Link to="/datasets">Build a dataset</Link>
      {result.preview.length > 0 && (
        <pre className="meta" data-testid="generators:preview">
          {result.preview.map((p) => JSON.stringify(p)).join("\n")}
        </pre>
      )}
      <ul className="inline-list">
        {shown.map((id) => (
          <li key={id}>
            <Link to={`/traces/${id}`} className="mono" data-testid="generators:trace-link">
              {shortId(id)}
            </Link>
          </li>
        ))}
      </ul>
      {result.trace_ids.length > shown.length && (
        <p className="hint">…and {result.trace_ids.length - shown.length} more.</p>
      )}
    </div>
  );
}
