"""SQLite checkpoints run in a background thread, not inside the commits that fill the WAL."""

from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

from sqlalchemy import text

from tunix_rt.config import load_settings
from tunix_rt.db import create_engine
from tunix_rt.kit import wal_checkpoint

PAGE = 4096


async def test_commits_are_checkpointed_by_the_thread(tmp_path: Path) -> None:
    db = tmp_path / "wal.db"
    engine = create_engine(
        load_settings(database_url=f"sqlite+aiosqlite:///{db}", data_dir=tmp_path)
    )
    checkpointer = wal_checkpoint.checkpointer_of(engine)
    assert checkpointer is not None and not checkpointer.running  # starts on first commit
    async with engine.connect() as conn:
        pragmas = [
            (await conn.execute(text(f"PRAGMA {name}"))).scalar_one()
            for name in ("journal_mode", "wal_autocheckpoint", "journal_size_limit")
        ]
    assert pragmas == ["wal", wal_checkpoint.SAFETY_PAGES, wal_checkpoint.JOURNAL_SIZE_LIMIT]

    blob = "x" * 3000  # one row per page, about
    async with engine.begin() as conn:
        await conn.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, body TEXT)"))
    for _ in range(6):  # 3,000 pages: SQLite alone would checkpoint inline
        async with engine.begin() as conn:
            await conn.execute(text("INSERT INTO t (body) VALUES (:b)"), [{"b": blob}] * 500)
    assert checkpointer.running
    # The commits returned without copying anything back: the inline threshold is far off.
    # Then the thread copies the pages into the database file by itself.
    # Polled for up to two minutes (well under a second here; a loaded machine is slower).
    for _ in range(2400):
        if checkpointer.pages_copied >= 3000:  # counted once the checkpoint returned
            break
        await asyncio.sleep(0.05)
    assert db.stat().st_size >= 3000 * PAGE
    assert checkpointer.checkpoints >= 1 and checkpointer.pages_copied >= 3000

    await engine.dispose()
    assert not checkpointer.running
    async with engine.connect() as conn:  # a disposed engine still works, minus the thread
        assert (await conn.execute(text("SELECT count(*) FROM t"))).scalar_one() == 3000
    await engine.dispose()


def test_postgres_engines_have_none(tmp_path: Path) -> None:
    url = "postgresql+asyncpg://postgres@127.0.0.1:9/nothing"
    engine = create_engine(load_settings(database_url=url, data_dir=tmp_path))
    assert wal_checkpoint.checkpointer_of(engine) is None


def test_close_landing_as_the_thread_wakes_still_stops_it(tmp_path: Path) -> None:
    """close() between the thread's wake-up and its clearing of the wake flag must still
    stop it (that race once left the thread asleep and every dispose waiting 10 s)."""
    db = tmp_path / "close.db"
    with sqlite3.connect(db) as con:
        con.execute("PRAGMA journal_mode=WAL")
    checkpointer = wal_checkpoint.WalCheckpointer(str(db))
    clear = checkpointer._wake.clear

    def close_then_clear() -> None:  # what close() from another thread does, just then
        checkpointer._stopping.set()
        checkpointer._wake.set()
        clear()

    checkpointer._wake.clear = close_then_clear  # type: ignore[method-assign]
    checkpointer.notify()
    assert checkpointer._thread is not None
    checkpointer._thread.join(5)  # no further wake-up comes: it must stop by itself
    assert not checkpointer.running
    checkpointer.close()
