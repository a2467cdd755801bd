"""Migrations from empty equal the ORM metadata; an old schema is refused with the fix."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy.ext.asyncio import create_async_engine
from typer.testing import CliRunner

import tunix_rt.models  # noqa: F401
from tests.conftest import BACKENDS, empty_database
from tunix_rt import migrations
from tunix_rt.app import create_app
from tunix_rt.cli import app as cli_app
from tunix_rt.config import load_settings
from tunix_rt.db import Base


async def schema_diff(url: str) -> list[object]:
    engine = create_async_engine(url)
    try:
        async with engine.connect() as conn:
            return await conn.run_sync(
                lambda c: compare_metadata(
                    MigrationContext.configure(c, opts={"compare_type": True}), Base.metadata
                )
            )
    finally:
        await engine.dispose()


@pytest.fixture(params=BACKENDS)
def empty_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return empty_database(request.param, tmp_path, suffix="migrations")


def test_migrations_from_empty_equal_metadata(empty_url: str) -> None:
    migrations.upgrade(empty_url)
    assert asyncio.run(schema_diff(empty_url)) == []


def test_downgrade_to_base_and_back(empty_url: str) -> None:
    migrations.upgrade(empty_url)
    migrations.downgrade(empty_url, "base")
    engine = create_async_engine(empty_url)
    assert asyncio.run(migrations.current_revisions(engine)) == set()
    asyncio.run(engine.dispose())
    migrations.upgrade(empty_url)
    assert asyncio.run(schema_diff(empty_url)) == []


def test_server_refuses_an_out_of_date_schema(empty_url: str, tmp_path: Path) -> None:
    app = create_app(load_settings(database_url=empty_url, data_dir=tmp_path))

    async def start() -> None:
        async with app.router.lifespan_context(app):
            pass

    with pytest.raises(migrations.SchemaOutOfDate, match="tunix-rt db upgrade"):
        asyncio.run(start())


def test_cli_serve_prints_the_fix_and_db_upgrade_applies_it(
    empty_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABASE_URL", empty_url)
    runner = CliRunner()
    refused = runner.invoke(cli_app, ["serve", "--port", "1"])
    assert refused.exit_code == 1
    assert "tunix-rt db upgrade" in refused.output
    assert runner.invoke(cli_app, ["db", "current"]).exit_code == 1
    upgraded = runner.invoke(cli_app, ["db", "upgrade"])
    assert upgraded.exit_code == 0, upgraded.output
    current = runner.invoke(cli_app, ["db", "current"])
    assert current.exit_code == 0
    assert "up to date" in current.output
    assert runner.invoke(cli_app, ["db", "downgrade", "base"]).exit_code == 0
    assert runner.invoke(cli_app, ["db", "current"]).exit_code == 1
