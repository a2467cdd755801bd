"""Run one run to its end: prepare, spawn the child, stream its output, enforce limits.

The child (``python -m tunix_rt.training``) runs in its own process group so a cancel,
a timeout or a lost lease can end it and anything it started. Its output lines go into
``run_logs`` in small committed batches (SSE readers see a line within about a second);
``@tunix_rt {"event": "metric", ...}`` lines also become ``run_metrics`` rows. Cancel
requests arrive through the database, so any process can make them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tunix_rt.config import Settings
from tunix_rt.db import utcnow
from tunix_rt.models.run import ACTIVE_STATUSES, Run, RunLog, RunMetric
from tunix_rt.runs.capacity import Slots
from tunix_rt.runs.hooks import run_ended
from tunix_rt.runs.jobs import ChildSpec, get_job_kind
from tunix_rt.runs.queue import LeaseHook, renew_lease
from tunix_rt.training.protocol import parse_event

log = logging.getLogger(__name__)

FLUSH_SECONDS = 0.5
MAX_CHUNK_CHARS = 16_384
READ_LIMIT = 1 << 20
Reason = Literal["exit", "timeout", "cancelled", "lease_lost", "interrupted"]


Sessionmaker = async_sessionmaker[AsyncSession]
MetricHook = Callable[[dict[str, Any]], None]


class _SelfLease:
    """A lease for runs executed inline (sync API, CLI): if this process dies, the queue's
    reaper finds the expired lease and the run does not stay ``running`` forever."""

    def __init__(self, sessionmaker: Sessionmaker, settings: Settings, run_id: uuid.UUID) -> None:
        self.sessionmaker = sessionmaker
        self.run_id = run_id
        self.lease_seconds = settings.queue_lease_seconds
        self.every = settings.queue_heartbeat_seconds
        self.last = 0.0

    async def renew(self) -> bool:
        if time.monotonic() - self.last < self.every:
            return True
        self.last = time.monotonic()
        try:
            async with self.sessionmaker() as session:
                await session.execute(renew_lease(self.run_id, self.lease_seconds))
                await session.commit()
        except Exception as exc:  # a DB blip must not stop a healthy child
            log.warning("lease renew for run %s failed: %s", self.run_id, exc)
        return True


def lease_expiry(settings: Settings) -> Any:
    return utcnow() + timedelta(seconds=settings.queue_lease_seconds)


@dataclass
class LogWriter:
    """Buffers output lines and commits them every FLUSH_SECONDS with increasing seq."""

    sessionmaker: Sessionmaker
    run_id: uuid.UUID
    next_seq: int
    attempt: int = 0
    logs: list[dict[str, Any]] = field(default_factory=list)
    metrics: list[dict[str, Any]] = field(default_factory=list)
    error_line: str | None = None
    last_stderr: str | None = None
    # Called with each metric row as its line arrives (before it is stored).
    on_metric: MetricHook | None = None
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    def add(self, stream: str, line: str) -> None:
        line = line.replace("\x00", "\ufffd")[:MAX_CHUNK_CHARS]
        now = utcnow()
        self.logs.append(
            {
                "run_id": self.run_id,
                "seq": self.next_seq,
                "stream": stream,
                "chunk": line,
                "created_at": now,
            }
        )
        self.next_seq += 1
        if stream == "stderr" and line.strip():
            self.last_stderr = line.strip()
            if line.startswith("error: "):
                self.error_line = line[len("error: ") :].strip()
        if stream == "stdout":
            event = parse_event(line)
            if event and event.get("event") == "metric" and isinstance(event.get("step"), int):
                row = _metric_row(self.run_id, self.attempt, event, now)
                self.metrics.append(row)
                if self.on_metric is not None:
                    self.on_metric(row)

    async def flush(self) -> None:
        async with self._lock:
            if not self.logs and not self.metrics:
                return
            logs, metrics = self.logs, self.metrics
            self.logs, self.metrics = [], []
            try:
                async with self.sessionmaker() as session:
                    if logs:
                        await session.execute(insert(RunLog), logs)
                    if metrics:
                        await session.execute(insert(RunMetric), metrics)
                    await session.commit()
            except Exception as exc:  # keep the lines and try again on the next flush
                log.warning("storing logs of run %s failed: %s", self.run_id, exc)
                self.logs[:0], self.metrics[:0] = logs, metrics

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), FLUSH_SECONDS)
            await self.flush()


def _num(value: Any) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _metric_row(run_id: uuid.UUID, attempt: int, event: dict[str, Any], now: Any) -> dict[str, Any]:
    total = event.get("total_steps")
    return {
        "run_id": run_id,
        "step": int(event["step"]),
        "attempt": attempt,
        "loss": _num(event.get("loss")),
        "eval_loss": _num(event.get("eval_loss")),
        "learning_rate": _num(event.get("learning_rate")),
        "tokens_per_second": _num(event.get("tokens_per_second")),
        "elapsed_seconds": _num(event.get("elapsed_seconds")),
        "total_steps": total if isinstance(total, int) else None,
        "reward_mean": _num(event.get("reward_mean")),
        "reward_std": _num(event.get("reward_std")),
        "kl": _num(event.get("kl")),
        "accuracy": _num(event.get("accuracy")),
        "created_at": now,
    }


async def _pump(stream: asyncio.StreamReader, name: str, writer: LogWriter) -> None:
    while True:
        try:
            raw = await stream.readline()
        except ValueError:  # a line past READ_LIMIT: keep what arrives next
            raw = await stream.read(READ_LIMIT)
        if not raw:
            return
        writer.add(name, raw.decode("utf-8", "replace").rstrip("\r\n"))


def _signal_group(proc: asyncio.subprocess.Process, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, sig)


async def terminate(
    proc: asyncio.subprocess.Process, grace: float, writer: LogWriter | None = None
) -> None:
    """SIGTERM the child's process group; SIGKILL it if still alive after ``grace``."""
    if proc.returncode is None:
        _signal_group(proc, signal.SIGTERM)
        try:
            await asyncio.wait_for(proc.wait(), grace)
        except TimeoutError:
            if writer is not None:
                writer.add("system", f"child still running after {grace:g} s: SIGKILL")
            _signal_group(proc, signal.SIGKILL)
            await proc.wait()
    _signal_group(proc, signal.SIGKILL)  # stragglers the child left in its group


async def _start(
    sessionmaker: Sessionmaker, settings: Settings, run_id: uuid.UUID, worker_id: str
) -> Run | None:
    """Mark the run running under this worker; None when it must not run."""
    async with sessionmaker() as session:
        run = await session.get(Run, run_id)
        if run is None:
            return None
        if run.status == "cancel_requested":
            reason = run.message or "cancelled by request"
            await _set_final(session, run_id, worker_id, "cancelled", None, reason)
            await session.commit()
            return None
        now = utcnow()
        result = await session.execute(
            update(Run)
            .where(Run.id == run_id, Run.status.in_(("pending", "running")))
            .values(
                status="running",
                worker_id=worker_id,
                started_at=func.coalesce(Run.started_at, now),
                lease_expires_at=func.coalesce(Run.lease_expires_at, lease_expiry(settings)),
                completed_at=None,
                exit_code=None,
            )
        )
        if not getattr(result, "rowcount", 0):
            return None
        await session.commit()
        return await session.get(Run, run_id, populate_existing=True)


async def _set_final(
    session: AsyncSession,
    run_id: uuid.UUID,
    worker_id: str,
    status: str,
    exit_code: int | None,
    message: str | None,
) -> bool:
    now = utcnow()
    started = await session.scalar(select(Run.started_at).where(Run.id == run_id))
    result = await session.execute(
        update(Run)
        .where(
            Run.id == run_id,
            Run.status.in_(ACTIVE_STATUSES),
            (Run.worker_id == worker_id) | Run.worker_id.is_(None),
        )
        .values(
            status=status,
            exit_code=exit_code,
            message=message,
            completed_at=now,
            lease_expires_at=None,
            duration_seconds=(now - started).total_seconds() if started else None,
        )
    )
    ended = bool(getattr(result, "rowcount", 0))
    if ended:
        await run_ended(session, run_id)
    return ended


async def _finish(
    sessionmaker: Sessionmaker,
    settings: Settings,
    run_id: uuid.UUID,
    worker_id: str,
    reason: Reason,
    exit_code: int | None,
    writer: LogWriter,
) -> None:
    async with sessionmaker() as session:
        if reason == "exit" and exit_code == 0:
            try:
                run = await session.get(Run, run_id, populate_existing=True)
                if run is not None:
                    await get_job_kind(run.kind).finalize(session, settings, run)
                await _set_final(session, run_id, worker_id, "completed", 0, None)
                await session.commit()
                return
            except Exception as exc:
                log.exception("finalize of run %s failed", run_id)
                await session.rollback()
                writer.add("system", f"finalize failed: {exc}")
                await writer.flush()
                message = f"finalize failed: {exc}"
                await _set_final(session, run_id, worker_id, "failed", 0, message)
                await session.commit()
                return
        status, message = _outcome(reason, exit_code, writer, settings)
        if reason == "cancelled":  # the canceller may have said why (cancel_run's reason)
            given = await session.scalar(select(Run.message).where(Run.id == run_id))
            message = given or message
        await _set_final(session, run_id, worker_id, status, exit_code, message)
        await session.commit()


def _outcome(
    reason: Reason, exit_code: int | None, writer: LogWriter, settings: Settings
) -> tuple[str, str]:
    if reason == "timeout":
        return "timeout", "stopped: the run exceeded its timeout"
    if reason == "cancelled":
        return "cancelled", "cancelled by request"
    if reason == "interrupted":
        return "failed", "interrupted: the process executing the run stopped"
    if writer.error_line:
        return "failed", writer.error_line
    tail = f": {writer.last_stderr}" if writer.last_stderr else ""
    return "failed", f"the training process exited with code {exit_code}{tail}"


async def _prepare(sessionmaker: Sessionmaker, settings: Settings, run_id: uuid.UUID) -> ChildSpec:
    async with sessionmaker() as session:
        run = await session.get(Run, run_id, populate_existing=True)
        assert run is not None
        spec = await get_job_kind(run.kind).prepare(session, settings, run)
        await session.commit()
        return spec


CLOSING_LINE = "child exited with code"


async def _log_position(sessionmaker: Sessionmaker, run_id: uuid.UUID) -> tuple[int, str | None]:
    """The next seq of the run's log, and its last line so far."""
    async with sessionmaker() as session:
        last = (
            await session.execute(
                select(RunLog.seq, RunLog.chunk)
                .where(RunLog.run_id == run_id)
                .order_by(RunLog.seq.desc())
                .limit(1)
            )
        ).first()
    return (int(last.seq) + 1, last.chunk) if last else (1, None)


async def _cancel_requested(sessionmaker: Sessionmaker, run_id: uuid.UUID) -> bool:
    try:
        async with sessionmaker() as session:
            status = await session.scalar(select(Run.status).where(Run.id == run_id))
    except Exception as exc:
        log.warning("checking run %s for cancel failed: %s", run_id, exc)
        return False
    return status == "cancel_requested"


async def _supervise(
    proc: asyncio.subprocess.Process,
    sessionmaker: Sessionmaker,
    settings: Settings,
    run: Run,
    lease: LeaseHook,
) -> Reason:
    """Wait for the child; return why it ended (or why it must be stopped)."""
    deadline = time.monotonic() + run.timeout_seconds if run.timeout_seconds else None
    waiter = asyncio.ensure_future(proc.wait())
    try:
        while True:
            done, _ = await asyncio.wait({waiter}, timeout=settings.run_poll_seconds)
            if done:
                return "exit"
            if deadline is not None and time.monotonic() >= deadline:
                return "timeout"
            if await _cancel_requested(sessionmaker, run.id):
                return "cancelled"
            if not await lease.renew():
                return "lease_lost"
    finally:
        if not waiter.done():
            waiter.cancel()


async def _fail_early(
    sessionmaker: Sessionmaker, run_id: uuid.UUID, worker_id: str, writer: LogWriter, message: str
) -> None:
    writer.add("system", f"error: {message}")
    await writer.flush()
    async with sessionmaker() as session:
        await _set_final(session, run_id, worker_id, "failed", None, message)
        await session.commit()


STOP_NOTES: dict[Reason, str] = {
    "timeout": "timeout reached: sending SIGTERM",
    "cancelled": "cancel requested: sending SIGTERM",
    "lease_lost": "lease lost: stopping the child and leaving the run to the queue",
    "interrupted": "interrupted: stopping the child",
}


async def execute_run(
    sessionmaker: Sessionmaker,
    settings: Settings,
    run_id: uuid.UUID,
    *,
    worker_id: str,
    lease: LeaseHook | None = None,
    on_metric: MetricHook | None = None,
) -> None:
    """Run ``run_id`` to a final status (or until its lease is lost). ``on_metric`` sees
    each metric row as the child reports it (a tuning trial feeds them to its scheduler)."""
    run = await _start(sessionmaker, settings, run_id, worker_id)
    if run is None:
        return
    next_seq, last_line = await _log_position(sessionmaker, run_id)
    writer = LogWriter(sessionmaker, run_id, next_seq, attempt=run.attempt, on_metric=on_metric)
    if last_line is not None and not last_line.startswith(CLOSING_LINE):
        # The process that ran the previous attempt died without closing its log: lines
        # it had buffered (up to FLUSH_SECONDS of output) were never stored.
        writer.add(
            "system",
            f"--- log gap: the previous attempt's process stopped without closing the log; "
            f"up to {FLUSH_SECONDS:g} s of its last output may be missing above ---",
        )
    hook: LeaseHook = lease or _SelfLease(sessionmaker, settings, run_id)
    try:
        spec = await _prepare(sessionmaker, settings, run_id)
    except Exception as exc:
        detail = getattr(exc, "detail", None) or str(exc) or type(exc).__name__
        await _fail_early(sessionmaker, run_id, worker_id, writer, f"prepare: {detail}")
        return
    writer.add("system", f"attempt {run.attempt}: starting {' '.join(spec.argv[1:])}")
    env = {**compile_cache_env(settings), **os.environ, "PYTHONUNBUFFERED": "1", **spec.env}
    try:
        proc = await asyncio.create_subprocess_exec(
            *spec.argv,
            cwd=str(spec.cwd),
            env=env,
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            start_new_session=True,
            limit=READ_LIMIT,
        )
    except OSError as exc:
        await _fail_early(sessionmaker, run_id, worker_id, writer, f"cannot start the child: {exc}")
        return
    assert proc.stdout is not None and proc.stderr is not None
    stop_flushing = asyncio.Event()
    flusher = asyncio.create_task(writer.run(stop_flushing))
    pumps = [
        asyncio.create_task(_pump(proc.stdout, "stdout", writer)),
        asyncio.create_task(_pump(proc.stderr, "stderr", writer)),
    ]
    reason: Reason = "interrupted"
    try:
        try:
            reason = await _supervise(proc, sessionmaker, settings, run, hook)
            if reason != "exit":
                writer.add("system", STOP_NOTES[reason])
                grace = spec.cancel_grace_seconds or settings.run_cancel_grace_seconds
                await terminate(proc, grace, writer)
        finally:
            if proc.returncode is None:  # cancelled from outside (shutdown): stop the child
                writer.add("system", STOP_NOTES["interrupted"])
                await asyncio.shield(terminate(proc, min(settings.run_cancel_grace_seconds, 5.0)))
            _, late = await asyncio.wait(pumps, timeout=5.0)
            for task in late:
                task.cancel()
            writer.add("system", f"{CLOSING_LINE} {proc.returncode}")
            stop_flushing.set()
            await asyncio.shield(flusher)
            await asyncio.shield(writer.flush())
    except asyncio.CancelledError:
        if lease is None:  # inline run: nobody else will close it
            await asyncio.shield(
                _finish(sessionmaker, settings, run_id, worker_id, reason, None, writer)
            )
        raise
    if reason == "lease_lost":
        return
    await _finish(sessionmaker, settings, run_id, worker_id, reason, proc.returncode, writer)


def compile_cache_env(settings: Settings) -> dict[str, str]:
    """JAX's persistent compilation cache for the children (``TUNIX_RT_JAX_COMPILE_CACHE``):
    every program cached, however quick its compile (the tiny models' are < 1 s each, and
    a child compiles several)."""
    if not settings.jax_compile_cache:
        return {}
    return jax_cache_env(Path(settings.data_dir).resolve() / "cache" / "jax")


def jax_cache_env(directory: Path) -> dict[str, str]:
    return {
        "JAX_COMPILATION_CACHE_DIR": str(directory),
        "JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS": "0",
        "JAX_PERSISTENT_CACHE_MIN_ENTRY_SIZE_BYTES": "-1",
    }


def inline_worker_id() -> str:
    return f"inline:{socket.gethostname()}:{os.getpid()}"


CreateHeld = Callable[[AsyncSession, str], Awaitable[Run]]


async def run_inline(
    sessionmaker: Sessionmaker,
    settings: Settings,
    slots: Slots,
    create: CreateHeld,
    *,
    on_stored: Callable[[Run], None] | None = None,
) -> uuid.UUID:
    """Run a new run in this process (sync API modes, the CLI) within its capacity.

    Waits for a free slot, then ``create(session, worker_id)`` validates and inserts the
    run held by this process in one transaction, which commits before the child starts
    (the executor's own transactions need the row); ``on_stored`` sees the committed row
    (the CLI starts following its log then). Returns the run's id once it ended."""
    worker_id = inline_worker_id()
    async with slots.hold():
        async with sessionmaker() as session, session.begin():
            run = await create(session, worker_id)
        if on_stored is not None:
            on_stored(run)
        await execute_run(sessionmaker, settings, run.id, worker_id=worker_id)
    return run.id


async def start_inline(
    sessionmaker: Sessionmaker, settings: Settings, slots: Slots, create: CreateHeld
) -> tuple[Run, asyncio.Task[uuid.UUID]]:
    """``run_inline`` in the background: returns the committed row (so the caller can
    follow its log while it runs) and the task to await. A request refused before the
    row was stored raises its error here."""
    stored: asyncio.Future[Run] = asyncio.get_running_loop().create_future()
    execution = asyncio.create_task(
        run_inline(sessionmaker, settings, slots, create, on_stored=stored.set_result)
    )
    waiters: list[asyncio.Future[Any]] = [stored, execution]
    await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
    if not stored.done():
        await execution  # raises the DomainError that refused the request
    return stored.result(), execution
