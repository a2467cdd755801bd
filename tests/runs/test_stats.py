"""Run analytics: GET /api/tunix/runs/stats (JSON and CSV) over run rows, on each database."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.conftest import serve_in_process
from tests.runs.conftest import Sessionmaker, add_run
from tunix_rt.app import create_app
from tunix_rt.auth import service as auth_service
from tunix_rt.config import Settings
from tunix_rt.runs.stats import percentile

DAY1 = datetime(2026, 3, 1, 23, 30, tzinfo=UTC)  # late: the day is UTC's, not the server's
DAY2 = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)


async def _finished(
    sm: Sessionmaker,
    settings: Settings,
    status: str,
    seconds: float | None,
    *,
    created: datetime = DAY1,
    **fields: Any,
) -> None:
    started = created + timedelta(seconds=5)  # the queue wait is not part of the duration
    ended = started + timedelta(seconds=seconds) if seconds is not None else None
    await add_run(
        sm,
        settings,
        status=status,
        created_at=created,
        queued_at=created,
        started_at=started if status != "pending" else None,
        completed_at=ended,
        **fields,
    )


@pytest.fixture
async def seeded(sm: Sessionmaker, run_settings: Settings) -> None:
    """Day 1: ds-a on tiny: 4 completed (10, 20, 30, 40 s), 1 failed; ds-b on other:
    1 completed (100 s), 1 timeout, 1 cancelled. Day 2: 1 completed on ds-a (60 s),
    1 running, 1 pending. Plus evaluation runs, which a train query must not count."""
    for seconds in (10, 20, 30, 40):
        await _finished(sm, run_settings, "completed", seconds, dataset_key="ds-a")
    await _finished(sm, run_settings, "failed", 3, dataset_key="ds-a")
    other = {"dataset_key": "ds-b", "model_id": "other/model"}
    await _finished(sm, run_settings, "completed", 100, **other)
    await _finished(sm, run_settings, "timeout", 7, **other)
    await _finished(sm, run_settings, "cancelled", None, **other)
    await _finished(sm, run_settings, "completed", 60, created=DAY2, dataset_key="ds-a")
    await _finished(sm, run_settings, "running", None, created=DAY2, dataset_key="ds-a")
    await _finished(sm, run_settings, "pending", None, created=DAY2, dataset_key="ds-a")
    for _ in range(3):
        await _finished(sm, run_settings, "failed", 1, kind="evaluate", dataset_key=None)


def test_percentile_interpolates() -> None:
    assert percentile([], 0.5) is None
    assert percentile([7.0], 0.99) == 7.0
    assert percentile([10.0, 20.0, 30.0, 40.0], 0.5) == 25.0
    assert percentile([10.0, 20.0, 30.0, 40.0], 0.9) == pytest.approx(37.0)
    assert percentile([float(i) for i in range(1, 101)], 0.99) == pytest.approx(99.01)


@pytest.mark.usefixtures("seeded")
async def test_stats_by_status_dataset_model_and_day(api: httpx.AsyncClient) -> None:
    answer = await api.get("/api/tunix/runs/stats")
    assert answer.status_code == 200, answer.text
    stats = answer.json()
    overall = stats["overall"]
    assert stats["kind"] == "train" and overall["key"] == "all"
    assert overall["runs"] == 11
    assert overall["by_status"] == {
        "pending": 1,
        "running": 1,
        "cancel_requested": 0,
        "completed": 6,
        "failed": 1,
        "timeout": 1,
        "cancelled": 1,
    }
    assert overall["finished"] == 9
    assert overall["success_rate"] == pytest.approx(6 / 9)
    assert overall["completed_with_duration"] == 6
    # Durations 10, 20, 30, 40, 60, 100: linear interpolation between ranks.
    assert overall["duration_seconds"] == pytest.approx({"p50": 35.0, "p90": 80.0, "p99": 98.0})

    datasets = {g["key"]: g for g in stats["by_dataset"]}
    assert [g["key"] for g in stats["by_dataset"]] == ["ds-a", "ds-b"]  # most runs first
    assert datasets["ds-a"]["runs"] == 8 and datasets["ds-a"]["finished"] == 6
    assert datasets["ds-a"]["success_rate"] == pytest.approx(5 / 6)
    assert datasets["ds-a"]["duration_seconds"]["p50"] == pytest.approx(30.0)
    assert datasets["ds-b"]["success_rate"] == pytest.approx(1 / 3)
    assert datasets["ds-b"]["duration_seconds"] == {"p50": 100.0, "p90": 100.0, "p99": 100.0}

    models = {g["key"]: g["runs"] for g in stats["by_model"]}
    assert models == {"tunix-rt/tiny-gemma": 8, "other/model": 3}

    days = stats["per_day"]
    assert [d["key"] for d in days] == ["2026-03-01", "2026-03-02"]
    assert [d["runs"] for d in days] == [8, 3]
    assert days[1]["success_rate"] == 1.0 and days[1]["duration_seconds"]["p50"] == 60.0


@pytest.mark.usefixtures("seeded")
async def test_stats_filters(api: httpx.AsyncClient) -> None:
    day2 = (await api.get("/api/tunix/runs/stats", params={"created_after": "2026-03-02"})).json()
    assert day2["overall"]["runs"] == 3
    assert day2["created_after"].startswith("2026-03-02T00:00:00")
    day1 = await api.get(
        "/api/tunix/runs/stats",
        params={"created_after": "2026-03-01T00:00:00Z", "created_before": "2026-03-02T00:00:00Z"},
    )
    assert day1.json()["overall"]["runs"] == 8
    evals = (await api.get("/api/tunix/runs/stats", params={"kind": "evaluate"})).json()
    assert evals["overall"]["runs"] == 3 and evals["overall"]["success_rate"] == 0.0
    assert evals["by_dataset"][0]["key"] is None  # runs without a dataset
    assert evals["overall"]["duration_seconds"] == {"p50": None, "p90": None, "p99": None}
    every = (await api.get("/api/tunix/runs/stats", params={"kind": "all"})).json()
    assert every["kind"] is None and every["overall"]["runs"] == 14
    bad = await api.get("/api/tunix/runs/stats", params={"kind": "nope"})
    assert bad.status_code == 422


async def test_stats_of_no_runs(api: httpx.AsyncClient) -> None:
    stats = (await api.get("/api/tunix/runs/stats")).json()
    assert stats["overall"]["runs"] == 0 and stats["overall"]["success_rate"] is None
    assert stats["by_dataset"] == stats["by_model"] == stats["per_day"] == []


@pytest.mark.usefixtures("seeded")
async def test_stats_csv(api: httpx.AsyncClient) -> None:
    answer = await api.get("/api/tunix/runs/stats", params={"format": "csv"})
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/csv")
    assert "run-stats.csv" in answer.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(answer.text)))
    assert [(r["group"], r["key"]) for r in rows] == [
        ("overall", "all"),
        ("dataset", "ds-a"),
        ("dataset", "ds-b"),
        ("model", "tunix-rt/tiny-gemma"),
        ("model", "other/model"),
        ("day", "2026-03-01"),
        ("day", "2026-03-02"),
    ]
    # The same table under a download path (the browser's sign-in cookie opens ….csv).
    export = await api.get("/api/tunix/runs/stats.csv")
    assert export.status_code == 200 and export.text == answer.text
    assert export.headers["content-type"].startswith("text/csv")
    day2 = await api.get("/api/tunix/runs/stats.csv", params={"created_after": "2026-03-02"})
    assert [r["key"] for r in csv.DictReader(io.StringIO(day2.text))][-1] == "2026-03-02"
    assert len(list(csv.DictReader(io.StringIO(day2.text)))) == 4  # overall, ds, model, day
    overall = rows[0]
    assert overall["runs"] == "11" and overall["completed"] == "6" and overall["failed"] == "1"
    assert overall["success_rate"] == "0.6667"
    assert overall["duration_p50_seconds"] == "35.000"
    assert overall["duration_p99_seconds"] == "98.000"


async def test_stats_keys_are_never_spreadsheet_formulas(
    api: httpx.AsyncClient, sm: Sessionmaker, run_settings: Settings
) -> None:
    await _finished(sm, run_settings, "completed", 1, model_id="=HYPERLINK(1)")
    rows = list(csv.reader(io.StringIO((await api.get("/api/tunix/runs/stats?format=csv")).text)))
    assert rows[-2][:2] == ["model", "'=HYPERLINK(1)"]


async def test_stats_route_is_not_a_run_id(api: httpx.AsyncClient) -> None:
    """Declared before /runs/{run_id}; a run id still resolves as before."""
    assert (await api.get("/api/tunix/runs/stats")).status_code == 200
    assert (await api.get("/api/tunix/runs/stats.csv")).status_code == 200
    missing = await api.get("/api/tunix/runs/00000000-0000-0000-0000-000000000000")
    assert missing.status_code == 404


async def test_stats_with_tokens_required(run_settings: Settings, sm: Sessionmaker) -> None:
    """A read token reads the stats; the browser's sign-in cookie opens the CSV link (a
    `….csv` download), not the JSON."""
    async with sm() as session:
        _, token = await auth_service.create_token(session, "reader", "read")
        await session.commit()
    app = create_app(run_settings.model_copy(update={"auth": "required"}))
    async with serve_in_process(app) as api:
        assert (await api.get("/api/tunix/runs/stats")).status_code == 401
        assert (await api.get("/api/tunix/runs/stats.csv")).status_code == 401
        read = await api.get("/api/tunix/runs/stats", headers={"Authorization": f"Bearer {token}"})
        assert read.status_code == 200
        signed = await api.post("/api/auth/session", headers={"Authorization": f"Bearer {token}"})
        assert signed.status_code == 200
        assert (await api.get("/api/tunix/runs/stats.csv")).status_code == 200
        assert (await api.get("/api/tunix/runs/stats")).status_code == 401
