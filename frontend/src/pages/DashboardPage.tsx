import { Link } from "react-router-dom";
import { useDatasets } from "../api/datasets";
import { useHealth, useRediHealth } from "../api/health";
import { kindLabel, useRuns, type RunFilters } from "../api/runs";
import { useTraceCount, useTraceList } from "../api/traces";
import { RunAnalytics } from "../components/RunAnalytics";
import { StatusBadge } from "../components/StatusBadge";
import { StatusCard, type Tone } from "../components/StatusCard";
import { formatDate, shortId } from "../lib/format";
import { formatDuration } from "../lib/runs";

const NO_FILTERS = {};

export function DashboardPage() {
  return (
    <div className="page">
      <h1>Dashboard</h1>
      <div className="cards">
        <ApiCards />
        <RediCard />
        <TraceCountCard />
        <DatasetCountCard />
        <ActiveRunsCard />
      </div>
      <RunAnalytics />
      <RecentRuns />
      <RecentTraces />
    </div>
  );
}

function ApiCards() {
  const health = useHealth();
  if (health.isPending) {
    return (
      <>
        <StatusCard label="API" tone="pending" testId="dashboard:api-status">checking…</StatusCard>
        <StatusCard label="Database" tone="pending" testId="dashboard:db-status">checking…</StatusCard>
      </>
    );
  }
  const api = health.data?.status ?? "unreachable";
  const db = health.data?.db ?? "unknown";
  return (
    <>
      <StatusCard label="API" tone={api === "healthy" ? "ok" : "bad"} testId="dashboard:api-status">
        {api}
      </StatusCard>
      <StatusCard label="Database" tone={db === "up" ? "ok" : "bad"} testId="dashboard:db-status">
        {db}
      </StatusCard>
    </>
  );
}

function RediCard() {
  const redi = useRediHealth();
  const status = redi.isPending ? "checking…" : (redi.data?.status ?? "unreachable");
  const tone: Tone = redi.isPending ? "pending" : status === "healthy" ? "ok" : "bad";
  const error = redi.data?.error ?? (redi.error ? redi.error.message : null);
  return (
    <StatusCard label="RediAI" tone={tone} testId="dashboard:redi-status">
      {status}
      {error && <div className="card-error" data-testid="dashboard:redi-error">{error}</div>}
    </StatusCard>
  );
}

function TraceCountCard() {
  const count = useTraceCount(NO_FILTERS);
  const tone: Tone = count.isError ? "bad" : "ok";
  return (
    <StatusCard label="Traces" tone={count.isPending ? "pending" : tone}
      testId="dashboard:trace-count">
      {count.isPending ? "…" : count.isError ? "unavailable" : count.data}
    </StatusCard>
  );
}

function RecentTraces() {
  const recent = useTraceList(NO_FILTERS, 5, 0);
  const traces = recent.data?.data ?? [];
  return (
    <section className="panel">
      <h2>Recent traces</h2>
      {traces.length === 0 ? (
        <p className="hint">
          {recent.isPending ? "Loading…" : <>No traces yet. <Link to="/traces">Upload one</Link>.</>}
        </p>
      ) : (
        <ul className="recent" data-testid="dashboard:recent-traces">
          {traces.map((trace) => (
            <li key={trace.id}>
              <Link to={`/traces/${trace.id}`} className="mono">{shortId(trace.id)}</Link>{" "}
              {trace.prompt_preview}{" "}
              <span className="hint">{formatDate(trace.created_at)} · v{trace.trace_version}</span>
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}

function DatasetCountCard() {
  const datasets = useDatasets();
  return (
    <StatusCard label="Datasets" tone={datasets.isPending ? "pending" : datasets.isError ? "bad" : "ok"}
      testId="dashboard:dataset-count">
      {datasets.isPending ? "…" : datasets.isError ? "unavailable" : datasets.data.length}
    </StatusCard>
  );
}

const ACTIVE_FILTERS: RunFilters = { status: "running" };
const PENDING_FILTERS: RunFilters = { status: "pending" };
const ALL_RUNS: RunFilters = {};

function ActiveRunsCard() {
  const running = useRuns(ACTIVE_FILTERS, 100, 0);
  const pending = useRuns(PENDING_FILTERS, 100, 0);
  const failed = running.isError || pending.isError;
  const busy = running.isPending || pending.isPending;
  return (
    <StatusCard label="Runs running / queued" tone={busy ? "pending" : failed ? "bad" : "ok"}
      testId="dashboard:run-count">
      {busy ? "…" : failed ? "unavailable"
        : `${running.data?.data.length ?? 0} / ${pending.data?.data.length ?? 0}`}
    </StatusCard>
  );
}

function RecentRuns() {
  const recent = useRuns(ALL_RUNS, 5, 0);
  const runs = recent.data?.data ?? [];
  return (
    <section className="panel">
      <h2>Recent runs</h2>
      {runs.length === 0 ? (
        <p className="hint">
          {recent.isPending ? "Loading…" : <>No runs yet. <Link to="/runs">Launch one</Link>.</>}
        </p>
      ) : (
        <ul className="recent" data-testid="dashboard:recent-runs">
          {runs.map((run) => (
            <li key={run.run_id} data-testid="dashboard:recent-run" data-run-id={run.run_id}
              data-kind={run.kind}>
              <Link to={`/runs/${run.run_id}`} className="mono">{shortId(run.run_id)}</Link>{" "}
              <StatusBadge status={run.status} testId="dashboard:run-status" />{" "}
              <span className={`kind-badge kind-${run.kind ?? "train"}`} data-testid="dashboard:run-kind">
                {kindLabel(run.kind)}
              </span>{" "}
              {run.mode} · {run.dataset_key ?? "—"} · <span className="mono">{run.model_id}</span>{" "}
              <span className="hint">{formatDuration(run.duration_seconds)}</span>
            </li>
          ))}
        </ul>
      )}
    </section>
  );
}
