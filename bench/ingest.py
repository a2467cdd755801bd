#!/usr/bin/env python
"""Trace ingest and keyset-pagination benchmark for Tunix RT (SQLite and Postgres).

Two questions, each answered by a ratio measured in the same run (absolute numbers on a
shared machine mean little; ratios taken side by side do):

1. Ingest: how close does ``POST /api/traces/batch`` over HTTP come to the database
   driver's own ``executemany`` inserting the same rows?  ratio = api / raw rows/s,
   target >= 0.50.
2. Keyset: is a page deep in a large table (via ``cursor``) about as fast as page 1?
   ratio = deep / page-1 median latency, target <= 2.0.

Run from the repository root with the project's virtual environment:

    .venv/bin/python bench/ingest.py                       # full run, both databases
    .venv/bin/python bench/ingest.py --n 2000 --keyset-rows 50000 --db sqlite   # quick

See bench/README.md and docs/performance.md.
"""

from __future__ import annotations

import sys

# bench/queue.py is named like the stdlib module (which aiosqlite and concurrent.futures
# import): keep this folder off the import path.
sys.path[:] = [p for p in sys.path if p not in ("", __file__.rpartition("/")[0] or ".")]

import argparse
import asyncio
import json
import os
import platform
import random
import signal
import socket
import sqlite3
import statistics
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from tunix_rt.kit import wal_checkpoint
from tunix_rt.kit.pagination import encode_cursor
from tunix_rt.migrations import upgrade
from tunix_rt.traces.schemas import ReasoningTrace
from tunix_rt.traces.service import payload_json

ROOT = Path(__file__).resolve().parent.parent
INSERT_COLUMNS = "(id, created_at, trace_version, payload)"
SQLITE_TS_FORMAT = "%Y-%m-%d %H:%M:%S.%f"  # how SQLAlchemy stores DateTime on SQLite
KEYSET_EPOCH = 1_735_689_600  # 2025-01-01T00:00:00Z; keyset rows count up from here
API_TARGET = 0.50
KEYSET_TARGET = 2.0


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


# --------------------------------------------------------------------------------------
# Deterministic, realistic traces: arithmetic problems worked step by step.
# --------------------------------------------------------------------------------------

FILLERS = (
    "Keep the intermediate result for the next step.",
    "Writing the partial result down avoids carrying errors forward.",
    "This is the same decomposition a careful student would use.",
    "No rounding is involved, so the value is exact.",
    "The order of the operands does not change the product.",
    "Double-check the carry before moving on.",
    "Units are not involved; the numbers are plain integers.",
    "Estimating first gives a range the exact answer must fall in.",
)
TAGS = ("arithmetic", "synthetic", "bench", "multi-step", "word-problem", "mental-math")


def _fit(text: str, rng: random.Random) -> str:
    """Pad or trim a step to a length drawn from 40-200 characters."""
    target = rng.randint(40, 200)
    while len(text) < target:
        text = f"{text} {rng.choice(FILLERS)}"
    if len(text) > 200:
        text = text[:199].rstrip() + "."
    return text


def _multiply(rng: random.Random) -> tuple[str, str, list[tuple[str, str]], dict[str, Any]]:
    a, b = rng.randint(12, 999), rng.randint(11, 99)
    tens, ones = b // 10 * 10, b % 10
    p1, p2 = a * tens, a * ones
    steps = [
        ("parse", f"We need the product {a} × {b}. Split {b} into {tens} + {ones}."),
        ("compute", f"{a} × {tens} = {p1}, because {a} × {tens // 10} = {a * (tens // 10)}."),
        ("compute", f"{a} × {ones} = {p2}."),
        ("compute", f"Add the partial products: {p1} + {p2} = {p1 + p2}."),
        (
            "check",
            f"Estimate: {round(a, -1)} × {round(b, -1)} = {round(a, -1) * round(b, -1)}, "
            f"close to {a * b}, so the result is plausible.",
        ),
        ("answer", f"The product of {a} and {b} is {a * b}."),
    ]
    return (
        f"What is {a} × {b}?",
        str(a * b),
        steps,
        {"operation": "multiply", "digits": len(str(a))},
    )


def _word_problem(rng: random.Random) -> tuple[str, str, list[tuple[str, str]], dict[str, Any]]:
    crates, per, eaten = rng.randint(3, 40), rng.randint(6, 48), rng.randint(1, 60)
    total = crates * per
    left = total - eaten
    prompt = (
        f"A shop receives {crates} crates with {per} apples in each crate. Customers buy "
        f"{eaten} apples. How many apples are left?"
    )
    steps = [
        ("parse", f"There are {crates} crates of {per} apples, and {eaten} apples are sold."),
        ("plan", "First find the total number of apples, then subtract the apples sold."),
        ("compute", f"Total apples: {crates} × {per} = {total}."),
        ("compute", f"Apples left: {total} - {eaten} = {left}."),
        ("check", f"Adding back: {left} + {eaten} = {total}, which matches the total."),
        ("answer", f"{left} apples are left in the shop."),
    ]
    return prompt, str(left), steps, {"operation": "word_problem", "digits": len(str(total))}


def _chain(rng: random.Random) -> tuple[str, str, list[tuple[str, str]], dict[str, Any]]:
    a, b, c, d = (rng.randint(10, 999) for _ in range(4))
    s1 = a + b
    s2 = s1 - c
    s3 = s2 + d
    steps = [
        ("parse", f"Evaluate {a} + {b} - {c} + {d} from left to right."),
        ("compute", f"{a} + {b} = {s1}."),
        ("compute", f"{s1} - {c} = {s2}."),
        ("compute", f"{s2} + {d} = {s3}."),
        ("check", f"Grouping differently: ({a} + {b} + {d}) - {c} = {a + b + d} - {c} = {s3}."),
        ("answer", f"The value of the expression is {s3}."),
    ]
    return f"Compute {a} + {b} - {c} + {d}.", str(s3), steps, {"operation": "chain", "digits": 3}


GENERATORS = (_multiply, _word_problem, _chain)


def make_traces(n: int, seed: int) -> list[dict[str, Any]]:
    """``n`` ReasoningTrace documents, keys in the order the API stores them."""
    rng = random.Random(seed)
    traces: list[dict[str, Any]] = []
    for index in range(n):
        prompt, answer, candidates, extra = rng.choice(GENERATORS)(rng)
        count = rng.randint(3, 6)
        chosen = [*candidates[: count - 1], candidates[-1]]
        steps = [
            {"i": i, "type": kind, "content": _fit(text, rng)}
            for i, (kind, text) in enumerate(chosen)
        ]
        meta: dict[str, Any] = {
            "source": "bench",
            "generator": "arithmetic",
            "index": index,
            "seed": seed,
            "difficulty": rng.randint(1, 5),
            "tags": rng.sample(TAGS, 2),
        }
        meta.update(extra)
        traces.append(
            {
                "trace_version": "1.0",
                "prompt": prompt,
                "final_answer": answer,
                "steps": steps,
                "meta": meta,
            }
        )
    return traces


def batched(items: Sequence[Any], size: int) -> list[Sequence[Any]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def stored_text(trace: dict[str, Any]) -> str:
    """The payload text the app writes for ``trace`` (traces.service.payload_json)."""
    return payload_json(ReasoningTrace.model_validate(trace).to_payload())


@dataclass
class RawRows:
    """Driver-ready rows, built before timing: (id, trace_version, payload JSON text)."""

    batches: list[list[tuple[uuid.UUID, str, str]]]

    @classmethod
    def build(cls, traces: list[dict[str, Any]], batch: int, seed: int) -> RawRows:
        rng = random.Random(seed + 1)
        rows = [
            # The text the API stores: the validated document through the app's serialiser.
            (uuid.UUID(int=rng.getrandbits(128), version=4), t["trace_version"], stored_text(t))
            for t in traces
        ]
        return cls([list(b) for b in batched(rows, batch)])


# --------------------------------------------------------------------------------------
# Process and timing helpers
# --------------------------------------------------------------------------------------

CLK_TCK = os.sysconf("SC_CLK_TCK")


def proc_cpu(pid: int) -> float:
    """utime + stime of one process, in seconds (0 when unreadable)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = stat.rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def postgres_cpu() -> float:
    """CPU seconds of every local process named ``postgres`` (backends, WAL writer...)."""
    total = 0.0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if (entry / "comm").read_text().strip() == "postgres":
                total += proc_cpu(int(entry.name))
        except OSError:
            continue
    return total


@dataclass
class CpuMeter:
    """Wall clock plus CPU of this process, the server and the Postgres processes."""

    server_pid: int | None = None
    with_postgres: bool = False
    wall: float = 0.0
    client: float = 0.0
    server: float = 0.0
    db: float = 0.0

    @contextmanager
    def measure(self) -> Iterator[None]:
        w0, c0 = time.perf_counter(), time.process_time()
        s0 = proc_cpu(self.server_pid) if self.server_pid else 0.0
        d0 = postgres_cpu() if self.with_postgres else 0.0
        yield
        self.wall = time.perf_counter() - w0
        self.client = time.process_time() - c0
        self.server = (proc_cpu(self.server_pid) - s0) if self.server_pid else 0.0
        self.db = (postgres_cpu() - d0) if self.with_postgres else 0.0

    def as_dict(self) -> dict[str, float]:
        return {
            "wall_s": self.wall,
            "client_cpu_s": self.client,
            "server_cpu_s": self.server,
            "postgres_cpu_s": self.db,
        }


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Server:
    """The real app under uvicorn in a child process, as a user would run it."""

    def __init__(self, database_url: str, data_dir: Path, log_path: Path) -> None:
        self.database_url = database_url
        self.data_dir = data_dir
        self.log_path = log_path
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> Server:
        env = dict(os.environ)
        env.update(
            DATABASE_URL=self.database_url,
            TUNIX_RT_DATA_DIR=str(self.data_dir),
            TUNIX_RT_LOG_LEVEL="warning",
        )
        self.data_dir.mkdir(parents=True, exist_ok=True)
        cmd = [
            sys.executable,
            "-m",
            "uvicorn",
            "--factory",
            "tunix_rt.app:create_app",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--log-level",
            "warning",
            "--no-access-log",
        ]
        with self.log_path.open("ab") as out:
            self.proc = subprocess.Popen(cmd, env=env, cwd=ROOT, stdout=out, stderr=out)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited; see {self.log_path}:\n{self._log_tail()}")
            try:
                if httpx.get(f"{self.base_url}/api/health", timeout=2).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        self.__exit__()
        raise RuntimeError(f"server did not become healthy; see {self.log_path}")

    def __exit__(self, *_: object) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def _log_tail(self) -> str:
        try:
            return self.log_path.read_text()[-3000:]
        except OSError:
            return ""


def median(values: Sequence[float]) -> float:
    return statistics.median(values)


def pct(values: Sequence[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p * (len(ordered) - 1)))]


# --------------------------------------------------------------------------------------
# Databases
# --------------------------------------------------------------------------------------


class Backend:
    """One database engine: how to reset, bulk-load and query it directly."""

    name: str

    def app_url(self, purpose: str) -> str:
        raise NotImplementedError

    def data_dir(self, purpose: str) -> Path:
        raise NotImplementedError

    def reset(self, purpose: str) -> None:
        """Drop and recreate the database, then apply the app's migrations."""
        raise NotImplementedError

    def count(self, purpose: str) -> int:
        raise NotImplementedError

    def settle(self, purpose: str) -> None:
        """Finish work the database deferred (part of each side's timed window)."""

    def raw_insert(self, purpose: str, rows: RawRows, meter: CpuMeter) -> None:
        raise NotImplementedError

    def payload_of(self, purpose: str, index: int) -> Any:
        """The stored payload of the trace whose meta.index is ``index``."""
        raise NotImplementedError

    def payload_text_of(self, purpose: str, index: int) -> str | None:
        """The stored payload text, where the database keeps it as written (SQLite)."""
        return None

    def fill_keyset(self, rows: int, batch: int) -> None:
        raise NotImplementedError

    def rows_at(self, offset: int, count: int) -> list[tuple[datetime, uuid.UUID]]:
        """(created_at, id) at ``offset`` in newest-first order, from the keyset table."""
        raise NotImplementedError

    def db_timings(self, cursor_row: tuple[datetime, uuid.UUID], reps: int) -> dict[str, Any]:
        """Time the listing SQL on the driver alone: page 1 and after ``cursor_row``."""
        raise NotImplementedError


# The listing query the app runs for GET /api/traces?limit=20 (service.list_traces: id,
# created_at, trace_version and a 120-character prompt preview, limit + 1 rows).
PAGE_SQL = (
    "SELECT id, created_at, trace_version, substr({prompt}, 1, 120) FROM traces {where} "
    "ORDER BY created_at DESC, id DESC LIMIT 21"
)


class SQLiteBackend(Backend):
    name = "sqlite"

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir

    def data_dir(self, purpose: str) -> Path:
        return self.workdir / f"sqlite-{purpose}"

    def path(self, purpose: str) -> Path:
        return self.data_dir(purpose) / "tunix_rt.db"

    def app_url(self, purpose: str) -> str:
        return f"sqlite+aiosqlite:///{self.path(purpose).resolve()}"

    def connect(self, purpose: str, app_checkpointing: bool = True) -> sqlite3.Connection:
        """A connection with the app engine's pragmas (tunix_rt.db._sqlite_pragmas), or,
        without ``app_checkpointing``, SQLite's default inline checkpoint every 1,000
        pages: what a program using the driver alone gets."""
        con = sqlite3.connect(self.path(purpose), isolation_level=None, timeout=30)
        con.execute("PRAGMA journal_mode=WAL")
        con.execute("PRAGMA synchronous=NORMAL")
        con.execute("PRAGMA foreign_keys=ON")
        con.execute("PRAGMA busy_timeout=30000")
        if app_checkpointing:
            con.execute(f"PRAGMA wal_autocheckpoint={wal_checkpoint.SAFETY_PAGES}")
            con.execute(f"PRAGMA journal_size_limit={wal_checkpoint.JOURNAL_SIZE_LIMIT}")
        return con

    def reset(self, purpose: str) -> None:
        self.data_dir(purpose).mkdir(parents=True, exist_ok=True)
        for suffix in ("", "-wal", "-shm"):
            Path(f"{self.path(purpose)}{suffix}").unlink(missing_ok=True)
        upgrade(self.app_url(purpose))

    def count(self, purpose: str) -> int:
        if not self.path(purpose).exists():
            return -1
        con = self.connect(purpose)
        try:
            return int(con.execute("SELECT count(*) FROM traces").fetchone()[0])
        except sqlite3.OperationalError:
            return -1
        finally:
            con.close()

    def settle(self, purpose: str) -> None:
        """Checkpoint the WAL into the database file. Both sides end their timed window
        with this: the raw side's commits checkpoint every 1,000 pages (SQLite's default)
        and leave the rest; the app checkpoints in a background thread
        (tunix_rt.kit.wal_checkpoint), which may be mid-way when the last response
        arrives. Either way, every row is in the database file before the clock stops."""
        con = self.connect(purpose)
        try:
            while con.execute("PRAGMA wal_checkpoint(FULL)").fetchone()[0]:
                time.sleep(0.005)  # another checkpointer holds the lock: wait for it
        finally:
            con.close()

    def raw_insert(self, purpose: str, rows: RawRows, meter: CpuMeter) -> None:
        # The plain driver: no background checkpointer, so SQLite's default applies.
        con = self.connect(purpose, app_checkpointing=False)
        sql = f"INSERT INTO traces {INSERT_COLUMNS} VALUES (?, ?, ?, ?)"
        try:
            with meter.measure():
                for batch in rows.batches:
                    now = datetime.now(UTC).strftime(SQLITE_TS_FORMAT)
                    params = [(i.hex, now, v, p) for i, v, p in batch]
                    con.execute("BEGIN")
                    con.executemany(sql, params)
                    con.execute("COMMIT")
                self.settle(purpose)
        finally:
            con.close()

    def payload_text_of(self, purpose: str, index: int) -> str | None:
        con = self.connect(purpose)
        try:
            row = con.execute(
                "SELECT payload FROM traces WHERE json_extract(payload, '$.meta.index') = ?",
                (index,),
            ).fetchone()
            return str(row[0]) if row else None
        finally:
            con.close()

    def payload_of(self, purpose: str, index: int) -> Any:
        text = self.payload_text_of(purpose, index)
        return None if text is None else json.loads(text)

    def fill_keyset(self, rows: int, batch: int) -> None:
        self.reset("keyset")
        con = self.connect("keyset")
        con.execute("PRAGMA cache_size=-262144")  # 256 MiB for the load only
        # One recursive-CTE INSERT per 100k rows; ``batch`` rows share a created_at like
        # the batch API's rows do, so the keyset's id tie-break is exercised.
        sql = f"""
        WITH RECURSIVE s(g) AS (SELECT ? UNION ALL SELECT g + 1 FROM s WHERE g < ?)
        INSERT INTO traces {INSERT_COLUMNS}
        SELECT lower(hex(randomblob(16))),
               strftime('%Y-%m-%d %H:%M:%S', {KEYSET_EPOCH} + g / {batch}, 'unixepoch')
                 || '.000000',
               '1.0',
               json_object(
                 'trace_version', '1.0',
                 'prompt', printf('What is %d × %d?', 12 + g % 988, 11 + g % 89),
                 'final_answer', CAST((12 + g % 988) * (11 + g % 89) AS TEXT),
                 'steps', json_array(
                   json_object('i', 0, 'type', 'parse', 'content',
                     printf('We need the product %d × %d. Split the second factor into tens '
                            || 'and ones.', 12 + g % 988, 11 + g % 89)),
                   json_object('i', 1, 'type', 'compute', 'content',
                     printf('%d × %d = %d.', 12 + g % 988, (11 + g % 89) / 10 * 10,
                            (12 + g % 988) * ((11 + g % 89) / 10 * 10))),
                   json_object('i', 2, 'type', 'compute', 'content',
                     printf('%d × %d = %d. Add the partial products to finish.',
                            12 + g % 988, (11 + g % 89) % 10,
                            (12 + g % 988) * ((11 + g % 89) % 10))),
                   json_object('i', 3, 'type', 'answer', 'content',
                     printf('The product is %d.', (12 + g % 988) * (11 + g % 89)))),
                 'meta', json_object('source', 'bench-keyset', 'index', g,
                                     'difficulty', 1 + g % 5))
        FROM s
        """
        chunk = 100_000
        try:
            for lo in range(0, rows, chunk):
                hi = min(rows, lo + chunk) - 1
                con.execute("BEGIN")
                con.execute(sql, (lo, hi))
                con.execute("COMMIT")
                log(f"  sqlite keyset fill: {hi + 1:,}/{rows:,}")
            con.execute("ANALYZE")
            con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            con.close()

    def rows_at(self, offset: int, count: int) -> list[tuple[datetime, uuid.UUID]]:
        con = self.connect("keyset")
        try:
            got = con.execute(
                "SELECT created_at, id FROM traces ORDER BY created_at DESC, id DESC "
                "LIMIT ? OFFSET ?",
                (count, offset),
            ).fetchall()
        finally:
            con.close()
        return [
            (datetime.strptime(ts, SQLITE_TS_FORMAT).replace(tzinfo=UTC), uuid.UUID(hex=i))
            for ts, i in got
        ]

    def db_timings(self, cursor_row: tuple[datetime, uuid.UUID], reps: int) -> dict[str, Any]:
        con = self.connect("keyset")
        prompt = "json_extract(payload, '$.\"prompt\"')"
        first = PAGE_SQL.format(prompt=prompt, where="")
        deep = PAGE_SQL.format(prompt=prompt, where="WHERE (created_at, id) < (?, ?)")
        args = (cursor_row[0].strftime(SQLITE_TS_FORMAT), cursor_row[1].hex)
        try:
            plans = {
                "page1": [r[3] for r in con.execute("EXPLAIN QUERY PLAN " + first)],
                "deep": [r[3] for r in con.execute("EXPLAIN QUERY PLAN " + deep, args)],
            }
            t1, t2 = [], []
            for _ in range(reps):
                t = time.perf_counter()
                con.execute(first).fetchall()
                t1.append(time.perf_counter() - t)
                t = time.perf_counter()
                con.execute(deep, args).fetchall()
                t2.append(time.perf_counter() - t)
        finally:
            con.close()
        return {"page1_ms": median(t1) * 1e3, "deep_ms": median(t2) * 1e3, "plans": plans}


class PostgresBackend(Backend):
    name = "postgres"

    def __init__(self, server_url: str, workdir: Path) -> None:
        self.server_url = server_url.rstrip("/")  # postgresql://user@host:port
        self.workdir = workdir

    def dbname(self, purpose: str) -> str:
        return "bench" if purpose == "ingest" else "bench_keyset"

    def dsn(self, purpose: str | None) -> str:
        return f"{self.server_url}/{self.dbname(purpose) if purpose else 'postgres'}"

    def app_url(self, purpose: str) -> str:
        return self.dsn(purpose).replace("postgresql://", "postgresql+asyncpg://", 1)

    def data_dir(self, purpose: str) -> Path:
        return self.workdir / f"postgres-{purpose}"

    def _run(self, fn: Callable[[asyncpg.Connection], Any], purpose: str | None) -> Any:
        async def go() -> Any:
            con = await asyncpg.connect(self.dsn(purpose))
            try:
                return await fn(con)
            finally:
                await con.close()

        return asyncio.run(go())

    def reset(self, purpose: str) -> None:
        name = self.dbname(purpose)

        async def recreate(con: asyncpg.Connection) -> None:
            await con.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            await con.execute(f'CREATE DATABASE "{name}"')

        self._run(recreate, None)
        upgrade(self.app_url(purpose))

    def count(self, purpose: str) -> int:
        name = self.dbname(purpose)

        async def exists(con: asyncpg.Connection) -> bool:
            return bool(await con.fetchval("SELECT 1 FROM pg_database WHERE datname=$1", name))

        if not self._run(exists, None):
            return -1

        async def count(con: asyncpg.Connection) -> int:
            if not await con.fetchval("SELECT to_regclass('public.traces') IS NOT NULL"):
                return -1
            return int(await con.fetchval("SELECT count(*) FROM traces"))

        return int(self._run(count, purpose))

    def raw_insert(self, purpose: str, rows: RawRows, meter: CpuMeter) -> None:
        sql = f"INSERT INTO traces {INSERT_COLUMNS} VALUES ($1, $2, $3, $4)"

        async def insert(con: asyncpg.Connection) -> None:
            with meter.measure():
                for batch in rows.batches:
                    now = datetime.now(UTC)
                    params = [(i, now, v, p) for i, v, p in batch]
                    async with con.transaction():
                        await con.executemany(sql, params)

        self._run(insert, purpose)

    def payload_of(self, purpose: str, index: int) -> Any:
        async def fetch(con: asyncpg.Connection) -> Any:
            text = await con.fetchval(
                "SELECT payload::text FROM traces WHERE payload->'meta'->>'index' = $1",
                str(index),
            )
            return json.loads(text) if text else None  # jsonb: compare as documents

        return self._run(fetch, purpose)

    def fill_keyset(self, rows: int, batch: int) -> None:
        self.reset("keyset")
        a, b = "(12 + g % 988)", "(11 + g % 89)"
        sql = f"""
        INSERT INTO traces {INSERT_COLUMNS}
        SELECT md5('bench-keyset-' || g)::uuid,
               to_timestamp({KEYSET_EPOCH} + g / {batch}),
               '1.0',
               jsonb_build_object(
                 'trace_version', '1.0',
                 'prompt', format('What is %s × %s?', {a}, {b}),
                 'final_answer', ({a} * {b})::text,
                 'steps', jsonb_build_array(
                   jsonb_build_object('i', 0, 'type', 'parse', 'content',
                     format('We need the product %s × %s. Split the second factor into tens '
                            'and ones.', {a}, {b})),
                   jsonb_build_object('i', 1, 'type', 'compute', 'content',
                     format('%s × %s = %s.', {a}, {b} / 10 * 10, {a} * ({b} / 10 * 10))),
                   jsonb_build_object('i', 2, 'type', 'compute', 'content',
                     format('%s × %s = %s. Add the partial products to finish.',
                            {a}, {b} % 10, {a} * ({b} % 10))),
                   jsonb_build_object('i', 3, 'type', 'answer', 'content',
                     format('The product is %s.', {a} * {b}))),
                 'meta', jsonb_build_object('source', 'bench-keyset', 'index', g,
                                            'difficulty', 1 + g % 5))
        FROM generate_series($1::bigint, $2::bigint) AS g
        """

        async def fill(con: asyncpg.Connection) -> None:
            chunk = 100_000
            for lo in range(0, rows, chunk):
                hi = min(rows, lo + chunk) - 1
                await con.execute(sql, lo, hi)
                log(f"  postgres keyset fill: {hi + 1:,}/{rows:,}")
            await con.execute("VACUUM (ANALYZE) traces")

        self._run(fill, "keyset")

    def rows_at(self, offset: int, count: int) -> list[tuple[datetime, uuid.UUID]]:
        async def fetch(con: asyncpg.Connection) -> list[tuple[datetime, uuid.UUID]]:
            got = await con.fetch(
                "SELECT created_at, id FROM traces ORDER BY created_at DESC, id DESC "
                "LIMIT $1 OFFSET $2",
                count,
                offset,
            )
            return [(r["created_at"].astimezone(UTC), r["id"]) for r in got]

        return list(self._run(fetch, "keyset"))

    def db_timings(self, cursor_row: tuple[datetime, uuid.UUID], reps: int) -> dict[str, Any]:
        prompt = "payload ->> 'prompt'"
        first = PAGE_SQL.format(prompt=prompt, where="")
        deep = PAGE_SQL.format(prompt=prompt, where="WHERE (created_at, id) < ($1, $2)")

        async def go(con: asyncpg.Connection) -> dict[str, Any]:
            plans = {
                "page1": [r[0] for r in await con.fetch("EXPLAIN ANALYZE " + first)],
                "deep": [r[0] for r in await con.fetch("EXPLAIN ANALYZE " + deep, *cursor_row)],
            }
            s1, s2 = await con.prepare(first), await con.prepare(deep)
            t1, t2 = [], []
            for _ in range(reps):
                t = time.perf_counter()
                await s1.fetch()
                t1.append(time.perf_counter() - t)
                t = time.perf_counter()
                await s2.fetch(*cursor_row)
                t2.append(time.perf_counter() - t)
            return {"page1_ms": median(t1) * 1e3, "deep_ms": median(t2) * 1e3, "plans": plans}

        return dict(self._run(go, "keyset"))


# --------------------------------------------------------------------------------------
# Ingest: batch API over HTTP vs the driver's executemany
# --------------------------------------------------------------------------------------


@dataclass
class IngestResult:
    db: str
    n: int
    api: list[dict[str, float]] = field(default_factory=list)
    raw: list[dict[str, float]] = field(default_factory=list)

    def rates(self, side: str) -> list[float]:
        return [self.n / r["wall_s"] for r in getattr(self, side)]

    @property
    def api_rate(self) -> float:
        return median(self.rates("api"))

    @property
    def raw_rate(self) -> float:
        return median(self.rates("raw"))

    @property
    def ratio(self) -> float:
        return self.api_rate / self.raw_rate


@contextmanager
def py_spy(pid: int, out: Path | None) -> Iterator[None]:
    """Sample the server with py-spy (folded stacks) while the block runs, if asked to."""
    if out is None:
        yield
        return
    exe = Path(sys.executable).with_name("py-spy")
    cmd = [
        str(exe if exe.exists() else "py-spy"),
        "record",
        "--pid",
        str(pid),
        "--rate",
        "200",
        "--format",
        "raw",
        "--nonblocking",
        "-o",
        str(out),
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    time.sleep(1.0)  # let it attach before the timed work starts
    try:
        yield
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)
        if proc.returncode not in (0, -signal.SIGINT):
            log(f"py-spy failed ({proc.returncode}): {err.decode()[-500:]}")
        else:
            log(f"  profile written to {out}")


def run_api_side(
    backend: Backend,
    bodies: list[bytes],
    n: int,
    batch_sizes: list[int],
    workdir: Path,
    profile: Path | None = None,
) -> dict[str, float]:
    backend.reset("ingest")
    meter = CpuMeter(with_postgres=backend.name == "postgres")
    log_path = workdir / f"server-{backend.name}-ingest.log"
    with Server(backend.app_url("ingest"), backend.data_dir("ingest"), log_path) as server:
        meter.server_pid = server.pid
        headers = {"content-type": "application/json"}
        with httpx.Client(base_url=server.base_url, timeout=300) as client:
            client.get("/api/traces", params={"limit": 1}).raise_for_status()  # warm the pool
            with py_spy(server.pid, profile), meter.measure():
                for body, size in zip(bodies, batch_sizes, strict=True):
                    resp = client.post("/api/traces/batch", content=body, headers=headers)
                    if resp.status_code != 201:
                        raise RuntimeError(f"batch failed: {resp.status_code} {resp.text[:500]}")
                    if resp.json()["created_count"] != size:
                        raise RuntimeError("created_count does not match the batch size")
                backend.settle("ingest")
    got = backend.count("ingest")
    if got != n:
        raise RuntimeError(f"api side stored {got} rows, expected {n}")
    return meter.as_dict()


def run_raw_side(backend: Backend, rows: RawRows, n: int) -> dict[str, float]:
    backend.reset("ingest")
    meter = CpuMeter(with_postgres=backend.name == "postgres")
    backend.raw_insert("ingest", rows, meter)
    got = backend.count("ingest")
    if got != n:
        raise RuntimeError(f"raw side stored {got} rows, expected {n}")
    return meter.as_dict()


def check_same_payload(backend: Backend, traces: list[dict[str, Any]], side: str) -> None:
    """The stored payload must be the same JSON document on both sides (on SQLite, which
    keeps the text as written, the same text: both sides insert the same bytes)."""
    stored = backend.payload_of("ingest", 0)
    expected = traces[0]
    if stored != expected:
        raise RuntimeError(
            f"{backend.name} {side}: stored payload differs from the sent document:\n"
            f"{str(stored)[:300]}\n{str(expected)[:300]}"
        )
    text = backend.payload_text_of("ingest", 0)
    if text is not None and text != stored_text(expected):
        raise RuntimeError(
            f"{backend.name} {side}: stored payload text differs from the raw side's:\n"
            f"{text[:300]}\n{stored_text(expected)[:300]}"
        )


def bench_ingest(backend: Backend, args: argparse.Namespace, workdir: Path) -> IngestResult:
    traces = make_traces(args.n, args.seed)
    chunks = batched(traces, args.batch)
    bodies = [json.dumps(list(c)).encode() for c in chunks]
    sizes = [len(c) for c in chunks]
    rows = RawRows.build(traces, args.batch, args.seed)
    mb = sum(len(b) for b in bodies) / 1e6
    log(
        f"{backend.name}: ingest {args.n:,} traces ({mb:.1f} MB of JSON) in {len(bodies)} "
        f"batches of <= {args.batch}, {args.reps} repetitions per side, alternating"
    )
    result = IngestResult(backend.name, args.n)
    for rep in range(args.reps):
        order = ("api", "raw") if rep % 2 == 0 else ("raw", "api")
        for side in order:
            if side == "api":
                profile = (
                    args.profile / f"api-{backend.name}.folded"
                    if args.profile and rep == 0
                    else None
                )
                m = run_api_side(backend, bodies, args.n, sizes, workdir, profile)
                result.api.append(m)
            else:
                m = run_raw_side(backend, rows, args.n)
                result.raw.append(m)
            if rep == 0:
                check_same_payload(backend, traces, side)
            log(
                f"  rep {rep + 1} {side:3s}: {args.n / m['wall_s']:9,.0f} rows/s  "
                f"wall {m['wall_s']:.2f}s  cpu: bench {m['client_cpu_s']:.2f}s  "
                f"server {m['server_cpu_s']:.2f}s  postgres {m['postgres_cpu_s']:.2f}s"
            )
    log(
        f"{backend.name}: api {result.api_rate:,.0f} rows/s, raw {result.raw_rate:,.0f} rows/s, "
        f"api/raw {result.ratio:.2f}"
    )
    return result


# --------------------------------------------------------------------------------------
# Keyset: page 1 vs a page ~90% deep
# --------------------------------------------------------------------------------------


@dataclass
class KeysetResult:
    db: str
    rows: int
    depth_offset: int
    page1_ms: list[float]
    deep_ms: list[float]
    db_only: dict[str, Any]

    @property
    def ratio(self) -> float:
        return median(self.deep_ms) / median(self.page1_ms)


def ids_of(page: dict[str, Any]) -> list[uuid.UUID]:
    return [uuid.UUID(r["id"]) for r in page["data"]]


def bench_keyset(backend: Backend, args: argparse.Namespace, workdir: Path) -> KeysetResult:
    rows = args.keyset_rows
    have = backend.count("keyset")
    if have == rows and not args.refill:
        log(
            f"{backend.name}: keyset table already holds {rows:,} rows; reusing it "
            "(--refill to rebuild)"
        )
    else:
        log(f"{backend.name}: filling the keyset table with {rows:,} rows")
        t = time.perf_counter()
        backend.fill_keyset(rows, args.batch)
        log(f"{backend.name}: filled and analyzed in {time.perf_counter() - t:.1f}s")
    page = 20
    offset = max(0, min(rows - page - 1, int(rows * args.depth) - 1))
    expected_first = backend.rows_at(0, page + 1)
    expected_deep = backend.rows_at(offset, page + 1)
    # A cursor is what the app returns as next_cursor after the row at ``offset``.
    deep_cursor = encode_cursor(*expected_deep[0])
    deep_ids = [i for _, i in expected_deep[1:]]
    first_ids = [i for _, i in expected_first[:page]]
    log_path = workdir / f"server-{backend.name}-keyset.log"
    with (
        Server(backend.app_url("keyset"), backend.data_dir("keyset"), log_path) as server,
        httpx.Client(base_url=server.base_url, timeout=60) as client,
    ):
        first_params: dict[str, str | int] = {"limit": page}
        deep_params: dict[str, str | int] = {"limit": page, "cursor": deep_cursor}
        # Correctness before timing: page 1, the app's own next cursor, and the deep page.
        p1 = client.get("/api/traces", params=first_params).json()
        if ids_of(p1) != first_ids:
            raise RuntimeError("page 1 is not the newest rows")
        if p1["pagination"]["next_cursor"] != encode_cursor(*expected_first[page - 1]):
            raise RuntimeError("the app's next_cursor differs from encode_cursor(last row)")
        p2 = client.get(
            "/api/traces", params={"limit": page, "cursor": p1["pagination"]["next_cursor"]}
        )
        if ids_of(p2.json())[0] != backend.rows_at(page, 1)[0][1]:
            raise RuntimeError("walking next_cursor from page 1 does not reach page 2")
        deep = client.get("/api/traces", params=deep_params)
        deep.raise_for_status()
        if ids_of(deep.json()) != deep_ids:
            raise RuntimeError(f"the deep page is not rows {offset + 1}..{offset + page}")
        for _ in range(20):  # warm-up
            client.get("/api/traces", params=first_params)
            client.get("/api/traces", params=deep_params)
        t1: list[float] = []
        t2: list[float] = []
        for rep in range(args.keyset_reps):
            pairs = [(first_params, t1), (deep_params, t2)]
            for params, sink in pairs if rep % 2 == 0 else reversed(pairs):
                t = time.perf_counter()
                resp = client.get("/api/traces", params=params)
                sink.append((time.perf_counter() - t) * 1e3)
                if resp.status_code != 200:
                    raise RuntimeError(f"GET failed: {resp.status_code} {resp.text[:300]}")
    db_only = backend.db_timings(expected_deep[0], args.keyset_reps)
    result = KeysetResult(backend.name, rows, offset + 1, t1, t2, db_only)
    log(
        f"{backend.name}: keyset over HTTP page1 {median(t1):.2f} ms (p90 {pct(t1, 0.9):.2f}), "
        f"deep@{offset + 1:,} {median(t2):.2f} ms (p90 {pct(t2, 0.9):.2f}), "
        f"deep/page1 {result.ratio:.2f}"
    )
    log(
        f"{backend.name}: same SQL on the driver alone: page1 {db_only['page1_ms']:.3f} ms, "
        f"deep {db_only['deep_ms']:.3f} ms"
    )
    if args.verbose:
        for which, plan in db_only["plans"].items():
            log(f"  plan {which}: " + " | ".join(p.strip() for p in plan))
    return result


# --------------------------------------------------------------------------------------
# Summary
# --------------------------------------------------------------------------------------


def summary(ingests: list[IngestResult], keysets: list[KeysetResult]) -> str:
    lines = []
    head = f"{'database':9s} {'metric':34s} {'value':>12s} {'target':>8s}  met"
    lines.append(head)
    lines.append("-" * len(head))
    for r in ingests:
        lines.append(f"{r.db:9s} {'ingest api rows/s (median)':34s} {r.api_rate:12,.0f}")
        lines.append(f"{r.db:9s} {'ingest raw executemany rows/s':34s} {r.raw_rate:12,.0f}")
        ok = "yes" if r.ratio >= API_TARGET else "NO"
        lines.append(
            f"{r.db:9s} {'ingest ratio api/raw':34s} {r.ratio:12.2f} "
            f"{'>= ' + str(API_TARGET):>8s}  {ok}"
        )
    for k in keysets:
        lines.append(
            f"{k.db:9s} {'keyset page 1 ms (median, HTTP)':34s} {median(k.page1_ms):12.2f}"
        )
        lines.append(
            f"{k.db:9s} {f'keyset row {k.depth_offset:,} ms':34s} {median(k.deep_ms):12.2f}"
        )
        ok = "yes" if k.ratio <= KEYSET_TARGET else "NO"
        lines.append(
            f"{k.db:9s} {'keyset ratio deep/page1 (HTTP)':34s} {k.ratio:12.2f} "
            f"{'<= ' + str(KEYSET_TARGET):>8s}  {ok}"
        )
        db_ratio = k.db_only["deep_ms"] / k.db_only["page1_ms"]
        lines.append(f"{k.db:9s} {'keyset ratio deep/page1 (SQL only)':34s} {db_ratio:12.2f}")
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    p.add_argument("--n", type=int, default=20_000, help="traces to ingest (default 20000)")
    p.add_argument("--batch", type=int, default=1000, help="traces per batch (1-1000)")
    p.add_argument(
        "--keyset-rows",
        type=int,
        default=1_000_000,
        help="rows in the keyset table (default 1000000)",
    )
    p.add_argument("--db", choices=("sqlite", "postgres", "both"), default="both")
    p.add_argument("--skip-keyset", action="store_true", help="only the ingest benchmark")
    p.add_argument("--skip-ingest", action="store_true", help="only the keyset benchmark")
    p.add_argument("--reps", type=int, default=3, help="ingest repetitions per side")
    p.add_argument("--keyset-reps", type=int, default=300, help="timed GETs per page")
    p.add_argument("--depth", type=float, default=0.9, help="deep page position (0-1)")
    p.add_argument("--refill", action="store_true", help="rebuild the keyset table")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument(
        "--workdir",
        type=Path,
        default=ROOT / "var" / "bench",
        help="SQLite files and server logs (default var/bench)",
    )
    p.add_argument(
        "--pg-url",
        default=os.environ.get("BENCH_PG_URL", "postgresql://postgres@127.0.0.1:5432"),
        help="Postgres server (no database); databases bench and bench_keyset are "
        "(re)created there",
    )
    p.add_argument(
        "--json",
        type=Path,
        default=None,
        help="write results here (default bench/.results/ingest-<time>.json)",
    )
    p.add_argument(
        "--profile",
        type=Path,
        default=None,
        help="sample the server with py-spy during the first API repetition and "
        "write folded stacks to DIR/api-<db>.folded (perturbs that timing)",
    )
    p.add_argument("-v", "--verbose", action="store_true", help="print query plans")
    args = p.parse_args(argv)
    if not 1 <= args.batch <= 1000:
        p.error("--batch must be 1-1000 (the API's limit)")
    if args.n < 1 or args.keyset_rows < 100:
        p.error("--n must be >= 1 and --keyset-rows >= 100")
    return args


def code_version() -> str:
    """The commit of the app under test, and where it is imported from when not src/."""
    import tunix_rt

    where = Path(tunix_rt.__file__).resolve().parent.parent
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "src"], cwd=ROOT, capture_output=True, text=True
        ).stdout.strip()
    except OSError:
        sha, dirty = "unknown", ""
    version = f"{sha}{' (src/ has uncommitted changes)' if dirty else ''}"
    if where != ROOT / "src":
        version += f"; tunix_rt imported from {where}"
    return version


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    workdir: Path = args.workdir.resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    if args.profile:
        args.profile = args.profile.resolve()
        args.profile.mkdir(parents=True, exist_ok=True)
    backends: list[Backend] = []
    if args.db in ("sqlite", "both"):
        backends.append(SQLiteBackend(workdir))
    if args.db in ("postgres", "both"):
        backends.append(PostgresBackend(args.pg_url, workdir))
    started = datetime.now(UTC)
    version = code_version()
    log(f"code under test: {version}")
    log(
        f"Tunix RT ingest/keyset benchmark; {os.cpu_count()} CPUs, Python "
        f"{platform.python_version()}, SQLite {sqlite3.sqlite_version}"
    )
    ingests: list[IngestResult] = []
    keysets: list[KeysetResult] = []
    for backend in backends:
        if not args.skip_ingest:
            ingests.append(bench_ingest(backend, args, workdir))
        if not args.skip_keyset:
            keysets.append(bench_keyset(backend, args, workdir))
    table = summary(ingests, keysets)
    print()
    print(
        f"Summary ({started:%Y-%m-%d %H:%M} UTC, n={args.n}, batch={args.batch}, "
        f"reps={args.reps}, keyset rows={args.keyset_rows:,}; code {version})"
    )
    print(table)
    out = args.json or ROOT / "bench" / ".results" / f"ingest-{started:%Y%m%d-%H%M%S}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(
        json.dumps(
            {
                "started": started.isoformat(),
                "code": version,
                "args": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
                "machine": {
                    "cpus": os.cpu_count(),
                    "python": platform.python_version(),
                    "sqlite": sqlite3.sqlite_version,
                    "platform": platform.platform(),
                },
                "ingest": [
                    {
                        "db": r.db,
                        "api": r.api,
                        "raw": r.raw,
                        "api_rows_s": r.api_rate,
                        "raw_rows_s": r.raw_rate,
                        "ratio": r.ratio,
                    }
                    for r in ingests
                ],
                "keyset": [
                    {
                        "db": k.db,
                        "rows": k.rows,
                        "deep_row": k.depth_offset,
                        "page1_ms_median": median(k.page1_ms),
                        "deep_ms_median": median(k.deep_ms),
                        "page1_ms_p90": pct(k.page1_ms, 0.9),
                        "deep_ms_p90": pct(k.deep_ms, 0.9),
                        "ratio": k.ratio,
                        "sql_only": k.db_only,
                    }
                    for k in keysets
                ],
                "summary": table,
            },
            indent=2,
        )
    )
    print(f"\nresults: {out}")
    met = all(r.ratio >= API_TARGET for r in ingests) and all(
        k.ratio <= KEYSET_TARGET for k in keysets
    )
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
