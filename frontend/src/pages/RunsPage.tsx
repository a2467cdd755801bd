import { useState } from "react";
import { Link, useNavigate, useSearchParams } from "react-router-dom";
import { useDatasets } from "../api/datasets";
import {
  MODEL_PRESETS,
  RUN_STATUSES,
  useLaunchRun,
  useRuns,
  type RunRequest,
} from "../api/runs";
import { ErrorMessage } from "../components/ErrorMessage";
import { StatusBadge } from "../components/StatusBadge";
import { formatDate, shortId } from "../lib/format";
import { formatDuration } from "../lib/runs";

const PAGE_SIZE = 20;

export function RunsPage() {
  return (
    <div className="page two-column">
      <div className="main-column">
        <h1>Runs</h1>
        <RunHistory />
      </div>
      <aside className="side-column">
        <LaunchForm />
      </aside>
    </div>
  );
}

function RunHistory() {
  const [params, setParams] = useSearchParams();
  const status = params.get("status") ?? "";
  const mode = params.get("mode") ?? "";
  const datasetKey = params.get("dataset_key") ?? "";
  const offset = Math.max(0, Number(params.get("offset")) || 0);
  const filters = {
    ...(status ? { status } : {}),
    ...(mode ? { mode } : {}),
    ...(datasetKey ? { dataset_key: datasetKey } : {}),
  };
  const runs = useRuns(filters, PAGE_SIZE, offset);
  const navigate = useNavigate();

  const update = (next: Record<string, string>) => {
    const merged = new URLSearchParams();
    for (const [key, value] of Object.entries({ ...Object.fromEntries(params), ...next })) {
      if (value && !(key === "offset" && value === "0")) merged.set(key, value);
    }
    setParams(merged);
  };
  const rows = runs.data?.data ?? [];
  const nextOffset = runs.data?.pagination.next_offset ?? null;

  return (
    <>
      <div className="filters">
        <label className="field">Status
          <select value={status} data-testid="runs:filter-status"
            onChange={(e) => update({ status: e.target.value, offset: "0" })}>
            <option value="">any</option>
            {RUN_STATUSES.map((s) => <option key={s} value={s}>{s}</option>)}
          </select>
        </label>
        <label className="field">Mode
          <select value={mode} data-testid="runs:filter-mode"
            onChange={(e) => update({ mode: e.target.value, offset: "0" })}>
            <option value="">any</option>
            <option value="dry-run">dry-run</option>
            <option value="local">local</option>
          </select>
        </label>
        <label className="field">Dataset
          <input defaultValue={datasetKey} key={datasetKey} data-testid="runs:filter-dataset"
            onKeyDown={(e) => {
              if (e.key === "Enter") update({ dataset_key: e.currentTarget.value.trim(), offset: "0" });
            }}
            onBlur={(e) => update({ dataset_key: e.currentTarget.value.trim(), offset: "0" })} />
        </label>
      </div>
      <ErrorMessage error={runs.error} testId="runs:error" />
      {rows.length === 0 ? (
        <p className="hint" data-testid="runs:empty">{runs.isPending ? "Loading…" : "No runs match."}</p>
      ) : (
        <table className="table" data-testid="runs:list">
          <thead>
            <tr><th>Run</th><th>Status</th><th>Kind</th><th>Mode</th><th>Dataset</th><th>Model</th>
              <th>Queued / started</th><th>Duration</th></tr>
          </thead>
          <tbody>
            {rows.map((run) => (
              <tr key={run.run_id} className="clickable" data-testid="runs:row" data-run-id={run.run_id}
                data-status={run.status} onClick={() => navigate(`/runs/${run.run_id}`)}>
                <td>
                  <Link to={`/runs/${run.run_id}`} className="mono" title={run.run_id}
                    data-testid="runs:row-link" onClick={(e) => e.stopPropagation()}>
                    {shortId(run.run_id)}
                  </Link>
                </td>
                <td><StatusBadge status={run.status} testId="runs:row-status" /></td>
                <td>{run.kind ?? "train"}</td>
                <td>{run.mode}</td>
                <td>{run.dataset_key ?? "—"}</td>
                <td className="mono">{run.model_id}</td>
                <td className="nowrap">
                  {run.started_at ? formatDate(run.started_at) : run.queued_at ? `queued ${formatDate(run.queued_at)}` : "—"}
                </td>
                <td>{formatDuration(run.duration_seconds)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <div className="pager">
        <button type="button" className="secondary" data-testid="runs:prev" disabled={offset === 0}
          onClick={() => update({ offset: String(Math.max(0, offset - PAGE_SIZE)) })}>← Prev</button>
        <span>{rows.length ? `${offset + 1}–${offset + rows.length}` : "0"}</span>
        <button type="button" className="secondary" data-testid="runs:next"
          disabled={nextOffset === null || runs.isPlaceholderData}
          onClick={() => update({ offset: String(nextOffset) })}>Next →</button>
      </div>
    </>
  );
}

interface FormState {
  dataset_key: string;
  model_choice: string;
  model_path: string;
  mode: "dry-run" | "local";
  async: boolean;
  learning_rate: string;
  num_epochs: string;
  batch_size: string;
  max_seq_length: string;
  max_steps: string;
  seed: string;
  lora_rank: string;
  eval_every: string;
  checkpoint_every: string;
  timeout_seconds: string;
  priority: string;
  completion_format: "reasoning" | "answer_only";
}

const INITIAL: FormState = {
  dataset_key: "",
  model_choice: "tunix-rt/tiny-gemma",
  model_path: "",
  mode: "dry-run",
  async: true,
  learning_rate: "0.003",
  num_epochs: "1",
  batch_size: "8",
  max_seq_length: "128",
  max_steps: "50",
  seed: "0",
  lora_rank: "0",
  eval_every: "",
  checkpoint_every: "",
  timeout_seconds: "",
  priority: "0",
  completion_format: "reasoning",
};

type Errors = Partial<Record<keyof FormState, string>>;

function intField(value: string, min: number, max: number, optional: boolean): [number | null, string | null] {
  if (value.trim() === "") return optional ? [null, null] : [null, "required"];
  const n = Number(value);
  if (!Number.isInteger(n)) return [null, "must be a whole number"];
  if (n < min || n > max) return [null, `must be between ${min} and ${max}`];
  return [n, null];
}

/** Client-side checks mirroring the server's limits; the server's 422 is still shown. */
function validate(form: FormState): { body?: RunRequest; errors: Errors } {
  const errors: Errors = {};
  const model = form.model_choice === "local" ? form.model_path.trim() : form.model_choice;
  if (!form.dataset_key.trim()) errors.dataset_key = "pick a dataset";
  if (!model) errors.model_path = "enter a local checkpoint directory";
  const lr = Number(form.learning_rate);
  if (!(lr > 0 && lr <= 1)) errors.learning_rate = "must be in (0, 1]";
  const ints: [keyof FormState, number, number, boolean][] = [
    ["num_epochs", 1, 100, false], ["batch_size", 1, 512, false],
    ["max_seq_length", 16, 32768, false], ["max_steps", 1, 10_000_000, true],
    ["seed", 0, 2 ** 31 - 1, false], ["lora_rank", 0, 1024, false],
    ["eval_every", 1, 10_000_000, true], ["checkpoint_every", 1, 10_000_000, true],
    ["timeout_seconds", 1, 30 * 86400, true], ["priority", -1000, 1000, false],
  ];
  const values: Partial<Record<keyof FormState, number | null>> = {};
  for (const [name, min, max, optional] of ints) {
    const [value, error] = intField(String(form[name]), min, max, optional);
    if (error) errors[name] = error;
    values[name] = value;
  }
  if (Object.keys(errors).length) return { errors };
  return {
    errors,
    body: {
      dataset_key: form.dataset_key.trim(),
      model_id: model,
      dry_run: form.mode === "dry-run",
      learning_rate: lr,
      num_epochs: values.num_epochs as number,
      batch_size: values.batch_size as number,
      max_seq_length: values.max_seq_length as number,
      max_steps: values.max_steps ?? null,
      seed: values.seed as number,
      lora_rank: values.lora_rank as number,
      eval_every: values.eval_every ?? null,
      checkpoint_every: values.checkpoint_every ?? null,
      timeout_seconds: values.timeout_seconds ?? null,
      priority: values.priority as number,
      completion_format: form.completion_format,
    },
  };
}

function LaunchForm() {
  const datasets = useDatasets();
  const [params] = useSearchParams();
  const [form, setForm] = useState<FormState>(() => ({ ...INITIAL, dataset_key: params.get("train") ?? "" }));
  const [errors, setErrors] = useState<Errors>({});
  const launch = useLaunchRun();
  const set = <K extends keyof FormState>(name: K, value: FormState[K]) =>
    setForm((prev) => ({ ...prev, [name]: value }));

  const submit = () => {
    launch.reset();
    const { body, errors: found } = validate(form);
    setErrors(found);
    if (body) launch.mutate({ body, async: form.async });
  };

  const num = (name: keyof FormState, label: string, extra: { step?: string } = {}) => (
    <label className="field">{label}
      <input type="number" value={String(form[name])} step={extra.step}
        data-testid={`launch:${name.replaceAll("_", "-")}`}
        onChange={(e) => set(name, e.target.value as never)} />
      {errors[name] && <span className="field-error" data-testid="launch:field-error">{errors[name]}</span>}
    </label>
  );

  return (
    <section className="panel" aria-labelledby="launch-title">
      <h2 id="launch-title">Launch a run</h2>
      <label className="field">Dataset
        <select value={form.dataset_key} data-testid="launch:dataset"
          onChange={(e) => set("dataset_key", e.target.value)}>
          <option value="">— choose —</option>
          {(datasets.data ?? []).map((d) => (
            <option key={d.dataset_key} value={d.dataset_key}>{d.dataset_key}</option>
          ))}
        </select>
        {errors.dataset_key && <span className="field-error" data-testid="launch:field-error">{errors.dataset_key}</span>}
      </label>
      <label className="field">Model
        <select value={form.model_choice} data-testid="launch:model"
          onChange={(e) => set("model_choice", e.target.value)}>
          {MODEL_PRESETS.map((m) => <option key={m} value={m}>{m}</option>)}
          <option value="local">local path or cached hub id…</option>
        </select>
      </label>
      {form.model_choice === "local" && (
        <label className="field">Checkpoint directory or hub id
          <input value={form.model_path} data-testid="launch:model-path" placeholder="/models/gemma-2b-it"
            onChange={(e) => set("model_path", e.target.value)} />
          {errors.model_path && <span className="field-error" data-testid="launch:field-error">{errors.model_path}</span>}
        </label>
      )}
      <div className="row">
        <label className="field checkbox">
          <input type="radio" name="mode" checked={form.mode === "dry-run"} data-testid="launch:mode-dry-run"
            onChange={() => set("mode", "dry-run")} /> dry-run
        </label>
        <label className="field checkbox">
          <input type="radio" name="mode" checked={form.mode === "local"} data-testid="launch:mode-local"
            onChange={() => set("mode", "local")} /> local (train)
        </label>
        <label className="field checkbox">
          <input type="checkbox" checked={form.async} data-testid="launch:async"
            onChange={(e) => set("async", e.target.checked)} /> async (queue)
        </label>
      </div>
      <div className="form-grid">
        {num("learning_rate", "Learning rate", { step: "any" })}
        {num("num_epochs", "Epochs")}
        {num("batch_size", "Batch size")}
        {num("max_seq_length", "Max seq length")}
        {num("max_steps", "Max steps")}
        {num("seed", "Seed")}
        {num("lora_rank", "LoRA rank (0 = full)")}
        {num("eval_every", "Eval every")}
        {num("checkpoint_every", "Checkpoint every")}
        {num("timeout_seconds", "Timeout (s)")}
        {num("priority", "Priority")}
        <label className="field">Completion
          <select value={form.completion_format} data-testid="launch:completion-format"
            onChange={(e) => set("completion_format", e.target.value as FormState["completion_format"])}>
            <option value="reasoning">reasoning + answer</option>
            <option value="answer_only">answer only</option>
          </select>
        </label>
      </div>
      <div className="row">
        <button type="button" data-testid="launch:submit" onClick={submit} disabled={launch.isPending}>
          {launch.isPending ? (form.async ? "Queueing…" : "Running…") : "Launch"}
        </button>
      </div>
      <ErrorMessage error={launch.error} testId="launch:error" />
      {launch.data && (
        <div className="success" data-testid="launch:result" data-run-id={launch.data.run_id}>
          Run <Link to={`/runs/${launch.data.run_id}`} className="mono" data-testid="launch:open">
            {shortId(launch.data.run_id)}</Link>{" "}
          <StatusBadge status={launch.data.status} testId="launch:status" />
        </div>
      )}
    </section>
  );
}
