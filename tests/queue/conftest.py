"""Queue test helpers: a sessionmaker on the test database and pending-run factories."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tunix_rt.config import Settings
from tunix_rt.db import create_engine, create_sessionmaker, utcnow
from tunix_rt.models.run import Run
from tunix_rt.runs.queue import enqueue


@pytest.fixture
def queue_settings(settings: Settings) -> Settings:
    return settings.model_copy(
        update={
            "queue_lease_seconds": 2.0,
            "queue_heartbeat_seconds": 0.3,
            "queue_poll_seconds": 0.5,
            "worker_shutdown_grace_seconds": 0.5,
        }
    )


@pytest.fixture
async def sm(queue_settings: Settings) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = create_engine(queue_settings)
    try:
        yield create_sessionmaker(engine)
    finally:
        await engine.dispose()


async def add_runs(
    sm: async_sessionmaker[AsyncSession],
    n: int,
    *,
    priority: int = 0,
    max_attempts: int = 3,
    spread_seconds: float = 0.0,
) -> list[uuid.UUID]:
    """Insert ``n`` pending runs (queued ``spread_seconds`` apart) in one transaction."""
    base = utcnow()
    runs = [
        Run(
            id=uuid.uuid4(),
            kind="train",
            mode="dry-run",
            status="pending",
            model_id="tunix-rt/tiny-gemma",
            config={},
            output_dir=f"/tmp/noop/{i}",
            priority=priority,
            max_attempts=max_attempts,
            queued_at=base + timedelta(seconds=i * spread_seconds),
        )
        for i in range(n)
    ]
    async with sm() as session:
        session.add_all(runs)
        await session.flush()
        await enqueue(session)
        await session.commit()
    return [r.id for r in runs]


async def get_run(sm: async_sessionmaker[AsyncSession], run_id: uuid.UUID) -> Run:
    async with sm() as session:
        return (await session.execute(select(Run).where(Run.id == run_id))).scalar_one()
