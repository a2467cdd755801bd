"""HTTP endpoints for training runs (SPEC §6)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Header, Query, Request, Response, status
from fastapi.responses import FileResponse, StreamingResponse
from sqlalchemy.ext.asyncio import AsyncSession

from tunix_rt.kit.dates import as_utc
from tunix_rt.kit.deps import SessionDep, SettingsDep, sessionmaker_of
from tunix_rt.kit.pagination import Offset, Page, Pagination
from tunix_rt.kit.text import Key, RelPath
from tunix_rt.models.run import Run as RunRow
from tunix_rt.runs import artifacts, logs, management, queue, schemas, service, stats
from tunix_rt.runs.capacity import Slots
from tunix_rt.runs.executor import run_inline

router = APIRouter(prefix="/api/tunix", tags=["runs"])


def _slots(request: Request) -> Slots:
    slots: Slots = request.app.state.slots
    return slots


@router.get("/status", operation_id="get_tunix_status")
async def get_tunix_status() -> schemas.TunixStatus:
    """Whether Tunix and JAX are installed (local training needs them), with versions."""
    return service.tunix_status()


@router.post(
    "/run",
    status_code=status.HTTP_202_ACCEPTED,
    operation_id="create_run",
    responses={
        404: {"description": "Unknown dataset (no run is created)."},
        409: {"description": "output_dir is used by another run or not empty."},
        501: {"description": "Tunix is not installed and dry_run is false."},
    },
)
async def create_run(
    body: schemas.RunRequest,
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    mode: Annotated[
        Literal["sync", "async"],
        Query(description="sync: run now and answer when done; async: queue and answer now."),
    ] = "sync",
) -> schemas.Run:
    """Start a run: sync executes it before answering; async queues it (status pending)."""
    if mode == "async":
        run = await service.create_run(session, settings, body)
        await queue.enqueue(session)
        return await service.run_detail(session, run)
    maker = sessionmaker_of(request)
    async with maker() as check:  # a bad request is refused before waiting for a slot
        await service.check_run_request(check, settings, body, uuid.uuid4())

    async def create(held: AsyncSession, worker_id: str) -> RunRow:
        return await service.create_run(held, settings, body, hold_for=worker_id)

    run_id = await run_inline(maker, settings, _slots(request), create)
    async with maker() as read:
        return await service.run_detail(read, await service.get_run(read, run_id))


@router.get("/runs", operation_id="list_runs")
async def list_runs(
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    offset: Offset = 0,
    status_filter: Annotated[
        list[schemas.RunStatus] | None,
        Query(alias="status", description="Repeat to match any of several statuses."),
    ] = None,
    dataset_key: Annotated[Key | None, Query()] = None,
    mode: Annotated[schemas.RunMode | None, Query()] = None,
    kind: Annotated[schemas.RunKind | None, Query()] = None,
) -> Page[schemas.RunSummary]:
    """Runs, newest first, filtered by status, dataset, mode and kind."""
    page = await service.list_runs(
        session,
        limit=limit,
        offset=offset,
        status=list(status_filter) if status_filter else None,
        dataset_key=dataset_key,
        mode=mode,
        kind=kind,
    )
    return Page[schemas.RunSummary](
        data=[schemas.RunSummary.model_validate(r) for r in page.rows],
        pagination=Pagination(limit=limit, offset=offset, next_offset=page.next_offset),
    )


StatsKind = Annotated[
    schemas.RunKind | Literal["all"], Query(description="Which runs count; all = every kind.")
]
StatsAfter = Annotated[datetime | None, Query(description="Inclusive.")]
StatsBefore = Annotated[datetime | None, Query(description="Exclusive.")]
CSV_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/csv": {"schema": {"type": "string"}}}}
}


async def _run_stats(
    session: AsyncSession,
    kind: str,
    created_after: datetime | None,
    created_before: datetime | None,
) -> stats.Stats:
    return await stats.run_stats(
        session,
        kind=None if kind == "all" else kind,
        created_after=as_utc("created_after", created_after),
        created_before=as_utc("created_before", created_before),
    )


def _stats_csv(result: stats.Stats) -> Response:
    return Response(
        stats.stats_csv(result),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": 'attachment; filename="run-stats.csv"'},
    )


# Both before /runs/{run_id}: "stats" is not a run id.
@router.get(
    "/runs/stats",
    operation_id="get_run_stats",
    response_model=schemas.RunStats,
    responses=CSV_RESPONSE,
)
async def get_run_stats(
    session: SessionDep,
    kind: StatsKind = "train",
    created_after: StatsAfter = None,
    created_before: StatsBefore = None,
    format: Annotated[
        Literal["json", "csv"], Query(description="csv: one row per group.")
    ] = "json",
) -> Any:
    """Counts by status, success rate and duration percentiles, overall and by dataset,
    model and day; ``format=csv`` (or ``stats.csv``) gives the same as a table."""
    result = await _run_stats(session, kind, created_after, created_before)
    if format == "csv":
        return _stats_csv(result)
    return schemas.RunStats(
        kind=result.kind,
        created_after=result.created_after,
        created_before=result.created_before,
        overall=schemas.RunStatsGroup(**stats.group_view(result.overall)),
        by_dataset=[schemas.RunStatsGroup(**stats.group_view(g)) for g in result.by_dataset],
        by_model=[schemas.RunStatsGroup(**stats.group_view(g)) for g in result.by_model],
        per_day=[schemas.RunStatsGroup(**stats.group_view(g)) for g in result.per_day],
    )


@router.get(
    "/runs/stats.csv",
    operation_id="export_run_stats",
    response_class=Response,
    responses=CSV_RESPONSE,
)
async def export_run_stats(
    session: SessionDep,
    kind: StatsKind = "train",
    created_after: StatsAfter = None,
    created_before: StatsBefore = None,
) -> Response:
    """The run statistics as CSV, one row per group: a plain link (the browser's sign-in
    cookie opens ``….csv`` downloads)."""
    return _stats_csv(await _run_stats(session, kind, created_after, created_before))


@router.get("/runs/{run_id}", operation_id="get_run")
async def get_run(run_id: uuid.UUID, session: SessionDep) -> schemas.Run:
    """One run in full: status, output tails (10 KB each), directory and config."""
    return await service.run_detail(session, await service.get_run(session, run_id))


@router.get("/runs/{run_id}/status", operation_id="get_run_status")
async def get_run_status(run_id: uuid.UUID, session: SessionDep) -> schemas.RunStatusInfo:
    """Just the run's state and timings (cheap to poll)."""
    return schemas.RunStatusInfo.model_validate(await service.get_run(session, run_id))


@router.get("/runs/{run_id}/metrics", operation_id="get_run_metrics")
async def get_run_metrics(run_id: uuid.UUID, session: SessionDep) -> schemas.RunMetrics:
    """The step series (loss, eval loss, learning rate, tokens/s, elapsed)."""
    run = await service.get_run(session, run_id)
    rows = await service.list_metrics(session, run_id)
    points = [schemas.RunMetricPoint.model_validate(m) for m in rows]
    total = next((p.total_steps for p in reversed(points) if p.total_steps), None)
    return schemas.RunMetrics(
        run_id=run.id,
        status=run.status,
        total_steps=total,
        data=points,
    )


@router.get(
    "/runs/{run_id}/logs",
    operation_id="stream_run_logs",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/event-stream": {}}}},
)
async def stream_run_logs(
    run_id: uuid.UUID,
    request: Request,
    session: SessionDep,
    since_seq: Annotated[int, Query(ge=0, description="Send lines after this seq.")] = 0,
    last_event_id: Annotated[str | None, Header(max_length=32)] = None,
) -> StreamingResponse:
    """Live log as Server-Sent Events: log, heartbeat, status (then end), error.

    Each log event's id is its seq; reconnecting with Last-Event-ID resumes after it."""
    await service.get_run(session, run_id)
    after = logs.resume_point(since_seq, last_event_id)
    return StreamingResponse(
        logs.event_stream(sessionmaker_of(request), run_id, after),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


@router.post("/runs/{run_id}/cancel", operation_id="cancel_run")
async def cancel_run(run_id: uuid.UUID, session: SessionDep) -> schemas.RunMessage:
    """Cancel: pending → cancelled now; running → SIGTERM, then SIGKILL after the grace."""
    return schemas.RunMessage(message=await service.cancel_run(session, run_id))


@router.delete("/runs/{run_id}", status_code=status.HTTP_204_NO_CONTENT, operation_id="delete_run")
async def delete_run(run_id: uuid.UUID, session: SessionDep, settings: SettingsDep) -> Response:
    """Delete a finished run with its logs, metrics and files (409 while it runs)."""
    await service.delete_run(session, settings, run_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get("/runs/{run_id}/artifacts", operation_id="list_run_artifacts")
async def list_run_artifacts(
    run_id: uuid.UUID, session: SessionDep, settings: SettingsDep
) -> schemas.ArtifactList:
    """Every file in the run directory (relative paths)."""
    run = await service.get_run(session, run_id)
    directory = service.files_dir(settings, run)
    return schemas.ArtifactList(run_id=run.id, artifacts=artifacts.list_artifacts(directory))


@router.get(
    "/runs/{run_id}/artifacts/{path:path}/download",
    operation_id="download_run_artifact",
    response_class=FileResponse,
    responses={403: {"description": "The path leaves the run directory."}},
)
async def download_run_artifact(
    run_id: uuid.UUID, path: RelPath, session: SessionDep, settings: SettingsDep
) -> FileResponse:
    """Stream one file of the run directory."""
    run = await service.get_run(session, run_id)
    target = artifacts.resolve_artifact(service.files_dir(settings, run), path)
    return FileResponse(target, filename=target.name, media_type="application/octet-stream")


@router.get(
    "/runs/{run_id}/logs/download",
    operation_id="download_run_log",
    response_class=StreamingResponse,
    responses={200: {"content": {"text/plain": {}}}},
)
async def download_run_log(run_id: uuid.UUID, request: Request, session: SessionDep) -> Response:
    """The whole log as plain text, one line per output line (the metric lines included)."""
    await service.get_run(session, run_id)
    return StreamingResponse(
        logs.raw_text(sessionmaker_of(request), run_id),
        media_type="text/plain; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="run-{run_id}.log"'},
    )


@router.post(
    "/runs/{run_id}/retry",
    status_code=status.HTTP_201_CREATED,
    operation_id="retry_run",
    responses={
        404: {"description": "Unknown run."},
        409: {"description": "The run is not failed, timed out or cancelled."},
    },
)
async def retry_run(run_id: uuid.UUID, session: SessionDep, settings: SettingsDep) -> schemas.Run:
    """Queue a new run with a failed or cancelled run's config (config.retry_of links back)."""
    run = await management.retry_run(session, settings, run_id)
    await queue.enqueue(session)
    return await service.run_detail(session, run)


@router.post("/runs/bulk-delete", operation_id="bulk_delete_runs")
async def bulk_delete_runs(
    body: schemas.BulkDeleteRequest, session: SessionDep, settings: SettingsDep
) -> schemas.BulkDeleteResult:
    """Delete finished runs by ids or filter (dry_run counts); unfinished ones are skipped."""
    return await management.bulk_delete(session, settings, body)
