"""Retention and garbage collection of run files (``tunix-rt gc``, docs/runs.md).

Three things go: finished runs older than ``TUNIX_RT_RUN_RETENTION_DAYS`` (rows and
directories, by the single-run delete's rules), entries under ``{data_dir}/runs`` that no
run row owns, and export leftovers under ``{data_dir}/registry/tmp``. Registered weights
(``{data_dir}/registry/blobs``) and the files of a pending or running run are never
touched. The caller commits (the CLI, the worker's daily pass).
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import delete, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tunix_rt.config import Settings
from tunix_rt.db import utcnow
from tunix_rt.models.run import TERMINAL_STATUSES, Run
from tunix_rt.observability.metrics import retire_runs
from tunix_rt.registry.store import blobs_root, registry_root
from tunix_rt.runs.service import deletion_problem, runs_root, server_made

log = logging.getLogger(__name__)

# A directory younger than this may belong to a run whose row is not committed yet, and a
# registry export in progress writes under registry/tmp: both are left alone.
GRACE = timedelta(hours=1)


@dataclass(frozen=True)
class Removed:
    path: str
    bytes: int
    run_id: uuid.UUID | None = None
    reason: str = ""


@dataclass
class GcReport:
    dry_run: bool
    retention_days: int | None
    runs: list[Removed] = field(default_factory=list)
    orphans: list[Removed] = field(default_factory=list)
    temp: list[Removed] = field(default_factory=list)
    skipped: list[Removed] = field(default_factory=list)

    @property
    def bytes_freed(self) -> int:
        return sum(item.bytes for item in (*self.runs, *self.orphans, *self.temp))


def tree_size(path: Path) -> tuple[int, float]:
    """Bytes under ``path`` and its newest mtime, without following links."""
    try:
        top = path.lstat()
    except OSError:
        return 0, 0.0
    if not path.is_dir() or path.is_symlink():
        return top.st_size, top.st_mtime
    total, newest = 0, top.st_mtime
    for root, dirs, files in os.walk(path):
        for name in (*dirs, *files):
            try:
                info = os.lstat(os.path.join(root, name))
            except OSError:
                continue
            newest = max(newest, info.st_mtime)
            if name in files:
                total += info.st_size
    return total, newest


def _protected(path: Path, settings: Settings) -> bool:
    """True for anything that is, holds or lies inside the registered weights."""
    blobs = blobs_root(settings)
    resolved = path.parent.resolve() / path.name  # the entry itself, not a link's target
    return resolved == blobs or blobs in resolved.parents or resolved in blobs.parents


def remove_path(path: Path) -> None:
    """Remove a file, a link (never its target) or a directory tree."""
    if path.is_symlink() or not path.is_dir():
        path.unlink(missing_ok=True)
    else:
        shutil.rmtree(path, ignore_errors=True)


async def delete_runs(
    session: AsyncSession, settings: Settings, runs: list[Run], *, dry_run: bool
) -> tuple[list[Removed], list[Removed]]:
    """Delete the deletable ``runs`` (rows, then their server-made directories) by the
    single-run rules; returns (removed, skipped with the reason). Flushed, not committed."""
    skipped: list[Removed] = []
    chosen: list[Run] = []
    for run in runs:
        problem = await deletion_problem(session, run)
        if problem is not None:
            skipped.append(Removed(run.output_dir, 0, run.id, problem))
        else:
            chosen.append(run)
    removed = await asyncio.to_thread(_sized, settings, chosen)
    if dry_run or not chosen:
        return removed, skipped
    ids = [run.id for run in chosen]
    # /metrics keeps counting them (its counters must not go down).
    await retire_runs(session, [or_(Run.id.in_(ids), Run.parent_run_id.in_(ids))])
    await session.execute(delete(Run).where(Run.id.in_(ids), Run.status.in_(TERMINAL_STATUSES)))
    await session.flush()
    await asyncio.to_thread(_remove_all, settings, [Path(item.path) for item in removed])
    return removed, skipped


def _sized(settings: Settings, runs: list[Run]) -> list[Removed]:
    """Each run with the bytes of its server-made directory; a child's directory inside
    another listed run's is counted (and removed) with that one."""
    dirs = {run.id: server_made(settings, run.output_dir) for run in runs}
    owners = {d for d in dirs.values() if d is not None}
    items = []
    for run in runs:
        directory = dirs[run.id]
        inside = directory is not None and any(o in directory.parents for o in owners)
        size = tree_size(directory)[0] if directory is not None and not inside else 0
        items.append(Removed(run.output_dir, size, run.id))
    return items


def _remove_all(settings: Settings, paths: list[Path]) -> None:
    """Remove the run directories the server made (others are left where they are)."""
    for path in paths:
        directory = server_made(settings, str(path))
        if directory is not None and directory.is_dir() and not _protected(directory, settings):
            shutil.rmtree(directory, ignore_errors=True)


async def expired_runs(session: AsyncSession, retention_days: int, now: datetime) -> list[Run]:
    """Finished runs that ended (or, never started, were created) before the cutoff."""
    cutoff = now - timedelta(days=retention_days)
    ended = func.coalesce(Run.completed_at, Run.created_at)
    stmt = (
        select(Run)
        .where(Run.status.in_(TERMINAL_STATUSES), ended < cutoff)
        .order_by(Run.created_at, Run.id)
    )
    return list((await session.scalars(stmt)).all())


async def orphans(session: AsyncSession, settings: Settings, now: float) -> list[Removed]:
    """Entries of the runs folder that no run row (of any status) owns, older than GRACE."""
    root = runs_root(settings)
    # Listed before the rows are read: a new run's row is written before its directory.
    entries = await asyncio.to_thread(_entries, settings, root)
    rows = (await session.execute(select(Run.id, Run.output_dir))).all()
    names = {str(run_id) for run_id, _ in rows}
    return await asyncio.to_thread(_unowned, settings, entries, [d for _, d in rows], names, now)


def _entries(settings: Settings, root: Path) -> list[Path]:
    if not root.is_dir() or _protected(root, settings):
        return []
    return sorted(root.iterdir())


def _unowned(
    settings: Settings, entries: list[Path], output_dirs: list[str], names: set[str], now: float
) -> list[Removed]:
    """``names``: run ids. An entry named like a run or like any run directory is kept
    too: a row written by an older version may hold a relative path, which resolves
    elsewhere from another working directory."""
    owned: set[Path] = set()
    for output_dir in output_dirs:
        path = Path(output_dir).resolve()
        owned.add(path)
        owned.update(path.parents)
        names.add(path.name)
    found = []
    for entry in entries:
        if entry.name in names or entry in owned or entry.resolve() in owned:
            continue
        if _protected(entry, settings):
            continue
        size, newest = tree_size(entry)
        if now - newest >= GRACE.total_seconds():
            found.append(Removed(str(entry), size, reason="no run owns it"))
    return found


def stale_temp(settings: Settings, now: float) -> list[Removed]:
    """Registry export leftovers (``registry/tmp``) untouched for longer than GRACE."""
    tmp = registry_root(settings) / "tmp"
    if not tmp.is_dir():
        return []
    found = []
    for entry in sorted(tmp.iterdir()):
        size, newest = tree_size(entry)
        if now - newest >= GRACE.total_seconds() and not _protected(entry, settings):
            found.append(Removed(str(entry), size, reason="stale registry export"))
    return found


async def collect_garbage(
    session: AsyncSession,
    settings: Settings,
    *,
    dry_run: bool = False,
    retention_days: int | None = None,
    now: datetime | None = None,
) -> GcReport:
    """Remove (or, dry, list) expired runs, orphaned run files and stale registry temp
    files. ``retention_days`` defaults to the setting; None keeps every run."""
    days = retention_days if retention_days is not None else settings.run_retention_days
    report = GcReport(dry_run=dry_run, retention_days=days)
    current = now or utcnow()
    if days is not None:
        expired = await expired_runs(session, days, current)
        report.runs, report.skipped = await delete_runs(session, settings, expired, dry_run=dry_run)
    clock = time.time() if now is None else now.timestamp()
    report.orphans = await orphans(session, settings, clock)
    report.temp = await asyncio.to_thread(stale_temp, settings, clock)
    if not dry_run:
        for item in (*report.orphans, *report.temp):
            await asyncio.to_thread(remove_path, Path(item.path))
    return report


async def retention_pass(
    sessionmaker: async_sessionmaker[AsyncSession], settings: Settings
) -> GcReport:
    """One garbage collection in its own transaction (the worker's daily pass)."""
    async with sessionmaker() as session, session.begin():
        report = await collect_garbage(session, settings)
    if report.runs or report.orphans or report.temp:
        log.info(
            "gc: removed %d run(s), %d orphan(s), %d temp item(s), %d bytes",
            len(report.runs),
            len(report.orphans),
            len(report.temp),
            report.bytes_freed,
        )
    return report
