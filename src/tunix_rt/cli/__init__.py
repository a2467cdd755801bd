"""The ``tunix-rt`` command line: thin wrappers over the services."""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from tunix_rt import __version__
from tunix_rt.cli import datasets as datasets_cli
from tunix_rt.cli import db as db_cli
from tunix_rt.cli import evals as evals_cli
from tunix_rt.cli import gc as gc_cli
from tunix_rt.cli import generate as generate_cli
from tunix_rt.cli import models as models_cli
from tunix_rt.cli import runs as runs_cli
from tunix_rt.cli import tokens as tokens_cli
from tunix_rt.cli import traces as traces_cli
from tunix_rt.cli import tune as tune_cli
from tunix_rt.cli import webhooks as webhooks_cli
from tunix_rt.cli import worker as worker_cli
from tunix_rt.cli.common import console, settings_or_exit

app = typer.Typer(
    name="tunix-rt",
    help="Tunix RT: reasoning-trace workbench (server, database, traces).",
    no_args_is_help=True,
    add_completion=False,
)
app.add_typer(db_cli.app, name="db")
app.add_typer(traces_cli.app, name="traces")
app.add_typer(generate_cli.app, name="generate")
app.add_typer(datasets_cli.app, name="datasets")
app.add_typer(runs_cli.app, name="runs")
app.add_typer(evals_cli.eval_app, name="eval")
app.add_typer(evals_cli.regression_app, name="regression")
app.add_typer(tune_cli.app, name="tune")
app.add_typer(models_cli.app, name="models")
app.add_typer(tokens_cli.app, name="tokens")
app.add_typer(webhooks_cli.app, name="webhooks")
app.command()(worker_cli.worker)
app.command("gc")(gc_cli.gc)


def _version(value: bool) -> None:
    if value:
        console.print(f"tunix-rt {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print version.")
    ] = False,
) -> None:
    """Tunix RT command line."""


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Bind address.", envvar="TUNIX_RT_HOST")] = None,
    port: Annotated[
        int | None, typer.Option(help="Port (default BACKEND_PORT or 8000).", envvar="BACKEND_PORT")
    ] = None,
    reload: Annotated[bool, typer.Option(help="Restart on code changes (development).")] = False,
    worker: Annotated[
        bool,
        typer.Option(
            "--worker/--no-worker",
            help="Run a queue worker inside the server (TUNIX_RT_EMBEDDED_WORKER).",
        ),
    ] = True,
) -> None:
    """Serve the API and web UI."""
    import uvicorn

    from tunix_rt.cli.common import check_schema_or_exit
    from tunix_rt.kit.request_id import log_config

    settings = settings_or_exit()
    check_schema_or_exit(settings)
    if not worker:
        # The app factory runs in uvicorn (and its reloader child): pass it on by env.
        os.environ["TUNIX_RT_EMBEDDED_WORKER"] = "false"
    bind_host = host or settings.host
    bind_port = port or settings.backend_port
    # The app decides whether tokens are required from the bind host (TUNIX_RT_AUTH=auto).
    os.environ["TUNIX_RT_HOST"] = bind_host
    tokens_cli.warn_if_locked_out(settings.model_copy(update={"host": bind_host}))
    console.print(
        f"Tunix RT {__version__} on http://{bind_host}:{bind_port}  "
        f"(database: {_redact(settings.resolved_database_url)})"
    )
    uvicorn.run(
        "tunix_rt.app:create_app",
        factory=True,
        host=bind_host,
        port=bind_port,
        reload=reload,
        log_level=settings.log_level,
        log_config=log_config(settings.log_level),  # every line with its request id
    )


@app.command()
def openapi(
    output: Annotated[Path | None, typer.Option(help="Write here instead of stdout.")] = None,
) -> None:
    """Print the OpenAPI schema (the frontend's typed client is generated from it)."""
    from tunix_rt.app import create_app

    text = json.dumps(create_app(check_schema=False).openapi(), indent=2, sort_keys=True) + "\n"
    if output is None:
        sys.stdout.write(text)
    else:
        output.write_text(text)


def _redact(url: str) -> str:
    if "@" in url and "://" in url:
        scheme, rest = url.split("://", 1)
        creds, host = rest.rsplit("@", 1)
        user = creds.split(":", 1)[0]
        return f"{scheme}://{user}:***@{host}" if ":" in creds else url
    return url


def main() -> None:
    app()
