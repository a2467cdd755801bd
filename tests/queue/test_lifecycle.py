"""Async runs through the API with the server's embedded worker and the real executor
(real Tunix child): queue → run → completed, cancel of a queued and of a running run,
timeout. Runs on SQLite, and on Postgres when configured."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tests.conftest import serve_in_process
from tests.runs.test_training import TINY, build_arithmetic_dataset
from tunix_rt.app import create_app
from tunix_rt.config import Settings

TERMINAL = {"completed", "failed", "timeout", "cancelled"}


@pytest.fixture
async def api(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(
        settings.model_copy(
            update={
                "embedded_worker": True,
                "worker_concurrency": 1,
                "queue_poll_seconds": 0.5,
                "run_poll_seconds": 0.2,
                "run_cancel_grace_seconds": 2.0,
            }
        )
    )
    async with serve_in_process(app) as client:
        yield client


async def submit(api: httpx.AsyncClient, **fields: Any) -> dict[str, Any]:
    response = await api.post("/api/tunix/run", params={"mode": "async"}, json=fields)
    assert response.status_code == 202, response.text
    body: dict[str, Any] = response.json()
    return body


async def status(api: httpx.AsyncClient, run_id: str) -> dict[str, Any]:
    body: dict[str, Any] = (await api.get(f"/api/tunix/runs/{run_id}/status")).json()
    return body


async def wait_status(
    api: httpx.AsyncClient, run_id: str, wanted: set[str], seconds: float = 240
) -> dict[str, Any]:
    deadline = time.monotonic() + seconds
    while (current := await status(api, run_id))["status"] not in wanted:
        assert time.monotonic() < deadline, current
        await asyncio.sleep(0.2)
    return current


async def test_async_runs_queue_run_cancel_and_time_out(api: httpx.AsyncClient) -> None:
    key = await build_arithmetic_dataset(api)
    base = {**TINY, "dataset_key": key}

    dry = await submit(api, **base)
    assert dry["status"] == "pending" and dry["completed_at"] is None
    done = await wait_status(api, dry["run_id"], TERMINAL)
    assert done["status"] == "completed" and done["exit_code"] == 0
    assert done["started_at"] >= done["queued_at"]

    # One slot: the long run holds it, the next one waits in the queue.
    long = await submit(api, **{**base, "num_epochs": 100}, dry_run=False, max_steps=100_000)
    queued = await submit(api, **base, dry_run=False, max_steps=5)
    await wait_status(api, long["run_id"], {"running"})
    assert (await status(api, queued["run_id"]))["status"] == "pending"
    cancel = await api.post(f"/api/tunix/runs/{queued['run_id']}/cancel")
    assert cancel.status_code == 200
    assert (await status(api, queued["run_id"]))["status"] == "cancelled"

    await asyncio.sleep(1.0)  # let the child start training
    cancel = await api.post(f"/api/tunix/runs/{long['run_id']}/cancel")
    assert cancel.status_code == 200, cancel.text
    ended = await wait_status(api, long["run_id"], TERMINAL, seconds=60)
    assert ended["status"] == "cancelled"

    timed = await submit(
        api, **{**base, "num_epochs": 100}, dry_run=False, max_steps=100_000, timeout_seconds=2
    )
    ended = await wait_status(api, timed["run_id"], TERMINAL, seconds=120)
    assert ended["status"] == "timeout"
    detail = (await api.get(f"/api/tunix/runs/{timed['run_id']}")).json()
    assert detail["status"] == "timeout"


async def test_a_worker_that_loses_its_lease_stops_the_child(
    api: httpx.AsyncClient, settings: Settings
) -> None:
    from datetime import timedelta

    from sqlalchemy import update

    from tests.queue.test_crash_resume import training_children
    from tunix_rt.db import create_engine, utcnow
    from tunix_rt.runs.queue import RUNS

    key = await build_arithmetic_dataset(api)
    run = await submit(
        api, **{**TINY, "dataset_key": key, "num_epochs": 100}, dry_run=False, max_steps=100_000
    )
    await wait_status(api, run["run_id"], {"running"})
    deadline = time.monotonic() + 60
    while not training_children(run["output_dir"]):
        assert time.monotonic() < deadline
        await asyncio.sleep(0.2)
    engine = create_engine(settings)
    try:  # another worker now holds the run (as after a reap and a re-claim)
        async with engine.begin() as conn:
            await conn.execute(
                update(RUNS)
                .where(RUNS.c.id == uuid.UUID(run["run_id"]))
                .values(worker_id="another", lease_expires_at=utcnow() + timedelta(hours=1))
            )
    finally:
        await engine.dispose()
    deadline = time.monotonic() + 30
    while training_children(run["output_dir"]):
        assert time.monotonic() < deadline, "the child outlived its worker's lease"
        await asyncio.sleep(0.2)
    current = await status(api, run["run_id"])
    assert current["status"] == "running"  # left to the worker that holds it now


async def test_runs_carry_their_named_queue(settings: Settings) -> None:
    app = create_app(settings.model_copy(update={"embedded_worker": False}))
    async with serve_in_process(app) as api:
        key = await build_arithmetic_dataset(api)
        run = await submit(api, dataset_key=key, model_id="tunix-rt/tiny-gemma", queue="gpu-a100")
        detail = (await api.get(f"/api/tunix/runs/{run['run_id']}")).json()
        assert detail["queue"] == "gpu-a100" and detail["status"] == "pending"
        listed = (await api.get("/api/tunix/runs", params={"limit": 10})).json()["data"]
        assert [r["queue"] for r in listed] == ["gpu-a100"]
        bad = await api.post(
            "/api/tunix/run",
            params={"mode": "async"},
            json={"dataset_key": key, "model_id": "tunix-rt/tiny-gemma", "queue": "../x"},
        )
        assert bad.status_code == 422 and "queue" in bad.text
        default = await submit(api, dataset_key=key, model_id="tunix-rt/tiny-gemma")
        assert (await api.get(f"/api/tunix/runs/{default['run_id']}")).json()["queue"] == "default"
