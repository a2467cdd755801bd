"""HTTP endpoints for traces (SPEC §3)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Body, Depends, Query, Request, Response, status

from tunix_rt.kit.dates import as_utc
from tunix_rt.kit.deps import SessionDep, SettingsDep
from tunix_rt.kit.errors import PayloadTooLarge
from tunix_rt.kit.pagination import Offset, Page, Pagination
from tunix_rt.kit.text import Text
from tunix_rt.models import Trace as TraceRow
from tunix_rt.traces import schemas, service
from tunix_rt.traces.batch import BatchRoute
from tunix_rt.traces.scoring import baseline_score
from tunix_rt.traces.service import TraceFilter

router = APIRouter(prefix="/api/traces", tags=["traces"])

META_FILTER_DOC = (
    "Also accepts `meta.<key>=<value>` query parameters (e.g. `meta.source=ungar`); "
    "each must match the trace's meta value exactly (numbers compare as text)."
)


def _trace_filter(
    request: Request,
    q: Annotated[
        Text | None, Query(max_length=500, description="Text in prompt or answer.")
    ] = None,
    created_after: Annotated[datetime | None, Query(description="Inclusive lower bound.")] = None,
    created_before: Annotated[datetime | None, Query(description="Exclusive upper bound.")] = None,
) -> TraceFilter:
    meta = {
        key.removeprefix("meta."): value
        for key, value in request.query_params.items()
        if key.startswith("meta.")
    }
    return TraceFilter(
        meta=meta,
        q=q or None,
        created_after=as_utc("created_after", created_after),
        created_before=as_utc("created_before", created_before),
    )


FilterDep = Annotated[TraceFilter, Depends(_trace_filter)]


def _created(row: service.CreatedTrace) -> schemas.TraceCreated:
    return schemas.TraceCreated(
        id=row.id, created_at=row.created_at, trace_version=row.trace_version
    )


@router.post("", status_code=status.HTTP_201_CREATED, operation_id="create_trace")
async def create_trace(trace: schemas.ReasoningTrace, session: SessionDep) -> schemas.TraceCreated:
    """Store one reasoning trace (413 past TRACE_MAX_BYTES)."""
    (row,) = await service.create_traces(session, [trace])
    return _created(row)


async def create_traces_batch(
    request: Request,
    traces: Annotated[
        list[schemas.ReasoningTrace], Body(min_length=1, max_length=schemas.MAX_BATCH)
    ],
    session: SessionDep,
    settings: SettingsDep,
) -> schemas.TraceBatchCreated:
    """Store 1–1000 traces, all or none; errors name the failing item's index."""
    # The reference implementation: BatchRoute (traces/batch.py) stores valid batches on
    # a fast path first and sends everything else here.
    body_size = request.scope.get("state", {}).get("body_size", 0)
    if body_size > settings.trace_max_bytes:
        # Only when the whole body is over the per-trace cap can an item be.
        for index, trace in enumerate(traces):
            size = len(trace.model_dump_json().encode())
            if size > settings.trace_max_bytes:
                raise PayloadTooLarge(
                    f"item {index} is {size} bytes; each trace may be at most "
                    f"{settings.trace_max_bytes} bytes (TRACE_MAX_BYTES)"
                )
    rows = await service.create_traces(session, traces)
    return schemas.TraceBatchCreated(created_count=len(rows), traces=[_created(r) for r in rows])


router.add_api_route(
    "/batch",
    create_traces_batch,
    methods=["POST"],
    status_code=status.HTTP_201_CREATED,
    operation_id="create_traces_batch",
    route_class_override=BatchRoute,
)


@router.get(
    "", operation_id="list_traces", description="List traces, newest first. " + META_FILTER_DOC
)
async def list_traces(
    session: SessionDep,
    flt: FilterDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    offset: Offset = 0,
    cursor: Annotated[
        str | None,
        Query(
            max_length=512,
            description="pagination.next_cursor of the previous page (keyset pagination).",
        ),
    ] = None,
) -> Page[schemas.TraceSummary]:
    page = await service.list_traces(
        session, flt, limit=limit, offset=offset, cursor=cursor or None
    )
    return Page[schemas.TraceSummary](
        data=[
            schemas.TraceSummary(
                id=r.id,
                created_at=r.created_at,
                trace_version=r.trace_version,
                prompt_preview=r.prompt_preview,
            )
            for r in page.rows
        ],
        pagination=Pagination(
            limit=limit, offset=offset, next_offset=page.next_offset, next_cursor=page.next_cursor
        ),
    )


@router.get(
    "/count",
    operation_id="count_traces",
    description="Count traces matching the same filters as the list. " + META_FILTER_DOC,
)
async def count_traces(session: SessionDep, flt: FilterDep) -> schemas.TraceCount:
    return schemas.TraceCount(count=await service.count_traces(session, flt))


@router.get("/compare", operation_id="compare_traces")
async def compare_traces(
    session: SessionDep, base: uuid.UUID, other: uuid.UUID
) -> schemas.TraceComparison:
    """Two traces side by side with their baseline scores."""
    base_row, other_row = await service.get_pair(session, base, other)

    def scored(row: TraceRow) -> schemas.ScoredTrace:
        return schemas.ScoredTrace(
            id=row.id,
            created_at=row.created_at,
            trace_version=row.trace_version,
            payload=schemas.ReasoningTrace.model_validate(row.payload),
            score=baseline_score(row.payload).score,
        )

    return schemas.TraceComparison(base=scored(base_row), other=scored(other_row))


@router.get("/{trace_id}", operation_id="get_trace")
async def get_trace(trace_id: uuid.UUID, session: SessionDep) -> schemas.Trace:
    """One trace with its full payload."""
    row = await service.get_trace(session, trace_id)
    return schemas.Trace(
        id=row.id,
        created_at=row.created_at,
        trace_version=row.trace_version,
        payload=schemas.ReasoningTrace.model_validate(row.payload),
    )


@router.delete("/{trace_id}", status_code=status.HTTP_204_NO_CONTENT, operation_id="delete_trace")
async def delete_trace(trace_id: uuid.UUID, session: SessionDep) -> Response:
    """Delete a trace and its scores; built datasets keep their snapshot."""
    await service.delete_trace(session, trace_id)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/{trace_id}/score", status_code=status.HTTP_201_CREATED, operation_id="score_trace")
async def score_trace(
    trace_id: uuid.UUID,
    session: SessionDep,
    request: Annotated[schemas.ScoreRequest | None, Body()] = None,
) -> schemas.TraceScore:
    """Score a trace (baseline criteria) and store the score."""
    criteria = (request or schemas.ScoreRequest()).criteria
    row, _ = await service.score_trace(session, trace_id, criteria)
    return schemas.TraceScore(
        trace_id=row.trace_id,
        score=row.score,
        details=schemas.ScoreDetails.model_validate(row.details),
    )
