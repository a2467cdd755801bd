"""How many runs one process executes at once (``TUNIX_RT_WORKER_CONCURRENCY``).

The embedded queue worker and inline runs (sync ``POST /api/tunix/run``, sync evaluation,
``tunix-rt runs submit`` without ``--async``) take their slots from the same ``Slots``, so
a burst of sync requests queues behind the limit instead of training side by side.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager


class Slots:
    def __init__(self, size: int) -> None:
        self.size = size
        self.busy = 0
        self._freed = asyncio.Condition()
        self._listeners: list[Callable[[], None]] = []
        self._notices: set[asyncio.Task[None]] = set()

    @property
    def free(self) -> int:
        return self.size - self.busy

    def on_release(self, callback: Callable[[], None]) -> None:
        """Call ``callback`` whenever a slot frees up (a worker claims again)."""
        self._listeners.append(callback)

    def try_take(self) -> bool:
        if self.busy >= self.size:
            return False
        self.busy += 1
        return True

    def release(self, *, quiet: bool = False) -> None:
        """Free a slot; ``quiet`` skips the release callbacks (a worker handing back the
        slot it took for a claim that found nothing must not wake itself)."""
        self.busy = max(0, self.busy - 1)
        if not quiet:
            for callback in self._listeners:
                callback()
        task = asyncio.ensure_future(self._notify())
        self._notices.add(task)
        task.add_done_callback(self._notices.discard)

    async def _notify(self) -> None:
        async with self._freed:
            self._freed.notify_all()

    @asynccontextmanager
    async def hold(self) -> AsyncIterator[None]:
        """Wait for a slot and hold it for the block."""
        async with self._freed:
            await self._freed.wait_for(self.try_take)
        try:
            yield
        finally:
            self.release()
