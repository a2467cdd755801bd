import { Link } from "react-router-dom";
import { useHealth, useRediHealth } from "../api/health";
import { useTraceCount, useTraceList } from "../api/traces";
import { StatusCard, type Tone } from "../components/StatusCard";
import { formatDate, shortId } from "../lib/format";

const NO_FILTERS = {};

export function DashboardPage() {
  return (
    <div className="page">
      <h1>Dashboard</h1>
      <div className="cards">
        <ApiCards />
        <RediCard />
        <TraceCountCard />
      </div>
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
