"""Retention and garbage collection on SQLite and Postgres: old finished runs go with their
directories, orphaned run files and stale registry temp files go, bytes are reported;
a running run's files and registered weights are never touched; a dry run removes
nothing; ``tunix-rt gc`` and the worker's daily pass do the same."""

from __future__ import annotations

import asyncio
import json
import os
import time
import uuid
from datetime import timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tests.runs.conftest import Sessionmaker, add_run, get_row
from tunix_rt.cli import app as cli_app
from tunix_rt.config import Settings
from tunix_rt.db import utcnow
from tunix_rt.models.run import Run
from tunix_rt.registry.store import blob_dir
from tunix_rt.runs.gc import GcReport, collect_garbage
from tunix_rt.runs.worker import Worker

DAY = timedelta(days=1)


def write(path: Path, size: int, *, age_hours: float = 0) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"z" * size)
    if age_hours:
        age(path, age_hours)


def age(path: Path, hours: float) -> None:
    """Backdate a tree's modification times (the collector's grace is one hour)."""
    stamp = time.time() - hours * 3600
    for root, dirs, files in os.walk(path):
        for name in (*dirs, *files):
            os.utime(os.path.join(root, name), (stamp, stamp), follow_symlinks=False)
    os.utime(path, (stamp, stamp), follow_symlinks=False)


def exists(path: str | Path) -> bool:
    return Path(path).exists()


async def finished_run(
    sm: Sessionmaker, settings: Settings, status: str, days_ago: float, size: int = 1000
) -> Run:
    ended = utcnow() - days_ago * DAY
    final = status in ("completed", "failed", "timeout", "cancelled")
    run = await add_run(
        sm,
        settings,
        status=status,
        created_at=ended - timedelta(minutes=5),
        completed_at=ended if final else None,
    )
    await asyncio.to_thread(write, Path(run.output_dir) / "model" / "weights.bin", size)
    return run


class Layout:
    """A data directory with every kind of thing the collector meets."""

    def __init__(self, settings: Settings) -> None:
        runs = settings.data_dir / "runs"
        self.orphan = runs / "orphan-dir"
        self.young_orphan = runs / "just-made"
        self.stray_file = runs / "stray.log"
        self.blob = blob_dir(settings, "ab" * 32)
        self.link = runs / "link-to-blob"
        tmp = settings.data_dir / "registry" / "tmp"
        self.stale_tmp = tmp / "deadbeef"
        self.stale_tmp_config = tmp / "deadbeef.json"
        self.fresh_tmp = tmp / "cafe"

    def build(self) -> None:
        write(self.orphan / "checkpoints" / "1" / "state", 3000)
        age(self.orphan, 30)
        write(self.young_orphan / "data" / "train.jsonl", 50)
        write(self.stray_file, 200, age_hours=2)
        write(self.blob / "model.safetensors", 5000)
        age(self.blob.parent, 24 * 400)
        self.link.symlink_to(self.blob, target_is_directory=True)
        age(self.link, 24 * 400)
        write(self.stale_tmp / "export" / "model.safetensors", 700)
        age(self.stale_tmp, 3)
        write(self.stale_tmp_config, 70, age_hours=3)
        write(self.fresh_tmp / "export" / "model.safetensors", 900)


@pytest.fixture
def retention(run_settings: Settings) -> Settings:
    return run_settings.model_copy(update={"run_retention_days": 30})


async def scenario(sm: Sessionmaker, settings: Settings) -> dict[str, Run]:
    runs = {
        "old_completed": await finished_run(sm, settings, "completed", 40),
        "old_failed": await finished_run(sm, settings, "failed", 31, size=400),
        "old_cancelled_never_started": await finished_run(sm, settings, "cancelled", 90, 10),
        "recent_failed": await finished_run(sm, settings, "failed", 3),
        "old_running": await finished_run(sm, settings, "running", 60),
        "old_pending": await finished_run(sm, settings, "pending", 60),
    }
    await asyncio.to_thread(Layout(settings).build)
    return runs


async def collect(sm: Sessionmaker, settings: Settings, **options: object) -> GcReport:
    async with sm() as session, session.begin():
        return await collect_garbage(session, settings, **options)  # type: ignore[arg-type]


def names(items: list[object]) -> set[str]:
    return {Path(item.path).name for item in items}  # type: ignore[attr-defined]


async def test_gc_removes_old_finished_runs_orphans_and_stale_temp(
    sm: Sessionmaker, retention: Settings
) -> None:
    runs = await scenario(sm, retention)
    layout = Layout(retention)

    report = await collect(sm, retention)

    removed = {item.run_id for item in report.runs}
    assert removed == {runs[k].id for k in ("old_completed", "old_failed")} | {
        runs["old_cancelled_never_started"].id
    }
    for key in ("old_completed", "old_failed", "old_cancelled_never_started"):
        assert await get_row(sm, Run, runs[key].id) is None
        assert not exists(runs[key].output_dir)
    for key in ("recent_failed", "old_running", "old_pending"):
        assert await get_row(sm, Run, runs[key].id) is not None
        assert exists(Path(runs[key].output_dir) / "model" / "weights.bin")
    assert names(report.orphans) == {"orphan-dir", "stray.log", "link-to-blob"}
    assert names(report.temp) == {"deadbeef", "deadbeef.json"}
    assert not exists(layout.orphan) and not exists(layout.stray_file)
    assert not layout.link.is_symlink()  # the link went, never what it points to
    assert exists(layout.blob / "model.safetensors")
    assert exists(layout.young_orphan / "data" / "train.jsonl")
    assert not exists(layout.stale_tmp) and not exists(layout.stale_tmp_config)
    assert exists(layout.fresh_tmp / "export" / "model.safetensors")
    # run dirs 1000 + 400 + 10, orphans 3000 + 200 + a link, temp 700 + 70
    link_size = report.orphans[[Path(i.path).name for i in report.orphans].index("link-to-blob")]
    assert report.bytes_freed == 1410 + 3200 + link_size.bytes + 770

    again = await collect(sm, retention)
    assert (again.runs, again.orphans, again.temp, again.bytes_freed) == ([], [], [], 0)


async def test_gc_dry_run_removes_nothing_and_reports_the_same(
    sm: Sessionmaker, retention: Settings
) -> None:
    runs = await scenario(sm, retention)
    layout = Layout(retention)

    dry = await collect(sm, retention, dry_run=True)

    assert dry.dry_run
    assert len(dry.runs) == 3 and names(dry.temp) == {"deadbeef", "deadbeef.json"}
    for run in runs.values():
        assert await get_row(sm, Run, run.id) is not None
        assert exists(Path(run.output_dir) / "model" / "weights.bin")
    assert exists(layout.orphan) and exists(layout.stale_tmp) and layout.link.is_symlink()
    real = await collect(sm, retention)
    assert real.bytes_freed == dry.bytes_freed > 0
    assert {i.run_id for i in real.runs} == {i.run_id for i in dry.runs}


async def test_without_retention_runs_are_kept_but_orphans_go(
    sm: Sessionmaker, run_settings: Settings
) -> None:
    runs = await scenario(sm, run_settings)

    report = await collect(sm, run_settings)

    assert report.retention_days is None and report.runs == []
    for run in runs.values():
        assert await get_row(sm, Run, run.id) is not None
    assert names(report.orphans) == {"orphan-dir", "stray.log", "link-to-blob"}
    # An explicit retention wins over the setting.
    assert len((await collect(sm, run_settings, retention_days=35)).runs) == 2


async def test_a_directory_named_like_a_run_is_never_an_orphan(
    sm: Sessionmaker, run_settings: Settings
) -> None:
    """A row of an older version may hold a relative path, which resolves elsewhere from
    another working directory; a directory named like its run, or like a run's id, stays."""
    elsewhere = run_settings.data_dir.parent / "old-cwd" / "runs" / "legacy"
    legacy = await add_run(sm, run_settings, status="pending", output_dir=str(elsewhere))
    named_by_id = run_settings.data_dir / "runs" / str(legacy.id)
    by_name = run_settings.data_dir / "runs" / "legacy"
    for directory in (named_by_id, by_name):
        await asyncio.to_thread(write, directory / "state", 10)
        await asyncio.to_thread(age, directory, 48)

    report = await collect(sm, run_settings)

    assert report.orphans == []
    assert exists(named_by_id / "state") and exists(by_name / "state")


async def test_an_old_run_with_an_unfinished_evaluation_is_kept(
    sm: Sessionmaker, retention: Settings
) -> None:
    trained = await finished_run(sm, retention, "completed", 100)
    job_dir = Path(trained.output_dir) / "evaluations" / "job"
    job = await add_run(
        sm,
        retention,
        id=uuid.uuid4(),
        kind="evaluate",
        status="running",
        parent_run_id=trained.id,
        output_dir=str(job_dir),
    )

    report = await collect(sm, retention)

    assert report.runs == []
    assert [(s.run_id, "unfinished evaluation" in s.reason) for s in report.skipped] == [
        (trained.id, True)
    ]
    assert await get_row(sm, Run, job.id) is not None
    assert exists(job_dir) and exists(Path(trained.output_dir) / "model" / "weights.bin")


async def test_cli_gc_dry_run_then_for_real(
    sm: Sessionmaker, run_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    runs = await scenario(sm, run_settings)
    monkeypatch.setenv("DATABASE_URL", run_settings.resolved_database_url)
    monkeypatch.setenv("TUNIX_RT_DATA_DIR", str(run_settings.data_dir))
    monkeypatch.setenv("TUNIX_RT_RUN_RETENTION_DAYS", "30")
    cli = CliRunner()

    dry = await asyncio.to_thread(cli.invoke, cli_app, ["gc", "--dry-run", "--json"])

    assert dry.exit_code == 0, dry.output
    report = json.loads(dry.stdout)
    assert report["dry_run"] is True and report["retention_days"] == 30
    assert len(report["runs"]) == 3 and report["bytes_freed"] > 4000
    assert await get_row(sm, Run, runs["old_completed"].id) is not None

    done = await asyncio.to_thread(cli.invoke, cli_app, ["gc", "--retention-days", "35"])

    assert done.exit_code == 0, done.output
    assert "removed 2 run(s), 3 orphan(s), 2 temp item(s)" in done.stdout
    assert await get_row(sm, Run, runs["old_completed"].id) is None
    assert await get_row(sm, Run, runs["old_failed"].id) is not None  # 31 days < 35


async def test_worker_collects_garbage_when_retention_is_set(
    sm: Sessionmaker, retention: Settings
) -> None:
    old = await finished_run(sm, retention, "failed", 45)
    recent = await finished_run(sm, retention, "failed", 2)
    worker = Worker(sm, retention.model_copy(update={"queue_poll_seconds": 0.2}))
    task = asyncio.create_task(worker.run())
    try:
        for _ in range(100):
            if await get_row(sm, Run, old.id) is None:
                break
            await asyncio.sleep(0.1)
    finally:
        worker.stop()
        await asyncio.wait_for(task, 30)
    assert await get_row(sm, Run, old.id) is None
    assert not exists(old.output_dir)
    assert await get_row(sm, Run, recent.id) is not None
    assert exists(Path(recent.output_dir) / "model" / "weights.bin")
