"""A queue worker: claims pending runs and executes them in N concurrent slots.

Any number of workers (stand-alone ``tunix-rt worker`` processes, or the one embedded in
``tunix-rt serve``) share one database. Each held run has a lease renewed by heartbeat;
every worker also runs the reaper, which returns runs of dead workers to the queue.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tunix_rt.config import Settings
from tunix_rt.runs.capacity import Slots
from tunix_rt.runs.gc import retention_pass
from tunix_rt.runs.queue import Claim, RunQueue, Waker

log = logging.getLogger(__name__)

# execute_run(sessionmaker, settings, run_id, *, worker_id, lease) -> None
Executor = Callable[..., Awaitable[None]]


def default_worker_id(suffix: str = "") -> str:
    base = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
    return f"{base}:{suffix}" if suffix else base


def default_executor() -> Executor:
    from tunix_rt.runs.executor import execute_run

    return execute_run


class Lease:
    """The LeaseHook handed to the executor for one held run."""

    def __init__(self, worker: Worker, claim: Claim) -> None:
        self._worker = worker
        self.run_id = claim.run_id
        self.lost = False
        self.surrendered = False
        self._last = time.monotonic()
        self._lock = asyncio.Lock()

    async def renew(self, *, force: bool = False) -> bool:
        """Extend the lease (at most once per heartbeat interval); False = stop the child."""
        if self.lost or self.surrendered:
            return False
        settings = self._worker.settings
        if not force and time.monotonic() - self._last < settings.queue_heartbeat_seconds:
            return True
        async with self._lock:
            if self.lost or self.surrendered:
                return False
            try:
                ok = await self._worker.queue.renew(
                    self.run_id, self._worker.worker_id, settings.queue_lease_seconds
                )
            except Exception as exc:  # a DB blip: keep going until the lease really lapses
                log.warning("lease renew for %s failed: %s", self.run_id, exc)
                return True
            self._last = time.monotonic()
            if not ok:  # reaped and maybe re-claimed elsewhere, or already finished
                self.lost = True
                log.info("worker %s lost the lease of run %s", self._worker.worker_id, self.run_id)
            return ok


class Worker:
    """Claim → execute → repeat, with heartbeat, reaper and graceful stop."""

    gc_interval_seconds = 86400.0

    def __init__(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        settings: Settings,
        *,
        worker_id: str | None = None,
        concurrency: int | None = None,
        min_priority: int | None = None,
        queues: Sequence[str] | None = None,
        executor: Executor | None = None,
        slots: Slots | None = None,
    ) -> None:
        self.sessionmaker = sessionmaker
        self.settings = settings
        self.worker_id = worker_id or default_worker_id()
        self.concurrency = concurrency or settings.worker_concurrency
        # Shared with this process's inline runs when given (the embedded worker).
        self.slots = slots or Slots(self.concurrency)
        self.min_priority = min_priority
        self.queues = list(queues) if queues else None
        self.queue = RunQueue(sessionmaker, persistent=True)
        self._executor = executor
        self._active: dict[asyncio.Task[None], Lease] = {}
        self._stopping = asyncio.Event()
        self._waker: Waker | None = None
        self.processed = 0

    def stop(self) -> None:
        """Ask the worker to stop claiming, finish or hand back its runs, and return."""
        self._stopping.set()
        if self._waker is not None:
            self._waker.poke()

    @property
    def active_run_ids(self) -> list[uuid.UUID]:
        return [lease.run_id for lease in self._active.values()]

    async def run(self) -> None:
        """Serve until ``stop()``; never leaves a claimed run behind when stopped."""
        self._executor = self._executor or default_executor()
        self._waker = Waker(self.settings.resolved_database_url)
        await self._waker.start()
        self.slots.on_release(self._waker.poke)
        background = [
            asyncio.create_task(self._heartbeat_loop()),
            asyncio.create_task(self._reaper_loop()),
        ]
        if self.settings.run_retention_days is not None:
            background.append(asyncio.create_task(self._gc_loop()))
        log.info("worker %s: %d slot(s)", self.worker_id, self.concurrency)
        try:
            await self._claim_loop()
        finally:
            try:
                await self._drain()
            finally:
                for task in background:
                    task.cancel()
                for task in background:
                    with contextlib.suppress(asyncio.CancelledError):
                        await task
                await self._waker.stop()
                await self.queue.close()

    async def _claim_loop(self) -> None:
        assert self._waker is not None
        poll = self.settings.queue_poll_seconds
        while not self._stopping.is_set():
            self._waker.clear()
            claimed = False
            if self.slots.try_take():
                try:
                    claim = await self.queue.claim(
                        self.worker_id,
                        self.settings.queue_lease_seconds,
                        min_priority=self.min_priority,
                        queues=self.queues,
                    )
                except Exception as exc:
                    log.warning("claim failed: %s", exc)
                    claim = None
                if claim is not None:
                    self._start(claim)
                    claimed = True
                else:
                    self.slots.release(quiet=True)
            if not claimed:
                await self._waker.wait(poll)

    def _start(self, claim: Claim) -> None:
        assert self._executor is not None
        lease = Lease(self, claim)
        coro = self._executor(
            self.sessionmaker,
            self.settings,
            claim.run_id,
            worker_id=self.worker_id,
            lease=lease,
        )
        task: asyncio.Task[None] = asyncio.create_task(self._guard(coro, lease))
        self._active[task] = lease
        task.add_done_callback(self._finished)

    async def _guard(self, coro: Awaitable[None], lease: Lease) -> None:
        try:
            await coro
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("executor crashed on run %s", lease.run_id)
        finally:
            self.processed += 1

    def _finished(self, task: asyncio.Task[None]) -> None:
        if self._active.pop(task, None) is not None:
            self.slots.release()  # pokes the waker: a slot is free

    async def _heartbeat_loop(self) -> None:
        """Renew every held lease; cancel runs whose lease is gone and did not stop."""
        interval = self.settings.queue_heartbeat_seconds
        lost_since: dict[asyncio.Task[None], float] = {}
        while True:
            await asyncio.sleep(interval)
            for task, lease in list(self._active.items()):
                if not await lease.renew(force=True) and lease.lost:
                    first = lost_since.setdefault(task, time.monotonic())
                    # The executor should stop its child on its own; this is the backstop.
                    if time.monotonic() - first > self.settings.queue_lease_seconds:
                        task.cancel()
            for task in list(lost_since):
                if task.done():
                    lost_since.pop(task)

    async def _reaper_loop(self) -> None:
        interval = max(0.5, min(self.settings.queue_lease_seconds / 2, 30.0))
        while True:
            try:
                await self.queue.reap()
            except Exception as exc:
                log.warning("reaper failed: %s", exc)
            await asyncio.sleep(interval)

    async def _gc_loop(self) -> None:
        """With a retention set: collect garbage at start, then once a day."""
        while True:
            try:
                await retention_pass(self.sessionmaker, self.settings)
            except Exception as exc:
                log.warning("gc failed: %s", exc)
            await asyncio.sleep(self.gc_interval_seconds)

    async def _drain(self) -> None:
        """Let running runs finish within the grace period, then stop and re-queue them."""
        if not self._active:
            return
        grace = self.settings.worker_shutdown_grace_seconds
        tasks = set(self._active)
        log.info("worker %s: waiting up to %.0fs for %d run(s)", self.worker_id, grace, len(tasks))
        _, pending = await asyncio.wait(tasks, timeout=grace) if grace > 0 else (set(), tasks)
        leases = {task: self._active.get(task) for task in pending}
        for lease in leases.values():
            if lease is not None:
                lease.surrendered = True  # the executor's next renew() stops the child
        if pending:
            _, still = await asyncio.wait(pending, timeout=max(15.0, grace))
            for task in still:
                task.cancel()
            for task in still:
                with contextlib.suppress(BaseException):
                    await task
        for lease in leases.values():
            if lease is None:
                continue
            status = await self.queue.release(
                lease.run_id, self.worker_id, f"re-queued: worker {self.worker_id} shut down"
            )
            if status is not None:
                log.info("run %s handed back (%s)", lease.run_id, status)


async def run_worker(
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
    stop: asyncio.Event,
    **kwargs: Any,
) -> Worker:
    """Run a worker until ``stop`` is set (used by the CLI)."""
    worker = Worker(sessionmaker, settings, **kwargs)
    task = asyncio.create_task(worker.run())
    stopper = asyncio.create_task(stop.wait())
    await asyncio.wait({task, stopper}, return_when=asyncio.FIRST_COMPLETED)
    worker.stop()
    stopper.cancel()
    await task
    return worker


@contextlib.asynccontextmanager
async def embedded_worker(
    sessionmaker: async_sessionmaker[AsyncSession], settings: Settings, slots: Slots
) -> AsyncIterator[Worker | None]:
    """The worker inside ``tunix-rt serve`` (TUNIX_RT_EMBEDDED_WORKER, ``--no-worker``),
    sharing ``slots`` with the server's inline runs."""
    if not settings.embedded_worker:
        yield None
        return
    worker = Worker(sessionmaker, settings, worker_id=default_worker_id("embedded"), slots=slots)
    task = asyncio.create_task(worker.run())
    try:
        yield worker
    finally:
        worker.stop()
        await task
