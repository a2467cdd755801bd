"""GET /api/health reports the database too."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest

from tests.conftest import serve_in_process
from tunix_rt.app import create_app
from tunix_rt.config import load_settings


async def test_healthy(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/health")
    assert response.status_code == 200
    assert response.json() == {"status": "healthy", "db": "up"}


async def test_database_down_is_503(tmp_path: Path) -> None:
    settings = load_settings(
        database_url="postgresql+asyncpg://postgres@127.0.0.1:9/nothing",
        data_dir=tmp_path,
        db_pool_timeout=1,
    )
    app = create_app(settings, check_schema=False)
    async with serve_in_process(app) as client:
        response = await client.get("/api/health")
    assert response.status_code == 503
    assert response.json() == {"status": "degraded", "db": "down"}


async def test_pool_settings_are_applied(tmp_path: Path) -> None:
    from tunix_rt.db import create_engine

    settings = load_settings(
        database_url="postgresql+asyncpg://postgres@127.0.0.1:9/nothing",
        data_dir=tmp_path,
        db_pool_size=7,
        db_max_overflow=3,
        db_pool_timeout=11,
    )
    engine = create_engine(settings)
    pool = engine.pool
    assert pool.size() == 7  # type: ignore[attr-defined]
    assert pool._max_overflow == 3  # type: ignore[attr-defined]
    assert pool._timeout == 11  # type: ignore[attr-defined]
    await engine.dispose()


async def test_sqlite_runs_in_wal_mode(client: httpx.AsyncClient, app: object) -> None:
    from sqlalchemy import text

    engine = app.state.engine  # type: ignore[attr-defined]
    if engine.dialect.name != "sqlite":
        pytest.skip("SQLite-only pragma check")
    async with engine.connect() as conn:
        mode = (await conn.execute(text("PRAGMA journal_mode"))).scalar_one()
        fks = (await conn.execute(text("PRAGMA foreign_keys"))).scalar_one()
    assert (mode, fks) == ("wal", 1)


async def test_openapi_docs_and_unknown_api_route(client: httpx.AsyncClient) -> None:
    assert (await client.get("/docs")).status_code == 200
    schema = (await client.get("/openapi.json")).json()
    assert "/api/traces" in schema["paths"]
    assert schema["paths"]["/api/traces"]["post"]["operationId"] == "create_trace"
    missing = await client.get("/api/nothing-here")
    assert missing.status_code == 404
    assert missing.headers["content-type"].startswith("application/json")
    page = await client.get("/traces/some/client/route")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
