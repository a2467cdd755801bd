import { Link, useNavigate } from "react-router-dom";
import type { TraceSummary } from "../api/traces";
import { formatDate, shortId } from "../lib/format";

interface Props {
  traces: TraceSummary[];
  selected: string[];
  onToggle: (id: string) => void;
}

/** Trace rows; clicking a row opens it, the checkbox picks it for comparison. */
export function TraceTable({ traces, selected, onToggle }: Props) {
  const navigate = useNavigate();
  return (
    <table className="table" data-testid="traces:list">
      <thead>
        <tr>
          <th className="narrow" aria-label="Compare" />
          <th>ID</th>
          <th>Prompt</th>
          <th>Created</th>
          <th>Version</th>
        </tr>
      </thead>
      <tbody>
        {traces.map((trace) => (
          <tr key={trace.id} className="clickable" data-testid="traces:row"
            data-trace-id={trace.id} onClick={() => navigate(`/traces/${trace.id}`)}>
            <td className="narrow" onClick={(event) => event.stopPropagation()}>
              <input type="checkbox" aria-label={`Select ${trace.id} for comparison`}
                data-testid="compare:select" checked={selected.includes(trace.id)}
                onChange={() => onToggle(trace.id)} />
            </td>
            <td>
              <Link to={`/traces/${trace.id}`} className="mono" title={trace.id}
                data-testid="traces:row-id" onClick={(event) => event.stopPropagation()}>
                {shortId(trace.id)}
              </Link>
            </td>
            <td className="preview" data-testid="traces:row-prompt" title={trace.prompt_preview}>
              {trace.prompt_preview}
            </td>
            <td className="nowrap">{formatDate(trace.created_at)}</td>
            <td>{trace.trace_version}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
