"""Live run logs as Server-Sent Events, resumable with ``since_seq`` or ``Last-Event-ID``.

Each ``log`` event's ``id`` is the line's seq, so a browser's automatic reconnect (or a
client passing the last id it saw) continues after exactly that line. The stream polls
the database, so it works whichever process runs the child.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tunix_rt.models.run import TERMINAL_STATUSES, Run, RunLog

POLL_SECONDS = 0.25
HEARTBEAT_SECONDS = 10.0
PAGE = 500


@dataclass(frozen=True)
class LogLine:
    seq: int
    stream: str
    chunk: str
    created_at: datetime


def sse(event: str, data: dict[str, Any], event_id: int | None = None) -> str:
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}event: {event}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


def resume_point(since_seq: int, last_event_id: str | None) -> int:
    """``Last-Event-ID`` (sent by a reconnecting browser) wins over ``since_seq``."""
    if last_event_id and last_event_id.strip().isdigit():
        return int(last_event_id.strip())
    return since_seq


async def read_lines(
    session: AsyncSession, run_id: uuid.UUID, after: int, limit: int = PAGE
) -> list[LogLine]:
    stmt = (
        select(RunLog.seq, RunLog.stream, RunLog.chunk, RunLog.created_at)
        .where(RunLog.run_id == run_id, RunLog.seq > after)
        .order_by(RunLog.seq)
        .limit(limit)
    )
    return [LogLine(*row) for row in (await session.execute(stmt)).all()]


async def raw_text(
    sessionmaker: async_sessionmaker[AsyncSession], run_id: uuid.UUID
) -> AsyncIterator[str]:
    """Every stored line of a run's log, in order, as text (a page per transaction)."""
    after = 0
    while True:
        async with sessionmaker() as session:
            lines = await read_lines(session, run_id, after)
        if not lines:
            return
        yield "".join(line.chunk.rstrip("\n") + "\n" for line in lines)
        after = lines[-1].seq


async def follow(
    sessionmaker: async_sessionmaker[AsyncSession],
    run_id: uuid.UUID,
    after: int,
    *,
    poll: float = POLL_SECONDS,
) -> AsyncIterator[LogLine | str]:
    """Yield every line after ``after`` as it is stored, then the final status (a str).

    Each poll uses a fresh short transaction, so new commits are always visible.
    """
    while True:
        async with sessionmaker() as session:
            # Read the status before the lines: a terminal status seen here means every
            # line was already committed, so the lines read next are complete.
            status = await session.scalar(select(Run.status).where(Run.id == run_id))
            lines = await read_lines(session, run_id, after)
        for line in lines:
            yield line
            after = line.seq
        if len(lines) == PAGE:
            continue
        if status is None or status in TERMINAL_STATUSES:
            yield status or "deleted"
            return
        await asyncio.sleep(poll)


async def _events(
    sessionmaker: async_sessionmaker[AsyncSession], run_id: uuid.UUID, after: int, poll: float
) -> AsyncGenerator[str]:
    try:
        async for item in follow(sessionmaker, run_id, after, poll=poll):
            if isinstance(item, str):
                yield sse("status", {"status": item})
                return
            data = {
                "seq": item.seq,
                "stream": item.stream,
                "chunk": item.chunk,
                "created_at": item.created_at.isoformat(),
            }
            yield sse("log", data, item.seq)
    except Exception as exc:  # the DB went away mid-stream: tell the client, end cleanly
        yield sse("error", {"message": f"log stream failed: {exc}"})


async def event_stream(
    sessionmaker: async_sessionmaker[AsyncSession],
    run_id: uuid.UUID,
    after: int,
    *,
    poll: float = POLL_SECONDS,
    heartbeat: float = HEARTBEAT_SECONDS,
) -> AsyncIterator[str]:
    """The SSE body: ``log`` events, ``heartbeat {seq}`` while idle, ``status`` at the end."""
    yield f"retry: 1000\n: run {run_id} logs after seq {after}\n\n"
    source = _events(sessionmaker, run_id, after, poll)
    last_seq = after
    pending: asyncio.Task[str] | None = None
    try:
        while True:
            if pending is None:
                pending = asyncio.ensure_future(anext(source))
            done, _ = await asyncio.wait({pending}, timeout=heartbeat)
            if not done:
                yield sse("heartbeat", {"seq": last_seq}, last_seq)
                continue
            task, pending = pending, None
            try:
                chunk = task.result()
            except StopAsyncIteration:
                return
            if chunk.startswith("id: "):
                last_seq = int(chunk[4 : chunk.index("\n")])
            yield chunk
    finally:
        if pending is not None:
            pending.cancel()
            with contextlib.suppress(BaseException):
                await pending
        await source.aclose()
