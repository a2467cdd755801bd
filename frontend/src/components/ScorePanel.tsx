import { useScoreTrace, type TraceScore } from "../api/traces";
import { formatDate, formatScore } from "../lib/format";
import { ErrorMessage } from "./ErrorMessage";

/** Scores the trace with the baseline criteria on demand and shows the breakdown. */
export function ScorePanel({ traceId }: { traceId: string }) {
  const score = useScoreTrace(traceId);
  return (
    <section className="panel">
      <div className="row">
        <button type="button" data-testid="trace:score-button" disabled={score.isPending}
          onClick={() => score.mutate()}>
          {score.isPending ? "Scoring…" : "Score (baseline)"}
        </button>
        {score.data && (
          <span className="score">
            Score <strong data-testid="trace:score">{formatScore(score.data.score)}</strong> / 100
          </span>
        )}
      </div>
      <ErrorMessage error={score.error} testId="trace:score-error" />
      {score.data && <ScoreDetails result={score.data} />}
    </section>
  );
}

function ScoreDetails({ result }: { result: TraceScore }) {
  const d = result.details;
  const rows: [string, string][] = [
    ["Steps", String(d.step_count)],
    ["Average step length", `${d.avg_step_length.toFixed(1)} chars`],
    ["Total characters", String(d.total_chars)],
    ["Step score", `${formatScore(d.step_score)} / 50`],
    ["Length score", `${formatScore(d.length_score)} / 50`],
    ["Criteria", d.criteria],
    ["Scored at", formatDate(d.scored_at)],
  ];
  return (
    <dl className="details" data-testid="trace:score-details">
      {rows.map(([label, value]) => (
        <div key={label}>
          <dt>{label}</dt>
          <dd>{value}</dd>
        </div>
      ))}
    </dl>
  );
}
