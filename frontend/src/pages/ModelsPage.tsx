import { useState } from "react";
import { Link } from "react-router-dom";
import { ApiError, formatLoc } from "../api/client";
import { modelPage, useCreateModel, useModels, type ModelSummary } from "../api/models";
import { ErrorMessage } from "../components/ErrorMessage";
import { formatDate } from "../lib/format";

export function ModelsPage() {
  return (
    <div className="page two-column">
      <div className="main-column">
        <h1>Models</h1>
        <p className="hint">
          A registered model holds immutable versions promoted from completed local training
          runs (weights identified by their SHA-256). Aliases such as <code>champion</code> point
          at one version at a time; runs and evaluations accept <code>name@version</code> or{" "}
          <code>name@alias</code> as their model.
        </p>
        <ModelList />
      </div>
      <aside className="side-column">
        <CreateModelForm />
      </aside>
    </div>
  );
}

function AliasList({ aliases }: { aliases: Record<string, string> }) {
  const entries = Object.entries(aliases);
  if (entries.length === 0) return <>—</>;
  return (
    <>
      {entries.map(([alias, version]) => (
        <span key={alias} className="alias-tag" data-alias={alias} data-version={version}>
          {alias} → {version}
        </span>
      ))}
    </>
  );
}

function ModelList() {
  const list = useModels();
  const rows = list.data ?? [];
  return (
    <>
      <ErrorMessage error={list.error} testId="models:error" />
      {rows.length === 0 ? (
        <p className="hint" data-testid="models:empty">
          {list.isPending ? "Loading…" : "No models yet. Create one, then register a run's model from its page."}
        </p>
      ) : (
        <table className="table" data-testid="models:list">
          <thead>
            <tr><th>Name</th><th>Description</th><th>Versions</th><th>Latest</th><th>Aliases</th><th>Updated</th></tr>
          </thead>
          <tbody>
            {rows.map((row: ModelSummary) => (
              <tr key={row.name} data-testid="models:row" data-name={row.name}>
                <td><Link to={modelPage(row.name)} data-testid="models:row-link">{row.name}</Link></td>
                <td className="preview" title={row.description ?? undefined}>{row.description ?? "—"}</td>
                <td data-testid="models:row-versions">{row.version_count}</td>
                <td className="mono" data-testid="models:row-latest">{row.latest_version ?? "—"}</td>
                <td data-testid="models:row-aliases"><AliasList aliases={row.aliases} /></td>
                <td className="nowrap">{formatDate(row.updated_at)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </>
  );
}

function CreateModelForm() {
  const [name, setName] = useState("");
  const [description, setDescription] = useState("");
  const create = useCreateModel();
  const error = create.error;
  // The server's word on the name (422 field error, 409 taken) goes under the name field.
  const nameErrors: string[] = [];
  let rest: unknown = error;
  if (error instanceof ApiError && error.status === 409) {
    nameErrors.push(error.message);
    rest = null;
  } else if (error instanceof ApiError && error.status === 422) {
    const fields = error.fieldErrors;
    const onName = fields.filter((f) => formatLoc(f.loc) === "name");
    nameErrors.push(...onName.map((f) => f.msg));
    if (onName.length === fields.length && fields.length > 0) rest = null;
  }

  const submit = () => {
    create.reset();
    const text = description.trim();
    create.mutate(
      { name: name.trim(), description: text === "" ? null : text },
      { onSuccess: () => { setName(""); setDescription(""); } },
    );
  };

  return (
    <section className="panel" aria-labelledby="create-model-title">
      <h2 id="create-model-title">Create a model</h2>
      <label className="field">Name
        <input value={name} data-testid="models:create-name" placeholder="arith"
          onChange={(e) => setName(e.target.value)} />
        {nameErrors.map((message, index) => (
          <span key={index} className="field-error" data-testid="models:field-error">{message}</span>
        ))}
      </label>
      <label className="field">Description (optional)
        <textarea rows={2} value={description} data-testid="models:create-description"
          placeholder="tiny arithmetic" onChange={(e) => setDescription(e.target.value)} />
      </label>
      <div className="row">
        <button type="button" data-testid="models:create-submit" onClick={submit}
          disabled={create.isPending}>
          {create.isPending ? "Creating…" : "Create"}
        </button>
      </div>
      <ErrorMessage error={rest} testId="models:create-error" />
      {create.data && (
        <div className="success" data-testid="models:create-result" data-name={create.data.name}>
          Created <strong>{create.data.name}</strong>.{" "}
          <Link to={modelPage(create.data.name)} data-testid="models:open">Open</Link>
        </div>
      )}
      <p className="hint">
        Names: letters, digits, <code>.</code>, <code>_</code> and <code>-</code>, starting
        with a letter or digit.
      </p>
    </section>
  );
}
