"""``tunix-rt generate``: built-in trace generators."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from tunix_rt.cli.common import console, err_console, fail, sessionmaker_for, settings_or_exit
from tunix_rt.generators import service
from tunix_rt.kit.errors import DomainError
from tunix_rt.traces.schemas import ReasoningTrace

app = typer.Typer(help="Generate synthetic reasoning traces.", no_args_is_help=True)

OutputOption = Annotated[
    Path | None,
    typer.Option(
        "--output", "-o", help="Write the traces as JSONL here ('-' = stdout) instead of storing."
    ),
]


def _emit(traces: list[ReasoningTrace], output: Path | None, what: str) -> None:
    """Store the traces (one transaction) or write them as `traces import` JSONL."""
    if output is not None:
        lines = "".join(json.dumps(t.to_payload(), ensure_ascii=False) + "\n" for t in traces)
        if str(output) == "-":
            sys.stdout.write(lines)
        else:
            output.write_text(lines, encoding="utf-8")
        err_console.print(f"wrote {len(traces)} {what} trace(s) to {output}")
        return
    settings = settings_or_exit()

    async def run() -> list[str]:
        async with (
            sessionmaker_for(settings) as sessionmaker,
            sessionmaker() as session,
            session.begin(),
        ):
            return [str(i) for i in await service.store(session, traces)]

    ids = asyncio.run(run())
    console.print(f"stored {len(ids)} {what} trace(s)")
    for trace_id in ids[: service.PREVIEW_COUNT]:
        console.print(f"  {trace_id}")
    if len(ids) > service.PREVIEW_COUNT:
        console.print(f"  ... and {len(ids) - service.PREVIEW_COUNT} more")


@app.command("arithmetic")
def arithmetic(
    count: Annotated[int, typer.Option(min=1, max=100_000, help="How many problems.")] = 100,
    seed: Annotated[int, typer.Option(min=0, help="Same seed, same problems.")] = 0,
    digits: Annotated[int, typer.Option(min=1, max=6, help="Digits per operand.")] = 2,
    ops: Annotated[
        list[str] | None,
        typer.Option(
            "--ops",
            help="Operations: '+', '-', '×' (or '*', 'x'); repeat or combine ('--ops +-').",
        ),
    ] = None,
    terms: Annotated[int, typer.Option(min=2, max=5, help="Operands per problem.")] = 2,
    style: Annotated[
        str, typer.Option(help="plain ('What is 27 + 19?') or word (a story problem).")
    ] = "plain",
    unique: Annotated[bool, typer.Option(help="No two problems alike.")] = True,
    output: OutputOption = None,
) -> None:
    """Arithmetic problems worked digit by digit, with verifiable answers."""
    if style not in ("plain", "word"):
        raise fail("--style must be plain or word", 2)
    try:
        traces = service.arithmetic_traces(
            count,
            seed,
            digits=digits,
            ops=ops or ["+"],
            terms=terms,
            style=style,
            unique=unique,
        )
    except DomainError as exc:
        raise fail(exc.detail, 2) from None
    _emit(traces, output, "arithmetic")


@app.command("high-card-duel")
def high_card_duel(
    count: Annotated[int, typer.Option(min=1, max=100_000, help="How many episodes.")] = 10,
    seed: Annotated[
        int | None, typer.Option(min=0, help="Same seed, same episodes (default: random).")
    ] = None,
    output: OutputOption = None,
) -> None:
    """High Card Duel episodes (the built-in UNGAR game)."""
    chosen = service.pick_seed(seed)
    if seed is None:
        err_console.print(f"seed: {chosen}")
    _emit(service.high_card_duel_traces(count, chosen), output, "High Card Duel")
