import { useState, type ChangeEvent } from "react";
import { Link } from "react-router-dom";
import { useUploadTraces, type ReasoningTrace, type TraceCreated } from "../api/traces";
import { EXAMPLE_TRACE } from "../lib/exampleTrace";
import { shortId } from "../lib/format";
import { parseUpload } from "../lib/parseUpload";
import { ErrorMessage } from "./ErrorMessage";

/** Paste or load JSON / JSON Lines and POST it; the server's validation errors are shown. */
export function UploadPanel() {
  const [text, setText] = useState("");
  const [localError, setLocalError] = useState<string | null>(null);
  const upload = useUploadTraces();

  const edit = (value: string) => {
    setText(value);
    setLocalError(null);
  };

  const loadFile = async (event: ChangeEvent<HTMLInputElement>) => {
    const file = event.target.files?.[0];
    if (file) edit(await file.text());
    event.target.value = "";
  };

  const submit = () => {
    upload.reset();
    const parsed = parseUpload(text);
    if (!parsed.ok) return setLocalError(parsed.error);
    if (typeof parsed.value !== "object" || parsed.value === null) {
      return setLocalError("Expected a trace object, an array of traces or JSON Lines.");
    }
    // The server is the validator; its 422 names every bad field.
    upload.mutate(parsed.value as ReasoningTrace | ReasoningTrace[]);
  };

  return (
    <section className="panel upload" aria-labelledby="upload-title">
      <h2 id="upload-title">Upload traces</h2>
      <p className="hint">One trace as JSON, an array of traces, or JSON Lines.</p>
      <textarea data-testid="upload:textarea" value={text} rows={14} spellCheck={false}
        aria-label="Trace JSON" onChange={(event) => edit(event.target.value)} />
      <div className="row">
        <button type="button" className="secondary" data-testid="upload:load-example"
          onClick={() => edit(JSON.stringify(EXAMPLE_TRACE, null, 2))}>
          Load example
        </button>
        <label className="file-button secondary">
          Open file…
          <input type="file" accept=".json,.jsonl,.ndjson,application/json"
            data-testid="upload:file" onChange={loadFile} />
        </label>
        <button type="button" data-testid="upload:submit" onClick={submit}
          disabled={upload.isPending}>
          {upload.isPending ? "Uploading…" : "Upload"}
        </button>
      </div>
      {localError && <div className="error" role="alert" data-testid="upload:error">{localError}</div>}
      <ErrorMessage error={upload.error} testId="upload:error" />
      {upload.data && <UploadResult created={upload.data} />}
    </section>
  );
}

function UploadResult({ created }: { created: TraceCreated[] }) {
  const [first] = created;
  if (created.length === 1 && first) {
    return (
      <div className="success" data-testid="upload:result" data-trace-id={first.id}>
        Created trace <code data-testid="upload:created-id">{first.id}</code>{" "}
        <Link to={`/traces/${first.id}`} data-testid="upload:open">Open</Link>
      </div>
    );
  }
  return (
    <div className="success" data-testid="upload:result">
      Created {created.length} traces:
      <ul className="inline-list">
        {created.map((trace) => (
          <li key={trace.id}>
            <Link to={`/traces/${trace.id}`} data-testid="upload:open" className="mono">
              {shortId(trace.id)}
            </Link>
          </li>
        ))}
      </ul>
    </div>
  );
}
