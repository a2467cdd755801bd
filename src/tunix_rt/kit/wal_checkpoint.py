"""Background WAL checkpoints for the embedded SQLite database.

In WAL mode a commit appends pages to ``<db>-wal``; a *checkpoint* copies them back into
the database file and syncs both files. By default SQLite runs it inside the commit that
pushes the WAL past 1,000 pages, so every third 1,000-trace batch import waited 35-55 ms
for copying and ``fsync`` before its response could go out.

Postgres has a checkpointer process for this. Here each SQLite engine gets a thread that
plays that part: a commit wakes it; it waits a moment (so a burst of commits shares one
checkpoint), then runs ``PRAGMA wal_checkpoint(PASSIVE)`` on its own connection. SQLite
releases the GIL while it copies and syncs, so requests are handled meanwhile; PASSIVE
never blocks readers or writers, and when it cannot finish (a writer appended meanwhile,
another process was checkpointing) the thread goes again.

How soon after a commit: ``SOON`` while commits bring pages in quantity (checkpointing
right behind a bulk import keeps the WAL small enough to restart from its beginning, and
measured fastest: docs/performance.md); ``LATER`` when the last checkpoint copied some
but fewer than ``SMALL_PAGES`` pages, so trickles of small commits (run logs, status
changes) share one sync. Read-only requests commit too; their wake-ups find nothing to
copy, which costs no I/O.

Writers keep an inline checkpoint as a safety net at ``SAFETY_PAGES``: only if this thread
falls far behind (or another program writes the file) does a commit checkpoint again.
``journal_size_limit`` truncates a WAL that a long burst grew.
"""

from __future__ import annotations

import sqlite3
import threading
import weakref
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

# Inline checkpoint threshold for the app's connections, in pages (4 KiB): ~64 MiB.
SAFETY_PAGES = 16_384
# Largest WAL file kept after a checkpoint restarts it, in bytes.
JOURNAL_SIZE_LIMIT = 64 * 1024 * 1024
SOON = 0.025
LATER = 1.0
SMALL_PAGES = 256


class WalCheckpointer:
    """Checkpoints one SQLite database file from a daemon thread, woken by commits."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.checkpoints = 0  # PASSIVE checkpoints run (for tests and debugging)
        self.pages_copied = 0
        self._wake = threading.Event()
        self._stopping = threading.Event()
        self._start_lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def notify(self) -> None:
        """A transaction committed (or is about to): checkpoint soon."""
        if self._thread is None:
            with self._start_lock:
                if self._thread is None and not self._stopping.is_set():
                    self._thread = threading.Thread(
                        target=self._run, name="sqlite-wal-checkpoint", daemon=True
                    )
                    self._thread.start()
        self._wake.set()

    def close(self, timeout: float = 10.0) -> None:
        """Stop the thread after any checkpoint in progress; idempotent."""
        self._stopping.set()
        self._wake.set()
        with self._start_lock:
            thread = self._thread
        if thread is not None:
            thread.join(timeout)

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _run(self) -> None:
        # No busy timeout: a lock held elsewhere (a closing connection deleting the WAL, a
        # migration) makes this attempt fail at once and the next one try again, instead
        # of blocking the thread -- and an engine's dispose, which joins it -- for seconds.
        con = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False, timeout=0)
        delay = SOON
        last_log = last_done = 0
        try:
            # close() sets _stopping before _wake, so a wake-up this loop cleared after
            # close() is caught by this check before the thread waits again.
            while not self._stopping.is_set():
                self._wake.wait()
                # Cleared before the pause: a commit signalled from here on (SQLAlchemy
                # signals just before the driver commits, so it may land only after this
                # checkpoint) wakes the thread for another one instead of being lost.
                self._wake.clear()
                if self._stopping.wait(delay):
                    return
                try:
                    busy, log, done = con.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
                except sqlite3.Error:
                    busy, log, done = 1, last_log, last_done  # locked or going away: retry
                self.checkpoints += 1
                # The WAL restarts from frame 0 once all of it was copied back.
                copied = done - last_done if log >= last_log else done
                self.pages_copied += max(copied, 0)
                last_log, last_done = log, done
                delay = LATER if not busy and 0 < copied < SMALL_PAGES else SOON
                if busy or done < log or copied > 0:
                    # Frames left, or a burst still writing: go again (a round that copies
                    # nothing ends it).
                    self._wake.set()
        finally:
            con.close()


_BY_ENGINE: weakref.WeakKeyDictionary[Any, WalCheckpointer] = weakref.WeakKeyDictionary()


def attach(engine: AsyncEngine, path: str) -> WalCheckpointer:
    """Give ``engine`` (file-backed SQLite) a background checkpointer for its lifetime."""
    checkpointer = WalCheckpointer(path)

    def after_commit(_conn: Any) -> None:
        checkpointer.notify()

    def disposed(_engine: Any) -> None:
        checkpointer.close()

    event.listen(engine.sync_engine, "commit", after_commit)
    event.listen(engine.sync_engine, "engine_disposed", disposed)
    _BY_ENGINE[engine.sync_engine] = checkpointer
    return checkpointer


def checkpointer_of(engine: AsyncEngine) -> WalCheckpointer | None:
    """The checkpointer ``attach`` gave ``engine``, if any."""
    return _BY_ENGINE.get(engine.sync_engine)
