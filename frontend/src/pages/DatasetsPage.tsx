import { useState } from "react";
import { Link } from "react-router-dom";
import {
  useBuildDataset,
  useDatasets,
  type DatasetSummary,
  type SelectionStrategy,
} from "../api/datasets";
import { ErrorMessage } from "../components/ErrorMessage";
import { formatDate, parseMetaFilter } from "../lib/format";

export function DatasetsPage() {
  return (
    <div className="page two-column">
      <div className="main-column">
        <h1>Datasets</h1>
        <p className="hint">
          A dataset version is immutable: building copies the selected traces and records a
          SHA-256 of the content, so later trace edits do not change it.
        </p>
        <DatasetList />
      </div>
      <aside className="side-column">
        <BuildForm />
      </aside>
    </div>
  );
}

function DatasetList() {
  const list = useDatasets();
  const rows = list.data ?? [];
  return (
    <>
      <ErrorMessage error={list.error} testId="datasets:error" />
      {rows.length === 0 ? (
        <p className="hint" data-testid="datasets:empty">
          {list.isPending ? "Loading…" : "No datasets yet. Build one from your traces."}
        </p>
      ) : (
        <table className="table" data-testid="datasets:list">
          <thead>
            <tr><th>Key</th><th>Traces</th><th>Train / eval</th><th>Created</th><th>SHA-256</th></tr>
          </thead>
          <tbody>
            {rows.map((row: DatasetSummary) => (
              <tr key={row.dataset_key} data-testid="datasets:row" data-dataset-key={row.dataset_key}>
                <td>
                  <Link to={`/datasets/${encodeURIComponent(row.dataset_key)}`}
                    data-testid="datasets:row-link">{row.dataset_key}</Link>
                </td>
                <td data-testid="datasets:row-count">{row.trace_count}</td>
                <td data-testid="datasets:row-splits">{row.train_count} / {row.eval_count}</td>
                <td className="nowrap">{formatDate(row.created_at)}</td>
                <td className="mono">{row.sha256.slice(0, 12)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </>
  );
}

function BuildForm() {
  const [name, setName] = useState("");
  const [version, setVersion] = useState("v1");
  const [filters, setFilters] = useState("");
  const [strategy, setStrategy] = useState<SelectionStrategy>("latest");
  const [seed, setSeed] = useState("");
  const [limit, setLimit] = useState("100");
  const [evalFraction, setEvalFraction] = useState("0");
  const [localError, setLocalError] = useState<string | null>(null);
  const build = useBuildDataset();

  const submit = () => {
    build.reset();
    setLocalError(null);
    if (strategy === "random" && seed.trim() === "") {
      return setLocalError("Random selection needs a seed (the same seed gives the same dataset).");
    }
    build.mutate({
      dataset_name: name.trim(),
      dataset_version: version.trim(),
      filters: parseMetaFilter(filters),
      limit: Number(limit),
      selection_strategy: strategy,
      seed: seed.trim() === "" ? null : Number(seed),
      eval_fraction: Number(evalFraction),
    });
  };

  return (
    <section className="panel" aria-labelledby="build-title">
      <h2 id="build-title">Build a dataset</h2>
      <div className="form-grid">
        <label className="field">Name
          <input value={name} data-testid="datasets:name" placeholder="arith"
            onChange={(e) => setName(e.target.value)} />
        </label>
        <label className="field">Version
          <input value={version} data-testid="datasets:version"
            onChange={(e) => setVersion(e.target.value)} />
        </label>
      </div>
      <label className="field">Meta filters (key=value, comma separated)
        <input value={filters} data-testid="datasets:filters" placeholder="source=arithmetic"
          onChange={(e) => setFilters(e.target.value)} />
      </label>
      <div className="form-grid">
        <label className="field">Selection
          <select value={strategy} data-testid="datasets:strategy"
            onChange={(e) => setStrategy(e.target.value as SelectionStrategy)}>
            <option value="latest">latest</option>
            <option value="random">random (seeded)</option>
          </select>
        </label>
        <label className="field">Seed
          <input type="number" value={seed} data-testid="datasets:seed"
            onChange={(e) => setSeed(e.target.value)} />
        </label>
        <label className="field">Limit (1–10000)
          <input type="number" min={1} max={10000} value={limit} data-testid="datasets:limit"
            onChange={(e) => setLimit(e.target.value)} />
        </label>
        <label className="field">Eval fraction (0–0.5)
          <input type="number" min={0} max={0.5} step={0.05} value={evalFraction}
            data-testid="datasets:eval-fraction" onChange={(e) => setEvalFraction(e.target.value)} />
        </label>
      </div>
      <div className="row">
        <button type="button" data-testid="datasets:build" onClick={submit} disabled={build.isPending}>
          {build.isPending ? "Building…" : "Build"}
        </button>
      </div>
      {localError && <div className="error" role="alert" data-testid="datasets:build-error">{localError}</div>}
      <ErrorMessage error={build.error} testId="datasets:build-error" />
      {build.data && (
        <div className="success" data-testid="datasets:build-result"
          data-dataset-key={build.data.dataset_key}>
          Built <strong>{build.data.dataset_key}</strong> with {build.data.trace_count} traces.{" "}
          <Link to={`/datasets/${encodeURIComponent(build.data.dataset_key)}`}
            data-testid="datasets:open">Open</Link>
        </div>
      )}
    </section>
  );
}
