"""``tunix-rt webhooks``: notify an endpoint when runs, evaluations and tuning jobs end."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.table import Table

from tunix_rt.cli.common import (
    console,
    fail,
    run_in_transaction,
    settings_or_exit,
)
from tunix_rt.webhooks import schemas, service

app = typer.Typer(help="Webhooks and their delivery log.", no_args_is_help=True)
JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON.")]


def _run(work: Any) -> Any:
    return run_in_transaction(settings_or_exit(), work)


@app.command("add")
def add(
    name: Annotated[str, typer.Argument(help="Webhook name.")],
    url: Annotated[str, typer.Option(help="http(s) URL that receives the POSTs.")],
    secret: Annotated[
        str, typer.Option(envvar="TUNIX_RT_WEBHOOK_SECRET", help="HMAC secret (≥ 16 chars).")
    ],
    event: Annotated[
        list[str] | None,
        typer.Option(
            "--event", help="Repeatable; default every event: " + ", ".join(schemas.EVENTS)
        ),
    ] = None,
) -> None:
    """Register a webhook (signed with HMAC-SHA256 of the body)."""
    try:
        body = schemas.WebhookCreate(name=name, url=url, secret=secret, events=event or [])
    except ValueError as exc:
        raise fail(str(exc), 2) from None
    row = _run(lambda session: service.create_webhook(session, body))
    console.print(f"webhook {row.name} → {row.url} ({', '.join(row.events) or 'every event'})")


@app.command("list")
def list_(as_json: JsonOption = False) -> None:
    """Every webhook."""

    async def work(session: Any) -> list[schemas.Webhook]:
        return [schemas.Webhook.model_validate(r) for r in await service.list_webhooks(session)]

    rows = _run(work)
    if as_json:
        console.print_json(json.dumps([r.model_dump(mode="json") for r in rows]))
        return
    table = Table("name", "url", "events", "created")
    for r in rows:
        table.add_row(
            r.name, r.url, ", ".join(r.events) or "every event", f"{r.created_at:%Y-%m-%d %H:%M}"
        )
    console.print(table)


@app.command("deliveries")
def deliveries(
    name: str, limit: Annotated[int, typer.Option(min=1, max=500)] = 20, as_json: JsonOption = False
) -> None:
    """The delivery log of a webhook, newest first."""

    async def work(session: Any) -> list[schemas.Delivery]:
        rows = await service.list_deliveries(session, name, limit=limit)
        return [schemas.Delivery.model_validate(r) for r in rows]

    rows = _run(work)
    if as_json:
        console.print_json(json.dumps([r.model_dump(mode="json") for r in rows]))
        return
    table = Table("created", "event", "status", "attempts", "last", "run")
    for d in rows:
        run = (d.payload.get("run") or {}).get("run_id", "")
        last = str(d.last_status_code or "") + (f" {d.last_error}" if d.last_error else "")
        table.add_row(
            f"{d.created_at:%Y-%m-%d %H:%M:%S}",
            d.event,
            d.status,
            str(d.attempts),
            last[:60],
            str(run),
        )
    console.print(table)


@app.command("ping")
def ping(name: str) -> None:
    """Queue a ping delivery (a worker or the server's embedded worker sends it)."""
    row = _run(lambda session: service.ping(session, name))
    console.print(f"ping {row.id} queued for {name}")


@app.command("remove")
def remove(name: str) -> None:
    """Delete a webhook and its delivery log."""
    _run(lambda session: service.delete_webhook(session, name))
    console.print(f"webhook {name} removed")
