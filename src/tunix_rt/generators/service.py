"""Generator rules: run a built-in generator and store its traces via the traces service."""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import select, tuple_
from sqlalchemy.ext.asyncio import AsyncSession

from tunix_rt.generators import arithmetic, high_card_duel
from tunix_rt.kit.errors import Unprocessable
from tunix_rt.models import Trace
from tunix_rt.traces import service as traces_service
from tunix_rt.traces.schemas import ReasoningTrace
from tunix_rt.traces.service import TraceFilter, filter_clauses

STORE_BATCH = 1000
PREVIEW_COUNT = 3
HCD_FILTER = TraceFilter(meta={"source": high_card_duel.SOURCE, "game": high_card_duel.GAME})


def pick_seed(seed: int | None) -> int:
    """The given seed, or a fresh one (reported back so the batch can be regenerated)."""
    return seed if seed is not None else random.SystemRandom().randrange(2**31)


def validated(docs: Iterable[dict[str, Any]]) -> list[ReasoningTrace]:
    return [ReasoningTrace.model_validate(doc) for doc in docs]


async def store(session: AsyncSession, traces: Sequence[ReasoningTrace]) -> list[uuid.UUID]:
    """Insert in batches inside the caller's transaction (all or nothing)."""
    ids: list[uuid.UUID] = []
    for start in range(0, len(traces), STORE_BATCH):
        created = await traces_service.create_traces(session, traces[start : start + STORE_BATCH])
        ids.extend(c.id for c in created)
    return ids


def high_card_duel_traces(count: int, seed: int) -> list[ReasoningTrace]:
    return validated(high_card_duel.generate_high_card_duel(count, seed))


def arithmetic_traces(
    count: int,
    seed: int,
    *,
    digits: int,
    ops: Sequence[str],
    terms: int,
    style: str,
    unique: bool,
) -> list[ReasoningTrace]:
    """Arithmetic traces; an impossible combination is a 422 naming the field."""
    try:
        docs = arithmetic.generate_arithmetic(
            count,
            seed,
            digits,
            "".join(ops),
            terms=terms,
            style=style,  # type: ignore[arg-type]
            unique=unique,
        )
    except ValueError as exc:
        message = str(exc)
        field = next(
            (f for f in ("ops", "digits", "terms", "style", "count") if message.startswith(f)),
            "count" if "distinct problems" in message else "ops",
        )
        raise Unprocessable(field, message) from None
    return validated(docs)


async def newest_traces(session: AsyncSession, flt: TraceFilter, limit: int) -> list[Trace]:
    """Up to ``limit`` matching traces, newest first, fetched a keyset page at a time."""
    clauses = filter_clauses(flt, session.get_bind().dialect.name)
    out: list[Trace] = []
    before: tuple[datetime, uuid.UUID] | None = None
    while len(out) < limit:
        size = min(500, limit - len(out))
        stmt = select(Trace).where(*clauses)
        if before is not None:
            stmt = stmt.where(tuple_(Trace.created_at, Trace.id) < tuple_(*before))
        stmt = stmt.order_by(Trace.created_at.desc(), Trace.id.desc()).limit(size)
        rows = list((await session.scalars(stmt)).all())
        out.extend(rows)
        if len(rows) < size:
            break
        before = (rows[-1].created_at, rows[-1].id)
    return out
