"""``tunix-rt db``: apply, revert and inspect schema migrations."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer

from tunix_rt import migrations
from tunix_rt.cli.common import console, fail, settings_or_exit
from tunix_rt.db import create_engine

app = typer.Typer(help="Database schema migrations (Alembic).", no_args_is_help=True)


@app.command()
def upgrade(
    revision: Annotated[str, typer.Argument(help="Target revision.")] = "head",
) -> None:
    """Upgrade the schema (to the newest revision by default)."""
    settings = settings_or_exit()
    try:
        migrations.upgrade(settings.resolved_database_url, revision)
    except Exception as exc:
        raise fail(f"upgrade failed: {exc}") from None
    console.print(f"database upgraded to {revision}")


@app.command()
def downgrade(
    revision: Annotated[str, typer.Argument(help="Target revision, e.g. -1 or base.")] = "-1",
) -> None:
    """Revert the schema by one revision (or to REVISION)."""
    settings = settings_or_exit()
    try:
        migrations.downgrade(settings.resolved_database_url, revision)
    except Exception as exc:
        raise fail(f"downgrade failed: {exc}") from None
    console.print(f"database downgraded to {revision}")


@app.command()
def current() -> None:
    """Show the database's revision and the code's head revision."""
    settings = settings_or_exit()

    async def read() -> set[str]:
        engine = create_engine(settings)
        try:
            return await migrations.current_revisions(engine)
        finally:
            await engine.dispose()

    try:
        have = asyncio.run(read())
    except Exception as exc:
        raise fail(f"cannot read the schema revision: {exc}") from None
    heads = migrations.head_revisions()
    console.print(f"database: {', '.join(sorted(have)) or '(empty)'}")
    console.print(f"code head: {', '.join(sorted(heads))}")
    if have != heads:
        console.print("[yellow]out of date: run `tunix-rt db upgrade`[/yellow]")
        raise typer.Exit(1)
    console.print("[green]up to date[/green]")


@app.command()
def revision(
    message: Annotated[str, typer.Option("--message", "-m", help="What the change does.")],
) -> None:
    """Write a new migration from the ORM's difference to an up-to-date database (dev)."""
    settings = settings_or_exit()
    try:
        asyncio.run(migrations.revision_async(settings.resolved_database_url, message))
    except Exception as exc:
        raise fail(f"revision failed: {exc}") from None
