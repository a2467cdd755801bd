import { useState } from "react";
import { Link, useNavigate, useSearchParams } from "react-router-dom";
import { ApiError, formatLoc, type FieldError } from "../api/client";
import { bounds, enumValues, exampleOf, property, type Bounds } from "../api/contract";
import { useDatasets } from "../api/datasets";
import { useTunixStatus } from "../api/runs";
import {
  DEFAULT_METRIC,
  METRICS,
  SCHEDULERS,
  SEARCHABLE,
  SEARCH_ALGORITHMS,
  SEARCH_TYPES,
  TUNE_MODES,
  modeFor,
  useCreateTuningJob,
  useTuningJobs,
  type Scheduler,
  type SearchAlgorithm,
  type SearchParam,
  type SearchType,
  type TrainParams,
  type TuneMode,
  type TuningJobRequest,
} from "../api/tuning";
import { ErrorMessage } from "../components/ErrorMessage";
import { StatusBadge } from "../components/StatusBadge";
import { formatDate, shortId } from "../lib/format";
import { numberField, numberText } from "../lib/forms";
import { formatNumber } from "../lib/runs";

const PAGE_SIZE = 20;

export function TuningPage() {
  return (
    <div className="page two-column wide-side">
      <div className="main-column">
        <h1>Tuning</h1>
        <JobList />
      </div>
      <aside className="side-column">
        <CreateJobForm />
      </aside>
    </div>
  );
}

function JobList() {
  const [params, setParams] = useSearchParams();
  const offset = Math.max(0, Number(params.get("offset")) || 0);
  const jobs = useTuningJobs(PAGE_SIZE, offset);
  const navigate = useNavigate();
  const rows = jobs.data?.data ?? [];
  const nextOffset = jobs.data?.pagination.next_offset ?? null;
  const go = (next: number) => setParams(next ? { offset: String(next) } : {});

  return (
    <>
      <ErrorMessage error={jobs.error} testId="tuning:list-error" />
      {rows.length === 0 ? (
        <p className="hint" data-testid="tuning:empty">{jobs.isPending ? "Loading…" : "No tuning jobs yet."}</p>
      ) : (
        <table className="table" data-testid="tuning:list">
          <thead>
            <tr><th>Job</th><th>Name</th><th>Status</th><th>Trials</th><th>Best</th><th>Dataset</th>
              <th>Model</th><th>Created</th></tr>
          </thead>
          <tbody>
            {rows.map((job) => (
              <tr key={job.job_id} className="clickable" data-testid="tuning:row" data-job-id={job.job_id}
                data-status={job.status} onClick={() => navigate(`/tuning/${job.job_id}`)}>
                <td>
                  <Link to={`/tuning/${job.job_id}`} className="mono" title={job.job_id}
                    data-testid="tuning:row-link" onClick={(e) => e.stopPropagation()}>
                    {shortId(job.job_id)}
                  </Link>
                </td>
                <td data-testid="tuning:row-name">{job.name}</td>
                <td><StatusBadge status={job.status} testId="tuning:row-status" /></td>
                <td data-testid="tuning:row-trials" data-finished={job.trials_finished}
                  data-total={job.num_trials}>{job.trials_finished} / {job.num_trials}</td>
                <td data-testid="tuning:row-best" title={`${job.metric} (${job.mode})`}>
                  {job.best_metric_value === null ? "—" : (
                    <>{formatNumber(job.best_metric_value)} <span className="hint">{job.metric}</span></>
                  )}
                </td>
                <td>{job.dataset_key}</td>
                <td className="mono">{job.model_id}</td>
                <td className="nowrap">{formatDate(job.created_at)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <div className="pager">
        <button type="button" className="secondary" data-testid="tuning:prev" disabled={offset === 0}
          onClick={() => go(Math.max(0, offset - PAGE_SIZE))}>← Prev</button>
        <span>{rows.length ? `${offset + 1}–${offset + rows.length}` : "0"}</span>
        <button type="button" className="secondary" data-testid="tuning:next"
          disabled={nextOffset === null || jobs.isPlaceholderData}
          onClick={() => go(nextOffset ?? 0)}>Next →</button>
      </div>
    </>
  );
}

// ---------------------------------------------------------------------------------------------
// The create form

/** Run parameters (§6) shared by every trial; limits and defaults come from the contract. */
const BASE_FIELDS = [
  ["learning_rate", "Learning rate"],
  ["num_epochs", "Epochs"],
  ["batch_size", "Batch size"],
  ["max_seq_length", "Max seq length"],
  ["max_steps", "Max steps"],
  ["eval_every", "Eval every"],
  ["warmup_steps", "Warm-up steps"],
  ["weight_decay", "Weight decay"],
  ["lora_rank", "LoRA rank (0 = full)"],
] as const satisfies readonly (readonly [keyof TrainParams, string])[];
type BaseField = (typeof BASE_FIELDS)[number][0];
const BASE_BOUNDS = Object.fromEntries(
  BASE_FIELDS.map(([name]) => [name, bounds("TrainParams", name)]),
) as Record<BaseField, Bounds>;

const JOB_FIELDS = [
  ["num_trials", "Trials"],
  ["max_concurrent", "Max concurrent"],
  ["seed", "Search seed"],
] as const;
type JobField = (typeof JOB_FIELDS)[number][0];
const JOB_BOUNDS = Object.fromEntries(
  JOB_FIELDS.map(([name]) => [name, bounds("TuningJobCreate", name)]),
) as Record<JobField, Bounds>;

type CompletionFormat = TrainParams["completion_format"];
const COMPLETION_FORMATS = enumValues("TrainParams", "completion_format");
const MODEL_ID_HELP = property("RunRequest", "model_id").description;
const SPACE_HELP = property("TuningJobCreate", "search_space").description;
const SCHEDULER_HELP = property("TuningJobCreate", "scheduler").description;

// The form starts at the contract's example job (a small search), else at each field's default.
const EXAMPLE = exampleOf("TuningJobCreate");
const EXAMPLE_BASE = (EXAMPLE.base ?? {}) as Partial<Record<string, unknown>>;

interface SpaceRow {
  /** A stable React key for the row. */
  id: number;
  param: string;
  type: SearchType;
  min: string;
  max: string;
  q: string;
  /** Comma-separated values of a `choice`. */
  values: string;
}

let nextRowId = 1;

/** The §6 limits of a searchable run parameter (undefined for a non-numeric one). */
function paramBounds(param: string): Bounds | undefined {
  try {
    const b = bounds("TrainParams", param as keyof TrainParams & string);
    return b.min !== undefined || b.max !== undefined || b.integer ? b : undefined;
  } catch {
    return undefined;
  }
}

/** A type that fits the parameter: a choice of strings, whole-number or log-scale ranges. */
function defaultType(param: string): SearchType {
  const b = paramBounds(param);
  if (!b) return "choice";
  if (b.integer) return "randint";
  return param === "learning_rate" ? "loguniform" : "uniform";
}

function describeBounds(param: string): string {
  const b = paramBounds(param);
  if (!b) return "";
  const low = b.min === undefined ? "" : `${b.minExclusive ? ">" : "≥"} ${b.min}`;
  const high = b.max === undefined ? "" : `${b.maxExclusive ? "<" : "≤"} ${b.max}`;
  return `${b.integer ? "whole number" : "number"} ${[low, high].filter(Boolean).join(", ")}`;
}

function newRow(param: string, spec?: SearchParam): SpaceRow {
  const s = (spec ?? {}) as Record<string, unknown>;
  return {
    id: nextRowId++,
    param,
    type: spec?.type ?? defaultType(param),
    min: numberText(s.min),
    max: numberText(s.max),
    q: numberText(s.q),
    values: Array.isArray(s.values) ? s.values.join(", ") : "",
  };
}

function initialRows(): SpaceRow[] {
  const space = EXAMPLE.search_space ?? {};
  const rows = Object.entries(space).map(([param, spec]) => newRow(param, spec));
  return rows.length ? rows : [newRow(SEARCHABLE[0] ?? "")];
}

type FormState = {
  name: string;
  dataset_key: string;
  /** A preset's model_id, "local" for a typed path, or "" for the server's first preset. */
  model_choice: string;
  model_path: string;
  completion_format: CompletionFormat;
  metric: string;
  mode: TuneMode;
  search: SearchAlgorithm;
  scheduler: Scheduler;
} & Record<`base.${BaseField}`, string> & Record<JobField, string>;

function initialForm(): FormState {
  const base = Object.fromEntries(
    BASE_FIELDS.map(([name]) => [`base.${name}`, numberText(EXAMPLE_BASE[name] ?? BASE_BOUNDS[name].default)]),
  ) as Record<`base.${BaseField}`, string>;
  const job = Object.fromEntries(
    JOB_FIELDS.map(([name]) => [name, numberText(EXAMPLE[name] ?? JOB_BOUNDS[name].default)]),
  ) as Record<JobField, string>;
  const metric = (EXAMPLE.metric as string | undefined) ?? DEFAULT_METRIC;
  return {
    name: "",
    dataset_key: "",
    model_choice: "",
    model_path: "",
    completion_format: property("TrainParams", "completion_format").default as CompletionFormat,
    metric,
    mode: (EXAMPLE.mode as TuneMode | undefined) ?? modeFor(metric),
    search: property("TuningJobCreate", "search").default as SearchAlgorithm,
    scheduler: property("TuningJobCreate", "scheduler").default as Scheduler,
    ...base,
    ...job,
  };
}

/**
 * Errors by field, keyed the way the server names fields in a 422 (`base.max_steps`,
 * `search_space.learning_rate.max`), so the server's errors land beside the same inputs.
 */
type Errors = Record<string, string[]>;

function addError(errors: Errors, key: string, message: string) {
  (errors[key] ??= []).push(message);
}

/** A comma-separated choice: numbers where they parse, strings otherwise. */
function parseValues(text: string): (string | number)[] {
  return text
    .split(",")
    .map((part) => part.trim())
    .filter(Boolean)
    .map((part) => (part !== "" && Number.isFinite(Number(part)) ? Number(part) : part));
}

/**
 * Client-side checks (required fields, numbers within the contract's limits, a well-formed
 * search space); the rules of ranges (inverted, empty, outside §6's bounds) are the server's,
 * and its 422 is shown beside the fields it names.
 */
function validate(
  form: FormState,
  rows: SpaceRow[],
  modelChoice: string,
): { body?: TuningJobRequest; errors: Errors } {
  const errors: Errors = {};
  const name = form.name.trim();
  const model = modelChoice === "local" ? form.model_path.trim() : modelChoice;
  if (!name) addError(errors, "name", "enter a name");
  if (!form.dataset_key.trim()) addError(errors, "dataset_key", "pick a dataset");
  if (!model) addError(errors, "model_id", modelChoice === "local" ? "enter a local checkpoint directory" : "pick a model");
  if (!form.metric.trim()) addError(errors, "metric", "pick a metric");

  const base: Record<string, unknown> = { completion_format: form.completion_format };
  for (const [field] of BASE_FIELDS) {
    const [value, error] = numberField(form[`base.${field}`], BASE_BOUNDS[field]);
    if (error) addError(errors, `base.${field}`, error);
    else if (value !== undefined) base[field] = value;
  }
  const job: Partial<Record<JobField, number | null>> = {};
  for (const [field] of JOB_FIELDS) {
    const [value, error] = numberField(form[field], JOB_BOUNDS[field]);
    if (error) addError(errors, field, error);
    else if (value !== undefined) job[field] = value;
  }

  const space: Record<string, SearchParam> = {};
  if (!rows.length) addError(errors, "search_space", "add a parameter to search");
  rows.forEach((row, index) => {
    const key = `search_space.${row.param || `#${index + 1}`}`;
    if (!row.param) return addError(errors, key, "pick a parameter");
    if (space[row.param]) return addError(errors, key, `${row.param} is searched twice`);
    if (row.type === "choice") {
      const values = parseValues(row.values);
      if (!values.length) return addError(errors, `${key}.values`, "values: enter comma-separated values");
      space[row.param] = { type: "choice", values };
      return;
    }
    const min = row.min.trim() === "" ? NaN : Number(row.min);
    const max = row.max.trim() === "" ? NaN : Number(row.max);
    const q = row.q.trim() === "" ? null : Number(row.q);
    if (!Number.isFinite(min)) addError(errors, `${key}.min`, "min: enter a number");
    if (!Number.isFinite(max)) addError(errors, `${key}.max`, "max: enter a number");
    if (q !== null && !Number.isFinite(q)) addError(errors, `${key}.q`, "q: enter a number");
    space[row.param] = { type: row.type, min, max, ...(q !== null ? { q } : {}) };
  });

  if (Object.keys(errors).length) return { errors };
  return {
    errors,
    body: {
      name,
      dataset_key: form.dataset_key.trim(),
      model_id: model,
      base: base as Partial<TrainParams>,
      search_space: space,
      metric: form.metric.trim() as TuningJobRequest["metric"],
      mode: form.mode,
      search: form.search,
      scheduler: form.scheduler,
      ...(job as Partial<TuningJobRequest>),
    },
  };
}

/** Where a server field error belongs: the longest form key that prefixes its location. */
function placeServerErrors(fields: FieldError[], known: string[]): Errors {
  const placed: Errors = {};
  for (const field of fields) {
    const loc = formatLoc(field.loc);
    const text = `${loc}: ${field.msg}`;
    const home = known
      .filter((key) => loc === key || loc.startsWith(`${key}.`) || loc.startsWith(`${key}[`))
      .sort((a, b) => b.length - a.length)[0];
    addError(placed, home ?? "", text);
  }
  return placed;
}

function FieldErrors({ messages }: { messages?: string[] }) {
  if (!messages?.length) return null;
  return (
    <>
      {messages.map((message, index) => (
        <span key={index} className="field-error" data-testid="tuning:field-error">{message}</span>
      ))}
    </>
  );
}

const testId = (name: string) => `tuning:${name.replaceAll(".", "-").replaceAll("_", "-")}`;

function CreateJobForm() {
  const datasets = useDatasets();
  const tunix = useTunixStatus();
  const navigate = useNavigate();
  const create = useCreateTuningJob();
  const [form, setForm] = useState<FormState>(initialForm);
  const [rows, setRows] = useState<SpaceRow[]>(initialRows);
  const [clientErrors, setClientErrors] = useState<Errors>({});
  const set = <K extends keyof FormState>(name: K, value: FormState[K]) =>
    setForm((prev) => ({ ...prev, [name]: value }));
  const setRow = (id: number, patch: Partial<SpaceRow>) =>
    setRows((prev) => prev.map((row) => (row.id === id ? { ...row, ...patch } : row)));
  const presets = tunix.data?.presets ?? [];
  const modelChoice = form.model_choice || presets[0]?.model_id || "";
  const preset = presets.find((p) => p.model_id === modelChoice);

  // Every key an error can be shown at; anything else is listed under the submit button.
  const known = [
    "name", "dataset_key", "model_id", "metric", "mode", "search", "scheduler", "search_space", "base",
    ...BASE_FIELDS.map(([f]) => `base.${f}`), "base.completion_format",
    ...JOB_FIELDS.map(([f]) => f),
    ...rows.map((row) => `search_space.${row.param}`),
  ];
  const serverErrors = create.error instanceof ApiError && create.error.status === 422
    ? placeServerErrors(create.error.fieldErrors, known)
    : {};
  const errorsAt = (key: string) => [...(clientErrors[key] ?? []), ...(serverErrors[key] ?? [])];
  /** Errors at a key or below it (`search_space.lr` takes `search_space.lr.max` too). */
  const errorsUnder = (key: string) =>
    [...Object.entries(clientErrors), ...Object.entries(serverErrors)]
      .filter(([k]) => k === key || k.startsWith(`${key}.`))
      .flatMap(([, messages]) => messages);

  const submit = () => {
    create.reset();
    const { body, errors } = validate(form, rows, modelChoice);
    setClientErrors(errors);
    if (body) {
      create.mutate(body, { onSuccess: (job) => navigate(`/tuning/${job.job_id}`) });
    }
  };

  const numberInput = (key: `base.${BaseField}` | JobField, label: string, b: Bounds) => (
    <label className="field" key={key} title={b.description}>{label}
      <input type="number" value={form[key]} min={b.min} max={b.max}
        step={b.integer ? undefined : "any"}
        placeholder={b.default !== undefined && b.default !== null ? String(b.default) : "optional"}
        data-testid={testId(key)}
        onChange={(e) => set(key, e.target.value)} />
      <FieldErrors messages={errorsAt(key)} />
    </label>
  );

  const used = new Set(rows.map((row) => row.param));
  const unused = SEARCHABLE.filter((p) => !used.has(p));

  return (
    <section className="panel" aria-labelledby="tune-title">
      <h2 id="tune-title">New tuning job</h2>
      <label className="field">Name
        <input value={form.name} data-testid="tuning:name" placeholder="lr-search"
          onChange={(e) => set("name", e.target.value)} />
        <FieldErrors messages={errorsAt("name")} />
      </label>
      <label className="field">Dataset
        <select value={form.dataset_key} data-testid="tuning:dataset"
          onChange={(e) => set("dataset_key", e.target.value)}>
          <option value="">— choose —</option>
          {(datasets.data ?? []).map((d) => (
            <option key={d.dataset_key} value={d.dataset_key}>{d.dataset_key}</option>
          ))}
        </select>
        <FieldErrors messages={errorsAt("dataset_key")} />
      </label>
      <label className="field">Model
        <select value={modelChoice} data-testid="tuning:model"
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
        {modelChoice !== "local" && <FieldErrors messages={errorsAt("model_id")} />}
      </label>
      <ErrorMessage error={tunix.error} />
      {modelChoice === "local" && (
        <label className="field" title={MODEL_ID_HELP}>Checkpoint directory or hub id
          <input value={form.model_path} data-testid="tuning:model-path" placeholder="/models/gemma-2b-it"
            onChange={(e) => set("model_path", e.target.value)} />
          <span className="hint">{MODEL_ID_HELP}</span>
          <FieldErrors messages={errorsAt("model_id")} />
        </label>
      )}

      <h3>Base run parameters</h3>
      <div className="form-grid">
        {BASE_FIELDS.map(([name, label]) => numberInput(`base.${name}`, label, BASE_BOUNDS[name]))}
        <label className="field">Completion
          <select value={form.completion_format} data-testid="tuning:base-completion-format"
            onChange={(e) => set("completion_format", e.target.value as CompletionFormat)}>
            {COMPLETION_FORMATS.map((f) => <option key={f} value={f}>{f}</option>)}
          </select>
          <FieldErrors messages={errorsAt("base.completion_format")} />
        </label>
      </div>
      <FieldErrors messages={errorsAt("base")} />

      <h3>Search space</h3>
      <p className="hint">{SPACE_HELP}</p>
      <div className="space-rows" data-testid="tuning:space">
        {rows.map((row, index) => (
          <div className="space-row" key={row.id} data-testid="tuning:space-row" data-index={index}
            data-param={row.param}>
            <label className="field span-2">Parameter
              <select value={row.param} data-testid="tuning:space-param"
                onChange={(e) => setRow(row.id, { param: e.target.value, type: defaultType(e.target.value) })}>
                <option value="">— choose —</option>
                {SEARCHABLE.filter((p) => p === row.param || !used.has(p)).map((p) => (
                  <option key={p} value={p}>{p}</option>
                ))}
              </select>
            </label>
            <label className="field">Type
              <select value={row.type} data-testid="tuning:space-type"
                onChange={(e) => setRow(row.id, { type: e.target.value as SearchType })}>
                {SEARCH_TYPES.map((t) => <option key={t} value={t}>{t}</option>)}
              </select>
            </label>
            <button type="button" className="secondary remove" data-testid="tuning:space-remove"
              title="Remove this parameter" aria-label={`Remove ${row.param || "parameter"}`}
              onClick={() => setRows((prev) => prev.filter((r) => r.id !== row.id))}>✕</button>
            {row.type === "choice" ? (
              <label className="field span-3">Values (comma-separated)
                <input value={row.values} data-testid="tuning:space-values" placeholder="8, 16, 32"
                  onChange={(e) => setRow(row.id, { values: e.target.value })} />
              </label>
            ) : (
              <>
                <label className="field">Min
                  <input type="number" step="any" value={row.min} data-testid="tuning:space-min"
                    onChange={(e) => setRow(row.id, { min: e.target.value })} />
                </label>
                <label className="field">Max
                  <input type="number" step="any" value={row.max} data-testid="tuning:space-max"
                    onChange={(e) => setRow(row.id, { max: e.target.value })} />
                </label>
                <label className="field" title="quniform rounds to multiples of q">q
                  <input type="number" step="any" value={row.q} data-testid="tuning:space-q"
                    disabled={row.type !== "quniform"} placeholder={row.type === "quniform" ? "step" : "—"}
                    onChange={(e) => setRow(row.id, { q: e.target.value })} />
                </label>
              </>
            )}
            {row.param && <span className="hint span-all">{row.param}: {describeBounds(row.param) || "a choice of values"}</span>}
            <div className="space-errors">
              <FieldErrors messages={errorsUnder(`search_space.${row.param || `#${index + 1}`}`)} />
            </div>
          </div>
        ))}
      </div>
      <div className="row">
        <button type="button" className="secondary" data-testid="tuning:space-add"
          disabled={unused.length === 0}
          onClick={() => setRows((prev) => [...prev, newRow(unused[0] ?? "")])}>+ Parameter</button>
      </div>
      <FieldErrors messages={errorsAt("search_space")} />

      <h3>Search</h3>
      <div className="form-grid">
        <label className="field" title={property("TuningJobCreate", "metric").description}>Metric
          <select value={form.metric} data-testid="tuning:metric"
            onChange={(e) => setForm((prev) => ({ ...prev, metric: e.target.value, mode: modeFor(e.target.value) }))}>
            {METRICS.map((m) => <option key={m} value={m}>{m}</option>)}
          </select>
          <FieldErrors messages={errorsAt("metric")} />
        </label>
        <label className="field">Mode
          <select value={form.mode} data-testid="tuning:mode"
            onChange={(e) => set("mode", e.target.value as TuneMode)}>
            {TUNE_MODES.map((m) => <option key={m} value={m}>{m}</option>)}
          </select>
          <FieldErrors messages={errorsAt("mode")} />
        </label>
        {JOB_FIELDS.map(([name, label]) => numberInput(name, label, JOB_BOUNDS[name]))}
        <label className="field">Search
          <select value={form.search} data-testid="tuning:search"
            onChange={(e) => set("search", e.target.value as SearchAlgorithm)}>
            {SEARCH_ALGORITHMS.map((s) => <option key={s} value={s}>{s}</option>)}
          </select>
          <FieldErrors messages={errorsAt("search")} />
        </label>
        <label className="field" title={SCHEDULER_HELP}>Scheduler
          <select value={form.scheduler} data-testid="tuning:scheduler"
            onChange={(e) => set("scheduler", e.target.value as Scheduler)}>
            {SCHEDULERS.map((s) => <option key={s} value={s}>{s}</option>)}
          </select>
          <FieldErrors messages={errorsAt("scheduler")} />
        </label>
      </div>

      <div className="row">
        <button type="button" data-testid="tuning:submit" onClick={submit} disabled={create.isPending}>
          {create.isPending ? "Creating…" : "Start tuning"}
        </button>
      </div>
      <FieldErrors messages={errorsAt("")} />
      <ErrorMessage error={create.error} testId="tuning:error" />
    </section>
  );
}
