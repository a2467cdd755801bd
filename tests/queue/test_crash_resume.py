"""``kill -9`` a worker in the middle of a real (tiny) Tunix training: another worker reaps
the run, resumes it from its newest checkpoint (the step count continues) and completes it.

Real Tunix, real child processes, real ``tunix-rt worker`` processes on Postgres.
"""

from __future__ import annotations

import asyncio
import inspect
import os
import signal
import time
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.conftest import serve_in_process
from tests.queue.conftest import get_run
from tests.queue.test_fleet import Fleet
from tests.runs.test_training import TINY, build_arithmetic_dataset
from tunix_rt.app import create_app
from tunix_rt.config import Settings
from tunix_rt.db import utcnow
from tunix_rt.models.run import RunLog, RunMetric

SM = async_sessionmaker[AsyncSession]


@pytest.fixture
def crash_settings(queue_settings: Settings) -> Settings:
    if queue_settings.is_sqlite:
        pytest.skip("worker crash tests run worker processes on Postgres")
    return queue_settings.model_copy(
        update={
            "queue_lease_seconds": 4.0,
            "queue_heartbeat_seconds": 1.0,
            "embedded_worker": False,
        }
    )


@pytest.fixture
async def api(crash_settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    async with serve_in_process(create_app(crash_settings)) as client:
        yield client


@pytest.fixture
def workers(crash_settings: Settings, tmp_path: Path) -> Iterator[Fleet]:
    claims = tmp_path / "claims"
    claims.mkdir()
    fleet = Fleet(crash_settings, claims, tmp_path)
    try:
        yield fleet
    finally:
        fleet.stop_all()


def training_children(output_dir: str) -> list[int]:
    """Live training processes working in ``output_dir``."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cwd = os.readlink(entry / "cwd")
            cmdline = (entry / "cmdline").read_bytes()
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if cwd == output_dir and b"tunix_rt.training" in cmdline and state != "Z":
            found.append(int(entry.name))
    return found


def checkpoint_steps(output_dir: str, sub: str = "") -> list[int]:
    """Saved steps: ``checkpoints/<step>`` (SFT) or ``checkpoints/actor/<step>`` (GRPO)."""
    root = Path(output_dir) / "checkpoints" / sub
    if not root.is_dir():
        return []
    return sorted(int(p.name) for p in root.iterdir() if p.name.isdigit())


async def wait_for(check: Callable[[], object], seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while True:
        value = check()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.2)


@pytest.mark.parametrize("algorithm", ["sft", "grpo"])
async def test_kill_9_mid_training_resumes_from_checkpoint_elsewhere(
    api: httpx.AsyncClient, sm: SM, workers: Fleet, algorithm: str
) -> None:
    key = await build_arithmetic_dataset(api)
    body: dict[str, Any] = {
        **TINY,
        "dataset_key": key,
        "dry_run": False,
        "max_steps": 120,
        "checkpoint_every": 10,
    }
    sub = ""
    if algorithm == "grpo":  # from a (sync, inline) SFT run; rollouts make steps slower
        sft = (await api.post("/api/tunix/run", json={**body, "max_steps": 30})).json()
        assert sft["status"] == "completed", sft["stderr"]
        body = {
            "dataset_key": key,
            "dry_run": False,
            "algorithm": "grpo",
            "init_from": {"run_id": sft["run_id"]},
            "batch_size": 2,
            "num_generations": 2,
            "max_new_tokens": 48,
            "max_seq_length": 128,
            "learning_rate": 1e-4,
            "max_steps": 16,
            "checkpoint_every": 2,
        }
        sub = "actor"
    total = body["max_steps"]
    every = body["checkpoint_every"]
    response = await api.post("/api/tunix/run", params={"mode": "async"}, json=body)
    assert response.status_code == 202, response.text
    assert response.json()["status"] == "pending"
    run_id = uuid.UUID(response.json()["run_id"])
    output_dir = response.json()["output_dir"]

    victim = workers.start("victim", executor=None)
    await wait_for(lambda: len(checkpoint_steps(output_dir, sub)) >= 2, 240, "two checkpoints")

    async def stored_metrics() -> bool:  # the victim's rows are written in batches
        async with sm() as session:
            count = await session.scalar(
                select(func.count()).select_from(RunMetric).where(RunMetric.run_id == run_id)
            )
        return bool(count)

    await wait_for(stored_metrics, 60, "the first attempt's metrics")
    os.kill(victim.pid, signal.SIGKILL)
    victim.wait()
    killed_at = checkpoint_steps(output_dir, sub)[-1]
    # The orphaned training child must not keep writing into the run directory.
    await wait_for(lambda: not training_children(output_dir), 30, "the orphaned child to end")

    rescued_at = utcnow()
    workers.start("rescuer", executor=None)
    status = ""

    async def finished() -> bool:
        nonlocal status
        status = (await get_run(sm, run_id)).status
        return status in {"completed", "failed", "cancelled", "timeout"}

    await wait_for(finished, 300, "the run to finish")
    run = await get_run(sm, run_id)
    assert run.status == "completed", run.message
    assert (run.attempt, run.worker_id) == (1, "rescuer")

    async with sm() as session:
        logs = (
            await session.scalars(
                select(RunLog.chunk).where(RunLog.run_id == run.id).order_by(RunLog.seq)
            )
        ).all()
        metrics = (
            await session.execute(
                select(RunMetric.step, RunMetric.created_at)
                .where(RunMetric.run_id == run.id)
                .order_by(RunMetric.id)
            )
        ).all()
    resumed = [line for line in logs if "resumed from checkpoint at step" in line]
    assert resumed, "the second attempt did not resume"
    resumed_at = int(resumed[-1].rsplit(" ", 1)[1])
    assert resumed_at >= killed_at - every and resumed_at >= every
    # Metrics of the second attempt continue the step count instead of starting over.
    first = [step for step, at in metrics if at < rescued_at]
    second = [step for step, at in metrics if at >= rescued_at]
    assert first and second, metrics
    assert min(second) == resumed_at + 1, (resumed_at, first, second)
    assert max(second) == total
