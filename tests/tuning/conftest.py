"""Tuning test helpers: an app with its embedded worker on, a small arithmetic dataset
with an eval split, and a wait for a job to end."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from tests.conftest import serve_in_process
from tunix_rt.app import create_app
from tunix_rt.config import Settings
from tunix_rt.generators.arithmetic import generate_arithmetic

# A tiny trial: a few steps, an eval point every 4 (so ASHA has rungs), a short eval.
TRIAL_BASE = {
    "max_steps": 12,
    "eval_every": 4,
    "batch_size": 8,
    "max_seq_length": 128,
    "num_epochs": 100,
}
FINISHED = ("completed", "failed", "cancelled")


@pytest.fixture
def tune_settings(settings: Settings) -> Settings:
    return settings.model_copy(
        update={
            "embedded_worker": True,
            "queue_poll_seconds": 0.5,
            "run_poll_seconds": 0.2,
            "run_cancel_grace_seconds": 3.0,
            "eval_max_new_tokens": 24,
        }
    )


@pytest.fixture
def tune_app(tune_settings: Settings) -> FastAPI:
    return create_app(tune_settings)


@pytest.fixture
async def api(tune_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with serve_in_process(tune_app) as client:
        yield client


async def arithmetic_dataset(api: httpx.AsyncClient, name: str = "tune", count: int = 48) -> str:
    stored = await api.post("/api/traces/batch", json=generate_arithmetic(count, seed=3, digits=1))
    assert stored.status_code == 201, stored.text
    built = await api.post(
        "/api/datasets/build",
        json={
            "dataset_name": name,
            "dataset_version": "v1",
            "limit": count,
            "eval_fraction": 0.2,
            "selection_strategy": "random",
            "seed": 1,
        },
    )
    assert built.status_code == 201, built.text
    key: str = built.json()["dataset_key"]
    return key


async def wait_for_job(api: httpx.AsyncClient, job_id: str, limit: float = 300) -> dict[str, Any]:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        job: dict[str, Any] = (await api.get(f"/api/tuning/jobs/{job_id}")).json()
        if job["status"] in FINISHED:
            return job
        await asyncio.sleep(1.0)
    logs = (await api.get(f"/api/tunix/runs/{job_id}")).json()
    raise AssertionError(f"tuning job {job_id} did not finish: {logs['stdout'][-3000:]}")
