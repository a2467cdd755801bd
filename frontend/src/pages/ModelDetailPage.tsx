import { useState } from "react";
import { Link, useNavigate, useParams } from "react-router-dom";
import {
  downloadUrl,
  useDeleteAlias,
  useDeleteModel,
  useDeleteVersion,
  useModel,
  useSetAlias,
  type ModelDetail,
  type ModelVersion,
} from "../api/models";
import { ErrorMessage } from "../components/ErrorMessage";
import { formatDate } from "../lib/format";
import { formatBytes, formatNumber } from "../lib/runs";

export function ModelDetailPage() {
  const { name = "" } = useParams();
  const model = useModel(name);

  return (
    <div className="page">
      <p><Link to="/models" data-testid="model:back">← All models</Link></p>
      <h1>Model <span className="mono" data-testid="model:name">{name}</span></h1>
      <ErrorMessage error={model.error} testId="model:error" />
      {model.isPending && <p className="hint">Loading…</p>}
      {model.data && (
        <>
          <section className="panel">
            {model.data.description && <p data-testid="model:description">{model.data.description}</p>}
            <dl className="details">
              <div><dt>Versions</dt><dd data-testid="model:version-count">{model.data.version_count}</dd></div>
              <div><dt>Latest</dt><dd className="mono">{model.data.latest_version ?? "—"}</dd></div>
              <div><dt>Created</dt><dd>{formatDate(model.data.created_at)}</dd></div>
              <div><dt>Updated</dt><dd>{formatDate(model.data.updated_at)}</dd></div>
            </dl>
          </section>
          <VersionsPanel model={model.data} />
          <AliasesPanel model={model.data} />
          <DeleteModel name={name} />
        </>
      )}
    </div>
  );
}

function VersionsPanel({ model }: { model: ModelDetail }) {
  return (
    <section className="panel">
      <h2>Versions <span className="hint">(newest first)</span></h2>
      {model.versions.length === 0 ? (
        <p className="hint" data-testid="model:versions-empty">
          No versions yet. Open a completed local training run and use “Register this model”.
        </p>
      ) : (
        <div className="table-scroll">
          <table className="table" data-testid="model:versions">
            <thead>
              <tr>
                <th>Version</th><th>Aliases</th><th>Metrics</th><th>SHA-256</th><th>Size</th>
                <th>Source run</th><th>Provenance</th><th>Created</th><th />
              </tr>
            </thead>
            <tbody>
              {model.versions.map((v) => <VersionRow key={v.version} name={model.name} version={v} />)}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}

/** The evaluation score first, then every other numeric metric of the version's run. */
function Metrics({ metrics }: { metrics: ModelVersion["metrics"] }) {
  const score = metrics.score;
  const numeric = Object.entries(metrics).filter(
    ([key, value]) => key !== "score" && typeof value === "number",
  ) as [string, number][];
  if (typeof score !== "number" && numeric.length === 0) {
    return <span className="hint" data-testid="model:version-no-metrics">not evaluated</span>;
  }
  const judge = typeof metrics.judge === "string" ? metrics.judge : null;
  const evalSet = typeof metrics.eval_set === "string" ? metrics.eval_set : null;
  const source = [judge && `judge ${judge}`, evalSet && `eval set ${evalSet}`].filter(Boolean).join(" · ");
  return (
    <div data-testid="model:version-metrics" title={source || undefined}>
      {typeof score === "number" && (
        <div className="score">score <strong data-testid="model:version-score">{formatNumber(score, 4)}</strong></div>
      )}
      <ul className="metric-list">
        {numeric.map(([key, value]) => (
          <li key={key} data-testid="model:metric" data-name={key}>
            <span className="mono">{key}</span> {formatNumber(value, 4)}
          </li>
        ))}
      </ul>
    </div>
  );
}

function VersionRow({ name, version: v }: { name: string; version: ModelVersion }) {
  const [confirming, setConfirming] = useState(false);
  const remove = useDeleteVersion(name);
  const prov = v.provenance;
  return (
    <>
      <tr data-testid="model:version" data-version={v.version}>
        <td>
          <strong data-testid="model:version-name">{v.version}</strong>
          <div className="mono hint" data-testid="model:version-ref">{v.ref}</div>
        </td>
        <td data-testid="model:version-aliases">
          {v.aliases.length === 0 ? "—" : v.aliases.map((alias) => (
            <span key={alias} className="alias-tag" data-testid="model:version-alias">{alias}</span>
          ))}
        </td>
        <td><Metrics metrics={v.metrics} /></td>
        <td className="mono nowrap" title={v.sha256} data-testid="model:version-sha256" data-sha256={v.sha256}>
          {v.sha256.slice(0, 12)}…
        </td>
        <td className="nowrap" data-testid="model:version-size" data-bytes={v.size_bytes}>{formatBytes(v.size_bytes)}</td>
        <td>
          {v.run_id ? (
            <Link to={`/runs/${v.run_id}`} className="mono" title={v.run_id} data-testid="model:version-run">
              {v.run_id.split("-")[0]}
            </Link>
          ) : (
            <span className="hint" data-testid="model:version-run-deleted">deleted</span>
          )}
        </td>
        <td className="provenance">
          <div>dataset{" "}
            {prov.dataset_key ? (
              <Link to={`/datasets/${encodeURIComponent(prov.dataset_key)}`} className="mono"
                title={prov.dataset_sha256 ? `SHA-256 ${prov.dataset_sha256}` : undefined}
                data-testid="model:version-dataset">{prov.dataset_key}</Link>
            ) : "—"}
          </div>
          <div>base <span className="mono" data-testid="model:version-base-model">{prov.model_id}</span></div>
          <details>
            <summary>Config</summary>
            <pre className="meta config-pre" data-testid="model:version-config">{JSON.stringify(prov.config, null, 2)}</pre>
          </details>
        </td>
        <td className="nowrap">{formatDate(v.created_at)}</td>
        <td className="nowrap">
          <div className="row">
            <a href={downloadUrl(name, v.version)} download={`${name}-${v.version}.tar.gz`}
              data-testid="model:version-download">Download</a>
            {!confirming ? (
              <button type="button" className="danger" data-testid="model:version-delete"
                onClick={() => { remove.reset(); setConfirming(true); }}>Delete</button>
            ) : (
              <>
                <button type="button" className="danger" data-testid="model:version-delete-confirm"
                  disabled={remove.isPending}
                  onClick={() => remove.mutate(v.version, { onSettled: () => setConfirming(false) })}>
                  Yes, delete {v.version}
                </button>
                <button type="button" className="secondary" data-testid="model:version-delete-cancel"
                  onClick={() => setConfirming(false)}>Cancel</button>
              </>
            )}
          </div>
        </td>
      </tr>
      {remove.error ? (
        <tr>
          <td colSpan={9}>
            <ErrorMessage error={remove.error} testId="model:version-delete-error" />
          </td>
        </tr>
      ) : null}
    </>
  );
}

function AliasesPanel({ model }: { model: ModelDetail }) {
  const [alias, setAlias] = useState("");
  const [chosen, setChosen] = useState("");
  const set = useSetAlias(model.name);
  const remove = useDeleteAlias(model.name);
  const aliases = Object.entries(model.aliases);
  const version = chosen || model.versions[0]?.version || "";

  const submit = () => {
    set.reset();
    set.mutate({ alias: alias.trim(), version }, { onSuccess: () => setAlias("") });
  };

  return (
    <section className="panel" data-testid="model:aliases-panel">
      <h2>Aliases</h2>
      {aliases.length === 0 ? (
        <p className="hint" data-testid="model:aliases-empty">No aliases.</p>
      ) : (
        <table className="table compact" data-testid="model:aliases">
          <thead><tr><th>Alias</th><th>Version</th><th /></tr></thead>
          <tbody>
            {aliases.map(([name, target]) => (
              <tr key={name} data-testid="model:alias" data-alias={name} data-version={target}>
                <td className="mono">{model.name}@{name}</td>
                <td className="mono" data-testid="model:alias-version">{target}</td>
                <td>
                  <button type="button" className="secondary" data-testid="model:alias-remove"
                    disabled={remove.isPending} onClick={() => { set.reset(); remove.mutate(name); }}>
                    Remove
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <ErrorMessage error={remove.error} testId="model:alias-remove-error" />
      {model.versions.length > 0 && (
        <>
          <h3>Set an alias</h3>
          <div className="row">
            <label className="field">Alias
              <input value={alias} data-testid="model:alias-name" placeholder="champion"
                onChange={(e) => setAlias(e.target.value)} />
            </label>
            <label className="field">Version
              <select value={version} data-testid="model:alias-target"
                onChange={(e) => setChosen(e.target.value)}>
                {model.versions.map((v) => <option key={v.version} value={v.version}>{v.version}</option>)}
              </select>
            </label>
            <button type="button" data-testid="model:alias-submit" disabled={set.isPending || !alias.trim()}
              onClick={submit}>
              {set.isPending ? "Setting…" : "Set alias"}
            </button>
          </div>
          <ErrorMessage error={set.error} testId="model:alias-error" />
          {set.data && (
            <div className="success" data-testid="model:alias-result">
              <span className="mono">{model.name}@{set.data.alias}</span> → {set.data.version}
            </div>
          )}
          <p className="hint">Setting an existing alias moves it to the chosen version.</p>
        </>
      )}
    </section>
  );
}

function DeleteModel({ name }: { name: string }) {
  const [confirming, setConfirming] = useState(false);
  const remove = useDeleteModel();
  const navigate = useNavigate();
  return (
    <div className="row danger-zone">
      {!confirming ? (
        <button type="button" className="danger" data-testid="model:delete"
          onClick={() => setConfirming(true)}>Delete model</button>
      ) : (
        <>
          <span>Delete this model, all its versions and aliases?</span>
          <button type="button" className="danger" data-testid="model:delete-confirm"
            disabled={remove.isPending}
            onClick={() => remove.mutate(name, { onSuccess: () => navigate("/models") })}>
            Yes, delete
          </button>
          <button type="button" className="secondary" onClick={() => setConfirming(false)}>Cancel</button>
        </>
      )}
      <ErrorMessage error={remove.error} testId="model:delete-error" />
    </div>
  );
}
