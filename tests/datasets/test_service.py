"""Dataset builds and deletes are transactional: files follow the database outcome."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.conftest import make_trace
from tests.datasets.helpers import add_run_for
from tunix_rt.config import Settings
from tunix_rt.datasets import service
from tunix_rt.db import create_engine, create_sessionmaker
from tunix_rt.kit.errors import Conflict
from tunix_rt.models.dataset import Dataset
from tunix_rt.traces import service as traces_service
from tunix_rt.traces.schemas import ReasoningTrace


@pytest.fixture
async def sessions(settings: Settings) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = create_engine(settings)
    maker = create_sessionmaker(engine)
    async with maker() as session, session.begin():
        traces = [ReasoningTrace.model_validate(make_trace(prompt=f"q{i}")) for i in range(5)]
        await traces_service.create_traces(session, traces)
    yield maker
    await engine.dispose()


def spec(**overrides: Any) -> service.BuildSpec:
    return service.BuildSpec(**{"dataset_name": "ds", "dataset_version": "v1", **overrides})


def leftovers(settings: Settings) -> list[str]:
    root = settings.data_dir / "datasets"
    return sorted(p.name for p in root.iterdir()) if root.exists() else []


async def rows(maker: async_sessionmaker[AsyncSession]) -> int:
    async with maker() as session:
        return int((await session.execute(select(func.count()).select_from(Dataset))).scalar_one())


async def test_a_failing_build_leaves_no_row_and_no_files(
    sessions: async_sessionmaker[AsyncSession],
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def broken(*_: Any) -> Any:
        raise OSError("disk full")

    monkeypatch.setattr(service, "_eval_ids", broken)
    with pytest.raises(OSError, match="disk full"):
        async with sessions() as session, session.begin():
            await service.build_dataset(session, settings, spec())
    assert await rows(sessions) == 0
    assert leftovers(settings) == []


async def test_a_rolled_back_build_removes_its_files(
    sessions: async_sessionmaker[AsyncSession], settings: Settings
) -> None:
    with pytest.raises(RuntimeError):
        async with sessions() as session, session.begin():
            result = await service.build_dataset(session, settings, spec())
            assert Path(result.manifest_path).is_file()  # noqa: ASYNC240
            raise RuntimeError("the request failed after the build")
    assert await rows(sessions) == 0
    assert leftovers(settings) == []


async def test_a_concurrent_build_of_the_same_key_is_a_conflict_at_flush(
    sessions: async_sessionmaker[AsyncSession],
    settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    async with sessions() as session, session.begin():
        first = await service.build_dataset(session, settings, spec())

    async def no_precheck(*_: Any) -> None:
        return None

    monkeypatch.setattr(service, "_check_free", no_precheck)  # as if both checked at once
    with pytest.raises(Conflict):
        async with sessions() as session, session.begin():
            await service.build_dataset(session, settings, spec(limit=2))
    assert leftovers(settings) == ["ds-v1"]
    manifest = service.read_manifest(settings, "ds-v1")
    assert manifest["build_id"] == str(first.build_id) and manifest["trace_count"] == 5


async def test_a_leftover_directory_without_a_row_is_replaced(
    sessions: async_sessionmaker[AsyncSession], settings: Settings
) -> None:
    stale = settings.data_dir.resolve() / "datasets" / "ds-v1"
    stale.mkdir(parents=True)
    (stale / "traces.jsonl").write_text("garbage\n")
    async with sessions() as session, session.begin():
        result = await service.build_dataset(session, settings, spec())
    assert result.trace_count == 5
    assert len((stale / "traces.jsonl").read_text().splitlines()) == 5


async def test_a_rolled_back_delete_keeps_the_files(
    sessions: async_sessionmaker[AsyncSession], settings: Settings
) -> None:
    async with sessions() as session, session.begin():
        await service.build_dataset(session, settings, spec())
    with pytest.raises(RuntimeError):
        async with sessions() as session, session.begin():
            await service.delete_dataset(session, settings, "ds-v1")
            raise RuntimeError("the request failed after the delete")
    assert await rows(sessions) == 1
    assert leftovers(settings) == ["ds-v1"]
    assert len(list(service.iter_split(settings, "ds-v1", "all"))) == 5


async def test_delete_checks_runs_then_removes_files_on_commit(
    sessions: async_sessionmaker[AsyncSession], settings: Settings
) -> None:
    async with sessions() as session, session.begin():
        await service.build_dataset(session, settings, spec())
        await service.build_dataset(session, settings, spec(dataset_version="v2"))
    await add_run_for(settings, "ds-v2")
    with pytest.raises(Conflict, match="1 run"):
        async with sessions() as session, session.begin():
            await service.delete_dataset(session, settings, "ds-v2")
    async with sessions() as session, session.begin():
        await service.delete_dataset(session, settings, "ds-v1")
    assert leftovers(settings) == ["ds-v2"]


async def test_get_manifest_and_iter_split_interfaces(
    sessions: async_sessionmaker[AsyncSession], settings: Settings
) -> None:
    async with sessions() as session, session.begin():
        await service.build_dataset(session, settings, spec(eval_fraction=0.4))
    async with sessions() as session:
        manifest = await service.get_manifest(session, settings, "ds-v1")
    train = [r["id"] for r in service.iter_split(settings, "ds-v1", "train")]
    held_out = [r["id"] for r in service.iter_split(settings, "ds-v1", "eval")]
    assert (train, held_out) == (manifest["splits"]["train"], manifest["splits"]["eval"])
    assert len(held_out) == 2
    record = next(service.iter_split(settings, "ds-v1", "all"))
    assert set(record) == {"id", "created_at", "trace_version", "payload"}
