"""Trace rules: storage, filtering, scoring. Called by the API, the CLI and later jobs."""

from __future__ import annotations

import asyncio
import contextlib
import re
import uuid
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import msgspec
from sqlalchemy import (
    ColumnElement,
    Select,
    String,
    and_,
    cast,
    delete,
    func,
    insert,
    select,
    tuple_,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncSession

from tunix_rt.db import new_ids, utcnow
from tunix_rt.kit.errors import NotFound, Unprocessable
from tunix_rt.kit.pagination import decode_cursor, encode_cursor
from tunix_rt.kit.text import storable_text
from tunix_rt.models import Trace, TraceScore
from tunix_rt.observability.metrics import retire_traces
from tunix_rt.traces.schemas import ReasoningTrace, ReasoningTraceShape
from tunix_rt.traces.scoring import BaselineScore, baseline_score

META_KEY = re.compile(r"^[A-Za-z0-9_\-]{1,64}$")


@dataclass(frozen=True)
class CreatedTrace:
    id: uuid.UUID
    created_at: datetime
    trace_version: str


@dataclass(frozen=True)
class ListedTrace:
    id: uuid.UUID
    created_at: datetime
    trace_version: str
    prompt_preview: str


PREVIEW_CHARS = 120


@dataclass
class TraceFilter:
    """Filters shared by listing, counting, exporting and (later) dataset builds."""

    meta: dict[str, str] = field(default_factory=dict)
    q: str | None = None
    created_after: datetime | None = None
    created_before: datetime | None = None

    def validate(self) -> None:
        for key, value in self.meta.items():
            if not META_KEY.match(key):
                raise Unprocessable(
                    f"meta.{key}",
                    "meta filter keys are 1-64 letters, digits, '_' or '-'",
                )
            _storable(f"meta.{key}", value)
        if self.q is not None:
            _storable("q", self.q)


def _storable(field: str, value: str) -> None:
    try:
        storable_text(value)
    except ValueError as exc:
        raise Unprocessable(field, str(exc)) from None


@dataclass(frozen=True)
class TracePage:
    rows: list[ListedTrace]
    next_offset: int | None
    next_cursor: str | None


def _meta_value(key: str, dialect: str) -> ColumnElement[Any]:
    element = Trace.payload[("meta", key)].as_string()
    # SQLite's json_extract returns typed values; compare as text like Postgres' #>>.
    return cast(element, String) if dialect == "sqlite" else element


def _like_pattern(text: str) -> str:
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def filter_clauses(flt: TraceFilter, dialect: str) -> list[ColumnElement[bool]]:
    flt.validate()
    clauses: list[ColumnElement[bool]] = [
        _meta_value(key, dialect) == value for key, value in flt.meta.items()
    ]
    if flt.q:
        pattern = _like_pattern(flt.q)
        prompt = Trace.payload["prompt"].as_string()
        answer = Trace.payload["final_answer"].as_string()
        clauses.append(prompt.ilike(pattern, escape="\\") | answer.ilike(pattern, escape="\\"))
    if flt.created_after is not None:
        clauses.append(Trace.created_at >= flt.created_after)
    if flt.created_before is not None:
        clauses.append(Trace.created_at < flt.created_before)
    return clauses


def _dialect(session: AsyncSession) -> str:
    return session.get_bind().dialect.name


_PAYLOAD_ENCODER = msgspec.json.Encoder()


def payload_json(payload: Mapping[str, object] | ReasoningTraceShape) -> str:
    """The stored text of a validated trace document: compact JSON, UTF-8 as is.

    Every writer of ``traces.payload`` goes through here (a ``to_payload()`` dict, or the
    batch fast path's decoded shape, which encodes to the same text), so rows read the
    same whichever path stored them. Validation has already rejected non-finite numbers.
    """
    return payload_bytes(payload).decode()


def payload_bytes(payload: Mapping[str, object] | ReasoningTraceShape) -> bytes:
    """``payload_json`` as UTF-8 bytes."""
    return _PAYLOAD_ENCODER.encode(payload)


async def create_traces(
    session: AsyncSession, traces: Sequence[ReasoningTrace]
) -> list[CreatedTrace]:
    """Insert traces in one statement; the caller's transaction makes it all-or-nothing."""
    return await insert_payloads(
        session, [(t.trace_version, payload_json(t.to_payload())) for t in traces]
    )


@dataclass(frozen=True)
class _InsertPlan:
    sql: str
    id_param: Callable[[uuid.UUID], Any] | None
    created_at_param: Callable[[datetime], Any] | None


_INSERT_PLANS: dict[str, _InsertPlan] = {}


def _insert_plan(dialect: Dialect) -> _InsertPlan:
    """``INSERT INTO traces`` for this dialect, with the column types' own bind processors.

    The statement and the id/created_at conversions are SQLAlchemy's (so the stored
    values are exactly what the ORM would write); only the per-row work of running them
    through Core is skipped.
    """
    plan = _INSERT_PLANS.get(dialect.name)
    if plan is None:
        table = Trace.__table__
        compiled = insert(Trace).compile(dialect=dialect)
        columns = ["id", "created_at", "trace_version", "payload"]
        if compiled.positiontup != columns:
            raise RuntimeError(f"unexpected traces insert parameters: {compiled.positiontup}")

        def processor(name: str) -> Callable[[Any], Any] | None:
            column_type = table.c[name].type
            return column_type.dialect_impl(dialect).bind_processor(dialect)

        plan = _InsertPlan(str(compiled), processor("id"), processor("created_at"))
        _INSERT_PLANS[dialect.name] = plan
    return plan


async def insert_payloads(
    session: AsyncSession, items: Sequence[tuple[str, str]]
) -> list[CreatedTrace]:
    """Insert validated traces given as ``(trace_version, payload_json(...))`` pairs.

    One driver ``executemany`` in the session's transaction; all rows share one
    ``created_at`` (keyset pagination breaks the tie by id).
    """
    return await insert_payload_chunks(session, [items])


async def insert_payload_chunks(
    session: AsyncSession, chunks: Iterable[Sequence[tuple[str, str]]]
) -> list[CreatedTrace]:
    """Like ``insert_payloads`` for items produced chunk by chunk, pipelined: while the
    database stores one chunk (SQLite in its driver thread, Postgres in its own process),
    this thread produces the next. All in the session's transaction, one ``created_at``."""
    now = utcnow()
    connection = await session.connection()
    plan = _insert_plan(connection.dialect)
    to_id = plan.id_param
    stamp = plan.created_at_param(now) if plan.created_at_param else now
    created: list[CreatedTrace] = []
    pending: asyncio.Future[Any] | None = None
    try:
        for items in chunks:  # producing a chunk overlaps the previous chunk's insert
            ids = new_ids(len(items))
            params = [
                (to_id(i) if to_id else i, stamp, version, text)
                for i, (version, text) in zip(ids, items, strict=True)
            ]
            created += [
                CreatedTrace(i, now, version) for i, (version, _) in zip(ids, items, strict=True)
            ]
            if pending is not None:
                await pending
            if params:
                pending = asyncio.ensure_future(connection.exec_driver_sql(plan.sql, params))
                await asyncio.sleep(0)  # let it hand the rows to the driver before we go on
        if pending is not None:
            await pending
    except BaseException:
        if pending is not None and not pending.done():
            pending.cancel()
            with contextlib.suppress(BaseException):
                await pending
        raise
    return created


async def get_trace(session: AsyncSession, trace_id: uuid.UUID) -> Trace:
    trace = await session.get(Trace, trace_id)
    if trace is None:
        raise NotFound(f"trace {trace_id} not found")
    return trace


def _listing(flt: TraceFilter, dialect: str) -> Select[uuid.UUID, datetime, str, str]:
    preview = func.substr(Trace.payload["prompt"].as_string(), 1, PREVIEW_CHARS)
    stmt = select(Trace.id, Trace.created_at, Trace.trace_version, preview)
    clauses = filter_clauses(flt, dialect)
    return stmt.where(and_(*clauses)) if clauses else stmt


async def list_traces(
    session: AsyncSession,
    flt: TraceFilter,
    *,
    limit: int,
    offset: int = 0,
    cursor: str | None = None,
) -> TracePage:
    """Newest first. Offset pages as the seed did; ``cursor`` pages by keyset."""
    stmt = _listing(flt, _dialect(session))
    if cursor is not None:
        if offset:
            raise Unprocessable("offset", "use either offset or cursor, not both")
        created_at, row_id = decode_cursor(cursor)
        stmt = stmt.where(tuple_(Trace.created_at, Trace.id) < tuple_(created_at, row_id))
    stmt = stmt.order_by(Trace.created_at.desc(), Trace.id.desc()).limit(limit + 1)
    if offset:
        stmt = stmt.offset(offset)
    result = await session.execute(stmt)
    rows = [ListedTrace(row[0], row[1], row[2], row[3]) for row in result.all()]
    has_more = len(rows) > limit
    rows = rows[:limit]
    return TracePage(
        rows=rows,
        next_offset=offset + limit if has_more and cursor is None else None,
        next_cursor=encode_cursor(rows[-1].created_at, rows[-1].id) if has_more else None,
    )


async def count_traces(session: AsyncSession, flt: TraceFilter) -> int:
    clauses = filter_clauses(flt, _dialect(session))
    stmt = select(func.count()).select_from(Trace)
    if clauses:
        stmt = stmt.where(and_(*clauses))
    return int((await session.execute(stmt)).scalar_one())


async def delete_trace(session: AsyncSession, trace_id: uuid.UUID) -> None:
    result = await session.execute(delete(Trace).where(Trace.id == trace_id))
    if getattr(result, "rowcount", 0) == 0:
        raise NotFound(f"trace {trace_id} not found")
    await retire_traces(session, 1)  # /metrics keeps counting it


async def score_trace(
    session: AsyncSession, trace_id: uuid.UUID, criteria: str
) -> tuple[TraceScore, BaselineScore]:
    """Score with the named criteria and store the result."""
    trace = await get_trace(session, trace_id)
    result = baseline_score(trace.payload)
    scored_at = utcnow()
    row = TraceScore(
        trace_id=trace.id,
        criteria=criteria,
        score=result.score,
        created_at=scored_at,
        details={
            "step_count": result.step_count,
            "avg_step_length": result.avg_step_length,
            "total_chars": result.total_chars,
            "step_score": result.step_score,
            "length_score": result.length_score,
            "criteria": criteria,
            "scored_at": scored_at.isoformat(),
        },
    )
    session.add(row)
    await session.flush()
    return row, result


async def get_pair(
    session: AsyncSession, base_id: uuid.UUID, other_id: uuid.UUID
) -> tuple[Trace, Trace]:
    """Fetch both sides of a comparison; the 404 names whichever side is missing."""
    found = {
        t.id: t
        for t in (
            await session.scalars(select(Trace).where(Trace.id.in_({base_id, other_id})))
        ).all()
    }
    missing = [
        f"{side} trace {tid} not found"
        for side, tid in (("base", base_id), ("other", other_id))
        if tid not in found
    ]
    if missing:
        raise NotFound("; ".join(missing))
    return found[base_id], found[other_id]


async def iter_traces(
    session: AsyncSession, flt: TraceFilter, *, chunk: int = 500, limit: int | None = None
) -> AsyncIterator[Trace]:
    """Yield matching traces oldest first, one keyset page at a time (bounded memory)."""
    clauses = filter_clauses(flt, _dialect(session))
    after: tuple[datetime, uuid.UUID] | None = None
    remaining = limit
    while remaining is None or remaining > 0:
        size = chunk if remaining is None else min(chunk, remaining)
        stmt = select(Trace).where(*clauses)
        if after is not None:
            stmt = stmt.where(tuple_(Trace.created_at, Trace.id) > tuple_(*after))
        stmt = stmt.order_by(Trace.created_at, Trace.id).limit(size)
        rows = (await session.scalars(stmt)).all()
        for row in rows:
            yield row
        if len(rows) < size:
            return
        after = (rows[-1].created_at, rows[-1].id)
        if remaining is not None:
            remaining -= len(rows)
        session.expunge_all()
