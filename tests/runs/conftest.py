"""Run test helpers: run rows, a sessionmaker, and a stand-in child for executor plumbing.

The stand-in child (a ``python -c`` script) is used only by tests of the executor's
plumbing (log streaming, cancel, timeout, status handling); the tests that claim
training works start the real Tunix child.
"""

from __future__ import annotations

import sys
import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.conftest import serve_in_process
from tunix_rt.app import create_app
from tunix_rt.config import Settings
from tunix_rt.db import Base, create_engine, create_sessionmaker, utcnow
from tunix_rt.models.run import Run
from tunix_rt.runs import jobs
from tunix_rt.runs.jobs import ChildSpec

Sessionmaker = async_sessionmaker[AsyncSession]


@pytest.fixture
def run_settings(settings: Settings) -> Settings:
    return settings.model_copy(
        update={"embedded_worker": False, "run_cancel_grace_seconds": 2.0, "run_poll_seconds": 0.2}
    )


@pytest.fixture
def run_app(run_settings: Settings) -> FastAPI:
    return create_app(run_settings)


@pytest.fixture
async def api(run_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """The app served in this process (a real socket, so streaming works)."""
    async with serve_in_process(run_app) as client:
        yield client


@pytest.fixture
async def sm(run_settings: Settings) -> AsyncIterator[Sessionmaker]:
    engine = create_engine(run_settings)
    try:
        yield create_sessionmaker(engine)
    finally:
        await engine.dispose()


async def add_run(sm: Sessionmaker, settings: Settings, **fields: Any) -> Run:
    run_id = fields.pop("id", uuid.uuid4())
    values: dict[str, Any] = {
        "id": run_id,
        "kind": "train",
        "mode": "local",
        "status": "pending",
        "dataset_key": "ds-v1",
        "model_id": "tunix-rt/tiny-gemma",
        "config": {"dataset_key": "ds-v1"},
        "output_dir": str((settings.data_dir / "runs" / str(run_id)).resolve()),
        "queued_at": utcnow(),
        "created_at": utcnow(),
    }
    values.update(fields)
    async with sm() as session:
        run = Run(**values)
        session.add(run)
        await session.commit()
    Path(values["output_dir"]).mkdir(parents=True, exist_ok=True)  # noqa: ASYNC240
    return run


async def get_row(sm: Sessionmaker, model: type[Base], key: Any) -> Any:
    async with sm() as session:
        return await session.get(model, key)


@pytest.fixture
def fake_child(monkeypatch: pytest.MonkeyPatch) -> Callable[[str], None]:
    """Make "train" runs start ``python -c SCRIPT`` in their run directory."""

    def install(script: str) -> None:
        async def prepare(self: object, session: object, settings: object, run: Run) -> ChildSpec:
            Path(run.output_dir).mkdir(parents=True, exist_ok=True)  # noqa: ASYNC240
            return ChildSpec(argv=[sys.executable, "-c", script], cwd=Path(run.output_dir))

        monkeypatch.setattr(jobs.TrainJob, "prepare", prepare)

    return install
