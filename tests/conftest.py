"""Fixtures: every DB-touching test runs on SQLite, and on Postgres when
TUNIX_RT_TEST_DATABASE_URL is set. The schema is built once per database with the real
migrations; each test starts from empty tables."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import make_url, text
from sqlalchemy.ext.asyncio import create_async_engine

from tunix_rt import migrations
from tunix_rt.app import create_app
from tunix_rt.config import Settings, load_settings
from tunix_rt.db import Base
from tunix_rt.jobs import register_job_kinds
from tunix_rt.runs.executor import jax_cache_env

PG_URL = os.environ.get("TUNIX_RT_TEST_DATABASE_URL", "")
# Every test's training and generation children share one JAX compilation cache (the
# product keeps one per data directory; each test has its own): a shape compiled once in
# the suite is loaded, not compiled again. It wins over the per-data-dir default.
for _name, _value in jax_cache_env(
    Path(__file__).resolve().parents[1] / "var" / "test-cache" / "jax"
).items():
    os.environ.setdefault(_name, _value)


@pytest.fixture(scope="session", autouse=True)
def _job_kinds() -> None:
    """Tests that execute runs without building the app assemble the kinds as it does."""
    register_job_kinds()


BACKENDS = ["sqlite", "postgres"] if PG_URL else ["sqlite"]


def worker_database_url(url: str) -> str:
    """Under pytest-xdist every worker gets its own Postgres database (``<db>_gw0``, …)
    on the same server, so workers never drop each other's tables."""
    worker = os.environ.get("PYTEST_XDIST_WORKER")
    if not worker:
        return url
    parsed = make_url(url)
    return parsed.set(database=f"{parsed.database or 'postgres'}_{worker}").render_as_string(
        hide_password=False
    )


async def reset_postgres(url: str) -> None:
    """Create the database if needed, then drop everything in its public schema so the
    migrations start from empty."""
    parsed = make_url(url)
    admin = create_async_engine(parsed.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as conn:
            exists = await conn.scalar(
                text("SELECT 1 FROM pg_database WHERE datname = :name"),
                {"name": parsed.database},
            )
            if not exists:
                await conn.execute(text(f'CREATE DATABASE "{parsed.database}"'))
    finally:
        await admin.dispose()
    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.execute(text("DROP SCHEMA IF EXISTS public CASCADE"))
            await conn.execute(text("CREATE SCHEMA public"))
    finally:
        await engine.dispose()


def empty_database(backend: str, directory: Path, suffix: str = "") -> str:
    """A URL of an empty database of the given backend; ``suffix`` names a Postgres
    database of its own beside the shared one (tests that leave odd schemas behind)."""
    if backend == "sqlite":
        return f"sqlite+aiosqlite:///{directory / 'test.db'}"
    url = worker_database_url(PG_URL)
    if suffix:
        parsed = make_url(url)
        url = parsed.set(database=f"{parsed.database}_{suffix}").render_as_string(
            hide_password=False
        )
    asyncio.run(reset_postgres(url))
    return url


@pytest.fixture(scope="session", params=BACKENDS)
def database_url(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> str:
    """A migrated database shared by a session's tests of one backend."""
    url = empty_database(request.param, tmp_path_factory.mktemp(request.param))
    migrations.upgrade(url)
    return url


async def truncate_all(url: str) -> None:
    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            for table in reversed(Base.metadata.sorted_tables):
                await conn.execute(table.delete())
    finally:
        await engine.dispose()


@pytest.fixture
def clean_db(database_url: str) -> Iterator[str]:
    """The test database URL, emptied after the test."""
    yield database_url
    asyncio.run(truncate_all(database_url))


@pytest.fixture
def settings(clean_db: str, tmp_path: Path) -> Settings:
    # API tests run without the embedded queue worker and without API tokens (whatever
    # TUNIX_RT_AUTH/TUNIX_RT_HOST say); queue and auth tests turn them on explicitly.
    return load_settings(
        database_url=clean_db,
        data_dir=tmp_path / "var",
        rediai_mode="mock",
        embedded_worker=False,
        auth="off",
    )


@pytest.fixture
def app(settings: Settings) -> FastAPI:
    return create_app(settings)


@asynccontextmanager
async def serve_in_process(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """An in-process client with the app's lifespan (engine, schema check) running."""
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as c:
            yield c


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with serve_in_process(app) as c:
        yield c


@pytest.fixture
def app_factory(
    settings: Settings,
) -> Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]:
    """Build a client for an app with some settings overridden."""

    def factory(**overrides: Any) -> AbstractAsyncContextManager[httpx.AsyncClient]:
        return serve_in_process(create_app(settings.model_copy(update=overrides)))

    return factory


def make_trace(
    prompt: str = "What is 2 + 3?",
    steps: int = 2,
    step_len: int = 20,
    meta: dict[str, object] | None = None,
    answer: str = "5",
) -> dict[str, object]:
    trace: dict[str, object] = {
        "trace_version": "1.0",
        "prompt": prompt,
        "final_answer": answer,
        "steps": [
            {"i": i, "type": "compute", "content": (f"step {i} " + "x" * step_len)[:step_len]}
            for i in range(steps)
        ],
    }
    if meta is not None:
        trace["meta"] = meta
    return trace
