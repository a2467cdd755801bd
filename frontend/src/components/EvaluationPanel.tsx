import { useState } from "react";
import { Link } from "react-router-dom";
import { useEvaluate, useEvaluation, usePredictions } from "../api/evals";
import { isTerminal } from "../api/runs";
import { formatDate } from "../lib/format";
import { formatNumber } from "../lib/runs";
import { ErrorMessage } from "./ErrorMessage";
import { StatusBadge } from "./StatusBadge";

/** The run's latest evaluation: metrics, and what the model answered item by item. */
export function EvaluationPanel({ runId, runStatus }: { runId: string; runStatus: string }) {
  const evaluation = useEvaluation(runId, !isTerminal(runStatus));
  const evaluate = useEvaluate(runId);
  const [wrongOnly, setWrongOnly] = useState(false);
  const data = evaluation.data;
  const predictions = usePredictions(runId, data?.evaluation_id, wrongOnly);
  const shown = predictions.data?.data ?? [];
  const total = predictions.data?.total ?? data?.item_count ?? 0;
  const wrong = predictions.data?.wrong;

  return (
    <section className="panel" data-testid="eval:panel">
      <div className="row">
        <h2 style={{ margin: 0 }}>Evaluation</h2>
        {runStatus === "completed" && (
          <button type="button" className="secondary" data-testid="eval:run" disabled={evaluate.isPending}
            onClick={() => evaluate.mutate(undefined)}>
            {evaluate.isPending ? "Evaluating…" : data ? "Evaluate again" : "Evaluate now"}
          </button>
        )}
        {data && (
          <Link to={`/regression?run_id=${runId}`} data-testid="eval:regression-link">
            Baseline / regression check →
          </Link>
        )}
      </div>
      <ErrorMessage error={evaluation.error} testId="eval:error" />
      <ErrorMessage error={evaluate.error} testId="eval:error" />
      {data === null && (
        <p className="hint" data-testid="eval:none">
          {runStatus === "completed" ? "No evaluation yet (an automatic one may be queued)." : "Evaluated after the run completes."}
        </p>
      )}
      {data && (
        <>
          <div className="row">
            <span className="score">Score <strong data-testid="eval:score">{formatNumber(data.score, 4)}</strong> / 100</span>
            <StatusBadge status={data.verdict} testId="eval:verdict" />
            <span className="hint">{data.judge.name}@{data.judge.version} · {formatDate(data.evaluated_at)}</span>
          </div>
          <table className="table" data-testid="eval:metrics">
            <thead><tr><th>Metric</th><th>Value</th></tr></thead>
            <tbody>
              {Object.entries(data.metrics).map(([name, value]) => (
                <tr key={name} data-testid="eval:metric" data-name={name}>
                  <td className="mono">{name}</td>
                  <td data-testid="eval:metric-value">{typeof value === "number" ? formatNumber(value, 4) : String(value)}</td>
                </tr>
              ))}
            </tbody>
          </table>
          {data.detailed_metrics.length > 0 && (
            <p className="hint">
              {data.detailed_metrics.map((m) => `${m.name}: ${formatNumber(m.score, 4)}/${m.max_score}`).join(" · ")}
            </p>
          )}
          <h3>
            Answers (<span data-testid="eval:item-count">{total}</span> items,{" "}
            <span data-testid="eval:wrong-count">{wrong ?? "…"}</span> wrong)
          </h3>
          <label className="field checkbox">
            <input type="checkbox" checked={wrongOnly} data-testid="eval:wrong-only"
              onChange={(e) => setWrongOnly(e.target.checked)} /> only wrong answers
          </label>
          <ErrorMessage error={predictions.error} testId="eval:items-error" />
          <div className="scroll-box" style={{ maxHeight: "40rem" }}>
          <table className="table" data-testid="eval:items">
            <thead><tr><th>Item</th><th>Prompt</th><th>Expected</th><th>Generated</th><th>Extracted</th><th>Correct</th></tr></thead>
            <tbody>
              {shown.map((item) => (
                <tr key={item.id} data-testid="eval:item" data-correct={String(item.correct)}>
                  <td className="mono">{item.id.slice(0, 12)}</td>
                  <td className="preview" title={item.prompt}>{item.prompt}</td>
                  <td data-testid="eval:item-expected">{item.expected_answer ?? "—"}</td>
                  <td><pre className="text-block output-cell" data-testid="eval:item-output">{item.output}</pre></td>
                  <td data-testid="eval:item-extracted">{item.extracted_answer ?? "—"}</td>
                  <td className={item.correct ? "correct-yes" : "correct-no"}>
                    {item.correct === null || item.correct === undefined ? "?" : item.correct ? "✓" : "✗"}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
          </div>
          {shown.length === 0 && (
            <p className="hint" data-testid="eval:items-empty">{predictions.isFetching ? "Loading…" : "No items."}</p>
          )}
        </>
      )}
    </section>
  );
}
