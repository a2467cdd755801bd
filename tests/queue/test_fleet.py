"""Stand-alone ``tunix-rt worker`` processes sharing one Postgres database."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.queue.conftest import add_runs, get_run
from tests.queue.test_worker import _all_status, claim_lines, until
from tunix_rt.config import Settings
from tunix_rt.runs.queue import RUNS

SM = async_sessionmaker[AsyncSession]
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def pg(queue_settings: Settings) -> Settings:
    if queue_settings.is_sqlite:
        pytest.skip("worker fleet tests need Postgres (TUNIX_RT_TEST_DATABASE_URL)")
    return queue_settings


class Fleet:
    """Starts worker processes; kills whatever is left at the end."""

    def __init__(self, settings: Settings, claims: Path, tmp: Path) -> None:
        self.settings = settings
        self.claims = claims
        self.tmp = tmp
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(
        self, name: str, executor: str | None = "execute", concurrency: int = 1
    ) -> subprocess.Popen[bytes]:
        """A ``tunix-rt worker``; ``executor`` names a stand-in in tests.queue.noop, or None
        for the real executor."""
        env = {
            **os.environ,
            "DATABASE_URL": self.settings.resolved_database_url,
            "TUNIX_RT_DATA_DIR": str(self.settings.data_dir),
            "TUNIX_RT_TEST_CLAIMS_DIR": str(self.claims),
            "TUNIX_RT_QUEUE_LEASE_SECONDS": str(self.settings.queue_lease_seconds),
            "TUNIX_RT_QUEUE_HEARTBEAT_SECONDS": str(self.settings.queue_heartbeat_seconds),
            "TUNIX_RT_QUEUE_POLL_SECONDS": "2",
            "TUNIX_RT_WORKER_SHUTDOWN_GRACE_SECONDS": "0.5",
            "TUNIX_RT_LOG_LEVEL": "warning",
        }
        argv = [
            sys.executable,
            "-c",
            "from tunix_rt.cli import main; main()",
            "worker",
            "--worker-id",
            name,
            "--concurrency",
            str(concurrency),
        ]
        if executor:
            argv += ["--executor", f"tests.queue.noop:{executor}"]
        log = (self.tmp / f"{name}.log").open("wb")
        proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT)
        self.procs.append(proc)
        return proc

    def stop_all(self) -> None:
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@pytest.fixture
def fleet(pg: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Fleet]:
    claims = tmp_path / "claims"
    claims.mkdir()
    monkeypatch.setenv("TUNIX_RT_TEST_CLAIMS_DIR", str(claims))
    f = Fleet(pg, claims, tmp_path)
    try:
        yield f
    finally:
        f.stop_all()


async def started_by(fleet: Fleet, worker: str, run_ids: list[uuid.UUID]) -> bool:
    """Whether ``worker``'s executor has recorded starting every run in ``run_ids`` (a run
    turns ``running`` at the claim, a moment before its executor starts)."""
    started = {line[0] for line in claim_lines(fleet.claims) if line[1:3] == [worker, "start"]}
    return {str(i) for i in run_ids} <= started


async def count_status(sm: SM, status: str) -> int:
    async with sm() as session:
        stmt = select(func.count()).select_from(RUNS).where(RUNS.c.status == status)
        return int((await session.execute(stmt)).scalar_one())


async def test_four_worker_processes_claim_every_run_exactly_once(sm: SM, fleet: Fleet) -> None:
    ids = await add_runs(sm, 2000)
    for i in range(4):
        fleet.start(f"fleet-{i}", concurrency=2)
    total = len(ids)

    async def drained() -> bool:
        return await count_status(sm, "completed") == total

    await until(drained, seconds=240)
    fleet.stop_all()
    starts = [line for line in claim_lines(fleet.claims) if line[2] == "start"]
    per_run = Counter(line[0] for line in starts)
    assert set(per_run) == {str(i) for i in ids}  # none lost
    assert max(per_run.values()) == 1  # none claimed twice
    per_worker = Counter(line[1] for line in starts)
    assert len(per_worker) == 4 and min(per_worker.values()) > 0
    for proc in fleet.procs:
        assert proc.returncode == 0


async def test_cancel_reaches_a_run_held_by_another_process(sm: SM, fleet: Fleet) -> None:
    [run_id] = await add_runs(sm, 1)
    fleet.start("holder", executor="hold")
    await until(lambda: _all_status(sm, [run_id], "running"))
    from tunix_rt.runs.service import cancel_run

    async with sm() as session:
        await cancel_run(session, run_id)
        await session.commit()
    await until(lambda: _all_status(sm, [run_id], "cancelled"), seconds=10)


async def test_sigterm_hands_runs_back_and_another_worker_finishes_them(
    sm: SM, fleet: Fleet
) -> None:
    ids = await add_runs(sm, 2)
    first = fleet.start("first", executor="hold", concurrency=2)
    await until(lambda: _all_status(sm, ids, "running"))
    first.send_signal(signal.SIGTERM)
    assert first.wait(timeout=30) == 0
    for run_id in ids:
        run = await get_run(sm, run_id)
        assert (run.status, run.attempt) == ("pending", 0)
    fleet.start("second")
    await until(lambda: _all_status(sm, ids, "completed"))


async def test_kill_9_worker_run_is_reaped_and_completed_elsewhere(sm: SM, fleet: Fleet) -> None:
    [run_id] = await add_runs(sm, 1)
    victim = fleet.start("victim", executor="hold")
    await until(lambda: _all_status(sm, [run_id], "running"))
    await until(lambda: started_by(fleet, "victim", [run_id]))  # its executor is running
    victim.kill()
    victim.wait()
    t0 = time.monotonic()
    fleet.start("rescuer")
    await until(lambda: _all_status(sm, [run_id], "completed"), seconds=30)
    run = await get_run(sm, run_id)
    assert (run.attempt, run.worker_id) == (1, "rescuer")
    assert time.monotonic() - t0 < 20
    starts = [line[1] for line in claim_lines(fleet.claims) if line[2] == "start"]
    assert sorted(starts) == ["rescuer", "victim"]


async def test_listen_notify_wakes_an_idle_worker_process(sm: SM, fleet: Fleet) -> None:
    fleet.start("listener")
    await asyncio.sleep(2.5)  # let it start, claim nothing and go idle
    latencies = []
    for _ in range(5):
        t0 = time.time()
        [run_id] = await add_runs(sm, 1)
        await until(lambda rid=run_id: _all_status(sm, [rid], "completed"), seconds=10)
        start = next(float(line[3]) for line in claim_lines(fleet.claims) if line[0] == str(run_id))
        latencies.append(start - t0)
        await asyncio.sleep(0.2)
    # The poll interval is 2 s: well under it means the NOTIFY woke the worker.
    assert sorted(latencies)[2] < 0.5, latencies


async def test_twenty_runs_drain_through_two_workers_when_one_is_killed(
    sm: SM, fleet: Fleet
) -> None:
    """The queue issue's 'done when': queue twenty runs, two workers, kill -9 one of them
    mid-way; every run finishes and nothing stays running."""
    ids = await add_runs(sm, 20)
    doomed = fleet.start("doomed", executor="slow")
    fleet.start("survivor", executor="slow")

    async def some_done() -> bool:
        return await count_status(sm, "completed") >= 4

    async def doomed_holds_one() -> bool:
        async with sm() as session:
            stmt = select(RUNS.c.id).where(RUNS.c.worker_id == "doomed", RUNS.c.status == "running")
            held = list((await session.execute(stmt)).scalars())
        return bool(held) and await started_by(fleet, "doomed", held)

    await until(some_done, seconds=60)
    await until(doomed_holds_one, seconds=10)
    doomed.kill()  # SIGKILL: no graceful hand-back, the reaper must find its lease
    doomed.wait()

    async def drained() -> bool:
        return await count_status(sm, "completed") == len(ids)

    await until(drained, seconds=120)
    for status in ("pending", "running", "cancel_requested", "failed"):
        assert await count_status(sm, status) == 0
    starts = [line for line in claim_lines(fleet.claims) if line[2] == "start"]
    assert {line[0] for line in starts} == {str(i) for i in ids}
    assert Counter(line[1] for line in starts)["doomed"] > 0  # it did take part
    # The run the killed worker held was taken over by the survivor on a later attempt.
    runs = [await get_run(sm, i) for i in ids]
    assert all(run.worker_id == "survivor" or run.attempt == 0 for run in runs)
    assert any(run.attempt == 1 and run.worker_id == "survivor" for run in runs)
