import { useState } from "react";
import { Link, useNavigate, useParams } from "react-router-dom";
import { useDeleteTrace, useTrace } from "../api/traces";
import { ErrorMessage } from "../components/ErrorMessage";
import { ScorePanel } from "../components/ScorePanel";
import { TraceBody } from "../components/TraceBody";
import { formatDate } from "../lib/format";

export function TraceDetailPage() {
  const { id = "" } = useParams();
  const trace = useTrace(id);

  return (
    <div className="page">
      <p><Link to="/traces" data-testid="trace:back">← All traces</Link></p>
      <h1>Trace</h1>
      <ErrorMessage error={trace.error} testId="trace:error" />
      {trace.isPending && <p className="hint">Loading…</p>}
      {trace.data && (
        <>
          <dl className="details">
            <div><dt>ID</dt><dd className="mono" data-testid="trace:id">{trace.data.id}</dd></div>
            <div><dt>Created</dt><dd>{formatDate(trace.data.created_at)}</dd></div>
            <div><dt>Version</dt><dd data-testid="trace:version">{trace.data.trace_version}</dd></div>
          </dl>
          <ScorePanel traceId={trace.data.id} />
          <TraceBody trace={trace.data.payload} />
          <DeleteButton traceId={trace.data.id} />
        </>
      )}
    </div>
  );
}

/** Two clicks to delete: the first asks, the second does it. */
function DeleteButton({ traceId }: { traceId: string }) {
  const [confirming, setConfirming] = useState(false);
  const remove = useDeleteTrace(traceId);
  const navigate = useNavigate();

  if (!confirming) {
    return (
      <div className="row danger-zone">
        <button type="button" className="danger" data-testid="trace:delete"
          onClick={() => setConfirming(true)}>
          Delete trace
        </button>
      </div>
    );
  }
  return (
    <div className="row danger-zone">
      <span>Delete this trace for good? Built datasets keep their copy.</span>
      <button type="button" className="danger" data-testid="trace:delete-confirm"
        disabled={remove.isPending}
        onClick={() => remove.mutate(undefined, { onSuccess: () => navigate("/traces") })}>
        Yes, delete
      </button>
      <button type="button" className="secondary" onClick={() => setConfirming(false)}
        data-testid="trace:delete-cancel">
        Cancel
      </button>
      <ErrorMessage error={remove.error} testId="trace:delete-error" />
    </div>
  );
}
