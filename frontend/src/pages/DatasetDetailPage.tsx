import { useState } from "react";
import { Link, useNavigate, useParams } from "react-router-dom";
import {
  EXPORT_FORMATS,
  exportUrl,
  useDataset,
  useDeleteDataset,
  type Manifest,
  type Split,
} from "../api/datasets";
import { ErrorMessage } from "../components/ErrorMessage";
import { TemplatePreview } from "../components/TemplatePreview";
import { formatDate } from "../lib/format";
import { formatNumber } from "../lib/runs";

export function DatasetDetailPage() {
  const { key = "" } = useParams();
  const manifest = useDataset(key);

  return (
    <div className="page">
      <p><Link to="/datasets" data-testid="dataset:back">← All datasets</Link></p>
      <h1>Dataset <span className="mono" data-testid="dataset:key">{key}</span></h1>
      <p><Link to={`/runs?train=${encodeURIComponent(key)}`} data-testid="dataset:train">Train a model on it →</Link></p>
      <ErrorMessage error={manifest.error} testId="dataset:error" />
      {manifest.isPending && <p className="hint">Loading…</p>}
      {manifest.data && (
        <>
          <ManifestView manifest={manifest.data} />
          <ExportPanel datasetKey={key} manifest={manifest.data} />
          <TemplatePreview datasetKey={key} manifest={manifest.data} />
          <DeleteDataset datasetKey={key} />
        </>
      )}
    </div>
  );
}

function ManifestView({ manifest }: { manifest: Manifest }) {
  const stats = manifest.stats;
  return (
    <section className="panel" data-testid="dataset:manifest">
      <h2>Manifest</h2>
      <dl className="details">
        <div><dt>Name / version</dt><dd>{manifest.dataset_name} / {manifest.dataset_version}</dd></div>
        <div><dt>Created</dt><dd>{formatDate(manifest.created_at)}</dd></div>
        <div><dt>Traces</dt><dd data-testid="dataset:trace-count">{manifest.trace_count}</dd></div>
        <div><dt>Train / eval</dt>
          <dd data-testid="dataset:splits">
            {manifest.splits?.train?.length ?? 0} / {manifest.splits?.eval?.length ?? 0}
          </dd>
        </div>
        <div><dt>Selection</dt>
          <dd>{manifest.selection_strategy}{manifest.seed !== null && manifest.seed !== undefined ? ` (seed ${manifest.seed})` : ""}</dd>
        </div>
        <div><dt>Filters</dt><dd className="mono">{JSON.stringify(manifest.filters ?? {})}</dd></div>
        <div><dt>Build</dt><dd className="mono">{manifest.build_id}</dd></div>
        <div><dt>SHA-256</dt><dd className="mono" data-testid="dataset:sha256">{manifest.sha256}</dd></div>
      </dl>
      {stats && (
        <>
          <h3>Stats</h3>
          <dl className="details" data-testid="dataset:stats">
            <div><dt>Avg steps</dt><dd data-testid="dataset:avg-steps">{formatNumber(stats.avg_step_count, 3)}</dd></div>
            <div><dt>Min / max steps</dt><dd>{stats.min_step_count} / {stats.max_step_count}</dd></div>
            <div><dt>Avg characters</dt><dd>{formatNumber(stats.avg_total_chars, 4)}</dd></div>
          </dl>
        </>
      )}
    </section>
  );
}

function ExportPanel({ datasetKey, manifest }: { datasetKey: string; manifest: Manifest }) {
  const [split, setSplit] = useState<Split>("all");
  const hasEval = (manifest.splits?.eval?.length ?? 0) > 0;
  return (
    <section className="panel" data-testid="dataset:export">
      <h2>Export (JSON Lines)</h2>
      <div className="row">
        <label className="field">Split
          <select value={split} data-testid="dataset:export-split"
            onChange={(e) => setSplit(e.target.value as Split)}>
            <option value="all">all</option>
            <option value="train">train</option>
            <option value="eval" disabled={!hasEval}>eval</option>
          </select>
        </label>
      </div>
      <div className="row">
        {EXPORT_FORMATS.map((format) => (
          <a key={format} className="file-button" href={exportUrl(datasetKey, format, split)}
            download={`${datasetKey}-${format}-${split}.jsonl`}
            data-testid="dataset:export-link" data-format={format}>
            {format}
          </a>
        ))}
      </div>
      <p className="hint">
        <code>tunix_sft</code> is what training uses: the Gemma turn template with separate
        <code> prompt</code> and <code>completion</code> fields, so the loss covers the completion only.
      </p>
    </section>
  );
}

function DeleteDataset({ datasetKey }: { datasetKey: string }) {
  const [confirming, setConfirming] = useState(false);
  const remove = useDeleteDataset();
  const navigate = useNavigate();
  return (
    <div className="row danger-zone">
      {!confirming ? (
        <button type="button" className="danger" data-testid="dataset:delete"
          onClick={() => setConfirming(true)}>Delete dataset</button>
      ) : (
        <>
          <span>Delete this dataset version and its files? Refused while a run uses it.</span>
          <button type="button" className="danger" data-testid="dataset:delete-confirm"
            disabled={remove.isPending}
            onClick={() => remove.mutate(datasetKey, { onSuccess: () => navigate("/datasets") })}>
            Yes, delete
          </button>
          <button type="button" className="secondary" onClick={() => setConfirming(false)}>Cancel</button>
        </>
      )}
      <ErrorMessage error={remove.error} testId="dataset:delete-error" />
    </div>
  );
}
