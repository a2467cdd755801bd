"""Helpers shared by CLI commands: settings, a database session, friendly exits."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import TypeVar

import typer
from pydantic import ValidationError
from rich.console import Console
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tunix_rt.config import Settings, SettingsError, load_settings
from tunix_rt.db import create_engine, create_sessionmaker
from tunix_rt.jobs import register_job_kinds
from tunix_rt.kit.errors import DomainError
from tunix_rt.migrations import SchemaOutOfDate, ensure_schema_current

console = Console(soft_wrap=True)
err_console = Console(stderr=True, soft_wrap=True)


T = TypeVar("T")


def fail(message: str, code: int = 1) -> typer.Exit:
    err_console.print(f"[red]error:[/red] {message}", highlight=False)
    return typer.Exit(code)


def settings_or_exit() -> Settings:
    try:
        return load_settings()
    except SettingsError as exc:
        raise fail(str(exc), 2) from None


def check_schema_or_exit(settings: Settings) -> None:
    async def check() -> None:
        engine = create_engine(settings)
        try:
            await ensure_schema_current(engine)
        finally:
            await engine.dispose()

    try:
        asyncio.run(check())
    except SchemaOutOfDate as exc:
        raise fail(str(exc)) from None
    except OSError as exc:
        raise fail(f"cannot reach the database: {exc}") from None


def invalid(what: str, exc: ValidationError) -> typer.Exit:
    """Exit 2 naming every refused field of a request built from CLI options."""
    problems = "; ".join(
        f"{'.'.join(str(p) for p in e['loc']) or '(request)'}: {e['msg']}" for e in exc.errors()
    )
    return fail(f"invalid {what}: {problems}", 2)


@asynccontextmanager
async def sessionmaker_for(settings: Settings) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    """A sessionmaker on a checked schema, disposed on exit; job kinds are registered, so
    runs can be executed with it."""
    register_job_kinds()
    engine = create_engine(settings)
    try:
        await ensure_schema_current(engine)
        yield create_sessionmaker(engine)
    finally:
        await engine.dispose()


def exit_for(exc: DomainError, *, all_one: bool = False) -> typer.Exit:
    """A domain error as the CLI's exit: 1 for not found / conflict (or always with
    ``all_one``), 2 for a refused request."""
    return fail(exc.detail, 1 if all_one or exc.status_code in (404, 409) else 2)


def run_in_transaction(
    settings: Settings,
    work: Callable[[AsyncSession], Awaitable[T]],
    *,
    all_one: bool = False,
) -> T:
    """Run ``work(session)`` in one transaction; a domain error exits with its message."""

    async def run() -> T:
        async with (
            sessionmaker_for(settings) as sessionmaker,
            sessionmaker() as session,
            session.begin(),
        ):
            return await work(session)

    try:
        return asyncio.run(run())
    except DomainError as exc:
        raise exit_for(exc, all_one=all_one) from None
