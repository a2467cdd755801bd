"""Tuning jobs: validation, the job's run row, its trials and the best one.

A tuning job is a run of kind ``tune`` (so the queue leases, times out, cancels and
resumes it like any run); its child is the Ray Tune driver (``tuning/driver.py``). Every
trial is an ordinary ``train`` run, created by the trial itself inside Ray
(``tuning/trial.py``) and tagged in its config with ``{"tuning": {job_id, trial_id}}``;
``tuning_trials`` keeps what Ray saw: the sampled parameters, the metric, early stops.
"""

from __future__ import annotations

import math
import uuid
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError
from sqlalchemy import Select, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from tunix_rt.config import Settings
from tunix_rt.db import new_id, utcnow
from tunix_rt.evals.service import has_eval_split
from tunix_rt.kit.errors import NotFound, Unprocessable
from tunix_rt.models.run import TERMINAL_STATUSES, Run
from tunix_rt.models.tuning import TuningTrial
from tunix_rt.runs import service as runs
from tunix_rt.runs.schemas import RunRequest
from tunix_rt.training.params import TrainParams
from tunix_rt.tuning import schemas
from tunix_rt.tuning.schemas import SEARCHABLE, ChoiceParam, RangeParam, TuningJobCreate

TUNE_KIND = "tune"
# Integer parameters take randint, quniform (rounded) or choice; float ones any range.
INTEGER_PARAMS = frozenset(
    name
    for name, field in TrainParams.model_fields.items()
    if name in SEARCHABLE and "int" in str(field.annotation)
)
# Evaluation metrics a job can optimise, and the judge that reports each.
METRIC_JUDGES = {
    "score": None,
    "accuracy": "answer_correctness",
    "format_rate": "format",
    "baseline_score": "baseline",
    "llm_judge_score": "llm_judge",
}
LOSS_METRIC = "eval_loss"
STOPPED_EARLY = "stopped early by ASHA"
INTERRUPTED = "interrupted: the tuning job"


def _validate_value(base: TrainParams, name: str, value: Any, where: tuple[str | int, ...]) -> None:
    """422 at ``where`` unless ``value`` is a valid run parameter (§6's bounds)."""
    try:
        TrainParams.model_validate({**base.model_dump(), name: value})
    except ValidationError as exc:
        raise Unprocessable(where, f"{name}={value!r}: {exc.errors()[0]['msg']}") from None


def check_search_space(body: TuningJobCreate) -> None:
    """Unknown parameters, empty or inverted ranges and values outside the run contract."""
    for name, param in body.search_space.items():
        where: tuple[str | int, ...] = ("search_space", name)
        if isinstance(param, ChoiceParam):
            for index, value in enumerate(param.values):
                if name in INTEGER_PARAMS and isinstance(value, float) and value.is_integer():
                    value = int(value)
                _validate_value(body.base, name, value, (*where, "values", index))
            continue
        _check_range(body.base, name, param, where)


def _check_range(
    base: TrainParams, name: str, param: RangeParam, where: tuple[str | int, ...]
) -> None:
    if name == "completion_format":
        raise Unprocessable((*where, "type"), "completion_format takes a choice of values")
    if param.min >= param.max:
        raise Unprocessable((*where, "max"), f"max ({param.max}) must be above min ({param.min})")
    integer = name in INTEGER_PARAMS
    if integer and param.type in ("uniform", "loguniform"):
        raise Unprocessable(
            (*where, "type"), f"{name} is an integer: use randint, quniform (q ≥ 1) or choice"
        )
    if param.type == "randint" and not (param.min.is_integer() and param.max.is_integer()):
        raise Unprocessable(where, "randint takes whole-number min and max")
    if param.type == "loguniform" and param.min <= 0:
        raise Unprocessable((*where, "min"), "loguniform needs min > 0")
    if param.type == "quniform":
        if param.q is None:
            raise Unprocessable((*where, "q"), "quniform needs q")
        if integer and not param.q.is_integer():
            raise Unprocessable((*where, "q"), f"{name} is an integer: q must be a whole number")
    elif param.q is not None:
        raise Unprocessable((*where, "q"), f"q applies to quniform only, not {param.type}")
    low, high = param.min, param.max - 1 if param.type == "randint" else param.max
    if integer:
        low, high = math.ceil(low), math.floor(high)
        if low > high:
            raise Unprocessable(where, "the range holds no whole number")
    _validate_value(base, name, int(low) if integer else low, (*where, "min"))
    _validate_value(base, name, int(high) if integer else high, (*where, "max"))


def trial_request(body: TuningJobCreate, params: dict[str, Any]) -> RunRequest:
    """The run request of one trial: the job's base parameters with the sampled ones."""
    values = {**body.base.model_dump(), **params}
    for name in INTEGER_PARAMS & set(params):
        if isinstance(values[name], float):
            values[name] = round(values[name])
    return RunRequest.model_validate(
        {
            **values,
            "dataset_key": body.dataset_key,
            "model_id": body.model_id,
            "dry_run": False,
            "queue": body.queue,
        }
    )


async def create_job(
    session: AsyncSession,
    settings: Settings,
    body: TuningJobCreate,
    *,
    hold_for: str | None = None,
) -> Run:
    """Validate everything (nothing stored on a 4xx), then insert the job's driver run:
    pending for the queue, or held by ``hold_for`` (the CLI runs it inline)."""
    check_search_space(body)
    job_id = new_id()
    # The trials' run requests are checked as §6 checks runs (dataset 404, model 422, 501).
    sample = trial_request(body, {})
    output_dir = (await runs.check_run_request(session, settings, sample, job_id)).output_dir
    needs_loss = body.metric == LOSS_METRIC or body.scheduler == "asha"
    if needs_loss and not await has_eval_split(session, settings, body.dataset_key):
        field = "scheduler" if body.scheduler == "asha" else "metric"
        raise Unprocessable(
            field,
            f"dataset {body.dataset_key!r} has no eval split, so no held-out eval loss "
            f"(build it with eval_fraction > 0)",
        )
    config = body.model_dump(mode="json")
    return await runs.add_run(
        session,
        settings,
        run_id=job_id,
        kind=TUNE_KIND,
        mode="local",
        config=config,
        dataset_key=body.dataset_key,
        model_id=body.model_id,
        output_dir=output_dir,
        queue=body.queue,
        hold_for=hold_for,
    )


def job_request(job: Run) -> TuningJobCreate:
    return TuningJobCreate.model_validate(job.config)


async def get_job(session: AsyncSession, job_id: uuid.UUID) -> Run:
    job = await session.get(Run, job_id, populate_existing=True)
    if job is None or job.kind != TUNE_KIND:
        raise NotFound(f"tuning job {job_id} not found")
    return job


def job_status(run: Run) -> schemas.JobStatus:
    if run.status in ("running", "cancel_requested"):
        return "running"
    if run.status == "timeout":
        return "failed"
    status: schemas.JobStatus = run.status  # type: ignore[assignment]
    return status


async def trials_of(
    session: AsyncSession, job_id: uuid.UUID
) -> list[tuple[TuningTrial, Run | None]]:
    stmt = (
        select(TuningTrial, Run)
        .outerjoin(Run, Run.id == TuningTrial.run_id)
        .where(TuningTrial.job_id == job_id)
        .order_by(TuningTrial.created_at, TuningTrial.id)
    )
    return [(trial, run) for trial, run in (await session.execute(stmt)).all()]


def _trial_out(trial: TuningTrial, run: Run | None) -> schemas.Trial:
    return schemas.Trial(
        trial_id=trial.trial_id,
        run_id=trial.run_id,
        params=trial.params,
        status=run.status if run is not None else "deleted",
        metric_value=trial.metric_value,
        stopped_early=trial.stopped_early,
        message=trial.message,
        created_at=trial.created_at,
    )


def best_trial(trials: list[tuple[TuningTrial, Run | None]], mode: str) -> schemas.BestTrial | None:
    """The best metric of the trials that finished with one (early-stopped ones have none)."""
    scored = [t for t, _ in trials if t.metric_value is not None and not t.stopped_early]
    if not scored:
        return None
    pick = max if mode == "max" else min
    best = pick(scored, key=lambda t: t.metric_value or 0.0)
    assert best.metric_value is not None
    return schemas.BestTrial(
        trial_id=best.trial_id,
        run_id=best.run_id,
        params=best.params,
        metric_value=best.metric_value,
    )


def _summary(
    job: Run, request: TuningJobCreate, trials: list[tuple[TuningTrial, Run | None]]
) -> schemas.TuningJobSummary:
    best = best_trial(trials, request.mode)
    return schemas.TuningJobSummary(
        job_id=job.id,
        name=request.name,
        status=job_status(job),
        dataset_key=request.dataset_key,
        model_id=request.model_id,
        metric=request.metric,
        mode=request.mode,
        num_trials=request.num_trials,
        trials_finished=sum(
            1 for _, run in trials if run is None or run.status in TERMINAL_STATUSES
        ),
        best_metric_value=best.metric_value if best else None,
        message=job.message,
        created_at=job.created_at,
        started_at=job.started_at,
        completed_at=job.completed_at,
    )


async def job_detail(session: AsyncSession, job: Run) -> schemas.TuningJob:
    request = job_request(job)
    trials = await trials_of(session, job.id)
    return schemas.TuningJob(
        **_summary(job, request, trials).model_dump(),
        request=request,
        trials=[_trial_out(t, r) for t, r in trials],
        best=best_trial(trials, request.mode),
    )


@dataclass(frozen=True)
class JobPage:
    rows: list[schemas.TuningJobSummary]
    next_offset: int | None


async def list_jobs(session: AsyncSession, *, limit: int, offset: int) -> JobPage:
    stmt = (
        select(Run)
        .where(Run.kind == TUNE_KIND)
        .order_by(Run.created_at.desc(), Run.id.desc())
        .offset(offset)
        .limit(limit + 1)
    )
    jobs = list((await session.scalars(stmt)).all())
    rows = [
        _summary(job, job_request(job), await trials_of(session, job.id)) for job in jobs[:limit]
    ]
    return JobPage(rows=rows, next_offset=offset + limit if len(jobs) > limit else None)


def _trial_runs(job_id: uuid.UUID) -> Select[Any]:
    return select(TuningTrial.run_id).where(
        TuningTrial.job_id == job_id, TuningTrial.run_id.is_not(None)
    )


async def cancel_job(session: AsyncSession, job_id: uuid.UUID) -> str:
    """Cancel the job's driver and, in the same transaction, every unfinished trial run:
    their executors (inside Ray) stop the training children within a poll interval."""
    job = await get_job(session, job_id)
    message = await runs.cancel_run(session, job.id, reason="the tuning job was cancelled")
    active = list(
        (
            await session.scalars(
                select(Run.id).where(
                    Run.id.in_(_trial_runs(job.id)), Run.status.in_(("pending", "running"))
                )
            )
        ).all()
    )
    for run_id in active:
        await runs.cancel_run(session, run_id, reason="its tuning job was cancelled")
    return f"{message}; {len(active)} trial run(s) cancelled"


async def unfinished_trial_runs(session: AsyncSession, job_id: uuid.UUID) -> int:
    """How many of the job's trial runs have not ended yet."""
    count = await session.scalar(
        select(func.count())
        .select_from(Run)
        .where(Run.id.in_(_trial_runs(job_id)), Run.status.not_in(TERMINAL_STATUSES))
    )
    return int(count or 0)


async def interrupt_leftover_trials(session: AsyncSession, job_id: uuid.UUID) -> int:
    """A restarted driver's first step: trial runs of an earlier attempt that never ended
    died with that attempt's Ray; mark them failed (their trials are run again)."""
    result = await session.execute(
        update(Run)
        .where(Run.id.in_(_trial_runs(job_id)), Run.status.not_in(TERMINAL_STATUSES))
        .values(
            status="failed",
            completed_at=utcnow(),
            lease_expires_at=None,
            message=f"{INTERRUPTED}'s process stopped; the trial is run again",
        )
        .execution_options(synchronize_session=False)
    )
    return int(getattr(result, "rowcount", 0) or 0)


async def finished_trials(session: AsyncSession, job_id: uuid.UUID) -> list[TuningTrial]:
    """Trials that recorded their end (completed, stopped early, or failed on their own);
    a trial whose process died with an earlier attempt never did, and is run again."""
    stmt = select(TuningTrial).where(
        TuningTrial.job_id == job_id, TuningTrial.ended_at.is_not(None)
    )
    return list((await session.scalars(stmt)).all())
