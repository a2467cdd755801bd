"""The ``evaluate`` job kind: generate with a trained run's model, then judge.

prepare: render the prompts of the trained run's eval split (or a named eval set) into
``input.jsonl`` and write the child's ``generate`` config; the child
(``python -m tunix_rt.training``) writes ``outputs.jsonl`` of ``{"id", "output"}``.
finalize: join outputs with the expected answers, write ``predictions.jsonl``, run the
judges and store the evaluation. Files live in ``{trained run}/evaluations/{job id}/``;
the latest ``predictions.jsonl`` is also copied to the trained run's directory.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import shutil
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from tunix_rt.config import Settings
from tunix_rt.db import utcnow
from tunix_rt.evals import service
from tunix_rt.evals.judges import PredictionItem, build_judge, parse_judge_specs, run_judges
from tunix_rt.evals.judges.llm import LLMJudge
from tunix_rt.kit.answers import answers_match, extract_answer
from tunix_rt.kit.errors import BadRequest
from tunix_rt.kit.jsonl import read_jsonl, write_jsonl
from tunix_rt.models.evaluation import Evaluation
from tunix_rt.models.run import Run
from tunix_rt.registry import service as registry
from tunix_rt.runs.jobs import ChildSpec, training_argv
from tunix_rt.runs.queue import renew_lease
from tunix_rt.runs.service import get_run

log = logging.getLogger(__name__)

ITEMS_FILE = "items.jsonl"
INPUT_FILE = "input.jsonl"
OUTPUT_FILE = "outputs.jsonl"
CONFIG_FILE = "generate_config.json"


def record_item(record: dict[str, Any]) -> dict[str, Any]:
    """A dataset trace record as an eval item ``{id, prompt, expected_answer, category}``."""
    payload = record.get("payload", record)
    meta = payload.get("meta") or {}
    # Arithmetic traces name their operation in meta.task, games in meta.game.
    category = meta.get("category") or meta.get("task") or meta.get("game")
    return {
        "id": str(record["id"]),
        "prompt": str(payload["prompt"]),
        "expected_answer": str(payload["final_answer"]),
        "category": str(category) if category is not None else None,
    }


def write_generation_files(
    job: Run, model: Run | Path, items: list[dict[str, Any]]
) -> tuple[Path, int]:
    """Write items, rendered prompts and the generate config; return (config path, count).
    ``model``: the trained run whose final model answers, or a registered model's
    Hugging Face directory."""
    from tunix_rt.datasets.formats import render_prompt

    out = Path(job.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    limit = job.config.get("limit")
    if limit:
        items = items[: int(limit)]
    if not items:
        raise BadRequest("nothing to evaluate: the eval split or eval set is empty")
    write_jsonl(out / ITEMS_FILE, items)
    write_jsonl(
        out / INPUT_FILE, ({"id": i["id"], "prompt": render_prompt(i["prompt"])} for i in items)
    )
    (out / OUTPUT_FILE).unlink(missing_ok=True)  # a retried attempt starts over
    config = job.config
    child = {
        "task": "generate",
        "run_id": str(job.id),
        **(
            {"model_dir": str(model.resolve())}
            if isinstance(model, Path)
            else {"run_dir": str(Path(model.output_dir).resolve())}
        ),
        "input_file": str((out / INPUT_FILE).resolve()),
        "output_file": str((out / OUTPUT_FILE).resolve()),
        "batch_size": config.get("batch_size", 16),
        "max_new_tokens": config.get("max_new_tokens", 256),
        "temperature": config.get("temperature", 0.0),
        "top_p": config.get("top_p"),
        "seed": config.get("seed", 0),
    }
    path = out / CONFIG_FILE
    path.write_text(json.dumps(child, indent=2) + "\n", encoding="utf-8")
    return path, len(items)


async def _parent(session: AsyncSession, job: Run) -> Run:
    """The run the evaluation belongs to: the trained run, or the job itself when it
    evaluates a registered model (``model_id`` name@version, no parent)."""
    if job.parent_run_id is None:
        if registry.parse_ref(job.model_id) is not None:
            return job
        raise BadRequest(f"evaluate job {job.id} names no trained run")
    return await get_run(session, job.parent_run_id)


async def _model(session: AsyncSession, settings: Settings, job: Run, parent: Run) -> Run | Path:
    if parent is job:
        resolved = await registry.resolve(session, settings, job.model_id, field="model")
        return resolved.directory
    return parent


async def load_items(session: AsyncSession, settings: Settings, job: Run) -> list[dict[str, Any]]:
    """The items to evaluate: a named eval set's, or the trained dataset's eval split."""
    name = job.config.get("eval_set")
    if name:
        eval_set = await service.get_eval_set_row(session, str(name))
        return [dict(item) for item in eval_set.items]
    if not job.dataset_key:
        raise BadRequest(f"evaluate job {job.id} has neither a dataset nor an eval set")
    key = job.dataset_key

    def read() -> list[dict[str, Any]]:
        return [record_item(r) for r in service.eval_split_records(settings, key)]

    return await asyncio.to_thread(read)


def prediction_rows(
    items: list[dict[str, Any]], outputs: dict[str, str], per_item: dict[str, dict[str, Any]]
) -> Iterator[dict[str, Any]]:
    for item in items:
        output = outputs.get(item["id"], "")
        extracted = extract_answer(output)
        expected = item.get("expected_answer")
        yield {
            "id": item["id"],
            "prompt": item["prompt"],
            "output": output,
            "extracted_answer": extracted,
            "expected_answer": expected,
            "correct": answers_match(extracted, expected) if expected is not None else None,
            "category": item.get("category"),
            "judges": per_item.get(item["id"], {}),
        }


@asynccontextmanager
async def keep_lease(
    session: AsyncSession, settings: Settings, run: Run, *, enabled: bool
) -> AsyncIterator[None]:
    """Extend the job's lease while remote judging runs, so no reaper takes it back.

    A queue worker renews its leases anyway; an inline run (API, CLI) renews only while
    its child runs, and an LLM judge over many items can outlast a lease.
    """
    if not enabled:
        yield
        return
    worker_id = run.worker_id

    async def renew() -> None:
        while True:
            await asyncio.sleep(settings.queue_heartbeat_seconds)
            try:
                async with AsyncSession(session.bind) as other:
                    await other.execute(
                        renew_lease(run.id, settings.queue_lease_seconds, worker_id)
                    )
                    await other.commit()
            except Exception as exc:  # a DB blip must not fail the evaluation
                log.warning("renewing the lease of evaluate job %s failed: %s", run.id, exc)

    task = asyncio.create_task(renew())
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task


class EvaluateJob:
    """Generation in the training child (task ``generate``), judging in the parent."""

    async def prepare(self, session: AsyncSession, settings: Settings, run: Run) -> ChildSpec:
        parent = await _parent(session, run)
        model = await _model(session, settings, run, parent)
        items = await load_items(session, settings, run)
        config_path, _ = await asyncio.to_thread(write_generation_files, run, model, items)
        return ChildSpec(argv=training_argv(config_path), cwd=Path(run.output_dir))

    async def finalize(self, session: AsyncSession, settings: Settings, run: Run) -> None:
        parent = await _parent(session, run)
        out = Path(run.output_dir)
        items = list(read_jsonl(out / ITEMS_FILE))
        outputs = {
            str(row["id"]): str(row.get("output") or "") for row in read_jsonl(out / OUTPUT_FILE)
        }
        specs = parse_judge_specs(run.config.get("judges") or settings.eval_default_judges)
        judges = [build_judge(spec, settings) for spec in specs]
        slow = any(isinstance(j, LLMJudge) and not j.config.mock for j in judges)
        async with keep_lease(session, settings, run, enabled=slow):
            outcome = await run_judges(
                judges,
                [
                    PredictionItem(
                        id=i["id"],
                        prompt=i["prompt"],
                        output=outputs.get(i["id"], ""),
                        expected_answer=i.get("expected_answer"),
                        category=i.get("category"),
                    )
                    for i in items
                ],
            )
        details = outcome.item_details()
        predictions = out / service.PREDICTIONS_FILE
        write_jsonl(predictions, prediction_rows(items, outputs, details))
        if parent is not run:
            shutil.copyfile(predictions, Path(parent.output_dir) / service.PREDICTIONS_FILE)
        now = utcnow()
        session.add(
            Evaluation(
                run_id=parent.id,
                job_run_id=run.id,
                score=outcome.score,
                verdict=outcome.verdict,
                metrics=outcome.metrics,
                detailed_metrics=_compact(outcome.detailed_metrics),
                judge_name=outcome.judge_name,
                judge_version=outcome.judge_version,
                eval_set_name=run.config.get("eval_set"),
                item_count=len(items),
                predictions_path=str(predictions.relative_to(Path(parent.output_dir))),
                created_at=now,
                evaluated_at=now,
            )
        )
        await session.flush()


def _compact(detailed: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per-item details live in predictions.jsonl; the row keeps each judge's summary."""
    out = []
    for entry in detailed:
        details = {k: v for k, v in entry["details"].items() if k != "items"}
        out.append({**entry, "details": details})
    return out


EVALUATE_JOB = EvaluateJob()
