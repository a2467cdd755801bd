"""``GET /metrics``: run/queue/trace figures from the database, HTTP figures per route."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.conftest import make_trace
from tests.queue import noop
from tests.queue.conftest import add_runs, get_run
from tests.queue.test_worker import _all_status, until
from tunix_rt.config import Settings
from tunix_rt.runs.queue import RUNS
from tunix_rt.runs.worker import Worker

SM = async_sessionmaker[AsyncSession]


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    out = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            out[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return out


async def completed_runs(
    sm: SM, settings: Settings, durations: tuple[float, ...], worker_id: str = "elsewhere"
) -> list[uuid.UUID]:
    """Runs completed by a separate worker (standing in for a stand-alone process), then
    given known durations."""
    done = await add_runs(sm, len(durations))
    worker = Worker(sm, settings, worker_id=worker_id, executor=noop.execute)
    task = asyncio.create_task(worker.run())
    await until(lambda: _all_status(sm, done, "completed"))
    worker.stop()
    await task
    async with sm() as session:
        for seconds, run_id in zip(durations, done, strict=True):
            await session.execute(
                update(RUNS).where(RUNS.c.id == run_id).values(duration_seconds=seconds)
            )
        await session.commit()
    return done


async def test_metrics_count_runs_of_other_workers_queue_and_traces(
    client: httpx.AsyncClient, sm: SM, queue_settings: Settings
) -> None:
    await completed_runs(sm, queue_settings, (2.0, 20.0, 200.0))
    await add_runs(sm, 2, priority=1)  # still queued
    for _ in range(2):
        assert (await client.post("/api/traces", json=make_trace())).status_code == 201
    trace_id = (await client.post("/api/traces", json=make_trace())).json()["id"]
    assert (await client.get(f"/api/traces/{trace_id}")).status_code == 200

    response = await client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    got = samples(response.text)
    assert got[("tunix_rt_runs_total", (("mode", "dry-run"), ("status", "completed")))] == 3
    # Counters count finished runs only; runs still moving between states are a gauge.
    assert ("tunix_rt_runs_total", (("mode", "dry-run"), ("status", "pending"))) not in got
    assert got[("tunix_rt_runs_active", (("mode", "dry-run"), ("status", "pending")))] == 2
    assert got[("tunix_rt_queue_depth", ())] == 2
    assert got[("tunix_rt_traces_ingested_total", ())] == 3
    assert got[("tunix_rt_run_duration_seconds_count", ())] == 3
    assert got[("tunix_rt_run_duration_seconds_sum", ())] == 222.0
    assert got[("tunix_rt_run_duration_seconds_bucket", (("le", "30.0"),))] == 2
    assert got[("tunix_rt_queue_wait_seconds_count", ())] == 3
    assert got[("tunix_rt_queue_wait_seconds_bucket", (("le", "+Inf"),))] == 3
    # HTTP metrics use the route template, never an id.
    key = ("method", "GET"), ("route", "/api/traces/{trace_id}"), ("status", "200")
    assert got[("tunix_rt_http_requests_total", key)] == 1
    assert got[("tunix_rt_http_request_duration_seconds_count", key)] == 1
    assert trace_id not in response.text


async def test_queue_wait_is_measured_from_enqueue_to_start(
    client: httpx.AsyncClient, sm: SM
) -> None:
    [run_id] = await add_runs(sm, 1)
    queued_at = (await get_run(sm, run_id)).queued_at
    async with sm() as session:
        await session.execute(
            update(RUNS)
            .where(RUNS.c.id == run_id)
            .values(status="running", started_at=queued_at + timedelta(seconds=3))
        )
        await session.commit()
    got = samples((await client.get("/metrics")).text)
    assert got[("tunix_rt_queue_wait_seconds_bucket", (("le", "2.5"),))] == 0
    assert got[("tunix_rt_queue_wait_seconds_bucket", (("le", "5.0"),))] == 1
    assert 2.9 < got[("tunix_rt_queue_wait_seconds_sum", ())] < 3.1


async def test_counters_do_not_go_down_when_runs_and_traces_are_deleted(
    client: httpx.AsyncClient, sm: SM, queue_settings: Settings
) -> None:
    done = await completed_runs(sm, queue_settings, (4.0, 40.0), worker_id="w")
    trace_ids = [
        (await client.post("/api/traces", json=make_trace())).json()["id"] for _ in range(2)
    ]
    before = samples((await client.get("/metrics")).text)

    assert (await client.delete(f"/api/tunix/runs/{done[0]}")).status_code == 204
    assert (await client.delete(f"/api/traces/{trace_ids[0]}")).status_code == 204
    after = samples((await client.get("/metrics")).text)

    monotonic = [key for key in before if key[0].endswith(("_total", "_count", "_sum", "_bucket"))]
    monotonic = [key for key in monotonic if not key[0].startswith("tunix_rt_http_")]
    assert len(monotonic) > 10
    # (sums are floats added in another order: equal up to rounding)
    assert {key: after[key] for key in monotonic} == pytest.approx(
        {key: before[key] for key in monotonic}, rel=1e-12, abs=1e-12
    )
    assert after[("tunix_rt_runs_total", (("mode", "dry-run"), ("status", "completed")))] == 2
    assert after[("tunix_rt_traces_ingested_total", ())] == 2
    assert after[("tunix_rt_run_duration_seconds_bucket", (("le", "5.0"),))] == 1
    # New rows add to what the deleted ones left behind.
    assert (await client.post("/api/traces", json=make_trace())).status_code == 201
    again = samples((await client.get("/metrics")).text)
    assert again[("tunix_rt_traces_ingested_total", ())] == 3
