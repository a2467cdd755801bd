import { useState } from "react";
import { Link } from "react-router-dom";
import { modelPage, useModels, usePromoteRun } from "../api/models";
import { ErrorMessage } from "./ErrorMessage";

const NEW = "";

/**
 * Register a completed local training run's final model in the registry: into an existing
 * model, or a new one created first. The server exports and hashes the weights, so this can
 * take a while.
 */
export function RegisterModelPanel({ runId }: { runId: string }) {
  const models = useModels();
  const promote = usePromoteRun();
  const [choice, setChoice] = useState(NEW);
  const [newName, setNewName] = useState("");
  const [version, setVersion] = useState("");
  const [localError, setLocalError] = useState<string | null>(null);
  const existing = models.data ?? [];
  const creating = choice === NEW;

  const submit = () => {
    promote.reset();
    setLocalError(null);
    const name = creating ? newName.trim() : choice;
    if (!name) return setLocalError("Type a name for the new model, or choose an existing one.");
    promote.mutate(
      { name, runId, version: version.trim() || undefined, create: creating },
      {
        onError: () => {
          // A model created before a failed promotion (or a name taken already) is an
          // existing one now: select it, so a retry does not try to create it again.
          if (!creating) return;
          void models.refetch().then(({ data }) => {
            if (data?.some((m) => m.name === name)) setChoice(name);
          });
        },
      },
    );
  };

  const result = promote.data;
  return (
    <section className="panel" data-testid="register:panel">
      <h2>Register this model</h2>
      <p className="hint">
        Adds the run’s final model to the model registry as a new version (the weights are
        exported in the Hugging Face layout and identified by their SHA-256).
      </p>
      <ErrorMessage error={models.error} testId="register:models-error" />
      <div className="row">
        <label className="field">Model
          <select value={choice} data-testid="register:model" onChange={(e) => setChoice(e.target.value)}>
            <option value={NEW}>New model…</option>
            {existing.map((m) => (
              <option key={m.name} value={m.name}>
                {m.name}{m.latest_version ? ` (latest ${m.latest_version})` : ""}
              </option>
            ))}
          </select>
        </label>
        {creating && (
          <label className="field">New model name
            <input value={newName} data-testid="register:new-name" placeholder="arith"
              onChange={(e) => setNewName(e.target.value)} />
          </label>
        )}
        <label className="field">Version (optional)
          <input value={version} data-testid="register:version" placeholder="v1, v2, … by default"
            onChange={(e) => setVersion(e.target.value)} />
        </label>
        <button type="button" data-testid="register:submit" disabled={promote.isPending} onClick={submit}>
          {promote.isPending ? "Registering…" : "Register"}
        </button>
      </div>
      {localError && <div className="error" role="alert" data-testid="register:error">{localError}</div>}
      <ErrorMessage error={promote.error} testId="register:error" />
      {result && (
        <div className="success" data-testid="register:result" data-ref={result.version.ref}
          data-created={String(result.created)}>
          {result.created ? "Registered as " : "These weights are registered already as "}
          <strong className="mono">{result.version.ref}</strong>.{" "}
          <Link to={modelPage(result.version.name)} data-testid="register:open">Open the model →</Link>
        </div>
      )}
    </section>
  );
}
