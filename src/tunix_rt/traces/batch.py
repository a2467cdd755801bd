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
   is left to the reference path, and so is any item whose ``meta`` nests too deep;
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
from collections.abc import Callable, Coroutine, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from typing import Any

import msgspec
from fastapi import Request, Response, status
from fastapi.routing import APIRoute
from sqlalchemy.ext.asyncio import AsyncSession

from tunix_rt.config import Settings
from tunix_rt.kit.deps import get_session
from tunix_rt.kit.text import too_deep
from tunix_rt.traces import service
from tunix_rt.traces.schemas import ReasoningTraceShape, TraceBatchShape

_session_scope = asynccontextmanager(get_session)


# schemas.TraceBatchCreated as msgspec writes it: the same JSON as the reference (UUIDs
# dashed, UTC datetimes RFC 3339 with "Z"; tests/traces/test_batch_fast_path.py compares).
_RESPONSE = msgspec.json.Encoder()


def _is_plain_json(content_type: str | None) -> bool:
    if not content_type:
        return False
    return content_type.split(";", 1)[0].strip().lower() == "application/json"


_gc_pauses = 0
_gc_was_enabled = True


@contextmanager
def _no_cyclic_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector while a batch is parsed and stored.

    Parsing 1,000 traces makes ~20,000 short-lived dicts, lists and structs. Left on, the
    collector runs dozens of times over them, promotes them to the oldest generation and
    every few batches walks the whole heap (~100 ms). They form no cycles and are freed
    by reference counting when the request's locals go. Overlapping requests nest: the
    collector comes back on when the last of them ends (if it was on before the first).
    """
    global _gc_pauses, _gc_was_enabled
    if _gc_pauses == 0:
        _gc_was_enabled = gc.isenabled()
        gc.disable()
    _gc_pauses += 1
    try:
        yield
    finally:
        _gc_pauses -= 1
        if _gc_pauses == 0 and _gc_was_enabled:
            gc.enable()


class NearSizeCap(Exception):
    """An item is close to TRACE_MAX_BYTES: the reference endpoint measures it exactly."""


_DECODER = msgspec.json.Decoder(TraceBatchShape)
# Traces per INSERT. Postgres stores a chunk in its own process while this one encodes
# the next; SQLite's driver thread needs the GIL for most of its work, so one INSERT.
CHUNK = {"postgresql": 128}


def decode_batch(body: bytes) -> list[ReasoningTraceShape] | None:
    """The batch's items, checked against the shape, or None for the reference path."""
    if b"\\u0000" in body:
        return None
    try:
        items = _DECODER.decode(body)
    except msgspec.DecodeError:  # malformed JSON, or a msgspec.ValidationError
        return None
    for item in items:
        if len({step.i for step in item.steps}) != len(item.steps):
            return None
        if item.meta and too_deep(item.meta):
            return None
    return items


def _stored(items: Sequence[ReasoningTraceShape], cap: int | None) -> list[tuple[str, str]]:
    """``(trace_version, payload text)`` per item; ``NearSizeCap`` when an item is above
    half of ``cap``."""
    out: list[tuple[str, str]] = []
    for item in items:
        stored = service.payload_bytes(item)
        if cap is not None and len(stored) > cap // 2:
            raise NearSizeCap
        out.append((item.trace_version, stored.decode()))
    return out


def stored_chunks(
    items: Sequence[ReasoningTraceShape], cap: int | None, size: int
) -> Iterator[list[tuple[str, str]]]:
    """The stored rows of ``items``, ``size`` at a time (made as they are consumed).

    ``cap`` is TRACE_MAX_BYTES when the body is larger than that (so an item might be);
    an item above half of it raises ``NearSizeCap``.
    """
    for start in range(0, len(items), size):
        yield _stored(items[start : start + size], cap)


async def fast_batch(request: Request) -> Response | None:
    """Store the batch and answer 201, or return None to let the reference endpoint run."""
    if not _is_plain_json(request.headers.get("content-type")):
        return None
    body = await request.body()  # cached: the reference endpoint reads the same bytes
    settings: Settings = request.app.state.settings
    body_size = request.scope.get("state", {}).get("body_size", 0)  # as the endpoint
    cap = settings.trace_max_bytes if body_size > settings.trace_max_bytes else None
    with _no_cyclic_gc():
        items = decode_batch(body)
        if items is None:
            return None
        session: AsyncSession
        try:
            async with _session_scope(request) as session:  # commits before the response
                size = CHUNK.get(session.get_bind().dialect.name, len(items))
                rows = await service.insert_payload_chunks(session, stored_chunks(items, cap, size))
        except NearSizeCap:  # rolled back: nothing stored
            return None
        content = _RESPONSE.encode(
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
