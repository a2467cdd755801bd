"""``tunix-rt eval`` and ``tunix-rt regression``: evaluation, leaderboard, gates."""

from __future__ import annotations

import typer

eval_app = typer.Typer(help="Evaluate trained runs and show the leaderboard.", no_args_is_help=True)
regression_app = typer.Typer(help="Regression baselines and checks.", no_args_is_help=True)
