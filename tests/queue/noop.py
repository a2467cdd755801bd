"""Stand-in executors for queue tests and the benchmark (``--executor tests.queue.noop:execute``).

They do what the queue needs from an executor and nothing else: finish the run, record the
claim in ``$TUNIX_RT_TEST_CLAIMS_DIR/<worker>.txt`` (one line per execution), and, for
``hold``, keep the run until it is cancelled through the database or the lease is lost.
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from pathlib import Path
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tunix_rt.db import utcnow
from tunix_rt.runs.queue import RUNS, LeaseHook


def _record(run_id: uuid.UUID, worker_id: str, what: str) -> None:
    directory = os.environ.get("TUNIX_RT_TEST_CLAIMS_DIR")
    if not directory:
        return
    name = worker_id.replace("/", "_").replace(":", "_")
    with (Path(directory) / f"{name}.txt").open("a") as fh:
        fh.write(f"{run_id} {worker_id} {what} {time.time():.6f}\n")


async def _finish(
    sessionmaker: async_sessionmaker[AsyncSession],
    run_id: uuid.UUID,
    worker_id: str,
    status: str,
) -> None:
    async with sessionmaker() as session:
        await session.execute(
            update(RUNS)
            .where(RUNS.c.id == run_id, RUNS.c.worker_id == worker_id)
            .values(status=status, completed_at=utcnow(), duration_seconds=0.0, message=status)
        )
        await session.commit()


async def execute(
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Any,
    run_id: uuid.UUID,
    *,
    worker_id: str,
    lease: LeaseHook | None,
) -> None:
    """Complete the run at once."""
    _record(run_id, worker_id, "start")
    await _finish(sessionmaker, run_id, worker_id, "completed")


async def hold(
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Any,
    run_id: uuid.UUID,
    *,
    worker_id: str,
    lease: LeaseHook | None,
) -> None:
    """Keep the run 'running' until cancel is requested (→ cancelled) or the lease is lost."""
    _record(run_id, worker_id, "start")
    while True:
        if lease is not None and not await lease.renew():
            _record(run_id, worker_id, "lease-lost")
            return  # the "child" stops; the run is left to the reaper / the worker
        async with sessionmaker() as session:
            status = (
                await session.execute(select(RUNS.c.status).where(RUNS.c.id == run_id))
            ).scalar_one()
        if status == "cancel_requested":
            await _finish(sessionmaker, run_id, worker_id, "cancelled")
            _record(run_id, worker_id, "cancelled")
            return
        await asyncio.sleep(0.1)


async def slow(
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Any,
    run_id: uuid.UUID,
    *,
    worker_id: str,
    lease: LeaseHook | None,
) -> None:
    """Work for ``$TUNIX_RT_TEST_RUN_SECONDS`` (default 0.5 s, renewing the lease), then
    complete; stops like a child would when the lease is lost."""
    _record(run_id, worker_id, "start")
    deadline = time.monotonic() + float(os.environ.get("TUNIX_RT_TEST_RUN_SECONDS", "0.5"))
    while time.monotonic() < deadline:
        if lease is not None and not await lease.renew():
            _record(run_id, worker_id, "lease-lost")
            return
        await asyncio.sleep(0.05)
    await _finish(sessionmaker, run_id, worker_id, "completed")
