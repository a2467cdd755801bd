import { Link, useNavigate, useParams } from "react-router-dom";
import {
  isFinished,
  useCancelTuningJob,
  useTuningJob,
  type SearchParam,
  type TuningJob,
} from "../api/tuning";
import { ErrorMessage } from "../components/ErrorMessage";
import { StatusBadge } from "../components/StatusBadge";
import { TuningPlot } from "../components/TuningPlot";
import { formatDate, shortId } from "../lib/format";
import { formatNumber } from "../lib/runs";
import {
  bestTrialPrefill,
  describeParam,
  isNumericParam,
  searchedParams,
} from "../lib/tuning";

export function TuningJobPage() {
  const { jobId = "" } = useParams();
  const job = useTuningJob(jobId);

  return (
    <div className="page">
      <p><Link to="/tuning" data-testid="job:back">← All tuning jobs</Link></p>
      <h1>Tuning job {job.data && <span data-testid="job:name">{job.data.name}</span>}{" "}
        <span className="mono hint" data-testid="job:id">{jobId}</span></h1>
      <ErrorMessage error={job.error} testId="job:error" />
      {job.isPending && <p className="hint">Loading…</p>}
      {job.data && (
        <>
          <JobSummary job={job.data} />
          <BestTrialPanel job={job.data} />
          <PlotsPanel job={job.data} />
          <TrialsPanel job={job.data} />
        </>
      )}
    </div>
  );
}

function JobSummary({ job }: { job: TuningJob }) {
  const cancel = useCancelTuningJob(job.job_id);
  const finished = isFinished(job.status);
  const percent = job.num_trials ? Math.min(100, (job.trials_finished / job.num_trials) * 100) : 0;
  const request = job.request;
  return (
    <section className="panel">
      <div className="row">
        <StatusBadge status={job.status} testId="job:status" />
        <span data-testid="job:progress" data-finished={job.trials_finished} data-total={job.num_trials}>
          {job.trials_finished} / {job.num_trials} trials finished
        </span>
        {!finished && (
          <button type="button" className="danger" data-testid="job:cancel"
            disabled={cancel.isPending || Boolean(cancel.data)} onClick={() => cancel.mutate()}>
            {cancel.isPending || cancel.data ? "Cancelling…" : "Cancel job"}
          </button>
        )}
        {cancel.data && <span className="hint" data-testid="job:cancel-message">{cancel.data.message}</span>}
      </div>
      <div className="progress"><div style={{ width: `${percent}%` }} /></div>
      <ErrorMessage error={cancel.error} testId="job:cancel-error" />
      {job.message && (
        <p data-testid="job:message" className={job.status === "failed" ? "error" : "hint"}>{job.message}</p>
      )}
      <dl className="details">
        <div><dt>Dataset</dt><dd>
          <Link to={`/datasets/${encodeURIComponent(job.dataset_key)}`} data-testid="job:dataset">{job.dataset_key}</Link>
        </dd></div>
        <div><dt>Model</dt><dd className="mono" data-testid="job:model">{job.model_id}</dd></div>
        <div><dt>Metric</dt><dd data-testid="job:metric">{job.metric} ({job.mode})</dd></div>
        <div><dt>Best</dt><dd data-testid="job:best-metric">{formatNumber(job.best_metric_value, 6)}</dd></div>
        <div><dt>Search</dt><dd>{request.search ?? "random"} · scheduler {request.scheduler ?? "none"}</dd></div>
        <div><dt>Concurrency</dt><dd>{request.max_concurrent ?? 1}</dd></div>
        <div><dt>Seed</dt><dd>{request.seed ?? "—"}</dd></div>
        <div><dt>Created</dt><dd>{formatDate(job.created_at)}</dd></div>
        <div><dt>Started</dt><dd>{job.started_at ? formatDate(job.started_at) : "—"}</dd></div>
        <div><dt>Completed</dt><dd>{job.completed_at ? formatDate(job.completed_at) : "—"}</dd></div>
      </dl>
      <h3>Search space</h3>
      <ul className="inline-list" data-testid="job:space">
        {searchedParams(job).map(([name, spec]) => (
          <li key={name} data-testid="job:space-param" data-param={name}>
            <code>{name}</code>: {describeParam(spec)}
          </li>
        ))}
      </ul>
      <details>
        <summary>Request</summary>
        <pre className="meta" data-testid="job:request">{JSON.stringify(request, null, 2)}</pre>
      </details>
    </section>
  );
}

function formatParam(value: unknown): string {
  if (typeof value === "number") return formatNumber(value, 4);
  if (value === null || value === undefined) return "—";
  return String(value);
}

function BestTrialPanel({ job }: { job: TuningJob }) {
  const navigate = useNavigate();
  const best = job.best;
  const prefill = bestTrialPrefill(job);
  return (
    <section className="panel" data-testid="job:best">
      <h2>Best trial</h2>
      {!best ? (
        <p className="hint" data-testid="job:best-empty">
          {isFinished(job.status) ? "No trial finished with a metric." : "No finished trial yet."}
        </p>
      ) : (
        <>
          <dl className="details">
            <div><dt>Trial</dt><dd className="mono" data-testid="job:best-trial">{best.trial_id}</dd></div>
            <div><dt>{job.metric}</dt><dd data-testid="job:best-value" data-value={best.metric_value}>
              {formatNumber(best.metric_value, 6)}</dd></div>
            <div><dt>Run</dt><dd>
              {best.run_id ? (
                <Link to={`/runs/${best.run_id}`} className="mono" data-testid="job:best-run">{shortId(best.run_id)}</Link>
              ) : "—"}
            </dd></div>
            {Object.entries(best.params).map(([name, value]) => (
              <div key={name}><dt>{name}</dt>
                <dd className="mono" data-testid="job:best-param" data-param={name} data-value={String(value)}
                  title={String(value)}>{formatParam(value)}</dd></div>
            ))}
          </dl>
          <button type="button" data-testid="job:use-best" disabled={!prefill}
            onClick={() => prefill && navigate("/runs", { state: { launch: prefill } })}>
            Use these parameters
          </button>
          <span className="hint"> opens the Runs launch form with the job's base parameters and these.</span>
        </>
      )}
    </section>
  );
}

function PlotsPanel({ job }: { job: TuningJob }) {
  const numeric = searchedParams(job).filter(([, spec]) => isNumericParam(spec));
  const other = searchedParams(job).filter(([, spec]) => !isNumericParam(spec));
  return (
    <section className="panel" data-testid="job:plots">
      <h2>{job.metric} by parameter</h2>
      {numeric.length === 0 ? (
        <p className="hint" data-testid="job:plots-empty">No numeric parameter to plot.</p>
      ) : (
        <div className="plot-grid">
          {numeric.map(([name, spec]) => (
            <TuningPlot key={name} param={name} spec={spec as SearchParam} trials={job.trials}
              metric={job.metric} bestTrialId={job.best?.trial_id} />
          ))}
        </div>
      )}
      {other.length > 0 && (
        <p className="hint">Not plotted (not numeric): {other.map(([name]) => name).join(", ")}.</p>
      )}
    </section>
  );
}

function TrialsPanel({ job }: { job: TuningJob }) {
  const params = searchedParams(job).map(([name]) => name);
  return (
    <section className="panel">
      <h2>Trials <span className="hint">({job.trials.length})</span></h2>
      {job.trials.length === 0 ? (
        <p className="hint" data-testid="job:trials-empty">
          {isFinished(job.status) ? "No trials ran." : "Waiting for the first trial…"}
        </p>
      ) : (
        <div className="scroll-box">
          <table className="table" data-testid="job:trials">
            <thead>
              <tr><th>Trial</th><th>Status</th>
                {params.map((name) => <th key={name}>{name}</th>)}
                <th>{job.metric}</th><th>Early stop</th><th>Run</th></tr>
            </thead>
            <tbody>
              {job.trials.map((trial) => {
                const best = trial.trial_id === job.best?.trial_id;
                return (
                  <tr key={trial.trial_id} className={best ? "best-row" : undefined} data-testid="job:trial"
                    data-trial-id={trial.trial_id} data-run-id={trial.run_id ?? ""} data-status={trial.status}
                    data-best={best ? "true" : "false"}>
                    <td className="mono">{trial.trial_id}{best && <span className="badge" data-testid="job:trial-best">best</span>}</td>
                    <td><StatusBadge status={trial.status} testId="job:trial-status" /></td>
                    {params.map((name) => (
                      <td key={name} className="mono" data-testid="job:trial-param" data-param={name}
                        title={String(trial.params[name] ?? "")}>{formatParam(trial.params[name])}</td>
                    ))}
                    <td data-testid="job:trial-metric">{formatNumber(trial.metric_value, 6)}</td>
                    <td>{trial.stopped_early ? (
                      <span className="status-badge status-cancelled" data-testid="job:trial-stopped">stopped early</span>
                    ) : "—"}</td>
                    <td>{trial.run_id ? (
                      <Link to={`/runs/${trial.run_id}`} className="mono" data-testid="job:trial-run">
                        {shortId(trial.run_id)}</Link>
                    ) : "—"}</td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}
