"""Fast path for ``POST /api/traces/batch`` (SPEC §3).

The declared endpoint (``endpoints.create_traces_batch``) is the reference: FastAPI parses
the body with ``json.loads``, validates every field of every item with ``ReasoningTrace``
(Python validators for storable text, finite ``meta`` numbers and unique step indices),
re-serialises each payload and inserts through SQLAlchemy Core. That costs several times
the insert itself, so the route first tries this path:

1. decode and check the body in one pass with msgspec against ``ReasoningTraceShape``
   (the same fields and limits, strict types). Its JSON decoder already refuses what the
   Python checks would: lone surrogates, numbers that overflow to infinity, NaN. NUL
   characters can only arrive as a ``\\u0000`` escape, so a body containing that text
   is left to the reference path;
2. check step-index uniqueness and serialise each payload once (``service.payload_json``);
3. insert all rows with one driver ``executemany`` in one transaction and write the
   response body directly.

Whatever this path does not accept -- invalid items, values only lax validation would
coerce (``"i": "3"``), content types other than ``application/json``, items close to
``TRACE_MAX_BYTES`` -- goes to the reference endpoint unchanged, so error responses
(422 locations, 413 messages) are exactly the reference's. What it accepts, the reference
would accept too, and it stores the same documents.
"""

from __future__ import annotations

import gc
import uuid
from collections.abc import Callable, Coroutine, Iterator
from contextlib import asynccontextmanager, contextmanager
from datetime import datetime
from typing import Any

import msgspec
from fastapi import Request, Response, status
from fastapi.routing import APIRoute
from pydantic import TypeAdapter
from sqlalchemy.ext.asyncio import AsyncSession
from typing_extensions import TypedDict

from tunix_rt.config import Settings
from tunix_rt.db import get_session
from tunix_rt.traces import service
from tunix_rt.traces.schemas import TraceBatchShape

_session_scope = asynccontextmanager(get_session)


class _Created(TypedDict):
    id: uuid.UUID
    created_at: datetime
    trace_version: str


class _BatchCreated(TypedDict):
    created_count: int
    traces: list[_Created]


# Same field types as schemas.TraceBatchCreated, so the same JSON, without building models.
_RESPONSE = TypeAdapter(_BatchCreated)


def _is_plain_json(content_type: str | None) -> bool:
    if not content_type:
        return False
    return content_type.split(";", 1)[0].strip().lower() == "application/json"


@contextmanager
def _no_cyclic_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector for a synchronous, allocation-heavy block.

    Parsing 1,000 traces makes ~20,000 short-lived dicts and lists. Left on, the collector
    runs dozens of times over them, promotes them to the oldest generation and every few
    batches walks the whole heap (~100 ms). They form no cycles and are freed by reference
    counting when the block's locals go, so nothing is left for the collector.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def prepare_batch(body: bytes, item_size_cap: int | None) -> list[tuple[str, str]] | None:
    """``(trace_version, payload text)`` per item, or None to use the reference path.

    ``item_size_cap`` is TRACE_MAX_BYTES when the body is larger than that (so an item
    might be); items above half of it are left to the reference path's exact check.
    """
    with _no_cyclic_gc():
        return _prepare(body, item_size_cap)


_DECODER = msgspec.json.Decoder(TraceBatchShape)


def _prepare(body: bytes, item_size_cap: int | None) -> list[tuple[str, str]] | None:
    if b"\\u0000" in body:
        return None
    try:
        items = _DECODER.decode(body)
    except msgspec.DecodeError:  # malformed JSON, or a msgspec.ValidationError
        return None
    prepared: list[tuple[str, str]] = []
    for item in items:
        steps = item.steps
        if len({step.i for step in steps}) != len(steps):
            return None
        text = service.payload_json(item)
        if item_size_cap is not None and len(text.encode()) > item_size_cap // 2:
            return None
        prepared.append((item.trace_version, text))
    return prepared


async def fast_batch(request: Request) -> Response | None:
    """Store the batch and answer 201, or return None to let the reference endpoint run."""
    if not _is_plain_json(request.headers.get("content-type")):
        return None
    body = await request.body()  # cached: the reference endpoint reads the same bytes
    settings: Settings = request.app.state.settings
    body_size = request.scope.get("state", {}).get("body_size", 0)  # as the endpoint
    cap = settings.trace_max_bytes if body_size > settings.trace_max_bytes else None
    prepared = prepare_batch(body, cap)
    if prepared is None:
        return None
    session: AsyncSession
    async with _session_scope(request) as session:  # commits before the response
        rows = await service.insert_payloads(session, prepared)
    content = _RESPONSE.dump_json(
        {
            "created_count": len(rows),
            "traces": [
                {"id": r.id, "created_at": r.created_at, "trace_version": r.trace_version}
                for r in rows
            ],
        }
    )
    return Response(content, status_code=status.HTTP_201_CREATED, media_type="application/json")


class BatchRoute(APIRoute):
    """The batch route: the fast path first, the declared endpoint for everything else."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        reference = super().get_route_handler()

        async def handler(request: Request) -> Response:
            response = await fast_batch(request)
            return response if response is not None else await reference(request)

        return handler
