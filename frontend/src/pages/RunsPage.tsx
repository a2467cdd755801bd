import { useState } from "react";
import { Link, useLocation, useNavigate, useSearchParams } from "react-router-dom";
import { useDatasets } from "../api/datasets";
import type { Schemas } from "../api/client";
import {
  bounds,
  boundsOf,
  enumValues,
  exampleOf,
  oneOf,
  property,
  type Bounds,
} from "../api/contract";
import {
  RUN_KINDS,
  RUN_MODES,
  RUN_STATUSES,
  kindLabel,
  useBulkDeleteRuns,
  useLaunchRun,
  useRuns,
  useTunixStatus,
  type BulkDeleteResult,
  type RunFilters,
  type RunMode,
  type RunRequest,
} from "../api/runs";
import { ErrorMessage } from "../components/ErrorMessage";
import { StatusBadge } from "../components/StatusBadge";
import { formatDate, shortId } from "../lib/format";
import { numberField, numberText } from "../lib/forms";
import { formatDuration } from "../lib/runs";
import { readLaunchPrefill, type LaunchPrefill } from "../lib/tuning";

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
  const status = oneOf(RUN_STATUSES, params.get("status")) ?? "";
  const mode = oneOf(RUN_MODES, params.get("mode")) ?? "";
  const kind = oneOf(RUN_KINDS, params.get("kind")) ?? "";
  const datasetKey = params.get("dataset_key") ?? "";
  const offset = Math.max(0, Number(params.get("offset")) || 0);
  const filters: RunFilters = {
    ...(status ? { status } : {}),
    ...(mode ? { mode } : {}),
    ...(kind ? { kind } : {}),
    ...(datasetKey ? { dataset_key: datasetKey } : {}),
  };
  const runs = useRuns(filters, PAGE_SIZE, offset);
  const navigate = useNavigate();
  const [selected, setSelected] = useState<Set<string>>(new Set());

  const update = (next: Record<string, string>) => {
    const merged = new URLSearchParams();
    for (const [key, value] of Object.entries({ ...Object.fromEntries(params), ...next })) {
      if (value && !(key === "offset" && value === "0")) merged.set(key, value);
    }
    setParams(merged);
  };
  const rows = runs.data?.data ?? [];
  const nextOffset = runs.data?.pagination.next_offset ?? null;
  // Only runs on this page stay selected (a filter or page change leaves the others).
  const chosen = rows.filter((run) => selected.has(run.run_id)).map((run) => run.run_id);
  const toggle = (id: string, on: boolean) => {
    const next = new Set(selected);
    if (on) next.add(id); else next.delete(id);
    setSelected(next);
  };

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
            {RUN_MODES.map((m) => <option key={m} value={m}>{m}</option>)}
          </select>
        </label>
        <label className="field">Kind
          <select value={kind} data-testid="runs:filter-kind"
            onChange={(e) => update({ kind: e.target.value, offset: "0" })}>
            <option value="">any</option>
            {RUN_KINDS.map((k) => <option key={k} value={k}>{kindLabel(k)}</option>)}
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
      <BulkDelete ids={chosen} onDone={() => setSelected(new Set())} />
      {rows.length === 0 ? (
        <p className="hint" data-testid="runs:empty">{runs.isPending ? "Loading…" : "No runs match."}</p>
      ) : (
        <table className="table" data-testid="runs:list">
          <thead>
            <tr>
              <th>
                <input type="checkbox" aria-label="Select every run on this page" data-testid="runs:select-all"
                  checked={chosen.length > 0 && chosen.length === rows.length}
                  onChange={(e) => setSelected(new Set(e.target.checked ? rows.map((r) => r.run_id) : []))} />
              </th>
              <th>Run</th><th>Status</th><th>Kind</th><th>Mode</th><th>Dataset</th><th>Model</th>
              <th>Queued / started</th><th>Duration</th></tr>
          </thead>
          <tbody>
            {rows.map((run) => (
              <tr key={run.run_id} className="clickable" data-testid="runs:row" data-run-id={run.run_id}
                data-status={run.status} data-kind={run.kind}
                onClick={() => navigate(`/runs/${run.run_id}`)}>
                <td onClick={(e) => e.stopPropagation()}>
                  <input type="checkbox" aria-label={`Select run ${run.run_id}`} data-testid="runs:row-select"
                    checked={selected.has(run.run_id)} onChange={(e) => toggle(run.run_id, e.target.checked)} />
                </td>
                <td>
                  <Link to={`/runs/${run.run_id}`} className="mono" title={run.run_id}
                    data-testid="runs:row-link" onClick={(e) => e.stopPropagation()}>
                    {shortId(run.run_id)}
                  </Link>
                </td>
                <td><StatusBadge status={run.status} testId="runs:row-status" /></td>
                <td>
                  <span className={`kind-badge kind-${run.kind ?? "train"}`} data-testid="runs:row-kind">
                    {kindLabel(run.kind)}
                  </span>
                </td>
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

type CompletionFormat = Schemas["RunRequest"]["completion_format"];

/** The launch form's number inputs, in page order; limits and defaults come from the contract. */
const NUMBER_FIELDS = [
  ["learning_rate", "Learning rate"],
  ["num_epochs", "Epochs"],
  ["batch_size", "Batch size"],
  ["max_seq_length", "Max seq length"],
  ["max_steps", "Max steps"],
  ["seed", "Seed"],
  ["lora_rank", "LoRA rank (0 = full)"],
  ["lora_alpha", "LoRA alpha"],
  ["weight_decay", "Weight decay"],
  ["warmup_steps", "Warm-up steps"],
  ["eval_every", "Eval every"],
  ["checkpoint_every", "Checkpoint every"],
  ["timeout_seconds", "Timeout (s)"],
  ["priority", "Priority"],
] as const satisfies readonly (readonly [keyof Schemas["RunRequest"], string])[];
type NumberField = (typeof NUMBER_FIELDS)[number][0];

/** GRPO's own number inputs (shown for algorithm grpo); empty = the server's default. */
const GRPO_NUMBER_FIELDS = [
  ["num_generations", "Generations per prompt"],
  ["beta", "KL weight (beta)"],
  ["temperature", "Temperature"],
  ["max_new_tokens", "Max new tokens"],
  ["filter_samples", "Screen prompts: samples each"],
] as const satisfies readonly (readonly [keyof Schemas["RunRequest"], string])[];
type GrpoNumberField = (typeof GRPO_NUMBER_FIELDS)[number][0];
const GRPO_BOUNDS = Object.fromEntries(
  GRPO_NUMBER_FIELDS.map(([name]) => [name, bounds("RunRequest", name)]),
) as Record<GrpoNumberField, Bounds>;
// SFT-only inputs, hidden for GRPO (the server refuses them there).
const SFT_ONLY_FIELDS: readonly NumberField[] = ["lora_rank", "lora_alpha"];

type Algorithm = Schemas["RunRequest"]["algorithm"];
const ALGORITHMS = enumValues("RunRequest", "algorithm");
const ALGORITHM_LABELS: Record<Algorithm, string> = {
  sft: "SFT (supervised)",
  grpo: "GRPO (reinforcement, from a trained run)",
};
/** The reward functions by name and the bounds of a weight, from the contract. */
const REWARDS_SCHEMA = property("RunRequest", "rewards") as {
  propertyNames?: { enum?: string[] };
  additionalProperties?: Parameters<typeof boundsOf>[0];
};
const REWARD_NAMES: string[] = REWARDS_SCHEMA.propertyNames?.enum ?? [];
const REWARD_BOUNDS: Bounds = boundsOf(REWARDS_SCHEMA.additionalProperties ?? {});

const FIELD_BOUNDS = Object.fromEntries(
  NUMBER_FIELDS.map(([name]) => [name, bounds("RunRequest", name)]),
) as Record<NumberField, Bounds>;

const COMPLETION_FORMATS = enumValues("RunRequest", "completion_format");
const COMPLETION_LABELS: Record<CompletionFormat, string> = {
  reasoning: "reasoning + answer",
  answer_only: "answer only",
};
/** What the server accepts as a model (presets, model directories, cached hub ids). */
const MODEL_ID_HELP = property("RunRequest", "model_id").description;
const MODE_LABELS: Record<RunMode, string> = { "dry-run": "dry-run", local: "local (train)" };

type FormState = {
  dataset_key: string;
  /** A preset's model_id, "local" for a typed path, or "" for the server's first preset. */
  model_choice: string;
  model_path: string;
  mode: RunMode;
  async: boolean;
  completion_format: CompletionFormat;
  group_by_length: boolean;
  packing: boolean;
  algorithm: Algorithm;
  /** GRPO: the completed run it starts from. */
  init_from: string;
  /** GRPO: a weight per reward name; empty = the server's default weights. */
  rewards: Record<string, string>;
} & Record<NumberField | GrpoNumberField, string>;

// The number fields start at the contract's example request (a small, quick run), else at the
// field's default; a field with neither starts empty (null: the server decides).
const EXAMPLE = exampleOf("RunRequest");

/** "Delete selected": a dry run first, so the confirmation shows what will go and what stays. */
function BulkDelete({ ids, onDone }: { ids: string[]; onDone: () => void }) {
  const remove = useBulkDeleteRuns();
  const [preview, setPreview] = useState<BulkDeleteResult | null>(null);
  const [done, setDone] = useState<BulkDeleteResult | null>(null);
  const ask = () => {
    setDone(null);
    remove.mutate({ ids, dryRun: true }, { onSuccess: setPreview });
  };
  const confirm = () =>
    remove.mutate({ ids, dryRun: false }, {
      onSuccess: (result) => {
        setPreview(null);
        setDone(result);
        onDone();
      },
    });
  return (
    <div className="row bulk-actions">
      {!preview && (
        <button type="button" className="danger" data-testid="runs:delete-selected"
          disabled={ids.length === 0 || remove.isPending} onClick={ask}>
          Delete selected{ids.length ? ` (${ids.length})` : ""}
        </button>
      )}
      {preview && (
        <div className="confirm" data-testid="runs:delete-confirm-box" data-count={preview.count}>
          <span data-testid="runs:delete-count">
            {preview.count
              ? `Delete ${preview.count} run${preview.count === 1 ? "" : "s"} and their files?`
              : "None of the selected runs can be deleted."}
          </span>
          <SkippedList result={preview} />
          {preview.count > 0 && (
            <button type="button" className="danger" data-testid="runs:delete-confirm"
              disabled={remove.isPending} onClick={confirm}>Yes, delete {preview.count}</button>
          )}
          <button type="button" className="secondary" data-testid="runs:delete-cancel"
            onClick={() => setPreview(null)}>Cancel</button>
        </div>
      )}
      {done && (
        <span className="hint" data-testid="runs:delete-result" data-count={done.count}>
          Deleted {done.count} run{done.count === 1 ? "" : "s"}.
          <SkippedList result={done} />
        </span>
      )}
      <ErrorMessage error={remove.error} testId="runs:delete-error" />
    </div>
  );
}

function SkippedList({ result }: { result: BulkDeleteResult }) {
  if (!result.skipped.length) return null;
  return (
    <ul className="hint" data-testid="runs:delete-skipped">
      {result.skipped.map((s) => (
        <li key={s.run_id} data-run-id={s.run_id}>Kept {shortId(s.run_id)}: {s.reason}</li>
      ))}
    </ul>
  );
}

function initialNumber(name: NumberField): string {
  const value = EXAMPLE[name] ?? FIELD_BOUNDS[name].default;
  return typeof value === "number" ? String(value) : "";
}

const INITIAL: FormState = {
  dataset_key: "",
  model_choice: "",
  model_path: "",
  mode: "dry-run",
  async: true,
  completion_format: property("RunRequest", "completion_format").default as CompletionFormat,
  group_by_length: property("RunRequest", "group_by_length").default === true,
  packing: property("RunRequest", "packing").default === true,
  algorithm: property("RunRequest", "algorithm").default as Algorithm,
  init_from: "",
  rewards: Object.fromEntries(REWARD_NAMES.map((name) => [name, ""])),
  ...(Object.fromEntries(NUMBER_FIELDS.map(([name]) => [name, initialNumber(name)])) as Record<NumberField, string>),
  ...(Object.fromEntries(GRPO_NUMBER_FIELDS.map(([name]) => [name, ""])) as Record<GrpoNumberField, string>),
};

type Errors = Partial<Record<keyof FormState | `reward_${string}`, string>>;

/**
 * The form pre-filled with a run request handed over by another page (the Tuning page's "Use
 * these parameters"): its dataset, model and parameters; a parameter it leaves out keeps the
 * form's initial value. It trains (local, queued), as the trial it came from did.
 */
function prefilledForm({ request }: LaunchPrefill): FormState {
  const form: FormState = {
    ...INITIAL,
    dataset_key: request.dataset_key,
    model_choice: request.model_id ?? "",
    model_path: request.model_id ?? "",
    mode: request.dry_run ? "dry-run" : "local",
    async: true,
  };
  const format = oneOf(COMPLETION_FORMATS, request.completion_format);
  if (format) form.completion_format = format;
  if (typeof request.group_by_length === "boolean") form.group_by_length = request.group_by_length;
  if (typeof request.packing === "boolean") form.packing = request.packing;
  for (const [name] of NUMBER_FIELDS) {
    if (name in request) form[name] = numberText(request[name]);
  }
  return form;
}

/** Client-side checks against the contract's limits; the server's 422 is still shown. */
function validate(form: FormState, modelChoice: string): { body?: RunRequest; errors: Errors } {
  if (form.algorithm === "grpo") return validateGrpo(form);
  const errors: Errors = {};
  const model = modelChoice === "local" ? form.model_path.trim() : modelChoice;
  if (!form.dataset_key.trim()) errors.dataset_key = "pick a dataset";
  if (!model) {
    if (modelChoice === "local") errors.model_path = "enter a local checkpoint directory";
    else errors.model_choice = "pick a model";
  }
  const numbers: Partial<Record<NumberField, number | null>> = {};
  for (const [name] of NUMBER_FIELDS) {
    const [value, error] = numberField(form[name], FIELD_BOUNDS[name]);
    if (error) errors[name] = error;
    else if (value !== undefined) numbers[name] = value;
  }
  if (Object.keys(errors).length) return { errors };
  return {
    errors,
    body: {
      dataset_key: form.dataset_key.trim(),
      model_id: model,
      dry_run: form.mode === "dry-run",
      completion_format: form.completion_format,
      group_by_length: form.group_by_length,
      packing: form.packing,
      // null only where the contract allows it (numberField checks `nullable`).
      ...(numbers as Partial<Schemas["RunRequest"]>),
    },
  };
}

/** A GRPO request: the dataset, the run it starts from, the schedule and GRPO's own settings. */
function validateGrpo(form: FormState): { body?: RunRequest; errors: Errors } {
  const errors: Errors = {};
  if (!form.dataset_key.trim()) errors.dataset_key = "pick a dataset";
  if (!form.init_from) errors.init_from = "pick the completed run to start from";
  const numbers: Record<string, number | null> = {};
  for (const [name] of NUMBER_FIELDS) {
    if (SFT_ONLY_FIELDS.includes(name)) continue;
    const [value, error] = numberField(form[name], FIELD_BOUNDS[name]);
    if (error) errors[name] = error;
    else if (value !== undefined) numbers[name] = value;
  }
  for (const [name] of GRPO_NUMBER_FIELDS) {
    const [value, error] = numberField(form[name], GRPO_BOUNDS[name]);
    if (error) errors[name] = error;
    else if (value !== undefined && value !== null) numbers[name] = value;
  }
  const rewards: Record<string, number> = {};
  for (const name of REWARD_NAMES) {
    const text = (form.rewards[name] ?? "").trim();
    if (!text) continue; // left empty: the server's default weights apply when all are
    const [value, error] = numberField(text, REWARD_BOUNDS);
    if (error) errors[`reward_${name}`] = error;
    else if (typeof value === "number") rewards[name] = value;
  }
  if (Object.keys(errors).length) return { errors };
  return {
    errors,
    body: {
      dataset_key: form.dataset_key.trim(),
      dry_run: form.mode === "dry-run",
      algorithm: "grpo",
      init_from: { run_id: form.init_from },
      ...(Object.keys(rewards).length ? { rewards } : {}),
      ...(numbers as Partial<Schemas["RunRequest"]>),
    },
  };
}

function LaunchForm() {
  const datasets = useDatasets();
  const tunix = useTunixStatus();
  const [params] = useSearchParams();
  const location = useLocation();
  // Read once, when the form mounts: later navigation (the history's filters) keeps the form.
  const [prefill] = useState(() => readLaunchPrefill(location.state));
  const [form, setForm] = useState<FormState>(() =>
    prefill ? prefilledForm(prefill) : { ...INITIAL, dataset_key: params.get("train") ?? "" });
  const [errors, setErrors] = useState<Errors>({});
  const launch = useLaunchRun();
  const set = <K extends keyof FormState>(name: K, value: FormState[K]) =>
    setForm((prev) => ({ ...prev, [name]: value }));
  const presets = tunix.data?.presets ?? [];
  // A pre-filled model that is not a preset is a local path or hub id (model_path holds it).
  const unknownModel = tunix.isSuccess && !["", "local"].includes(form.model_choice)
    && !presets.some((p) => p.model_id === form.model_choice);
  const modelChoice = (unknownModel ? "local" : form.model_choice) || presets[0]?.model_id || "";
  const preset = presets.find((p) => p.model_id === modelChoice);

  const grpo = form.algorithm === "grpo";
  // GRPO starts from a completed local run with a final model (the server checks the rest).
  const startRuns = useRuns({ status: "completed", mode: "local" }, 100, 0, grpo);
  const startChoices = (startRuns.data?.data ?? []).filter((r) => r.kind === "train");

  const submit = () => {
    launch.reset();
    const { body, errors: found } = validate(form, modelChoice);
    setErrors(found);
    if (body) launch.mutate({ body, async: form.async });
  };

  const num = (name: NumberField | GrpoNumberField, label: string) => {
    const b = name in GRPO_BOUNDS ? GRPO_BOUNDS[name as GrpoNumberField] : FIELD_BOUNDS[name as NumberField];
    return (
      <label className="field" key={name} title={b.description}>{label}
        <input type="number" value={form[name]} min={b.min} max={b.max}
          step={b.integer ? undefined : "any"}
          placeholder={b.default !== undefined && b.default !== null ? String(b.default) : "optional"}
          data-testid={`launch:${name.replaceAll("_", "-")}`}
          onChange={(e) => set(name, e.target.value)} />
        {errors[name] && <span className="field-error" data-testid="launch:field-error">{errors[name]}</span>}
      </label>
    );
  };

  return (
    <section className="panel" aria-labelledby="launch-title">
      <h2 id="launch-title">Launch a run</h2>
      {prefill && (
        <p className="prefill" data-testid="launch:prefill">Pre-filled from {prefill.source || "another page"}.</p>
      )}
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
      <label className="field" title={property("RunRequest", "algorithm").description}>Algorithm
        <select value={form.algorithm} data-testid="launch:algorithm"
          onChange={(e) => set("algorithm", e.target.value as Algorithm)}>
          {ALGORITHMS.map((a) => (
            <option key={a} value={a}>{ALGORITHM_LABELS[a] ?? a}</option>
          ))}
        </select>
      </label>
      {grpo && (
        <label className="field" title={property("RunRequest", "init_from").description}>Start from run
          <select value={form.init_from} data-testid="launch:init-from"
            onChange={(e) => set("init_from", e.target.value)}>
            <option value="">— choose a completed run —</option>
            {startChoices.map((r) => (
              <option key={r.run_id} value={r.run_id}>
                {shortId(r.run_id)} · {r.dataset_key ?? "—"} · {r.model_id}
              </option>
            ))}
          </select>
          <span className="hint">GRPO continues that run&apos;s model on this dataset&apos;s prompts.</span>
          {errors.init_from && <span className="field-error" data-testid="launch:field-error">{errors.init_from}</span>}
        </label>
      )}
      {!grpo && <label className="field">Model
        <select value={modelChoice} data-testid="launch:model"
          onChange={(e) => set("model_choice", e.target.value)}>
          {presets.length === 0 && (
            <option value="" disabled>{tunix.isPending ? "loading presets…" : "no presets"}</option>
          )}
          {presets.map((p) => (
            <option key={p.model_id} value={p.model_id} title={p.description}>{p.model_id}</option>
          ))}
          <option value="local">local path or cached hub id…</option>
        </select>
        {preset && <span className="hint">{preset.description}</span>}
        {errors.model_choice && <span className="field-error" data-testid="launch:field-error">{errors.model_choice}</span>}
      </label>}
      <ErrorMessage error={tunix.error} />
      {!grpo && modelChoice === "local" && (
        <label className="field" title={MODEL_ID_HELP}>Checkpoint directory or hub id
          <input value={form.model_path} data-testid="launch:model-path" placeholder="/models/gemma-2b-it"
            onChange={(e) => set("model_path", e.target.value)} />
          <span className="hint">{MODEL_ID_HELP}</span>
          {errors.model_path && <span className="field-error" data-testid="launch:field-error">{errors.model_path}</span>}
        </label>
      )}
      <div className="row">
        {RUN_MODES.map((m) => (
          <label className="field checkbox" key={m}>
            <input type="radio" name="mode" checked={form.mode === m} data-testid={`launch:mode-${m}`}
              onChange={() => set("mode", m)} /> {MODE_LABELS[m] ?? m}
          </label>
        ))}
        <label className="field checkbox">
          <input type="checkbox" checked={form.async} data-testid="launch:async"
            onChange={(e) => set("async", e.target.checked)} /> async (queue)
        </label>
      </div>
      <div className="form-grid">
        {NUMBER_FIELDS.filter(([name]) => !grpo || !SFT_ONLY_FIELDS.includes(name)).map(([name, label]) => num(name, label))}
        {grpo && GRPO_NUMBER_FIELDS.map(([name, label]) => num(name, label))}
        {grpo && REWARD_NAMES.map((name) => (
          <label className="field" key={name} title={property("RunRequest", "rewards").description}>
            Reward weight: {name}
            <input type="number" value={form.rewards[name] ?? ""} min={REWARD_BOUNDS.min}
              max={REWARD_BOUNDS.max} step="any" placeholder="default"
              data-testid={`launch:reward-${name.replaceAll("_", "-")}`}
              onChange={(e) => set("rewards", { ...form.rewards, [name]: e.target.value })} />
            {errors[`reward_${name}`] && (
              <span className="field-error" data-testid="launch:field-error">{errors[`reward_${name}`]}</span>
            )}
          </label>
        ))}
        {!grpo && <label className="field">Completion
          <select value={form.completion_format} data-testid="launch:completion-format"
            onChange={(e) => set("completion_format", e.target.value as CompletionFormat)}>
            {COMPLETION_FORMATS.map((f) => (
              <option key={f} value={f}>{COMPLETION_LABELS[f] ?? f}</option>
            ))}
          </select>
        </label>}
        {!grpo && <label className="field checkbox" title={property("RunRequest", "group_by_length").description}>
          <input type="checkbox" checked={form.group_by_length} data-testid="launch:group-by-length"
            onChange={(e) => set("group_by_length", e.target.checked)} /> group by length
        </label>}
        {!grpo && <label className="field checkbox" title={property("RunRequest", "packing").description}>
          <input type="checkbox" checked={form.packing} data-testid="launch:packing"
            onChange={(e) => set("packing", e.target.checked)} /> pack examples
        </label>}
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
