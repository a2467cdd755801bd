"""The worker embedded in the server: server restarts lose no queued or running run."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.queue import noop
from tests.queue.conftest import add_runs, get_run
from tests.queue.test_worker import _all_status, claim_lines, until
from tunix_rt.app import create_app
from tunix_rt.config import Settings
from tunix_rt.runs import worker as worker_module
from tunix_rt.runs.worker import Executor

SM = async_sessionmaker[AsyncSession]


@pytest.fixture
def use_executor(monkeypatch: pytest.MonkeyPatch) -> Callable[[Executor], None]:
    def use(fn: Executor) -> None:
        monkeypatch.setattr(worker_module, "default_executor", lambda: fn)

    return use


@pytest.fixture
def claims(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    directory = tmp_path / "claims"
    directory.mkdir()
    monkeypatch.setenv("TUNIX_RT_TEST_CLAIMS_DIR", str(directory))
    return directory


async def test_server_restart_loses_no_run(
    sm: SM,
    queue_settings: Settings,
    claims: Path,
    use_executor: Callable[[Executor], None],
) -> None:
    settings = queue_settings.model_copy(update={"embedded_worker": True})
    ids = await add_runs(sm, 4)

    # First server: its embedded worker picks one run up and is stopped mid-run.
    use_executor(noop.hold)
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        await until(lambda: _any_running(sm, ids))
    statuses = [(await get_run(sm, i)).status for i in ids]
    assert statuses == ["pending"] * 4  # the held run was handed back on shutdown

    # Second server: everything queued (including the handed-back run) completes.
    use_executor(noop.execute)
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        await until(lambda: _all_status(sm, ids, "completed"))
    starts = [line[0] for line in claim_lines(claims) if line[2] == "start"]
    assert sorted(set(starts)) == sorted(map(str, ids))


async def _any_running(sm: SM, ids: list[uuid.UUID]) -> bool:
    return any([(await get_run(sm, i)).status == "running" for i in ids])


async def test_embedded_worker_is_off_when_disabled(
    sm: SM, queue_settings: Settings, use_executor: Callable[[Executor], None]
) -> None:
    use_executor(noop.execute)
    [run_id] = await add_runs(sm, 1)
    app = create_app(queue_settings.model_copy(update={"embedded_worker": False}))
    async with app.router.lifespan_context(app):
        await asyncio.sleep(1.0)
    assert (await get_run(sm, run_id)).status == "pending"
