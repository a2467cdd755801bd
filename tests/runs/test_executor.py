"""Executor plumbing with a stand-in child: streaming, exit handling, cancel, timeout."""

from __future__ import annotations

import asyncio
import json
import os
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from tests.runs.conftest import Sessionmaker, add_run, get_row
from tunix_rt.config import Settings
from tunix_rt.db import utcnow
from tunix_rt.models.run import Run, RunLog, RunMetric
from tunix_rt.runs import jobs, service
from tunix_rt.runs.capacity import Slots
from tunix_rt.runs.executor import execute_run, run_inline
from tunix_rt.runs.jobs import ChildSpec

CHATTY = r"""
import sys, json, time
print("hello from the child")
print("@tunix_rt " + json.dumps({"event": "metric", "step": 1, "loss": 2.5, "eval_loss": None,
      "learning_rate": 0.01, "tokens_per_second": 100.0, "elapsed_seconds": 0.1, "total_steps": 2}))
print("warning: something", file=sys.stderr)
print("@tunix_rt " + json.dumps({"event": "metric", "step": 2, "loss": 1.5, "total_steps": 2}))
print("done")
"""

FAILING = r"""
import sys
print("starting")
print("error: dataset has no examples", file=sys.stderr)
sys.exit(2)
"""

# Writes its pid, then sleeps; optionally ignores SIGTERM (forcing the SIGKILL path).
SLEEPER = r"""
import os, signal, sys, time
if "{ignore}" == "yes":
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
open("child.pid", "w").write(str(os.getpid()))
print("sleeping", flush=True)
for i in range(600):
    print(f"tick {{i}}", flush=True)
    time.sleep(0.1)
"""


async def logs_of(sm: Sessionmaker, run_id: object) -> list[RunLog]:
    async with sm() as session:
        stmt = select(RunLog).where(RunLog.run_id == run_id).order_by(RunLog.seq)
        return list((await session.scalars(stmt)).all())


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie still answers kill(0); look at its state.
    try:
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except FileNotFoundError:
        return False


async def test_lines_and_metrics_are_stored_and_the_run_completes(
    sm: Sessionmaker, run_settings: Settings, fake_child: Callable[[str], None]
) -> None:
    fake_child(CHATTY)
    run = await add_run(sm, run_settings)
    await execute_run(sm, run_settings, run.id, worker_id="w1")
    row = await get_row(sm, Run, run.id)
    assert row.status == "completed" and row.exit_code == 0
    assert row.duration_seconds is not None and row.completed_at is not None
    lines = await logs_of(sm, run.id)
    assert [line.seq for line in lines] == list(range(1, len(lines) + 1))
    stdout = [line.chunk for line in lines if line.stream == "stdout"]
    assert stdout[0] == "hello from the child" and stdout[-1] == "done"
    assert [line.chunk for line in lines if line.stream == "stderr"] == ["warning: something"]
    async with sm() as session:
        metrics = (await session.scalars(select(RunMetric).order_by(RunMetric.step))).all()
    assert [(m.step, m.loss, m.total_steps) for m in metrics] == [(1, 2.5, 2), (2, 1.5, 2)]


async def test_a_failing_child_fails_the_run_with_its_error_line(
    sm: Sessionmaker, run_settings: Settings, fake_child: Callable[[str], None]
) -> None:
    fake_child(FAILING)
    run = await add_run(sm, run_settings)
    await execute_run(sm, run_settings, run.id, worker_id="w1")
    row = await get_row(sm, Run, run.id)
    assert (row.status, row.exit_code, row.message) == ("failed", 2, "dataset has no examples")


async def test_a_second_attempt_appends_logs_after_the_first(
    sm: Sessionmaker, run_settings: Settings, fake_child: Callable[[str], None]
) -> None:
    fake_child(FAILING)
    run = await add_run(sm, run_settings)
    await execute_run(sm, run_settings, run.id, worker_id="w1")
    first = len(await logs_of(sm, run.id))
    async with sm() as session:
        row = await session.get(Run, run.id)
        assert row is not None
        row.status = "pending"
        await session.commit()
    await execute_run(sm, run_settings, run.id, worker_id="w2")
    seqs = [line.seq for line in await logs_of(sm, run.id)]
    assert seqs == list(range(1, 2 * first + 1))


async def _cancel_while_running(
    sm: Sessionmaker, run_settings: Settings, run: Run, *, wait_for_pid: bool = True
) -> tuple[int, float]:
    task = asyncio.create_task(execute_run(sm, run_settings, run.id, worker_id="w1"))
    pid_file = Path(run.output_dir) / "child.pid"
    deadline = time.monotonic() + 30
    while not pid_file.exists() or not pid_file.read_text():
        assert time.monotonic() < deadline, "child did not start"
        await asyncio.sleep(0.05)
    pid = int(pid_file.read_text())
    async with sm() as session:
        row = await session.get(Run, run.id)
        assert row is not None and row.status == "running"
        row.status = "cancel_requested"  # what any process's cancel does
        await session.commit()
    started = time.monotonic()
    await asyncio.wait_for(task, 30)
    return pid, time.monotonic() - started


async def test_cancel_sends_sigterm_and_the_run_ends_cancelled(
    sm: Sessionmaker, run_settings: Settings, fake_child: Callable[[str], None]
) -> None:
    fake_child(SLEEPER.format(ignore="no"))
    run = await add_run(sm, run_settings)
    pid, took = await _cancel_while_running(sm, run_settings, run)
    assert not alive(pid)
    assert took < run_settings.run_cancel_grace_seconds
    row = await get_row(sm, Run, run.id)
    assert row.status == "cancelled" and row.message == "cancelled by request"
    chunks = [line.chunk for line in await logs_of(sm, run.id)]
    assert "cancel requested: sending SIGTERM" in chunks


async def test_cancel_kills_a_child_that_ignores_sigterm_after_the_grace(
    sm: Sessionmaker, run_settings: Settings, fake_child: Callable[[str], None]
) -> None:
    fake_child(SLEEPER.format(ignore="yes"))
    run = await add_run(sm, run_settings)
    pid, took = await _cancel_while_running(sm, run_settings, run)
    assert not alive(pid)
    grace = run_settings.run_cancel_grace_seconds
    assert grace <= took < grace + 3
    row = await get_row(sm, Run, run.id)
    assert row.status == "cancelled"
    assert any("SIGKILL" in line.chunk for line in await logs_of(sm, run.id))


async def test_timeout_stops_the_child(
    sm: Sessionmaker, run_settings: Settings, fake_child: Callable[[str], None]
) -> None:
    fake_child(SLEEPER.format(ignore="no"))
    run = await add_run(sm, run_settings, timeout_seconds=1)
    started = time.monotonic()
    await asyncio.wait_for(execute_run(sm, run_settings, run.id, worker_id="w1"), 30)
    assert time.monotonic() - started < 1 + run_settings.run_cancel_grace_seconds + 2
    row = await get_row(sm, Run, run.id)
    assert row.status == "timeout"
    pid = int((Path(run.output_dir) / "child.pid").read_text())
    assert not alive(pid)


async def test_a_run_cancelled_before_it_starts_never_spawns(
    sm: Sessionmaker, run_settings: Settings, fake_child: Callable[[str], None]
) -> None:
    fake_child(SLEEPER.format(ignore="no"))
    run = await add_run(sm, run_settings, status="cancel_requested")
    await execute_run(sm, run_settings, run.id, worker_id="w1")
    row = await get_row(sm, Run, run.id)
    assert row.status == "cancelled"
    assert not (Path(run.output_dir) / "child.pid").exists()


class LostLease:
    async def renew(self) -> bool:
        return False


async def test_a_lost_lease_stops_the_child_and_leaves_the_status_to_the_queue(
    sm: Sessionmaker, run_settings: Settings, fake_child: Callable[[str], None]
) -> None:
    fake_child(SLEEPER.format(ignore="no"))
    run = await add_run(sm, run_settings, status="running", worker_id="w1")
    await asyncio.wait_for(
        execute_run(sm, run_settings, run.id, worker_id="w1", lease=LostLease()), 30
    )
    row = await get_row(sm, Run, run.id)
    assert row.status == "running"  # the reaper decides what happens next
    pid_file = Path(run.output_dir) / "child.pid"
    if pid_file.exists():
        assert not alive(int(pid_file.read_text()))


async def test_a_child_that_cannot_start_fails_the_run(
    sm: Sessionmaker, run_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def prepare(self: object, session: object, settings: object, run: Run) -> ChildSpec:
        return ChildSpec(argv=["/nonexistent/python"], cwd=Path(run.output_dir))

    monkeypatch.setattr(jobs.TrainJob, "prepare", prepare)
    run = await add_run(sm, run_settings)
    await execute_run(sm, run_settings, run.id, worker_id="w1")
    row = await get_row(sm, Run, run.id)
    assert row.status == "failed" and "cannot start the child" in row.message


async def test_a_failing_prepare_fails_the_run_with_its_reason(
    sm: Sessionmaker, run_settings: Settings
) -> None:
    run = await add_run(sm, run_settings, dataset_key="gone-v1")  # no such dataset on disk
    await execute_run(sm, run_settings, run.id, worker_id="w1")
    row = await get_row(sm, Run, run.id)
    assert row.status == "failed" and row.message.startswith("prepare: ")


async def test_a_resumed_attempt_replaces_the_steps_it_repeats(
    sm: Sessionmaker, run_settings: Settings, fake_child: Callable[[str], None]
) -> None:
    """Attempt 0 reported steps 1-2 and died; attempt 1 resumed from step 1's checkpoint
    and reported 2 again: the series has each step once, attempt 1's where both did."""
    fake_child(CHATTY)
    run = await add_run(sm, run_settings)
    await execute_run(sm, run_settings, run.id, worker_id="w1")
    async with sm() as session:
        row = await session.get(Run, run.id)
        assert row is not None
        row.status, row.attempt = "pending", 1
        await session.commit()
    fake_child(CHATTY.replace('"loss": 1.5', '"loss": 0.5').replace('"step": 1,', '"step": 3,'))
    await execute_run(sm, run_settings, run.id, worker_id="w2")
    async with sm() as session:
        stored = (await session.scalars(select(RunMetric))).all()
        points = await service.list_metrics(session, run.id)
    assert len(stored) == 4  # every report is kept; readers pick one per step
    assert [(m.step, m.attempt, m.loss) for m in points] == [(1, 0, 2.5), (2, 1, 0.5), (3, 1, 2.5)]


async def test_a_log_left_open_by_a_killed_process_gets_a_gap_marker(
    sm: Sessionmaker, run_settings: Settings, fake_child: Callable[[str], None]
) -> None:
    fake_child(CHATTY)
    run = await add_run(sm, run_settings, attempt=1)
    async with sm() as session:  # what a kill -9 leaves: lines, but no closing line
        session.add_all(
            [
                RunLog(run_id=run.id, seq=1, stream="stdout", chunk="step 1", created_at=utcnow()),
                RunLog(run_id=run.id, seq=2, stream="stdout", chunk="step 2", created_at=utcnow()),
            ]
        )
        await session.commit()
    await execute_run(sm, run_settings, run.id, worker_id="w2")
    lines = [line.chunk for line in await logs_of(sm, run.id)]
    assert lines[:2] == ["step 1", "step 2"]
    assert lines[2].startswith("--- log gap:") and "may be missing" in lines[2]
    # A log that was closed properly gets no marker on the next attempt.
    async with sm() as session:
        row = await session.get(Run, run.id)
        assert row is not None
        row.status = "pending"
        await session.commit()
    await execute_run(sm, run_settings, run.id, worker_id="w3")
    lines = [line.chunk for line in await logs_of(sm, run.id)]
    assert sum(line.startswith("--- log gap:") for line in lines) == 1


# Records how many children of this test run at once (a shared counter file per run dir's
# parent, guarded by an exclusive lock).
OVERLAP = r"""
import fcntl, json, os, time
path = os.path.join(os.path.dirname(os.getcwd()), "overlap.json")
def bump(delta):
    with open(path, "a+") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        f.seek(0)
        state = json.loads(f.read() or '{"now": 0, "max": 0}')
        state["now"] += delta
        state["max"] = max(state["max"], state["now"])
        f.seek(0); f.truncate(); f.write(json.dumps(state))
bump(1)
time.sleep(0.5)
bump(-1)
"""


async def test_inline_runs_share_the_process_capacity_with_the_worker(
    sm: Sessionmaker, run_settings: Settings, fake_child: Callable[[str], None]
) -> None:
    fake_child(OVERLAP)
    slots = Slots(1)

    async def one() -> uuid.UUID:
        async def create(session: AsyncSession, worker_id: str) -> Run:
            run = Run(
                id=uuid.uuid4(),
                kind="train",
                mode="local",
                status="running",
                worker_id=worker_id,
                started_at=utcnow(),
                dataset_key="ds-v1",
                model_id="tunix-rt/tiny-gemma",
                config={},
                output_dir="",
                queued_at=utcnow(),
                created_at=utcnow(),
            )
            run.output_dir = str((run_settings.data_dir / "runs" / str(run.id)).resolve())
            session.add(run)
            await session.flush()
            return run

        return await run_inline(sm, run_settings, slots, create)

    assert slots.try_take()  # the worker holds the only slot...
    pending = [asyncio.create_task(one()) for _ in range(3)]
    await asyncio.sleep(0.5)
    async with sm() as session:
        assert (await session.scalars(select(Run))).all() == []  # ...so nothing started
    slots.release()
    ids = await asyncio.gather(*pending)
    overlap = json.loads((run_settings.data_dir / "runs" / "overlap.json").read_text())
    assert overlap == {"now": 0, "max": 1}
    for run_id in ids:
        assert (await get_row(sm, Run, run_id)).status == "completed"
