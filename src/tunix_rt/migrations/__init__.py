"""Alembic migrations, driven programmatically (no alembic.ini needed)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import pool
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

MIGRATIONS_DIR = Path(__file__).parent


class SchemaOutOfDate(Exception):
    """The database is not at the migration head this code expects."""


def alembic_config(database_url: str) -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    # ConfigParser interpolation would choke on '%' in passwords.
    cfg.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    cfg.attributes["database_url"] = database_url
    return cfg


async def _run_with_connection(database_url: str, fn: Callable[[Config], object]) -> None:
    engine = create_async_engine(database_url, poolclass=pool.NullPool)
    try:
        async with engine.begin() as conn:

            def run(sync_conn: Connection) -> None:
                cfg = alembic_config(database_url)
                cfg.attributes["connection"] = sync_conn
                fn(cfg)

            await conn.run_sync(run)
    finally:
        await engine.dispose()


async def upgrade_async(database_url: str, revision: str = "head") -> None:
    _ensure_sqlite_dir(database_url)
    await _run_with_connection(database_url, lambda cfg: command.upgrade(cfg, revision))


async def downgrade_async(database_url: str, revision: str = "-1") -> None:
    await _run_with_connection(database_url, lambda cfg: command.downgrade(cfg, revision))


async def revision_async(database_url: str, message: str) -> None:
    """Autogenerate a new revision from the difference between the database and the ORM."""
    await _run_with_connection(
        database_url, lambda cfg: command.revision(cfg, message=message, autogenerate=True)
    )


def upgrade(database_url: str, revision: str = "head") -> None:
    asyncio.run(upgrade_async(database_url, revision))


def downgrade(database_url: str, revision: str = "-1") -> None:
    asyncio.run(downgrade_async(database_url, revision))


def _ensure_sqlite_dir(database_url: str) -> None:
    if database_url.startswith("sqlite"):
        path = database_url.split(":///", 1)[-1]
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)


def head_revisions() -> set[str]:
    script = ScriptDirectory.from_config(alembic_config("sqlite://"))
    return set(script.get_heads())


def _current(connection: Connection) -> set[str]:
    return set(MigrationContext.configure(connection).get_current_heads())


async def current_revisions(engine: AsyncEngine) -> set[str]:
    async with engine.connect() as conn:
        return await conn.run_sync(_current)


async def ensure_schema_current(engine: AsyncEngine) -> None:
    """Refuse to run against a database that is not at the code's migration head."""
    current = await current_revisions(engine)
    heads = head_revisions()
    if current != heads:
        have = ", ".join(sorted(current)) or "empty (no migrations applied)"
        want = ", ".join(sorted(heads))
        raise SchemaOutOfDate(
            f"Database schema is {have}; this version of Tunix RT needs {want}.\n"
            "Run:  tunix-rt db upgrade"
        )
