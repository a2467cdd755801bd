import { useState, type FormEvent } from "react";

/** The filter form's fields as typed (dates are `YYYY-MM-DD`, meta is `key=value, ...`). */
export interface FilterForm {
  q: string;
  meta: string;
  from: string;
  to: string;
}

export const EMPTY_FILTERS: FilterForm = { q: "", meta: "", from: "", to: "" };

interface Props {
  initial: FilterForm;
  onApply: (form: FilterForm) => void;
}

/** Search, meta and date filters; applied on submit so typing does not spam the API. */
export function TraceFilterBar({ initial, onApply }: Props) {
  const [form, setForm] = useState(initial);
  const set = (field: keyof FilterForm) => (value: string) =>
    setForm((prev) => ({ ...prev, [field]: value }));

  const submit = (event: FormEvent) => {
    event.preventDefault();
    onApply(form);
  };
  const clear = () => {
    setForm(EMPTY_FILTERS);
    onApply(EMPTY_FILTERS);
  };

  return (
    <form className="filters" onSubmit={submit} role="search">
      <Field label="Search" value={form.q} onChange={set("q")} testId="traces:search"
        placeholder="text in prompt or answer" type="search" />
      <Field label="Meta" value={form.meta} onChange={set("meta")} testId="traces:meta-filter"
        placeholder="key=value, key2=value2" />
      <Field label="From" value={form.from} onChange={set("from")} testId="traces:created-after"
        type="date" />
      <Field label="To (inclusive)" value={form.to} onChange={set("to")}
        testId="traces:created-before" type="date" />
      <div className="filter-actions">
        <button type="submit" data-testid="traces:apply">Apply</button>
        <button type="button" className="secondary" onClick={clear} data-testid="traces:clear">
          Clear
        </button>
      </div>
    </form>
  );
}

interface FieldProps {
  label: string;
  value: string;
  onChange: (value: string) => void;
  testId: string;
  placeholder?: string;
  type?: string;
}

function Field({ label, value, onChange, testId, placeholder, type = "text" }: FieldProps) {
  return (
    <label className="field">
      <span>{label}</span>
      <input type={type} value={value} placeholder={placeholder} data-testid={testId}
        onChange={(event) => onChange(event.target.value)} />
    </label>
  );
}
