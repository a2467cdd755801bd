import { useState } from "react";
import { Link, useSearchParams } from "react-router-dom";
import { useBaselines, useCreateBaseline, useRegressionCheck } from "../api/evals";
import { ErrorMessage } from "../components/ErrorMessage";
import { StatusBadge } from "../components/StatusBadge";
import { shortId } from "../lib/format";
import { formatNumber } from "../lib/runs";

export function RegressionPage() {
  const [params] = useSearchParams();
  const runFromUrl = params.get("run_id") ?? "";
  return (
    <div className="page">
      <h1>Regression</h1>
      <p className="hint">
        A baseline pins a run's evaluation metric under a name; a check compares another run
        against it and fails on a relative regression of more than 5% (direction-aware).
      </p>
      <div className="compare-grid">
        <BaselineForm initialRun={runFromUrl} />
        <CheckForm initialRun={runFromUrl} />
      </div>
      <BaselineList />
    </div>
  );
}

function BaselineForm({ initialRun }: { initialRun: string }) {
  const [name, setName] = useState("");
  const [runId, setRunId] = useState(initialRun);
  const [metric, setMetric] = useState("score");
  const [lowerIsBetter, setLowerIsBetter] = useState(false);
  const create = useCreateBaseline();
  return (
    <section className="panel">
      <h2>Create baseline</h2>
      <label className="field">Name
        <input value={name} data-testid="regression:baseline-name" onChange={(e) => setName(e.target.value)} />
      </label>
      <label className="field">Run ID
        <input value={runId} data-testid="regression:baseline-run" className="mono"
          onChange={(e) => setRunId(e.target.value.trim())} />
      </label>
      <label className="field">Metric
        <input value={metric} data-testid="regression:baseline-metric" onChange={(e) => setMetric(e.target.value)} />
      </label>
      <label className="field checkbox">
        <input type="checkbox" checked={lowerIsBetter} data-testid="regression:lower-is-better"
          onChange={(e) => setLowerIsBetter(e.target.checked)} /> lower is better
      </label>
      <div className="row">
        <button type="button" data-testid="regression:baseline-submit" disabled={create.isPending}
          onClick={() => create.mutate({ name: name.trim(), run_id: runId, metric: metric.trim(), lower_is_better: lowerIsBetter })}>
          Save baseline
        </button>
      </div>
      <ErrorMessage error={create.error} testId="regression:baseline-error" />
      {create.data && (
        <div className="success" data-testid="regression:baseline-result">
          Baseline <strong>{create.data.name}</strong> saved
          {create.data.value !== undefined && <> ({create.data.metric} = {formatNumber(create.data.value)})</>}.
        </div>
      )}
    </section>
  );
}

function CheckForm({ initialRun }: { initialRun: string }) {
  const baselines = useBaselines();
  const [runId, setRunId] = useState(initialRun);
  const [baselineName, setBaselineName] = useState("");
  const check = useRegressionCheck();
  const result = check.data;
  return (
    <section className="panel">
      <h2>Check a run</h2>
      <label className="field">Run ID
        <input value={runId} data-testid="regression:check-run" className="mono"
          onChange={(e) => setRunId(e.target.value.trim())} />
      </label>
      <label className="field">Baseline name
        <input value={baselineName} data-testid="regression:check-baseline" list="baseline-names"
          onChange={(e) => setBaselineName(e.target.value)} />
        <datalist id="baseline-names">
          {(baselines.data ?? []).map((b) => <option key={b.name} value={b.name} />)}
        </datalist>
      </label>
      <div className="row">
        <button type="button" data-testid="regression:check-submit" disabled={check.isPending}
          onClick={() => check.mutate({ run_id: runId, baseline_name: baselineName.trim(), lower_is_better: false })}>
          Run check
        </button>
      </div>
      <ErrorMessage error={check.error} testId="regression:check-error" />
      {result && (
        <div className="panel verdict-box" data-testid="regression:result" data-verdict={result.verdict}>
          <StatusBadge status={result.verdict} testId="regression:verdict" />{" "}
          <span className="mono">{result.metric_name}</span>:{" "}
          baseline <span data-testid="regression:baseline-value">{formatNumber(result.baseline_value)}</span>{" "}
          → current <span data-testid="regression:current-value">{formatNumber(result.current_value)}</span>{" "}
          (Δ <span data-testid="regression:delta">{formatNumber(result.delta)}</span>
          {result.delta_percent !== null && result.delta_percent !== undefined && (
            <>, <span data-testid="regression:delta-percent">{formatNumber(result.delta_percent, 3)}%</span></>
          )})
          <p className="hint">
            Baseline run{" "}
            {result.baseline_run_id
              ? <Link to={`/runs/${result.baseline_run_id}`} className="mono">{shortId(result.baseline_run_id)}</Link>
              : "(deleted)"}
            {result.details && Object.keys(result.details).length > 0 && (
              <> · <span className="mono" data-testid="regression:details">{JSON.stringify(result.details)}</span></>
            )}
          </p>
        </div>
      )}
    </section>
  );
}

function BaselineList() {
  const baselines = useBaselines();
  const rows = baselines.data ?? [];
  if (baselines.isError || rows.length === 0) return null;
  return (
    <section className="panel">
      <h2>Baselines</h2>
      <table className="table" data-testid="regression:baselines">
        <thead><tr><th>Name</th><th>Run</th><th>Metric</th><th>Value</th><th>Direction</th></tr></thead>
        <tbody>
          {rows.map((b) => (
            <tr key={b.name} data-testid="regression:baseline-row" data-name={b.name}>
              <td>{b.name}</td>
              <td>{b.run_id ? <Link to={`/runs/${b.run_id}`} className="mono">{shortId(b.run_id)}</Link> : "—"}</td>
              <td className="mono">{b.metric}</td>
              <td>{formatNumber(b.value)}</td>
              <td>{b.lower_is_better ? "lower is better" : "higher is better"}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </section>
  );
}
