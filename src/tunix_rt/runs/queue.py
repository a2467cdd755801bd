"""The durable run queue: the ``runs`` row is the job (docs/queue.md).

One set of statements serves both backends. On Postgres the claim and the reaper lock
their rows with ``FOR UPDATE SKIP LOCKED`` so any number of workers on any number of hosts
never take the same run; on SQLite the same ``UPDATE … WHERE id = (SELECT …) AND
status = 'pending' RETURNING`` is atomic because SQLite has a single writer. Workers wake
on ``LISTEN tunix_rt_runs`` (Postgres) or an in-process signal (embedded worker), with a
bounded poll as the fallback.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import (
    Float,
    Integer,
    String,
    Text,
    Uuid,
    bindparam,
    case,
    cast,
    column,
    event,
    func,
    literal,
    select,
    table,
    update,
)
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession, async_sessionmaker
from sqlalchemy.sql.dml import Update

from tunix_rt.db import UTCDateTime, utcnow
from tunix_rt.runs.hooks import run_ended

log = logging.getLogger(__name__)

CHANNEL = "tunix_rt_runs"
HELD = ("running", "cancel_requested")

# A lightweight view of the columns the queue touches (the ORM model is the runs domain's).
RUNS = table(
    "runs",
    column("id", Uuid),
    column("status", String),
    column("mode", String),
    column("priority", Integer),
    column("queue", String),
    column("attempt", Integer),
    column("max_attempts", Integer),
    column("worker_id", String),
    column("lease_expires_at", UTCDateTime),
    column("queued_at", UTCDateTime),
    column("started_at", UTCDateTime),
    column("completed_at", UTCDateTime),
    column("duration_seconds", Float),
    column("message", Text),
)


def renew_lease(run_id: uuid.UUID, lease_seconds: float, worker_id: str | None = None) -> Update:
    """``UPDATE`` extending a held run's lease (only while ``worker_id`` holds it, if given).
    Every lease renewal — queue workers, inline runs, long evaluations — is this statement."""
    where = [RUNS.c.id == run_id, RUNS.c.status.in_(HELD)]
    if worker_id is not None:
        where.append(RUNS.c.worker_id == worker_id)
    return (
        update(RUNS)
        .where(*where)
        .values(lease_expires_at=utcnow() + timedelta(seconds=lease_seconds))
    )


class LeaseHook(Protocol):
    """What the executor calls about every poll interval while a child runs (it may
    throttle itself). False means the lease is lost: the child is stopped and the run is
    left to the reaper. The queue worker's ``Lease`` and inline runs' self-lease."""

    async def renew(self) -> bool: ...


@dataclass(frozen=True)
class Claim:
    run_id: uuid.UUID
    attempt: int
    lease_expires_at: datetime


@dataclass
class Reaped:
    requeued: list[uuid.UUID] = field(default_factory=list)
    failed: list[uuid.UUID] = field(default_factory=list)
    cancelled: list[uuid.UUID] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.requeued) + len(self.failed) + len(self.cancelled)


# --- enqueue and wake-up -------------------------------------------------------------

_local_wakers: set[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = set()


def _wake_local() -> None:
    for loop, ev in list(_local_wakers):
        with contextlib.suppress(RuntimeError):  # loop closed
            loop.call_soon_threadsafe(ev.set)


async def enqueue(session: AsyncSession) -> None:
    """Call after adding ``pending`` run rows: wakes workers when the transaction commits.

    On Postgres the database does it: a trigger on ``runs`` (migration 0014) sends
    ``NOTIFY tunix_rt_runs`` for every row that becomes ``pending``, delivered at commit
    and dropped on rollback — no round trip of its own in the enqueuing transaction.
    In-process workers (either backend) are signalled by an ``after_commit`` hook.
    """

    def after_commit(_session: Any) -> None:
        _wake_local()

    event.listen(session.sync_session, "after_commit", after_commit, once=True)


class Waker:
    """Resolves ``wait()`` on a notification, a local enqueue, ``poke()``, or a timeout."""

    def __init__(self, database_url: str) -> None:
        self._url = database_url
        self._event = asyncio.Event()
        self._key = (asyncio.get_running_loop(), self._event)
        self._listener: asyncio.Task[None] | None = None

    async def start(self) -> None:
        _local_wakers.add(self._key)
        if self._url.startswith("postgresql"):
            self._listener = asyncio.create_task(self._listen_forever())

    async def stop(self) -> None:
        _local_wakers.discard(self._key)
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listener

    def poke(self) -> None:
        self._event.set()

    def clear(self) -> None:
        self._event.clear()

    async def wait(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._event.wait(), seconds)

    async def _listen_forever(self) -> None:
        import asyncpg

        dsn = make_url(self._url).set(drivername="postgresql").render_as_string(False)
        while True:
            conn = None
            try:
                conn = await asyncpg.connect(dsn)
                await conn.add_listener(CHANNEL, lambda *_: self._event.set())
                self._event.set()  # catch up on anything sent while not listening
                closed = asyncio.Event()
                conn.add_termination_listener(lambda *_, ev=closed: ev.set())
                await closed.wait()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the poll fallback covers the gap
                log.warning("LISTEN %s failed (%s); retrying", CHANNEL, exc)
            finally:
                if conn is not None and not conn.is_closed():
                    with contextlib.suppress(Exception):
                        await asyncio.shield(conn.close(timeout=2))
            await asyncio.sleep(1.0)


# --- claim, lease, release, reap -----------------------------------------------------


def _concat(*parts: Any) -> Any:
    out: Any = None
    for part in parts:
        value = literal(part, String) if isinstance(part, str) else part
        out = value if out is None else out.op("||")(value)
    return out


def _claim_statement(min_priority: int | None, queues: tuple[str, ...] | None) -> Update:
    """The claim ``UPDATE`` with the worker, lease and time as bound parameters."""
    now = bindparam("now", type_=UTCDateTime)
    pick = select(RUNS.c.id).where(RUNS.c.status == "pending")
    if min_priority is not None:
        pick = pick.where(RUNS.c.priority >= min_priority)
    if queues:
        pick = pick.where(RUNS.c.queue.in_(list(queues)))
    pick = (
        pick.order_by(RUNS.c.priority.desc(), RUNS.c.queued_at, RUNS.c.id)
        .limit(1)
        .with_for_update(skip_locked=True)
    )
    return (
        update(RUNS)
        .where(RUNS.c.id == pick.scalar_subquery(), RUNS.c.status == "pending")
        .values(
            status="running",
            worker_id=bindparam("worker_id", type_=String),
            lease_expires_at=bindparam("expires", type_=UTCDateTime),
            started_at=func.coalesce(RUNS.c.started_at, now),
        )
        .returning(RUNS.c.id, RUNS.c.attempt)
    )


class RunQueue:
    """Claim/renew/release/reap statements over one sessionmaker.

    A claim is one autocommit ``UPDATE … RETURNING`` (one round trip). With
    ``persistent=True`` (workers) it runs on a connection kept open for claims, so the hot
    path skips the pool checkout, its pre-ping and BEGIN/COMMIT. The claim statement is
    built once per filter and reused, so SQLAlchemy's compiled cache key is memoized:
    building and keying it afresh cost ~0.3 ms of CPU per claim (docs/performance.md).
    """

    def __init__(
        self, sessionmaker: async_sessionmaker[AsyncSession], *, persistent: bool = False
    ) -> None:
        self.sessionmaker = sessionmaker
        self.engine: AsyncEngine = sessionmaker.kw["bind"]
        self._persistent = persistent
        self._conn: AsyncConnection | None = None
        self._lock = asyncio.Lock()
        self._claims: dict[tuple[int | None, tuple[str, ...] | None], Update] = {}

    async def _autocommit(self, stmt: Any, params: dict[str, Any] | None = None) -> Any:
        """Run one self-contained statement outside any transaction; first row or None."""
        if not self._persistent:
            async with self.engine.connect() as conn:
                await conn.execution_options(isolation_level="AUTOCOMMIT")
                result = await conn.execute(stmt, params)
                return result.first() if result.returns_rows else None
        async with self._lock:
            if self._conn is None or self._conn.closed or self._conn.invalidated:
                self._conn = await self.engine.connect()
                await self._conn.execution_options(isolation_level="AUTOCOMMIT")
            try:
                result = await self._conn.execute(stmt, params)
                return result.first() if result.returns_rows else None
            except Exception:
                conn, self._conn = self._conn, None
                with contextlib.suppress(Exception):
                    await conn.close()
                raise

    async def close(self) -> None:
        async with self._lock:
            if self._conn is not None:
                conn, self._conn = self._conn, None
                with contextlib.suppress(Exception):
                    await conn.close()

    async def claim(
        self,
        worker_id: str,
        lease_seconds: float,
        *,
        min_priority: int | None = None,
        queues: Sequence[str] | None = None,
    ) -> Claim | None:
        """Take the best pending run (priority desc, then FIFO) or return None; only from
        ``queues`` (named queues) and at ``min_priority`` or above when given."""
        key = (min_priority, tuple(queues) if queues else None)
        stmt = self._claims.get(key)
        if stmt is None:
            stmt = self._claims[key] = _claim_statement(*key)
        now = utcnow()
        expires = now + timedelta(seconds=lease_seconds)
        params = {"now": now, "expires": expires, "worker_id": worker_id}
        row = await self._autocommit(stmt, params)
        if row is None:
            return None
        return Claim(run_id=row[0], attempt=int(row[1] or 0), lease_expires_at=expires)

    async def renew(self, run_id: uuid.UUID, worker_id: str, lease_seconds: float) -> bool:
        """Extend a held lease; False when this worker no longer holds the run."""
        stmt = renew_lease(run_id, lease_seconds, worker_id).returning(RUNS.c.id)
        return await self._autocommit(stmt) is not None

    async def release(self, run_id: uuid.UUID, worker_id: str, reason: str) -> str | None:
        """Give a held run back (graceful shutdown): pending again, or cancelled if asked.

        The attempt count is unchanged: a clean hand-back is not a failure.
        """
        now = utcnow()
        cancelling = RUNS.c.status == "cancel_requested"
        stmt = (
            update(RUNS)
            .where(
                RUNS.c.id == run_id,
                RUNS.c.worker_id == worker_id,
                RUNS.c.status.in_(HELD),
            )
            .values(
                status=case((cancelling, "cancelled"), else_="pending"),
                completed_at=case((cancelling, now), else_=None),
                worker_id=None,
                lease_expires_at=None,
                message=case((cancelling, "cancelled"), else_=reason),
            )
            .returning(RUNS.c.status)
        )
        async with self.sessionmaker() as session:
            row = (await session.execute(stmt)).first()
            if row is not None and row[0] == "pending":
                await enqueue(session)
            elif row is not None:
                await run_ended(session, run_id)
            await session.commit()
        return None if row is None else str(row[0])

    async def reap(self, *, batch: int = 100) -> Reaped:
        """Return runs whose lease expired to ``pending`` (attempt+1) or fail them.

        Safe to run from many workers at once: each expired row is locked by exactly one
        reaper (SKIP LOCKED), and the outer WHERE re-checks the lease after the lock.
        """
        now = utcnow()
        expired = (RUNS.c.status.in_(HELD), RUNS.c.lease_expires_at < now)
        pick = select(RUNS.c.id).where(*expired).limit(batch).with_for_update(skip_locked=True)
        cancelling = RUNS.c.status == "cancel_requested"
        exhausted = RUNS.c.attempt + 1 >= RUNS.c.max_attempts
        who = func.coalesce(RUNS.c.worker_id, "?")
        tries = cast(RUNS.c.attempt + 1, String)
        stmt = (
            update(RUNS)
            .where(RUNS.c.id.in_(pick.scalar_subquery()), *expired)
            .values(
                status=case((cancelling, "cancelled"), (exhausted, "failed"), else_="pending"),
                attempt=case((cancelling, RUNS.c.attempt), else_=RUNS.c.attempt + 1),
                completed_at=case((cancelling | exhausted, now), else_=None),
                worker_id=None,
                lease_expires_at=None,
                message=case(
                    (cancelling, _concat("cancelled; worker ", who, " stopped responding")),
                    (
                        exhausted,
                        _concat(
                            "worker ",
                            who,
                            " stopped renewing its lease; gave up after ",
                            tries,
                            " of ",
                            cast(RUNS.c.max_attempts, String),
                            " attempts",
                        ),
                    ),
                    else_=_concat(
                        "worker ",
                        who,
                        " stopped renewing its lease; re-queued (attempt ",
                        tries,
                        ")",
                    ),
                ),
            )
            .returning(RUNS.c.id, RUNS.c.status)
        )
        out = Reaped()
        async with self.sessionmaker() as session:
            rows = (await session.execute(stmt)).all()
            if any(r[1] == "pending" for r in rows):
                await enqueue(session)
            for run_id, status in rows:
                if status != "pending":
                    await run_ended(session, run_id)
            await session.commit()
        for run_id, status in rows:
            {"pending": out.requeued, "failed": out.failed}.get(status, out.cancelled).append(
                run_id
            )
        if rows:
            log.warning(
                "reaper: %d re-queued, %d failed, %d cancelled", *map(len, vars(out).values())
            )
        return out

    async def depth(self) -> int:
        async with self.sessionmaker() as session:
            stmt = select(func.count()).select_from(RUNS).where(RUNS.c.status == "pending")
            return int((await session.execute(stmt)).scalar_one())
