"""``tunix-rt generate``: built-in trace generators."""

from __future__ import annotations

import typer

app = typer.Typer(help="Generate synthetic reasoning traces.", no_args_is_help=True)
