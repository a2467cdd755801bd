"""Claim, lease, release and reaper statements on SQLite and Postgres."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import update
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.queue.conftest import add_runs, get_run
from tunix_rt.config import Settings
from tunix_rt.db import create_engine, create_sessionmaker, utcnow
from tunix_rt.models.run import Run
from tunix_rt.runs.queue import CHANNEL, RUNS, RunQueue

SM = async_sessionmaker[AsyncSession]


async def expire(sm: SM, *run_ids: object) -> None:
    async with sm() as session:
        await session.execute(
            update(RUNS)
            .where(RUNS.c.id.in_(run_ids))
            .values(lease_expires_at=utcnow() - timedelta(seconds=1))
        )
        await session.commit()


async def test_claim_takes_priority_then_fifo_and_each_run_once(sm: SM) -> None:
    low = await add_runs(sm, 3, priority=0, spread_seconds=0.01)
    high = await add_runs(sm, 2, priority=5, spread_seconds=0.01)
    q = RunQueue(sm)
    order = []
    while (claim := await q.claim("w1", 30)) is not None:
        order.append(claim.run_id)
    assert order == high + low
    run = await get_run(sm, low[0])
    assert run.status == "running" and run.worker_id == "w1"
    assert run.lease_expires_at is not None and run.started_at is not None
    assert await q.claim("w2", 30) is None


async def test_min_priority_leaves_lower_runs(sm: SM) -> None:
    await add_runs(sm, 1, priority=0)
    high = await add_runs(sm, 1, priority=3)
    q = RunQueue(sm)
    claim = await q.claim("w", 30, min_priority=1)
    assert claim is not None and claim.run_id == high[0]
    assert await q.claim("w", 30, min_priority=1) is None
    assert await q.depth() == 1


async def test_concurrent_claims_never_share_a_run(sm: SM, queue_settings: Settings) -> None:
    ids = await add_runs(sm, 60)
    engines = [create_engine(queue_settings) for _ in range(4)]
    try:
        queues = [RunQueue(create_sessionmaker(e)) for e in engines]

        async def drain(q: RunQueue, name: str) -> list[object]:
            got = []
            while (c := await q.claim(name, 30)) is not None:
                got.append(c.run_id)
            return got

        results = await asyncio.gather(*(drain(q, f"w{i}") for i, q in enumerate(queues)))
    finally:
        for e in engines:
            await e.dispose()
    claimed = [r for rs in results for r in rs]
    assert sorted(map(str, claimed)) == sorted(map(str, ids))


async def test_renew_extends_and_detects_a_lost_lease(sm: SM) -> None:
    [run_id] = await add_runs(sm, 1)
    q = RunQueue(sm)
    claim = await q.claim("w1", 1)
    assert claim is not None
    before = (await get_run(sm, run_id)).lease_expires_at
    assert await q.renew(run_id, "w1", 60)
    after = (await get_run(sm, run_id)).lease_expires_at
    assert before is not None and after is not None and after > before
    assert not await q.renew(run_id, "someone-else", 60)
    await expire(sm, run_id)
    await q.reap()
    assert not await q.renew(run_id, "w1", 60)  # reaped: w1 must stop


async def test_reaper_requeues_then_fails_with_reason(sm: SM) -> None:
    [run_id] = await add_runs(sm, 1, max_attempts=2)
    q = RunQueue(sm)
    assert await q.claim("w1", 30) is not None
    await expire(sm, run_id)
    reaped = await q.reap()
    assert reaped.requeued == [run_id]
    run = await get_run(sm, run_id)
    assert (run.status, run.attempt, run.worker_id) == ("pending", 1, None)
    assert run.output_dir == "/tmp/noop/0"  # kept: the child resumes from its checkpoints
    assert "w1" in (run.message or "")

    claim = await q.claim("w2", 30)
    assert claim is not None and claim.attempt == 1
    await expire(sm, run_id)
    reaped = await q.reap()
    assert reaped.failed == [run_id]
    run = await get_run(sm, run_id)
    assert run.status == "failed" and run.completed_at is not None
    assert "gave up after 2 of 2 attempts" in (run.message or "")
    assert "w2" in (run.message or "")


async def test_reaper_cancels_a_dead_workers_cancel_request(sm: SM) -> None:
    [run_id] = await add_runs(sm, 1)
    q = RunQueue(sm)
    assert await q.claim("w1", 30) is not None
    async with sm() as session:
        await session.execute(
            update(RUNS).where(RUNS.c.id == run_id).values(status="cancel_requested")
        )
        await session.commit()
    await expire(sm, run_id)
    assert (await q.reap()).cancelled == [run_id]
    assert (await get_run(sm, run_id)).status == "cancelled"


async def test_concurrent_reapers_reap_each_run_once(sm: SM, queue_settings: Settings) -> None:
    ids = await add_runs(sm, 40)
    q = RunQueue(sm)
    for _ in ids:
        assert await q.claim("dead", 30) is not None
    await expire(sm, *ids)
    engines = [create_engine(queue_settings) for _ in range(4)]
    try:
        results = await asyncio.gather(
            *(RunQueue(create_sessionmaker(e)).reap(batch=7) for e in engines for _ in range(3))
        )
    finally:
        for e in engines:
            await e.dispose()
    reaped = [r for res in results for r in res.requeued]
    assert len(reaped) == len(set(reaped))
    for run_id in ids:
        run = await get_run(sm, run_id)
        # Reaped exactly once: attempt went up by one, never two.
        assert (run.status, run.attempt) in {("pending", 1), ("running", 0)}
    await asyncio.gather(*(q.reap() for _ in range(3)))
    for run_id in ids:
        assert ((await get_run(sm, run_id)).status, (await get_run(sm, run_id)).attempt) == (
            "pending",
            1,
        )


async def test_release_hands_back_without_counting_an_attempt(sm: SM) -> None:
    a, b = await add_runs(sm, 2)
    q = RunQueue(sm)
    assert await q.claim("w1", 30) is not None
    assert await q.claim("w1", 30) is not None
    async with sm() as session:
        await session.execute(update(RUNS).where(RUNS.c.id == b).values(status="cancel_requested"))
        await session.commit()
    assert await q.release(a, "w1", "worker shut down") == "pending"
    assert await q.release(b, "w1", "worker shut down") == "cancelled"
    assert await q.release(a, "w1", "again") is None  # no longer held
    run = await get_run(sm, a)
    assert (run.status, run.attempt, run.worker_id) == ("pending", 0, None)


async def test_postgres_notifies_when_a_run_becomes_pending_at_commit_only(
    sm: SM, queue_settings: Settings
) -> None:
    """The trigger of migration 0014 wakes workers for any run that becomes pending —
    inserted without ``enqueue()``, or re-queued by a plain UPDATE — at commit, not on
    rollback, and not for other status changes."""
    if sm.kw["bind"].dialect.name != "postgresql":
        pytest.skip("LISTEN/NOTIFY is Postgres's; SQLite workers are woken in-process")
    import asyncpg

    dsn = make_url(queue_settings.resolved_database_url).set(drivername="postgresql")
    listener = await asyncpg.connect(dsn.render_as_string(False))
    got: asyncio.Queue[str] = asyncio.Queue()
    await listener.add_listener(CHANNEL, lambda *args: got.put_nowait(args[2]))

    async def notified() -> bool:
        try:
            await asyncio.wait_for(got.get(), 2.0 if expect else 0.3)
        except TimeoutError:
            return False
        while not got.empty():  # one notification per transaction, at most
            got.get_nowait()
        return True

    def run() -> Run:
        return Run(
            kind="train",
            mode="dry-run",
            status="pending",
            model_id="m",
            config={},
            output_dir="/tmp/noop",
        )

    try:
        async with sm() as session:  # a rolled-back insert: nothing
            session.add(run())
            await session.flush()
            await session.rollback()
        expect = False
        assert not await notified()

        async with sm() as session:  # a plain insert, two rows, no enqueue(): one
            session.add_all([run(), run()])
            await session.commit()
        expect = True
        assert await notified()

        claim = await RunQueue(sm).claim("w", 30)  # pending → running: nothing
        assert claim is not None
        expect = False
        assert not await notified()

        async with sm() as session:  # running → pending by a plain UPDATE: one
            stmt = update(RUNS).where(RUNS.c.id == claim.run_id).values(status="pending")
            await session.execute(stmt)
            await session.commit()
        expect = True
        assert await notified()
    finally:
        await listener.close()


async def test_claim_statement_is_built_once_per_filter(sm: SM) -> None:
    """A claim reuses its statement (SQLAlchemy memoizes the cache key on it) and binds the
    worker, lease and time per call."""
    await add_runs(sm, 2, priority=1, spread_seconds=0.01)
    q = RunQueue(sm)
    a = await q.claim("w1", 30, queues=["default"])
    b = await q.claim("w2", 60, queues=["default"])
    assert a is not None and b is not None and a.run_id != b.run_id
    assert len(q._claims) == 1
    assert await q.claim("w3", 30, min_priority=5) is None
    assert len(q._claims) == 2
    ra, rb = await get_run(sm, a.run_id), await get_run(sm, b.run_id)
    assert (ra.worker_id, rb.worker_id) == ("w1", "w2")
    assert ra.started_at is not None and rb.lease_expires_at is not None
    assert rb.lease_expires_at - rb.started_at >= timedelta(seconds=59)
