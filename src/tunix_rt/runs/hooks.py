"""Hooks called in the transaction that ends a run (completed, failed or cancelled), so a
domain above ``runs`` (webhooks) can record what happened atomically with the status
change, without ``runs`` importing it. Registered where the app is assembled."""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable

from sqlalchemy.ext.asyncio import AsyncSession

EndHook = Callable[[AsyncSession, uuid.UUID], Awaitable[None]]
_END_HOOKS: list[EndHook] = []


def register_end_hook(hook: EndHook) -> None:
    if hook not in _END_HOOKS:
        _END_HOOKS.append(hook)


async def run_ended(session: AsyncSession, run_id: uuid.UUID) -> None:
    """Call every end hook for ``run_id`` (its row already holds the final status)."""
    for hook in _END_HOOKS:
        await hook(session, run_id)
