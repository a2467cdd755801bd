"""``tunix-rt runs``: submit, watch and manage training runs."""

from __future__ import annotations

import typer

app = typer.Typer(help="Tunix training runs.", no_args_is_help=True)
