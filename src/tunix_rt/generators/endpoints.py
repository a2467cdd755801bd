"""HTTP endpoints for the built-in trace generators (SPEC §4)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, status
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse

from tunix_rt.datasets import exports, formats
from tunix_rt.generators import high_card_duel, schemas, service
from tunix_rt.kit.deps import SessionDep

router = APIRouter(tags=["generators"])

NDJSON = "application/x-ndjson"
NDJSON_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {"content": {NDJSON: {"schema": {"type": "string"}}}}
}


@router.get("/api/ungar/status", operation_id="get_ungar_status")
async def get_ungar_status() -> schemas.UngarStatus:
    """The built-in game generator is always available."""
    return schemas.UngarStatus(
        available=True, version=high_card_duel.VERSION, games=[high_card_duel.GAME]
    )


@router.post(
    "/api/ungar/high-card-duel/generate",
    status_code=status.HTTP_201_CREATED,
    operation_id="generate_high_card_duel",
)
async def generate_high_card_duel(
    body: schemas.HighCardDuelGenerate, session: SessionDep
) -> schemas.HighCardDuelGenerated:
    """Play `count` High Card Duel episodes and store them as traces (same seed, same games)."""
    seed = service.pick_seed(body.seed)
    traces = service.high_card_duel_traces(body.count, seed)
    ids = await service.store(session, traces) if body.persist else []
    preview = [
        schemas.HighCardDuelPreview(
            trace_id=ids[n] if ids else None,
            game=high_card_duel.GAME,
            result=trace.meta["result"] if trace.meta else "tie",
            my_card=trace.meta["my_card"] if trace.meta else "",
        )
        for n, trace in enumerate(traces[: service.PREVIEW_COUNT])
    ]
    return schemas.HighCardDuelGenerated(
        trace_ids=ids, preview=preview, seed=seed, traces=None if body.persist else traces
    )


@router.get(
    "/api/ungar/high-card-duel/export.jsonl",
    operation_id="export_high_card_duel",
    response_class=StreamingResponse,
    responses=NDJSON_RESPONSE,
)
async def export_high_card_duel(
    session: SessionDep, limit: Annotated[int, Query(ge=1, le=10_000)] = 100
) -> StreamingResponse:
    """The newest stored High Card Duel traces as NDJSON (trace format)."""
    rows = await service.newest_traces(session, service.HCD_FILTER, limit)
    lines = [formats.ndjson_line(formats.to_trace(exports.record_of(row))) for row in rows]
    return StreamingResponse(formats.chunked(lines), media_type=NDJSON)


@router.post(
    "/api/generators/arithmetic/generate",
    status_code=status.HTTP_201_CREATED,
    operation_id="generate_arithmetic",
)
async def generate_arithmetic(
    body: schemas.ArithmeticGenerate, session: SessionDep
) -> schemas.ArithmeticGenerated:
    """Generate arithmetic problems with step-by-step reasoning and verifiable answers."""
    # Thousands of multi-digit problems take a moment: keep the event loop free.
    traces = await run_in_threadpool(
        service.arithmetic_traces,
        body.count,
        body.seed,
        digits=body.digits,
        ops=body.ops,
        terms=body.terms,
        style=body.style,
        unique=body.unique,
    )
    ids = await service.store(session, traces) if body.persist else []
    preview = [
        schemas.ArithmeticPreview(
            trace_id=ids[n] if ids else None,
            prompt=trace.prompt,
            final_answer=trace.final_answer,
            task=str((trace.meta or {}).get("task", "")),
        )
        for n, trace in enumerate(traces[: service.PREVIEW_COUNT])
    ]
    return schemas.ArithmeticGenerated(
        trace_ids=ids,
        preview=preview,
        count=len(traces),
        seed=body.seed,
        traces=None if body.persist else traces,
    )
