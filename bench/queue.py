"""Queue benchmark: Tunix RT's run queue vs procrastinate, same no-op jobs, same Postgres.

    pip install -e '.[bench]'
    python bench/queue.py [--database-url postgresql://postgres@127.0.0.1:5432/tunix_rt_bench]

The database named by --database-url is WIPED (its public schema is dropped) and created if
missing. For each system and for 1 and 4 worker processes (one job at a time each) it
measures:

- claim throughput: N jobs queued up front, workers started, jobs per second between the
  first and the last job start;
- enqueue→start latency: idle workers (woken by LISTEN/NOTIFY; both poll every 2 s as a
  fallback), jobs enqueued one at a time every 25 ms, p50/p99 of start − enqueue time.

A Tunix RT no-op job is a ``runs`` row claimed by ``tunix_rt.runs.worker.Worker`` whose
executor marks it completed; a procrastinate no-op job is a task that returns at once
(procrastinate marks it succeeded). Both record the start time in the worker process.
"""

from __future__ import annotations

import sys

# This file is named like the stdlib module: keep its folder off the import path.
sys.path[:] = [p for p in sys.path if p not in ("", __file__.rpartition("/")[0] or ".")]

import argparse
import asyncio
import json
import os
import signal
import statistics
import subprocess
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

DEFAULT_URL = "postgresql://postgres@127.0.0.1:5432/tunix_rt_bench"
POLL_SECONDS = 2.0
QUEUE = "bench"


def asyncpg_url(url: str) -> str:
    return "postgresql+asyncpg://" + url.split("://", 1)[1]


def libpq_url(url: str) -> str:
    return "postgresql://" + url.split("://", 1)[1]


# --- worker processes ------------------------------------------------------------------


def tunix_worker(url: str, name: str, out: Path) -> None:
    from sqlalchemy import update

    from tunix_rt.config import load_settings
    from tunix_rt.db import create_engine, create_sessionmaker, utcnow
    from tunix_rt.runs.queue import RUNS, RunQueue
    from tunix_rt.runs.worker import Worker

    starts: list[tuple[str, float]] = []
    done: RunQueue | None = None

    async def noop(sessionmaker: Any, settings: Any, run_id: uuid.UUID, **_: Any) -> None:
        # The job body: record the start, mark the run completed (one autocommit UPDATE,
        # like procrastinate's finish_job).
        nonlocal done
        starts.append((str(run_id), time.time()))
        done = done or RunQueue(sessionmaker, persistent=True)
        await done._autocommit(
            update(RUNS)
            .where(RUNS.c.id == run_id)
            .values(status="completed", completed_at=utcnow(), duration_seconds=0.0)
        )

    async def main() -> None:
        settings = load_settings(
            database_url=asyncpg_url(url),
            queue_poll_seconds=POLL_SECONDS,
            log_level="warning",
            db_pool_size=2,
        )
        engine = create_engine(settings)
        worker = Worker(
            create_sessionmaker(engine), settings, worker_id=name, concurrency=1, executor=noop
        )
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, worker.stop)
        loop.call_later(0.5, ready, out)  # by then it is LISTENing
        await worker.run()
        if done is not None:
            await done.close()
        await engine.dispose()

    asyncio.run(main())
    out.write_text(json.dumps(starts))


def ready(out: Path) -> None:
    out.with_suffix(".ready").touch()


def procrastinate_app(url: str) -> Any:
    import logging

    import procrastinate

    logging.getLogger("procrastinate").setLevel(logging.ERROR)

    return procrastinate.App(connector=procrastinate.PsycopgConnector(conninfo=libpq_url(url)))


def procrastinate_worker(url: str, name: str, out: Path) -> None:
    app = procrastinate_app(url)
    starts: list[tuple[str, float]] = []

    @app.task(name="noop", queue=QUEUE)
    async def noop(ref: str) -> None:
        starts.append((ref, time.time()))

    async def main() -> None:
        async with app.open_async():
            asyncio.get_running_loop().call_later(0.5, ready, out)
            await app.run_worker_async(
                queues=[QUEUE],
                name=name,
                concurrency=1,
                wait=True,
                listen_notify=True,
                fetch_job_polling_interval=POLL_SECONDS,
                install_signal_handlers=True,
            )

    asyncio.run(main())
    out.write_text(json.dumps(starts))


# --- the driver ------------------------------------------------------------------------


async def reset_database(url: str) -> None:
    import asyncpg

    server, _, dbname = libpq_url(url).rpartition("/")
    admin = await asyncpg.connect(server + "/postgres")
    try:
        if not await admin.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", dbname):
            await admin.execute(f'CREATE DATABASE "{dbname}"')
    finally:
        await admin.close()
    conn = await asyncpg.connect(libpq_url(url))
    try:
        await conn.execute("DROP SCHEMA IF EXISTS public CASCADE; CREATE SCHEMA public")
    finally:
        await conn.close()
    from tunix_rt import migrations

    await migrations.upgrade_async(asyncpg_url(url))
    app = procrastinate_app(url)
    async with app.open_async():
        await app.schema_manager.apply_schema_async()


class System:
    name = ""
    role = ""

    def __init__(self, url: str) -> None:
        self.url = url

    async def clear(self) -> None: ...

    async def enqueue(self, refs: list[str]) -> None: ...

    async def finished(self) -> int: ...


class TunixRT(System):
    name = "tunix-rt"
    role = "tunix-worker"

    async def open(self) -> None:
        from tunix_rt.config import load_settings
        from tunix_rt.db import create_engine, create_sessionmaker

        self.engine = create_engine(load_settings(database_url=asyncpg_url(self.url)))
        self.sm = create_sessionmaker(self.engine)

    async def close(self) -> None:
        await self.engine.dispose()

    async def clear(self) -> None:
        from sqlalchemy import text

        async with self.sm() as session:
            await session.execute(text("TRUNCATE runs CASCADE"))
            await session.commit()

    async def enqueue(self, refs: list[str]) -> None:
        from tunix_rt.models.run import Run
        from tunix_rt.runs.queue import enqueue

        async with self.sm() as session:
            session.add_all(
                Run(
                    id=uuid.UUID(ref),
                    kind="train",
                    mode="dry-run",
                    status="pending",
                    model_id="noop",
                    config={},
                    output_dir="/nonexistent",
                )
                for ref in refs
            )
            await enqueue(session)
            await session.commit()

    async def finished(self) -> int:
        from sqlalchemy import text

        async with self.sm() as session:
            q = text("SELECT count(*) FROM runs WHERE status = 'completed'")
            return int((await session.execute(q)).scalar_one())


class Procrastinate(System):
    name = "procrastinate"
    role = "procrastinate-worker"

    async def open(self) -> None:
        self.app = procrastinate_app(self.url)

        @self.app.task(name="noop", queue=QUEUE)
        async def noop(ref: str) -> None:
            return None

        self.task = noop
        self.ctx = self.app.open_async()
        await self.ctx.__aenter__()

    async def close(self) -> None:
        await self.ctx.__aexit__(None, None, None)

    async def _execute(self, sql: str) -> Any:
        import psycopg

        async with await psycopg.AsyncConnection.connect(libpq_url(self.url)) as conn:
            cur = await conn.execute(sql)
            row = await cur.fetchone() if cur.description else None
            await conn.commit()
            return row

    async def clear(self) -> None:
        await self._execute("TRUNCATE procrastinate_jobs CASCADE")

    async def enqueue(self, refs: list[str]) -> None:
        if len(refs) == 1:
            await self.task.defer_async(ref=refs[0])
        else:
            await self.task.batch_defer_async(*({"ref": r} for r in refs))

    async def finished(self) -> int:
        row = await self._execute(
            "SELECT count(*) FROM procrastinate_jobs WHERE status = 'succeeded'"
        )
        return int(row[0])


def start_workers(system: System, n: int, tmp: Path, tag: str) -> list[tuple[Any, Path]]:
    procs = []
    for i in range(n):
        out = tmp / f"{system.name}-{tag}-{i}.json"
        argv = [sys.executable, __file__, "--role", system.role, "--out", str(out)]
        argv += ["--name", f"{system.name}-{i}", "--database-url", system.url]
        procs.append((subprocess.Popen(argv, cwd=ROOT), out))
    return procs


def stop_workers(procs: list[tuple[Any, Path]]) -> dict[str, float]:
    for proc, _ in procs:
        proc.send_signal(signal.SIGTERM)
    starts: dict[str, float] = {}
    for proc, out in procs:
        proc.wait(timeout=60)
        for ref, t in json.loads(out.read_text()):
            assert ref not in starts, f"job {ref} started twice"
            starts[ref] = t
    return starts


async def wait_done(system: System, total: int, seconds: float = 600) -> None:
    deadline = time.monotonic() + seconds
    while await system.finished() < total:
        if time.monotonic() > deadline:
            raise RuntimeError(f"{system.name}: jobs did not finish")
        await asyncio.sleep(0.2)


async def throughput(system: System, workers: int, jobs: int, tmp: Path) -> float:
    await system.clear()
    refs = [str(uuid.uuid4()) for _ in range(jobs)]
    for i in range(0, jobs, 500):
        await system.enqueue(refs[i : i + 500])
    procs = start_workers(system, workers, tmp, f"tp{workers}")
    await wait_done(system, jobs)
    starts = stop_workers(procs)
    assert len(starts) == jobs, f"{system.name}: {len(starts)} of {jobs} started"
    times = sorted(starts.values())
    return (jobs - 1) / (times[-1] - times[0])


async def latency(system: System, workers: int, jobs: int, tmp: Path) -> tuple[float, float]:
    await system.clear()
    procs = start_workers(system, workers, tmp, f"lat{workers}")
    while not all(out.with_suffix(".ready").exists() for _, out in procs):  # noqa: ASYNC110
        await asyncio.sleep(0.1)
    await asyncio.sleep(1.0)  # every worker started and idle
    enqueued: dict[str, float] = {}
    for _ in range(jobs):
        ref = str(uuid.uuid4())
        enqueued[ref] = time.time()
        await system.enqueue([ref])
        await asyncio.sleep(0.025)
    await wait_done(system, jobs)
    starts = stop_workers(procs)
    waits = sorted((starts[r] - t) * 1000 for r, t in enqueued.items())
    p99 = waits[min(len(waits) - 1, round(0.99 * (len(waits) - 1)))]
    return statistics.median(waits), p99


async def drive(url: str, jobs: int, latency_jobs: int) -> None:
    print(f"resetting {url} ...", flush=True)
    await reset_database(url)
    systems: list[Any] = [TunixRT(url), Procrastinate(url)]
    for s in systems:
        await s.open()
    results: dict[tuple[str, int], dict[str, float]] = {}
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for workers in (1, 4):
                for s in systems:
                    tp = await throughput(s, workers, jobs, Path(tmp))
                    p50, p99 = await latency(s, workers, latency_jobs, Path(tmp))
                    results[(s.name, workers)] = {"jobs_per_s": tp, "p50_ms": p50, "p99_ms": p99}
                    print(
                        f"{s.name:>14} x{workers}: {tp:8.0f} jobs/s  "
                        f"enqueue->start p50 {p50:6.1f} ms  p99 {p99:6.1f} ms",
                        flush=True,
                    )
    finally:
        for s in systems:
            await s.close()
    print()
    print(f"{'workers':>8} {'throughput ratio':>18} {'p50 ratio':>10} {'p99 ratio':>10}")
    for workers in (1, 4):
        ours, theirs = results[("tunix-rt", workers)], results[("procrastinate", workers)]
        print(
            f"{workers:>8} {ours['jobs_per_s'] / theirs['jobs_per_s']:>17.2f}x "
            f"{ours['p50_ms'] / theirs['p50_ms']:>9.2f}x {ours['p99_ms'] / theirs['p99_ms']:>9.2f}x"
        )
    print("(throughput ratio > 1 and latency ratios < 1 favour Tunix RT)")
    out = ROOT / "bench" / ".results" / "queue.json"
    out.parent.mkdir(exist_ok=True)
    payload = {
        "jobs": jobs,
        "latency_jobs": latency_jobs,
        "results": {f"{name} x{w}": v for (name, w), v in results.items()},
    }
    out.write_text(json.dumps(payload, indent=2) + "\n")
    print(f"results: {out.relative_to(ROOT)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_URL))
    parser.add_argument("--jobs", type=int, default=2000)
    parser.add_argument("--latency-jobs", type=int, default=200)
    parser.add_argument("--role", choices=["driver", "tunix-worker", "procrastinate-worker"])
    parser.add_argument("--out", type=Path)
    parser.add_argument("--name", default="w")
    args = parser.parse_args()
    if args.role == "tunix-worker":
        tunix_worker(args.database_url, args.name, args.out)
    elif args.role == "procrastinate-worker":
        procrastinate_worker(args.database_url, args.name, args.out)
    else:
        asyncio.run(drive(args.database_url, args.jobs, args.latency_jobs))


if __name__ == "__main__":
    main()
