"""Run management: retry a failed run, delete runs in bulk (by ids or by filter).

Called by the API and the CLI; both follow the single-run rules of ``service``.
"""

from __future__ import annotations

import uuid
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from tunix_rt.config import Settings
from tunix_rt.db import new_id
from tunix_rt.kit.errors import BadRequest, Conflict, NotFound
from tunix_rt.models.run import Run
from tunix_rt.runs import gc, schemas, service

RETRYABLE = frozenset({"failed", "timeout", "cancelled"})
RETRY_KINDS = frozenset({"train", "evaluate"})
BULK_LIMIT = 10_000


def _retry_dir(settings: Settings, run: Run, new_run_id: uuid.UUID) -> Path:
    """A fresh directory beside the original's when the server named it after the run
    (``runs/{id}``, an evaluation's ``runs/{train}/evaluations/{id}``); else ``runs/{id}``."""
    original = Path(run.output_dir)
    if original.name == str(run.id) and service.server_made(settings, run.output_dir):
        return original.parent / str(new_run_id)
    return service.run_dir(settings, str(new_run_id))


async def retry_run(session: AsyncSession, settings: Settings, run_id: uuid.UUID) -> Run:
    """A new pending run with a failed/timed-out/cancelled run's config (new id, new
    directory; ``config.retry_of`` names the original). 409 for any other status."""
    run = await service.get_run(session, run_id)
    if run.status not in RETRYABLE:
        raise Conflict(
            f"run {run_id} is {run.status}; only failed, timed-out or cancelled runs can be retried"
        )
    if run.kind not in RETRY_KINDS:
        raise BadRequest(f"run {run_id} is a {run.kind} job; start a new one instead")
    if run.kind == "train" and run.dataset_key:
        try:
            await service.check_dataset(session, settings, run.dataset_key)
        except NotFound:
            raise Conflict(f"run {run_id}'s dataset {run.dataset_key!r} no longer exists") from None
    new_run_id = new_id()
    output_dir = _retry_dir(settings, run, new_run_id)
    config = dict(run.config)
    if "output_dir" in config:
        config["output_dir"] = str(output_dir)
    config["retry_of"] = str(run.id)
    retry = await service.add_run(
        session,
        settings,
        run_id=new_run_id,
        kind=run.kind,
        mode=run.mode,
        config=config,
        dataset_key=run.dataset_key,
        model_id=run.model_id,
        output_dir=output_dir,
        queue=run.queue,
        priority=run.priority,
        parent_run_id=run.parent_run_id,
        max_attempts=run.max_attempts,
        timeout_seconds=run.timeout_seconds,
    )
    retry.message = f"retry of run {run.id}"
    await session.flush()
    return retry


async def matching_runs(
    session: AsyncSession, spec: schemas.RunFilter, limit: int = BULK_LIMIT
) -> list[Run]:
    """Runs matching every given criterion, oldest first."""
    stmt = select(Run)
    if spec.status:
        stmt = stmt.where(Run.status.in_(spec.status))
    if spec.dataset_key is not None:
        stmt = stmt.where(Run.dataset_key == spec.dataset_key)
    if spec.model_id is not None:
        stmt = stmt.where(Run.model_id == spec.model_id)
    if spec.kind is not None:
        stmt = stmt.where(Run.kind == spec.kind)
    if spec.created_before is not None:
        stmt = stmt.where(Run.created_at < spec.created_before)
    stmt = stmt.order_by(Run.created_at, Run.id).limit(limit)
    return list((await session.scalars(stmt)).all())


async def runs_by_ids(
    session: AsyncSession, ids: list[uuid.UUID]
) -> tuple[list[Run], list[uuid.UUID]]:
    """The runs with these ids (in the given order) and the ids no run has."""
    found = {
        run.id: run for run in (await session.scalars(select(Run).where(Run.id.in_(ids)))).all()
    }
    unique = list(dict.fromkeys(ids))
    return [found[i] for i in unique if i in found], [i for i in unique if i not in found]


async def bulk_delete(
    session: AsyncSession, settings: Settings, body: schemas.BulkDeleteRequest
) -> schemas.BulkDeleteResult:
    """Delete (or, dry, count) the named or matching runs that may be deleted; the others
    are listed with the reason (unfinished, unfinished child runs, not found)."""
    if body.ids is not None:
        runs, missing = await runs_by_ids(session, body.ids)
    else:
        assert body.filter is not None
        runs, missing = await matching_runs(session, body.filter), []
    removed, skipped = await gc.delete_runs(session, settings, runs, dry_run=body.dry_run)
    return schemas.BulkDeleteResult(
        dry_run=body.dry_run,
        matched=len(runs) + len(missing),
        count=len(removed),
        run_ids=[item.run_id for item in removed if item.run_id is not None],
        bytes=sum(item.bytes for item in removed),
        skipped=[
            schemas.SkippedRun(run_id=item.run_id, reason=item.reason)
            for item in skipped
            if item.run_id is not None
        ]
        + [schemas.SkippedRun(run_id=i, reason=f"run {i} not found") for i in missing],
    )
