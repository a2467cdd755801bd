"""``tunix-rt tokens``: API tokens (create prints the token once; only a hash is kept)."""

from __future__ import annotations

import asyncio
import json
import sys
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any

import typer
from pydantic import TypeAdapter, ValidationError
from rich.table import Table
from sqlalchemy.ext.asyncio import AsyncSession

from tunix_rt.auth import schemas, service
from tunix_rt.cli.common import (
    console,
    err_console,
    fail,
    run_in_transaction,
    sessionmaker_for,
    settings_or_exit,
)
from tunix_rt.config import Settings
from tunix_rt.kit.text import Name

app = typer.Typer(
    help="API tokens: what `TUNIX_RT_AUTH=required` asks every /api request for.",
    no_args_is_help=True,
)

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON.")]
_NAME: TypeAdapter[str] = TypeAdapter(Name)


class ScopeChoice(StrEnum):
    read = "read"
    write = "write"
    admin = "admin"


def _run(settings: Settings, work: Any) -> Any:
    return run_in_transaction(settings, work, all_one=True)


def _name(value: str) -> str:
    try:
        return _NAME.validate_python(value)
    except ValidationError as exc:
        reason = "; ".join(e["msg"] for e in exc.errors())
        raise fail(f"invalid token name {value!r}: {reason}", 2) from None


def _when(moment: datetime | None) -> str:
    return f"{moment:%Y-%m-%d %H:%M:%S} UTC" if moment else "-"


@app.command("create")
def create(
    name: Annotated[str, typer.Option("--name", help="A name to list and revoke it by.")],
    scope: Annotated[
        ScopeChoice,
        typer.Option("--scope", help="read: GET only; write: also changes; admin: also tokens."),
    ] = ScopeChoice.read,
    as_json: JsonOption = False,
) -> None:
    """Create a token and print it once: only its SHA-256 is stored."""
    checked = _name(name)
    settings = settings_or_exit()

    async def work(session: AsyncSession) -> schemas.TokenCreated:
        row, token = await service.create_token(session, checked, scope.value)
        return schemas.TokenCreated(**service.describe(row).model_dump(), token=token)

    created: schemas.TokenCreated = _run(settings, work)
    if as_json:
        sys.stdout.write(json.dumps(created.model_dump(mode="json"), indent=2) + "\n")
        return
    # The token alone on stdout (`TOKEN=$(tunix-rt tokens create …)`), the words on stderr.
    err_console.print(
        f"created token {created.name!r} (scope {created.scope}); it is shown once, store it now:",
        highlight=False,
        markup=False,
    )
    sys.stdout.write(created.token + "\n")


@app.command("list")
def list_tokens(as_json: JsonOption = False) -> None:
    """List tokens (revoked ones too): name, scope, prefix, created, last used, revoked."""
    settings = settings_or_exit()

    async def work(session: AsyncSession) -> list[schemas.Token]:
        return [service.describe(row) for row in await service.list_tokens(session)]

    tokens: list[schemas.Token] = _run(settings, work)
    if as_json:
        data = [token.model_dump(mode="json") for token in tokens]
        sys.stdout.write(json.dumps(data, indent=2) + "\n")
        return
    if not tokens:
        console.print(
            "no tokens; create one with: tunix-rt tokens create --name NAME --scope admin",
            highlight=False,
            markup=False,
        )
        return
    table = Table("name", "scope", "prefix", "created", "last used", "revoked")
    for token in tokens:
        table.add_row(
            token.name,
            token.scope,
            token.prefix,
            _when(token.created_at),
            _when(token.last_used_at),
            _when(token.revoked_at),
        )
    console.print(table)


@app.command("revoke")
def revoke(
    name: Annotated[str, typer.Argument(help="The live token's name.")],
    as_json: JsonOption = False,
) -> None:
    """Revoke a token: every request with it is refused (401) from now on."""
    checked = _name(name)
    settings = settings_or_exit()

    async def work(session: AsyncSession) -> schemas.Token:
        return service.describe(await service.revoke_token(session, checked))

    token: schemas.Token = _run(settings, work)
    if as_json:
        sys.stdout.write(json.dumps(token.model_dump(mode="json"), indent=2) + "\n")
        return
    console.print(f"revoked token {token.name!r}", highlight=False, markup=False)


def warn_if_locked_out(settings: Settings) -> None:
    """For `serve`: tokens are required and no live admin token exists — say how to make
    one (the API would refuse everyone, and nobody could create tokens over it)."""
    if not settings.auth_required:
        return

    async def check() -> bool:
        async with sessionmaker_for(settings) as sessionmaker, sessionmaker() as session:
            return await service.has_admin_token(session)

    if not asyncio.run(check()):
        err_console.print(
            "warning: API tokens are required and no live admin token exists; create one "
            "with: tunix-rt tokens create --name admin --scope admin",
            highlight=False,
            markup=False,
        )
