"""The in-process worker: drain, wake-up, lease loss, cancel, reaper, graceful stop."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.queue import noop
from tests.queue.conftest import add_runs, get_run
from tunix_rt.config import Settings
from tunix_rt.db import utcnow
from tunix_rt.runs.queue import RUNS, RunQueue
from tunix_rt.runs.worker import Worker

SM = async_sessionmaker[AsyncSession]


@pytest.fixture
def claims(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    directory = tmp_path / "claims"
    directory.mkdir()
    monkeypatch.setenv("TUNIX_RT_TEST_CLAIMS_DIR", str(directory))
    return directory


def claim_lines(directory: Path) -> list[list[str]]:
    return [line.split() for f in directory.glob("*.txt") for line in f.read_text().splitlines()]


async def until(check: Callable[[], Awaitable[bool]], seconds: float = 20.0) -> None:
    deadline = time.monotonic() + seconds
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.05)


async def status_of(sm: SM, run_id: uuid.UUID) -> str:
    return (await get_run(sm, run_id)).status


async def test_worker_drains_queue_each_run_once(
    sm: SM, queue_settings: Settings, claims: Path
) -> None:
    ids = await add_runs(sm, 25)
    worker = Worker(sm, queue_settings, worker_id="w-drain", concurrency=3, executor=noop.execute)
    task = asyncio.create_task(worker.run())
    try:
        await until(lambda: _all_status(sm, ids, "completed"))
    finally:
        worker.stop()
        await task
    started = [line[0] for line in claim_lines(claims) if line[2] == "start"]
    assert sorted(started) == sorted(map(str, ids))


async def _all_status(sm: SM, ids: list[uuid.UUID], status: str) -> bool:
    return all([await status_of(sm, i) == status for i in ids])


async def test_idle_worker_wakes_on_enqueue_not_on_poll(
    sm: SM, queue_settings: Settings, claims: Path
) -> None:
    settings = queue_settings.model_copy(update={"queue_poll_seconds": 30.0})
    worker = Worker(sm, settings, worker_id="w-wake", executor=noop.execute)
    task = asyncio.create_task(worker.run())
    try:
        await asyncio.sleep(0.3)  # idle, waiting
        t0 = time.monotonic()
        [run_id] = await add_runs(sm, 1)
        await until(lambda: _all_status(sm, [run_id], "completed"), seconds=5)
        assert time.monotonic() - t0 < 2.0
    finally:
        worker.stop()
        await task


async def test_lost_lease_stops_the_execution(
    sm: SM, queue_settings: Settings, claims: Path
) -> None:
    [run_id] = await add_runs(sm, 1)
    worker = Worker(sm, queue_settings, worker_id="w-lose", executor=noop.hold)
    task = asyncio.create_task(worker.run())
    try:
        await until(lambda: _all_status(sm, [run_id], "running"))
        async with sm() as session:  # another worker took it over (e.g. after a reap)
            await session.execute(
                update(RUNS).where(RUNS.c.id == run_id).values(worker_id="w-other")
            )
            await session.commit()
        await until(lambda: _async_true(not worker.active_run_ids), seconds=5)
    finally:
        worker.stop()
        await task
    events = [line[2] for line in claim_lines(claims)]
    assert events == ["start", "lease-lost"]
    run = await get_run(sm, run_id)
    assert (run.status, run.worker_id) == ("running", "w-other")  # left to its new owner


async def _async_true(value: bool) -> bool:
    return value


async def test_cancel_through_the_database_reaches_the_held_run(
    sm: SM, queue_settings: Settings, claims: Path
) -> None:
    [run_id] = await add_runs(sm, 1)
    worker = Worker(sm, queue_settings, worker_id="w-cancel", executor=noop.hold)
    task = asyncio.create_task(worker.run())
    try:
        await until(lambda: _all_status(sm, [run_id], "running"))
        async with sm() as session:
            await session.execute(
                update(RUNS).where(RUNS.c.id == run_id).values(status="cancel_requested")
            )
            await session.commit()
        await until(lambda: _all_status(sm, [run_id], "cancelled"), seconds=5)
    finally:
        worker.stop()
        await task


async def test_worker_reaps_a_dead_workers_run_and_runs_it_again(
    sm: SM, queue_settings: Settings, claims: Path
) -> None:
    [run_id] = await add_runs(sm, 1)
    assert await RunQueue(sm).claim("dead-worker", 30) is not None
    async with sm() as session:
        await session.execute(
            update(RUNS)
            .where(RUNS.c.id == run_id)
            .values(lease_expires_at=utcnow() - timedelta(seconds=1))
        )
        await session.commit()
    worker = Worker(sm, queue_settings, worker_id="w-reaper", executor=noop.execute)
    task = asyncio.create_task(worker.run())
    try:
        await until(lambda: _all_status(sm, [run_id], "completed"))
    finally:
        worker.stop()
        await task
    run = await get_run(sm, run_id)
    assert run.attempt == 1 and run.worker_id == "w-reaper"


async def test_graceful_stop_hands_running_runs_back(
    sm: SM, queue_settings: Settings, claims: Path
) -> None:
    ids = await add_runs(sm, 2)
    worker = Worker(sm, queue_settings, worker_id="w-stop", concurrency=2, executor=noop.hold)
    task = asyncio.create_task(worker.run())
    await until(lambda: _all_status(sm, ids, "running"))
    worker.stop()
    await asyncio.wait_for(task, 30)
    for run_id in ids:
        run = await get_run(sm, run_id)
        assert (run.status, run.attempt, run.worker_id) == ("pending", 0, None)
        assert "shut down" in (run.message or "")


async def test_a_worker_with_queues_takes_only_their_runs(
    sm: SM, queue_settings: Settings, claims: Path
) -> None:
    gpu, cpu, other = await add_runs(sm, 3)
    async with sm() as session:
        await session.execute(update(RUNS).where(RUNS.c.id == gpu).values(queue="gpu"))
        await session.execute(update(RUNS).where(RUNS.c.id == other).values(queue="tpu"))
        await session.commit()
    worker = Worker(
        sm, queue_settings, worker_id="w-gpu", queues=["gpu", "default"], executor=noop.execute
    )
    task = asyncio.create_task(worker.run())
    try:
        await until(lambda: _all_status(sm, [gpu, cpu], "completed"))
        await asyncio.sleep(0.5)
    finally:
        worker.stop()
        await task
    assert await status_of(sm, other) == "pending"  # not one of its queues
