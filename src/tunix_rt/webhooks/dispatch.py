"""The webhook sender: a background task in every process that executes runs (the server
with its embedded worker, ``tunix-rt worker``) sending due deliveries every few seconds.
Several senders may run at once (claims are conditional updates)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tunix_rt.webhooks.service import deliver_due

log = logging.getLogger(__name__)
POLL_SECONDS = 2.0


async def send_forever(
    sessionmaker: async_sessionmaker[AsyncSession], poll_seconds: float = POLL_SECONDS
) -> None:
    while True:
        try:
            while await deliver_due(sessionmaker):
                pass
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a DB blip must not stop notifications for good
            log.warning("webhook sender: %s", exc)
        await asyncio.sleep(poll_seconds)


@contextlib.asynccontextmanager
async def webhook_sender(
    sessionmaker: async_sessionmaker[AsyncSession], *, enabled: bool = True
) -> AsyncIterator[None]:
    if not enabled:
        yield
        return
    task = asyncio.create_task(send_forever(sessionmaker), name="webhook-sender")
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
