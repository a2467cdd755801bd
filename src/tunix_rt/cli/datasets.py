"""``tunix-rt datasets``: build, inspect, export and delete dataset versions."""

from __future__ import annotations

import typer

app = typer.Typer(help="Immutable, versioned datasets.", no_args_is_help=True)
