"""Evaluation rules: start evaluate jobs, read evaluations, the leaderboard, predictions.

An evaluation is produced by an *evaluate job*: a ``runs`` row of kind ``evaluate``
whose ``parent_run_id`` is the trained run. The job generates answers in a child
process (``tunix_rt.evals.jobs``); its finalize judges them and stores the row here.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tunix_rt.config import Settings
from tunix_rt.db import new_id
from tunix_rt.evals.judges import parse_judge_specs
from tunix_rt.evals.schemas import EvaluateRequest, ModelEvaluateRequest
from tunix_rt.kit.errors import BadRequest, Conflict, DomainError, NotFound, Unprocessable
from tunix_rt.models.evaluation import EvalSet, Evaluation
from tunix_rt.models.run import Run
from tunix_rt.registry import service as registry
from tunix_rt.runs import queue
from tunix_rt.runs.capacity import Slots
from tunix_rt.runs.executor import run_inline
from tunix_rt.runs.service import add_run, get_run, run_dir

log = logging.getLogger(__name__)

EVALUATIONS_DIR = "evaluations"
PREDICTIONS_FILE = "predictions.jsonl"


class EvaluationFailed(DomainError):
    """The evaluate job ran but produced no evaluation (generation failed or was stopped)."""

    status_code = 500


async def latest_evaluation_or_none(session: AsyncSession, run_id: uuid.UUID) -> Evaluation | None:
    stmt = (
        select(Evaluation)
        .where(Evaluation.run_id == run_id)
        .order_by(Evaluation.evaluated_at.desc(), Evaluation.id.desc())
        .limit(1)
    )
    return await session.scalar(stmt)


async def latest_evaluation(session: AsyncSession, run_id: uuid.UUID) -> Evaluation:
    await get_run(session, run_id)
    evaluation = await latest_evaluation_or_none(session, run_id)
    if evaluation is None:
        raise NotFound(f"run {run_id} has no evaluation yet")
    return evaluation


async def list_evaluations(session: AsyncSession, run_id: uuid.UUID) -> list[Evaluation]:
    """All evaluations of a run, newest first."""
    await get_run(session, run_id)
    stmt = (
        select(Evaluation)
        .where(Evaluation.run_id == run_id)
        .order_by(Evaluation.evaluated_at.desc(), Evaluation.id.desc())
    )
    return list((await session.scalars(stmt)).all())


def eval_split_records(settings: Settings, dataset_key: str) -> Iterator[dict[str, Any]]:
    """The stored trace records of a dataset's eval split (streamed from disk)."""
    from tunix_rt.datasets.service import iter_split  # datasets own their storage

    records: Iterator[dict[str, Any]] = iter_split(settings, dataset_key, "eval")
    return records


async def has_eval_split(
    session: AsyncSession, settings: Settings, dataset_key: str | None
) -> bool:
    """Whether the dataset's manifest holds out any eval traces."""
    if not dataset_key:
        return False
    from tunix_rt.datasets.service import get_manifest

    try:
        manifest = await get_manifest(session, settings, dataset_key)
    except NotFound:
        return False
    return bool((manifest.get("splits") or {}).get("eval"))


async def check_evaluable(
    session: AsyncSession, settings: Settings, run: Run, eval_set: str | None
) -> None:
    """400 unless ``run`` is a completed local training run with something to evaluate on."""
    if run.kind != "train":
        raise BadRequest(f"run {run.id} is an {run.kind} job; evaluate the trained run instead")
    if run.mode == "dry-run":
        raise BadRequest(f"run {run.id} is a dry run: it trained no model to evaluate")
    if run.status != "completed":
        raise BadRequest(f"run {run.id} is {run.status}; only completed runs can be evaluated")
    if not (Path(run.output_dir) / "model").is_dir():
        raise BadRequest(f"run {run.id} has no trained model in {run.output_dir}/model")
    if eval_set is not None:
        await get_eval_set_row(session, eval_set)
    elif not await has_eval_split(session, settings, run.dataset_key):
        raise BadRequest(
            f"dataset {run.dataset_key!r} has no eval split; rebuild it with eval_fraction > 0 "
            "or pass eval_set"
        )


async def get_eval_set_row(session: AsyncSession, name: str) -> EvalSet:
    row = await session.scalar(select(EvalSet).where(EvalSet.name == name))
    if row is None:
        raise NotFound(f"eval set {name!r} not found")
    return row


def job_config(settings: Settings, request: EvaluateRequest, specs: list[str]) -> dict[str, Any]:
    return {
        "judges": specs,
        "eval_set": request.eval_set,
        "limit": request.limit,
        "batch_size": request.batch_size or settings.eval_batch_size,
        "max_new_tokens": request.max_new_tokens or settings.eval_max_new_tokens,
        "temperature": request.temperature,
        "top_p": request.top_p,
        "seed": request.seed,
    }


async def create_evaluation_job(
    session: AsyncSession,
    settings: Settings,
    run: Run,
    request: EvaluateRequest,
    *,
    specs: list[str],
    hold_for: str | None = None,
) -> Run:
    """Insert the evaluate job: ``pending`` for the queue or ``running`` held inline."""
    job_id = new_id()
    return await add_run(
        session,
        settings,
        run_id=job_id,
        kind="evaluate",
        mode="local",
        config=job_config(settings, request, specs),
        dataset_key=run.dataset_key,
        model_id=run.model_id,
        output_dir=Path(run.output_dir) / EVALUATIONS_DIR / str(job_id),
        queue=run.queue,  # evaluate where the model was trained (e.g. a GPU queue)
        parent_run_id=run.id,
        hold_for=hold_for,
        timeout_seconds=settings.run_default_timeout_seconds,
    )


async def create_checked_job(
    session: AsyncSession,
    settings: Settings,
    run_id: uuid.UUID,
    request: EvaluateRequest,
    *,
    hold_for: str | None = None,
) -> Run:
    """Validate, then insert the evaluate job (flushed; the caller's boundary commits)."""
    run = await get_run(session, run_id)
    specs = _specs(settings, request)
    await check_evaluable(session, settings, run, request.eval_set)
    return await create_evaluation_job(
        session, settings, run, request, specs=specs, hold_for=hold_for
    )


async def queue_evaluation(
    session: AsyncSession, settings: Settings, run_id: uuid.UUID, request: EvaluateRequest
) -> Run:
    """Insert a pending evaluate job; a worker wakes when the transaction commits."""
    job = await create_checked_job(session, settings, run_id, request)
    await queue.enqueue(session)
    return job


async def evaluation_of_job(
    sessionmaker: async_sessionmaker[AsyncSession], job_id: uuid.UUID
) -> Evaluation:
    """The evaluation an evaluate job stored; 409 when the job was cancelled, else
    EvaluationFailed (500) when it stored none."""
    async with sessionmaker() as session:
        job = await get_run(session, job_id)
        evaluation = await session.scalar(
            select(Evaluation).where(Evaluation.job_run_id == job.id).limit(1)
        )
        if evaluation is None and job.status == "cancelled":
            raise Conflict(
                f"evaluation job {job.id} was cancelled before it finished; nothing was stored"
            )
        if evaluation is None:
            raise EvaluationFailed(
                f"evaluation job {job.id} ended {job.status}: {job.message or 'no evaluation'}"
                f" (see GET /api/tunix/runs/{job.id}/logs)"
            )
        return evaluation


async def evaluate_run(
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
    slots: Slots,
    run_id: uuid.UUID,
    request: EvaluateRequest,
) -> Evaluation:
    """Evaluate a completed run now (generation runs in a child) and return the result."""
    async with sessionmaker() as session:  # refuse a bad request before waiting for a slot
        run = await get_run(session, run_id)
        _specs(settings, request)
        await check_evaluable(session, settings, run, request.eval_set)

    async def create(session: AsyncSession, worker_id: str) -> Run:
        return await create_checked_job(session, settings, run_id, request, hold_for=worker_id)

    job_id = await run_inline(sessionmaker, settings, slots, create)
    return await evaluation_of_job(sessionmaker, job_id)


async def create_model_job(
    session: AsyncSession,
    settings: Settings,
    request: ModelEvaluateRequest,
    *,
    hold_for: str | None = None,
) -> Run:
    """Validate, then insert an evaluate job of a registered model version: a job with no
    parent whose ``model_id`` is the pinned ``name@version``; its evaluation belongs to
    the job itself (so the leaderboard shows the registered name)."""
    specs, ref = await check_model_request(session, settings, request)
    job_id = new_id()
    return await add_run(
        session,
        settings,
        run_id=job_id,
        kind="evaluate",
        mode="local",
        config=job_config(settings, request, specs) | {"model": request.model},
        dataset_key=request.dataset_key,
        model_id=ref,
        output_dir=run_dir(settings, str(job_id)),
        hold_for=hold_for,
        timeout_seconds=settings.run_default_timeout_seconds,
    )


async def check_model_request(
    session: AsyncSession, settings: Settings, request: ModelEvaluateRequest
) -> tuple[list[str], str]:
    """Every check of a model evaluation, writing nothing: its judges and pinned ref."""
    specs = _specs(settings, request)
    resolved = await registry.resolve(session, settings, request.model, field="model")
    if request.eval_set is not None:
        await get_eval_set_row(session, request.eval_set)
    elif request.dataset_key is None:
        raise Unprocessable("dataset_key", "give dataset_key (its eval split) or eval_set")
    else:
        from tunix_rt.datasets.service import get_manifest

        try:
            await get_manifest(session, settings, request.dataset_key)
        except NotFound:
            raise NotFound(f"dataset {request.dataset_key!r} not found") from None
        if not await has_eval_split(session, settings, request.dataset_key):
            raise BadRequest(
                f"dataset {request.dataset_key!r} has no eval split; rebuild it with "
                "eval_fraction > 0 or pass eval_set"
            )
    return specs, resolved.ref


async def evaluate_model(
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
    slots: Slots,
    request: ModelEvaluateRequest,
) -> Evaluation:
    """Evaluate a registered model version now and return the result."""
    async with sessionmaker() as session:  # refuse a bad request before waiting for a slot
        await check_model_request(session, settings, request)

    async def create(session: AsyncSession, worker_id: str) -> Run:
        return await create_model_job(session, settings, request, hold_for=worker_id)

    job_id = await run_inline(sessionmaker, settings, slots, create)
    return await evaluation_of_job(sessionmaker, job_id)


def _specs(settings: Settings, request: EvaluateRequest) -> list[str]:
    if request.judge_override is None:
        return parse_judge_specs(settings.eval_default_judges, loc="judges")
    return parse_judge_specs(request.judge_override)


async def enqueue_auto_evaluation(
    session: AsyncSession, settings: Settings, run: Run
) -> Run | None:
    """Queue an evaluation of a just-trained local run with the default judges, if enabled.

    Called by the train job's finalize inside its transaction (the run is about to become
    ``completed``); runs whose dataset has no eval split are skipped.
    """
    if not settings.eval_auto or run.kind != "train" or run.mode != "local":
        return None
    if run.config.get("tuning"):  # a tuning trial evaluates its run itself, then reports
        return None
    if not await has_eval_split(session, settings, run.dataset_key):
        log.info(
            "run %s: dataset %s has no eval split; no auto-evaluation", run.id, run.dataset_key
        )
        return None
    specs = parse_judge_specs(settings.eval_default_judges, loc="judges")
    job = await create_evaluation_job(session, settings, run, EvaluateRequest(), specs=specs)
    await queue.enqueue(session)  # wakes a worker when the transaction commits
    return job


@dataclass(frozen=True)
class LeaderboardFilter:
    dataset_key: str | None = None
    model_id: str | None = None
    evaluated_after: datetime | None = None
    evaluated_before: datetime | None = None


@dataclass(frozen=True)
class LeaderboardPage:
    rows: list[tuple[Evaluation, Run]]
    next_offset: int | None


async def leaderboard(
    session: AsyncSession, flt: LeaderboardFilter, *, limit: int, offset: int
) -> LeaderboardPage:
    """One row per run (its latest evaluation in the date range), best score first."""
    latest = select(
        Evaluation.id.label("id"),
        func.row_number()
        .over(
            partition_by=Evaluation.run_id,
            order_by=(Evaluation.evaluated_at.desc(), Evaluation.id.desc()),
        )
        .label("rn"),
    )
    if flt.evaluated_after is not None:
        latest = latest.where(Evaluation.evaluated_at >= flt.evaluated_after)
    if flt.evaluated_before is not None:
        latest = latest.where(Evaluation.evaluated_at < flt.evaluated_before)
    ranked = latest.subquery()
    stmt = (
        select(Evaluation, Run)
        .join(ranked, (ranked.c.id == Evaluation.id) & (ranked.c.rn == 1))
        .join(Run, Run.id == Evaluation.run_id)
    )
    if flt.dataset_key is not None:
        stmt = stmt.where(Run.dataset_key == flt.dataset_key)
    if flt.model_id is not None:
        stmt = stmt.where(Run.model_id == flt.model_id)
    stmt = (
        stmt.order_by(Evaluation.score.desc(), Evaluation.evaluated_at.desc(), Evaluation.id)
        .offset(offset)
        .limit(limit + 1)
    )
    rows = [(e, r) for e, r in (await session.execute(stmt)).all()]
    more = len(rows) > limit
    return LeaderboardPage(rows=rows[:limit], next_offset=offset + limit if more else None)


@dataclass(frozen=True)
class PredictionSlice:
    total: int
    wrong: int
    rows: list[dict[str, Any]]
    next_offset: int | None


def predictions_file(run: Run, evaluation: Evaluation) -> Path:
    if not evaluation.predictions_path:
        raise NotFound(f"evaluation {evaluation.id} kept no predictions")
    return Path(run.output_dir) / evaluation.predictions_path


def read_predictions(path: Path, *, wrong_only: bool, limit: int, offset: int) -> PredictionSlice:
    """A page of predictions.jsonl, optionally only the items judged incorrect."""
    if not path.is_file():
        raise NotFound(f"predictions file {path} is gone")
    total = wrong = 0
    page: list[dict[str, Any]] = []
    matched = 0
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            if not line.strip():
                continue
            row = json.loads(line)
            total += 1
            is_wrong = row.get("correct") is False
            wrong += is_wrong
            if wrong_only and not is_wrong:
                continue
            if offset <= matched < offset + limit:
                page.append(row)
            matched += 1
    more = matched > offset + limit
    return PredictionSlice(total, wrong, page, offset + limit if more else None)
