"""Run rules: create, read, list, cancel and delete runs. Called by the API, CLI and workers."""

from __future__ import annotations

import importlib.metadata
import importlib.util
import shutil
import uuid
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, NamedTuple

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from tunix_rt.config import Settings
from tunix_rt.db import new_id, utcnow
from tunix_rt.kit.errors import BadRequest, Conflict, DomainError, NotFound, Unprocessable
from tunix_rt.models.run import TERMINAL_STATUSES, Run, RunLog, RunMetric
from tunix_rt.observability.metrics import retire_runs
from tunix_rt.registry import service as registry
from tunix_rt.runs import schemas
from tunix_rt.runs.hooks import run_ended
from tunix_rt.runs.schemas import RunRequest, TunixStatus
from tunix_rt.training.config import FINAL_MODEL_FILE
from tunix_rt.training.params import algorithm_problem
from tunix_rt.training.presets import PRESETS
from tunix_rt.training.protocol import PREFIX, parse_event
from tunix_rt.training.resolve import ModelNotFound, resolve_model

TAIL_BYTES = 10 * 1024
RUNS_DIR = "runs"


class TunixUnavailable(DomainError):
    status_code = 501


def tunix_status() -> TunixStatus:
    """Whether the training runtime (tunix + jax) is installed, without importing it."""
    try:
        from tunix_rt.training import available

        ok, version, message = available()
    except ImportError:
        ok, version, message = _available_fallback()
    return TunixStatus(
        available=bool(ok),
        version=version or None,
        jax_version=_version("jax"),
        runtime_required=True,
        message=message,
        presets=[
            schemas.ModelPreset(model_id=name, description=p.description)
            for name, p in PRESETS.items()
        ],
    )


def _version(dist: str) -> str | None:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return None


def _available_fallback() -> tuple[bool, str, str]:
    missing = [m for m in ("tunix", "jax") if importlib.util.find_spec(m) is None]
    version = _version("google-tunix") or ""
    if missing:
        return False, version, f"not installed: {', '.join(missing)} (pip install google-tunix jax)"
    return True, version, f"Tunix {version} with JAX {_version('jax')}"


def runs_root(settings: Settings) -> Path:
    """The directory every run directory lives in: the server chooses them all."""
    return (settings.data_dir / RUNS_DIR).resolve()


def run_dir(settings: Settings, name: str) -> Path:
    return runs_root(settings) / name


async def check_dataset(session: AsyncSession, settings: Settings, key: str) -> None:
    from tunix_rt.datasets import service as datasets

    try:
        await datasets.get_manifest(session, settings, key)
    except NotFound:
        raise NotFound(f"dataset {key!r} not found") from None


def check_model(settings: Settings, model_id: str) -> None:
    """422 on ``model_id`` unless it resolves (local checkpoints: only in model dirs)."""
    try:
        resolve_model(model_id, settings.model_directories)
    except ModelNotFound as exc:
        raise Unprocessable("model_id", str(exc)) from None


async def _check_output_dir(session: AsyncSession, output_dir: Path) -> None:
    taken = await session.scalar(select(Run.id).where(Run.output_dir == str(output_dir)).limit(1))
    if taken is not None:
        raise Conflict(f"output_dir {output_dir.name!r} belongs to run {taken}; choose another")
    if output_dir.exists():  # noqa: ASYNC240 (one stat)
        raise Conflict(f"output_dir {output_dir.name!r} exists already; choose another name")


def server_made(settings: Settings, path: str) -> Path | None:
    """The run directory ``path`` when the server chose it (inside the runs root, not a
    link); None for anything else: rows written by older versions may name any path."""
    directory = Path(path)
    if directory.is_symlink():
        return None
    root = runs_root(settings)
    resolved = directory.resolve()
    return resolved if root in resolved.parents else None


def files_dir(settings: Settings, run: Run) -> str:
    """The directory whose files the run's artifact endpoints serve; 404 when the run's
    directory is not one the server chose."""
    directory = server_made(settings, run.output_dir)
    if directory is None:
        raise NotFound(
            f"run {run.id}'s directory is outside the runs folder; its files are not served"
        )
    return str(directory)


def remove_run_dir(settings: Settings, path: str) -> None:
    """Remove a run's directory, but only one the server made for it."""
    directory = server_made(settings, path)
    if directory is not None and directory.is_dir():
        shutil.rmtree(directory, ignore_errors=True)


async def init_run(session: AsyncSession, request: RunRequest) -> Run:
    """The completed local training run a GRPO request starts from (404/422 otherwise)."""
    assert request.init_from is not None and request.init_from.run_id is not None
    run_id = request.init_from.run_id
    parent = await session.get(Run, run_id)
    if parent is None:
        raise NotFound(f"init_from.run_id: run {run_id} not found")
    if parent.kind != "train" or parent.mode != "local" or parent.status != "completed":
        raise Unprocessable(
            ("init_from", "run_id"),
            f"run {run_id} is a {parent.status} {parent.mode} {parent.kind} run; GRPO "
            "starts from a completed local training run",
        )
    if not (Path(parent.output_dir) / FINAL_MODEL_FILE).is_file():
        raise Unprocessable(
            ("init_from", "run_id"),
            f"run {run_id} has no final model ({FINAL_MODEL_FILE} is missing from its directory)",
        )
    return parent


async def init_model_id(session: AsyncSession, settings: Settings, request: RunRequest) -> str:
    """The model a GRPO run continues: its init_from run's, or the registered version it
    names (pinned ``name@version``)."""
    assert request.init_from is not None
    if request.init_from.model is not None:
        resolved = await registry.resolve(
            session, settings, request.init_from.model, field=("init_from", "model")
        )
        model_id = resolved.ref
        request.init_from.model = model_id  # stored pinned: an alias may move later
    else:
        model_id = (await init_run(session, request)).model_id
    if request.model_id is not None and request.model_id != model_id:
        raise Unprocessable(
            "model_id",
            f"a GRPO run continues init_from's model ({model_id}); leave model_id out",
        )
    return model_id


async def run_model_id(session: AsyncSession, settings: Settings, request: RunRequest) -> str:
    """The model a request trains, checked: its own ``model_id`` (sft) or init_from's (grpo)."""
    problem = algorithm_problem(request)
    if problem is not None:
        raise Unprocessable(*problem)
    if request.algorithm == "grpo":
        return await init_model_id(session, settings, request)
    if request.model_id is None:
        raise Unprocessable("model_id", "required for algorithm 'sft'")
    if registry.parse_ref(request.model_id) is not None:  # a registered model version
        resolved = await registry.resolve(session, settings, request.model_id, field="model_id")
        return resolved.ref  # pinned: name@version, even when an alias was given
    check_model(settings, request.model_id)
    return request.model_id


class CheckedRun(NamedTuple):
    output_dir: Path
    model_id: str  # the request's own (sft) or its init_from run's (grpo)


async def check_run_request(
    session: AsyncSession, settings: Settings, request: RunRequest, run_id: uuid.UUID
) -> CheckedRun:
    """Every check of a new run, writing nothing; returns its directory and model."""
    if not request.dry_run and not tunix_status().available:
        raise TunixUnavailable(
            "local training needs Tunix and JAX: "
            + tunix_status().message
            + " (dry_run=true works without them)"
        )
    model_id = await run_model_id(session, settings, request)
    await check_dataset(session, settings, request.dataset_key)
    output_dir = run_dir(settings, request.output_dir or str(run_id))
    await _check_output_dir(session, output_dir)
    return CheckedRun(output_dir, model_id)


async def add_run(
    session: AsyncSession,
    settings: Settings,
    *,
    run_id: uuid.UUID,
    kind: str,
    mode: str,
    config: dict[str, Any],
    dataset_key: str | None,
    model_id: str,
    output_dir: Path,
    queue: str = "default",
    priority: int = 0,
    parent_run_id: uuid.UUID | None = None,
    hold_for: str | None = None,
    max_attempts: int | None = None,
    timeout_seconds: int | None = None,
) -> Run:
    """Insert a checked run row (every kind): ``pending`` for the queue, or ``running``
    held by ``hold_for`` (an inline executor), so no queue worker can claim a run that is
    about to run inline. Flushed; the caller's transaction commits."""
    now = utcnow()
    lease_until = now + timedelta(seconds=settings.queue_lease_seconds)
    run = Run(
        id=run_id,
        kind=kind,
        mode=mode,
        status="running" if hold_for else "pending",
        worker_id=hold_for,
        started_at=now if hold_for else None,
        lease_expires_at=lease_until if hold_for else None,
        dataset_key=dataset_key,
        model_id=model_id,
        parent_run_id=parent_run_id,
        config=config,
        output_dir=str(output_dir),
        priority=priority,
        queue=queue,
        attempt=0,
        max_attempts=max_attempts or settings.queue_max_attempts,
        timeout_seconds=timeout_seconds,
        queued_at=now,
        created_at=now,
    )
    session.add(run)
    await session.flush()
    return run


async def create_run(
    session: AsyncSession,
    settings: Settings,
    request: RunRequest,
    *,
    hold_for: str | None = None,
    max_attempts: int | None = None,
    extra_config: dict[str, Any] | None = None,
) -> Run:
    """Validate everything first (nothing is stored on a 4xx/501), then insert a train run
    (``extra_config`` tags it, e.g. with its tuning trial)."""
    run_id = new_id()
    output_dir, model_id = await check_run_request(session, settings, request, run_id)
    config = {**request.model_dump(mode="json"), **(extra_config or {})}
    if config.get("init_from"):  # the source given: {"run_id": ...} or {"model": ...}
        config["init_from"] = {k: v for k, v in config["init_from"].items() if v is not None}
    config["output_dir"] = str(output_dir)
    config["model_id"] = model_id
    return await add_run(
        session,
        settings,
        run_id=run_id,
        kind="train",
        mode="dry-run" if request.dry_run else "local",
        config=config,
        dataset_key=request.dataset_key,
        model_id=model_id,
        output_dir=output_dir,
        queue=request.queue,
        priority=request.priority,
        hold_for=hold_for,
        max_attempts=max_attempts,
        timeout_seconds=request.timeout_seconds or settings.run_default_timeout_seconds,
    )


async def get_run(session: AsyncSession, run_id: uuid.UUID) -> Run:
    run = await session.get(Run, run_id, populate_existing=True)
    if run is None:
        raise NotFound(f"run {run_id} not found")
    return run


@dataclass(frozen=True)
class RunPage:
    rows: list[Run]
    next_offset: int | None


async def list_runs(
    session: AsyncSession,
    *,
    limit: int,
    offset: int = 0,
    status: list[str] | None = None,
    dataset_key: str | None = None,
    mode: str | None = None,
    kind: str | None = None,
) -> RunPage:
    """Newest first, filtered."""
    stmt = select(Run)
    if status:
        stmt = stmt.where(Run.status.in_(status))
    if dataset_key is not None:
        stmt = stmt.where(Run.dataset_key == dataset_key)
    if mode is not None:
        stmt = stmt.where(Run.mode == mode)
    if kind is not None:
        stmt = stmt.where(Run.kind == kind)
    stmt = stmt.order_by(Run.created_at.desc(), Run.id.desc()).offset(offset).limit(limit + 1)
    rows = list((await session.scalars(stmt)).all())
    has_more = len(rows) > limit
    return RunPage(rows=rows[:limit], next_offset=offset + limit if has_more else None)


async def log_tail(session: AsyncSession, run_id: uuid.UUID, stream: str) -> str:
    """The last lines of one stream, at most TAIL_BYTES of UTF-8, oldest first."""
    stmt = (
        select(RunLog.chunk)
        .where(RunLog.run_id == run_id, RunLog.stream == stream)
        .order_by(RunLog.seq.desc())
        .limit(1000)
    )
    lines: list[str] = []
    size = 0
    for chunk in (await session.scalars(stmt)).all():
        encoded = (chunk + "\n").encode()
        if size + len(encoded) > TAIL_BYTES:
            room = TAIL_BYTES - size
            if room > 0:
                lines.append(encoded[-room:].decode("utf-8", "ignore"))
            break
        lines.append(chunk + "\n")
        size += len(encoded)
    return "".join(reversed(lines))


async def dry_run_report(session: AsyncSession, run_id: uuid.UUID) -> dict[str, Any] | None:
    """The newest ``@tunix_rt {"event": "dry_run", ...}`` line the child printed."""
    stmt = (
        select(RunLog.chunk)
        .where(
            RunLog.run_id == run_id,
            RunLog.stream == "stdout",
            RunLog.chunk.like(PREFIX + "%dry_run%"),
        )
        .order_by(RunLog.seq.desc())
        .limit(20)
    )
    for chunk in (await session.scalars(stmt)).all():
        event = parse_event(chunk)
        if event and event.get("event") == "dry_run":
            return event
    return None


async def run_detail(session: AsyncSession, run: Run) -> schemas.Run:
    """The API's full view of a run (also what ``tunix-rt runs show`` prints)."""
    detail = schemas.Run.model_validate(run)
    detail.stdout = await log_tail(session, run.id, "stdout")
    detail.stderr = await log_tail(session, run.id, "stderr")
    if run.mode == "dry-run":
        detail.report = await dry_run_report(session, run.id)
    return detail


async def list_metrics(session: AsyncSession, run_id: uuid.UUID) -> list[RunMetric]:
    """One point per step. A resumed attempt re-reports the steps after its checkpoint;
    the newest attempt's point (then the newest row) wins."""
    ranked = (
        select(
            RunMetric.id,
            func.row_number()
            .over(
                partition_by=RunMetric.step,
                order_by=(RunMetric.attempt.desc(), RunMetric.id.desc()),
            )
            .label("rn"),
        )
        .where(RunMetric.run_id == run_id)
        .subquery()
    )
    stmt = (
        select(RunMetric)
        .join(ranked, (ranked.c.id == RunMetric.id) & (ranked.c.rn == 1))
        .order_by(RunMetric.step)
    )
    return list((await session.scalars(stmt)).all())


async def cancel_run(session: AsyncSession, run_id: uuid.UUID, reason: str | None = None) -> str:
    """Pending → cancelled now; running → cancel_requested (its executor stops the child).
    ``reason`` becomes the run's message (default: "cancelled by request")."""
    now = utcnow()
    cancelled = await session.execute(
        update(Run)
        .where(Run.id == run_id, Run.status == "pending")
        .values(
            status="cancelled",
            completed_at=now,
            message=reason or "cancelled before it started",
            lease_expires_at=None,
        )
    )
    if getattr(cancelled, "rowcount", 0):
        await run_ended(session, run_id)
        return f"run {run_id} cancelled"
    requested = await session.execute(
        update(Run)
        .where(Run.id == run_id, Run.status == "running")
        .values(status="cancel_requested", message=reason or "cancelled by request")
    )
    if getattr(requested, "rowcount", 0):
        return f"cancel requested for run {run_id}; the child gets SIGTERM, then SIGKILL"
    run = await get_run(session, run_id)
    if run.status == "cancel_requested":
        return f"cancel already requested for run {run_id}"
    raise BadRequest(f"run {run_id} is {run.status}; only pending or running runs can be cancelled")


async def deletion_problem(session: AsyncSession, run: Run) -> str | None:
    """Why ``run`` cannot be deleted now (unfinished, or unfinished child runs), or None.
    The one rule of single, bulk and retention deletes."""
    if run.status not in TERMINAL_STATUSES:
        return f"run {run.id} is {run.status}; cancel it or wait until it finishes"
    active_children = await session.scalar(
        select(func.count())
        .select_from(Run)
        .where(Run.parent_run_id == run.id, Run.status.not_in(TERMINAL_STATUSES))
    )
    if active_children:
        return f"run {run.id} has {active_children} unfinished evaluation run(s)"
    return None


async def delete_run(session: AsyncSession, settings: Settings, run_id: uuid.UUID) -> None:
    """Delete a finished run, its logs, metrics, child runs and its directory."""
    run = await get_run(session, run_id)
    problem = await deletion_problem(session, run)
    if problem is not None:
        raise Conflict(problem)
    # /metrics keeps counting them (its counters must not go down).
    await retire_runs(session, [or_(Run.id == run_id, Run.parent_run_id == run_id)])
    await session.execute(delete(Run).where(Run.id == run_id))
    await session.flush()
    remove_run_dir(settings, run.output_dir)
