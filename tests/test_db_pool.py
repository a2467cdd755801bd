"""The Postgres pool pings a connection only when it sat idle past the bypass window, and
a connection that died while idle is replaced without the caller seeing an error."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

from tunix_rt import db
from tunix_rt.config import Settings


async def test_pre_ping_only_after_idle_and_dead_connections_are_replaced(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    if not settings.resolved_database_url.startswith("postgresql"):
        pytest.skip("the ping-if-idle pool is Postgres's (SQLite has no server to lose)")
    monkeypatch.setattr(db, "PING_AFTER_IDLE_SECONDS", 0.2)
    engine = db.create_engine(settings.model_copy(update={"db_pool_size": 1}))
    pings = 0
    do_ping = engine.dialect.do_ping

    def counting_ping(dbapi_connection: object) -> bool:
        nonlocal pings
        pings += 1
        return do_ping(dbapi_connection)

    monkeypatch.setattr(engine.dialect, "do_ping", counting_ping)
    pid_sql = text("SELECT pg_backend_pid()")
    try:
        async with engine.connect() as conn:  # fresh: no ping
            pid = await conn.scalar(pid_sql)
        async with engine.connect() as conn:  # used a moment ago: no ping
            assert await conn.scalar(pid_sql) == pid
        assert pings == 0

        await asyncio.sleep(0.3)
        async with engine.connect() as conn:  # idle past the window: pinged, alive
            assert await conn.scalar(pid_sql) == pid
        assert pings == 1

        admin = create_async_engine(settings.resolved_database_url)
        try:  # the server drops the pooled connection while it is idle
            async with admin.connect() as other:
                await other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        finally:
            await admin.dispose()
        await asyncio.sleep(0.3)
        async with engine.connect() as conn:  # the ping finds it dead: a new one
            new_pid = await conn.scalar(pid_sql)
        assert new_pid not in (pid, None)
        assert pings == 2
    finally:
        await engine.dispose()
