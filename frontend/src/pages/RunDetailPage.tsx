import { useEffect, useRef, useState } from "react";
import { Link, useNavigate, useParams } from "react-router-dom";
import {
  artifactUrl,
  isRetryable,
  isTerminal,
  kindLabel,
  logDownloadUrl,
  useArtifacts,
  useCancelRun,
  useDeleteRun,
  useRetryRun,
  useRun,
  useRunMetrics,
  type Run,
} from "../api/runs";
import { ErrorMessage } from "../components/ErrorMessage";
import { EvaluationPanel } from "../components/EvaluationPanel";
import { LossChart, RewardChart } from "../components/LossChart";
import { RegisterModelPanel } from "../components/RegisterModelPanel";
import { StatusBadge } from "../components/StatusBadge";
import { formatDate } from "../lib/format";
import { formatBytes, formatDuration, formatNumber, progressOf } from "../lib/runs";
import { useRunLogs } from "../lib/useRunLogs";

export function RunDetailPage() {
  const { id = "" } = useParams();
  const run = useRun(id);
  const live = !isTerminal(run.data?.status);

  return (
    <div className="page">
      <p><Link to="/runs" data-testid="run:back">← All runs</Link></p>
      <h1>Run <span className="mono" data-testid="run:id">{id}</span></h1>
      <ErrorMessage error={run.error} testId="run:error" />
      {run.isPending && <p className="hint">Loading…</p>}
      {run.data && (
        <>
          <RunSummaryPanel run={run.data} />
          {run.data.report && (
            <section className="panel" data-testid="run:report">
              <h2>Dry-run report</h2>
              <pre className="meta">{JSON.stringify(run.data.report, null, 2)}</pre>
            </section>
          )}
          {run.data.kind !== "evaluate" && run.data.mode === "local" && (
            <TrainingPanel runId={id} live={live} />
          )}
          <LogPanel runId={id} />
          <ArtifactsPanel runId={id} live={live} />
          {run.data.kind !== "evaluate" && run.data.mode === "local" && (
            <EvaluationPanel runId={id} runStatus={run.data.status} />
          )}
          {registrable(run.data) && <RegisterModelPanel runId={id} />}
          <Actions run={run.data} />
        </>
      )}
    </div>
  );
}

/** Only a completed local training run keeps a final model the registry can take. */
function registrable(run: Run): boolean {
  return run.status === "completed" && run.mode === "local" && run.kind === "train";
}

/** The run a GRPO run continues (its config's init_from), if any. */
function initFromOf(run: Run): string | null {
  const from = (run.config as { init_from?: { run_id?: unknown } } | null)?.init_from;
  return typeof from?.run_id === "string" ? from.run_id : null;
}

/** The run this one retries (config.retry_of), if any. */
function retryOf(run: Run): string | null {
  const from = (run.config as { retry_of?: unknown } | null)?.retry_of;
  return typeof from === "string" ? from : null;
}

function RunSummaryPanel({ run }: { run: Run }) {
  const grpoStart = initFromOf(run);
  return (
    <section className="panel">
      <div className="row">
        <StatusBadge status={run.status} testId="run:status" />
        <span className="hint" data-testid="run:kind">
          {kindLabel(run.kind)}{grpoStart ? " · GRPO" : ""} · {run.mode}
        </span>
      </div>
      <dl className="details">
        <div><dt>Dataset</dt><dd>
          {run.dataset_key ? <Link to={`/datasets/${encodeURIComponent(run.dataset_key)}`}>{run.dataset_key}</Link> : "—"}
        </dd></div>
        <div><dt>Model</dt><dd className="mono" data-testid="run:model">{run.model_id}</dd></div>
        <div><dt>Attempt</dt><dd data-testid="run:attempt" data-attempt={run.attempt}>{run.attempt + 1} of {run.max_attempts}</dd></div>
        <div><dt>Worker</dt><dd className="mono" data-testid="run:worker">{run.worker_id ?? "—"}</dd></div>
        <div><dt>Priority</dt><dd>{run.priority ?? 0}</dd></div>
        <div><dt>Queued</dt><dd>{run.queued_at ? formatDate(run.queued_at) : "—"}</dd></div>
        <div><dt>Started</dt><dd>{run.started_at ? formatDate(run.started_at) : "—"}</dd></div>
        <div><dt>Completed</dt><dd>{run.completed_at ? formatDate(run.completed_at) : "—"}</dd></div>
        <div><dt>Duration</dt><dd data-testid="run:duration">{formatDuration(run.duration_seconds)}</dd></div>
        <div><dt>Exit code</dt><dd data-testid="run:exit-code">{run.exit_code ?? "—"}</dd></div>
        {grpoStart && (
          <div><dt>Starts from</dt><dd><Link to={`/runs/${grpoStart}`} className="mono" data-testid="run:init-from">{grpoStart}</Link></dd></div>
        )}
        {retryOf(run) && (
          <div><dt>Retry of</dt><dd><Link to={`/runs/${retryOf(run)}`} className="mono" data-testid="run:retry-of">{retryOf(run)}</Link></dd></div>
        )}
        {run.parent_run_id && (
          <div><dt>Evaluates</dt><dd><Link to={`/runs/${run.parent_run_id}`} className="mono">{run.parent_run_id}</Link></dd></div>
        )}
        <div><dt>Output directory</dt><dd className="mono">{run.output_dir}</dd></div>
      </dl>
      {run.message && <p data-testid="run:message" className={run.status === "failed" ? "error" : "hint"}>{run.message}</p>}
      {run.config && (
        <details>
          <summary>Config</summary>
          <pre className="meta" data-testid="run:config">{JSON.stringify(run.config, null, 2)}</pre>
        </details>
      )}
    </section>
  );
}

function TrainingPanel({ runId, live }: { runId: string; live: boolean }) {
  const metrics = useRunMetrics(runId, live);
  const points = metrics.data?.data ?? [];
  const progress = progressOf(points, metrics.data?.total_steps);
  const last = points[points.length - 1];
  // A GRPO run reports rewards per step (SFT runs leave them null).
  const grpo = points.some((p) => typeof p.reward_mean === "number");
  return (
    <section className="panel" data-testid="run:training">
      <h2>Training</h2>
      <ErrorMessage error={metrics.error} testId="run:metrics-error" />
      {progress ? (
        <div data-testid="run:progress" data-step={progress.step} data-total={progress.total ?? ""}>
          <div className="row">
            <span>Step <strong data-testid="run:step">{progress.step}</strong>
              {progress.total ? <> / <span data-testid="run:total-steps">{progress.total}</span></> : null}
              {progress.percent !== null && ` (${progress.percent.toFixed(0)}%)`}</span>
            {live && progress.etaSeconds !== null && (
              <span className="hint" data-testid="run:eta">ETA {formatDuration(progress.etaSeconds)}</span>
            )}
            {last && !grpo && (
              <span className="hint">
                loss {formatNumber(last.loss)} · eval {formatNumber(last.eval_loss)} · lr{" "}
                {formatNumber(last.learning_rate, 3)} · {formatNumber(last.tokens_per_second, 4)} tok/s
              </span>
            )}
            {last && grpo && (
              <span className="hint" data-testid="run:grpo-stats">
                reward <span data-testid="run:reward">{formatNumber(last.reward_mean, 3)}</span> ±{" "}
                {formatNumber(last.reward_std, 3)} · accuracy{" "}
                <span data-testid="run:accuracy">
                  {typeof last.accuracy === "number" ? `${(last.accuracy * 100).toFixed(1)}%` : "—"}
                </span>{" "}
                · KL {formatNumber(last.kl, 3)} · lr {formatNumber(last.learning_rate, 3)}
              </span>
            )}
          </div>
          {progress.percent !== null && (
            <div className="progress"><div style={{ width: `${progress.percent}%` }} /></div>
          )}
        </div>
      ) : (
        <p className="hint" data-testid="run:progress-empty">{live ? "Waiting for the first step…" : "No steps recorded."}</p>
      )}
      {grpo && <RewardChart points={points} />}
      <LossChart points={points} />
    </section>
  );
}

/** The trainer's machine-readable lines (`@tunix_rt {...}`): they feed the chart. */
const METRIC_PREFIX = "@tunix_rt ";

function LogPanel({ runId }: { runId: string }) {
  const { lines, state, finalStatus, serverError } = useRunLogs(runId);
  const box = useRef<HTMLPreElement>(null);
  const [follow, setFollow] = useState(true);
  const [raw, setRaw] = useState(false);
  const metricLines = lines.filter((line) => line.chunk.startsWith(METRIC_PREFIX)).length;
  useEffect(() => {
    if (follow && box.current) box.current.scrollTop = box.current.scrollHeight;
  }, [lines, follow, raw]);
  return (
    <section className="panel">
      <div className="row">
        <h2 style={{ margin: 0 }}>Log</h2>
        <span className="hint" data-testid="run:log-state" data-state={state}>
          {state === "live" ? "● live" : state === "ended" ? `ended${finalStatus ? ` (${finalStatus})` : ""}` : state}
        </span>
        <span className="hint" data-testid="run:log-count" data-metric-lines={metricLines}>
          {raw ? lines.length : lines.length - metricLines} lines
          {!raw && metricLines > 0 && ` (${metricLines} metric lines hidden: see the chart)`}
        </span>
        <label className="field checkbox">
          <input type="checkbox" checked={follow} onChange={(e) => setFollow(e.target.checked)} /> follow
        </label>
        <label className="field checkbox">
          <input type="checkbox" checked={raw} data-testid="run:log-raw"
            onChange={(e) => setRaw(e.target.checked)} /> show raw
        </label>
        <a href={logDownloadUrl(runId)} download data-testid="run:log-download">Download raw log</a>
      </div>
      {serverError && <div className="error" data-testid="run:log-error">{serverError}</div>}
      <pre className="log" ref={box} data-testid="run:log">
        {lines.map((line) => {
          // Metric lines stay in the list (in order, by seq) but are hidden unless raw.
          const metric = line.chunk.startsWith(METRIC_PREFIX);
          return (
            <div key={line.seq} className={`log-line stream-${line.stream}`} data-testid="run:log-line"
              data-seq={line.seq} data-metric={metric || undefined} hidden={metric && !raw}>
              {line.chunk.replace(/\n$/, "")}
            </div>
          );
        })}
      </pre>
    </section>
  );
}

function ArtifactsPanel({ runId, live }: { runId: string; live: boolean }) {
  const artifacts = useArtifacts(runId, live);
  const rows = artifacts.data ?? [];
  return (
    <section className="panel">
      <h2>Artifacts {rows.length > 0 && <span className="hint">({rows.length} files)</span>}</h2>
      <ErrorMessage error={artifacts.error} testId="run:artifacts-error" />
      {rows.length === 0 ? (
        <p className="hint" data-testid="run:artifacts-empty">{artifacts.isPending ? "Loading…" : "No files yet."}</p>
      ) : (
        <div className="scroll-box">
        <table className="table" data-testid="run:artifacts">
          <thead><tr><th>Path</th><th>Size</th><th /></tr></thead>
          <tbody>
            {rows.map((a) => (
              <tr key={a.path} data-testid="run:artifact" data-path={a.path}>
                <td className="mono">{a.path}</td>
                <td>{formatBytes(a.size)}</td>
                <td><a href={artifactUrl(runId, a.path)} download={a.name} data-testid="run:artifact-download">Download</a></td>
              </tr>
            ))}
          </tbody>
        </table>
        </div>
      )}
    </section>
  );
}

function Actions({ run }: { run: Run }) {
  const cancel = useCancelRun(run.run_id);
  const remove = useDeleteRun(run.run_id);
  const retry = useRetryRun(run.run_id);
  const navigate = useNavigate();
  const [confirming, setConfirming] = useState(false);
  const terminal = isTerminal(run.status);
  return (
    <div className="row danger-zone">
      {isRetryable(run) && (
        <button type="button" data-testid="run:retry" disabled={retry.isPending}
          title="Queue a new run with the same config"
          onClick={() => retry.mutate(undefined, { onSuccess: (next) => navigate(`/runs/${next.run_id}`) })}>
          {retry.isPending ? "Retrying…" : "Retry"}
        </button>
      )}
      <ErrorMessage error={retry.error} testId="run:retry-error" />
      {!terminal && (
        <button type="button" className="danger" data-testid="run:cancel"
          disabled={cancel.isPending || run.status === "cancel_requested"}
          onClick={() => cancel.mutate()}>
          {run.status === "cancel_requested" ? "Cancelling…" : "Cancel run"}
        </button>
      )}
      {cancel.data && <span className="hint" data-testid="run:cancel-message">{cancel.data.message}</span>}
      <ErrorMessage error={cancel.error} testId="run:cancel-error" />
      {terminal && !confirming && (
        <button type="button" className="danger" data-testid="run:delete" onClick={() => setConfirming(true)}>
          Delete run
        </button>
      )}
      {terminal && confirming && (
        <>
          <span>Delete this run and its files?</span>
          <button type="button" className="danger" data-testid="run:delete-confirm" disabled={remove.isPending}
            onClick={() => remove.mutate(undefined, { onSuccess: () => navigate("/runs") })}>Yes, delete</button>
          <button type="button" className="secondary" onClick={() => setConfirming(false)}>Cancel</button>
        </>
      )}
      <ErrorMessage error={remove.error} testId="run:delete-error" />
    </div>
  );
}
