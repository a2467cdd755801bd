"""``tunix-rt traces``: import, export and list traces as JSONL."""

from __future__ import annotations

import asyncio
import json
import shutil
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, TextIO

import typer
from pydantic import ValidationError
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tunix_rt.cli.common import console, err_console, fail, sessionmaker_for, settings_or_exit
from tunix_rt.config import Settings
from tunix_rt.traces import service
from tunix_rt.traces.schemas import ReasoningTrace
from tunix_rt.traces.service import TraceFilter

app = typer.Typer(help="Import, export and list reasoning traces.", no_args_is_help=True)

MetaOption = Annotated[
    list[str] | None,
    typer.Option("--meta", help="Filter on meta KEY=VALUE (repeatable)."),
]
MAX_REPORTED_ERRORS = 20


def _meta_filters(pairs: list[str] | None) -> dict[str, str]:
    out: dict[str, str] = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise fail(f"--meta expects KEY=VALUE, got {pair!r}", 2)
        out[key] = value
    return out


def _format_error(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"]) or "(trace)"
        parts.append(f"{loc}: {err['msg']}")
    return "; ".join(parts)


def _parse_lines(handle: TextIO) -> Iterator[tuple[int, ReasoningTrace | str]]:
    """Yield (line number, trace or error message) for every non-blank line."""
    for number, line in enumerate(handle, start=1):
        if not line.strip():
            continue
        try:
            yield number, ReasoningTrace.model_validate_json(line)
        except ValidationError as exc:
            if any(e["type"] == "json_invalid" for e in exc.errors()):
                yield number, f"invalid JSON: {exc.errors()[0]['msg']}"
            else:
                yield number, _format_error(exc)


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=err_console,
        transient=False,
    )


@app.command("import")
def import_traces(
    file: Annotated[Path, typer.Argument(help="JSONL file, one trace per line ('-' = stdin).")],
    batch_size: Annotated[
        int,
        typer.Option(
            min=1, max=1000, envvar="TUNIX_RT_IMPORT_BATCH_SIZE", help="Traces per transaction."
        ),
    ] = 500,
    skip_invalid: Annotated[
        bool, typer.Option(help="Import the valid lines and skip the bad ones.")
    ] = False,
) -> None:
    """Import traces. Every line is checked first; by default a bad line imports nothing."""
    settings = settings_or_exit()
    if str(file) == "-":
        spool = tempfile.NamedTemporaryFile("w+", suffix=".jsonl", delete=False)  # noqa: SIM115
        shutil.copyfileobj(sys.stdin, spool)
        spool.close()
        file = Path(spool.name)
    if not file.is_file():
        raise fail(f"no such file: {file}", 2)

    errors: list[tuple[int, str]] = []
    valid = 0
    with file.open(encoding="utf-8") as handle:
        for number, item in _parse_lines(handle):
            if isinstance(item, str):
                errors.append((number, item))
            else:
                valid += 1
    for number, message in errors[:MAX_REPORTED_ERRORS]:
        err_console.print(f"line {number}: {message}", highlight=False, markup=False)
    if len(errors) > MAX_REPORTED_ERRORS:
        err_console.print(f"... and {len(errors) - MAX_REPORTED_ERRORS} more invalid lines")
    if errors and not skip_invalid:
        raise fail(
            f"{len(errors)} invalid line(s); nothing imported "
            "(fix them, or pass --skip-invalid to import the valid lines)"
        )
    imported = asyncio.run(_import_valid(settings, file, valid, batch_size))
    skipped = f", skipped {len(errors)} invalid line(s)" if errors else ""
    console.print(f"imported {imported} trace(s) from {file}{skipped}")


async def _import_valid(settings: Settings, file: Path, total: int, batch_size: int) -> int:
    imported = 0
    async with sessionmaker_for(settings) as sessionmaker:
        with _progress() as progress, file.open(encoding="utf-8") as handle:
            task = progress.add_task("importing", total=total)
            batch: list[ReasoningTrace] = []
            for _, item in _parse_lines(handle):
                if isinstance(item, str):
                    continue
                batch.append(item)
                if len(batch) >= batch_size:
                    imported += await _store(sessionmaker, batch)
                    progress.advance(task, len(batch))
                    batch = []
            if batch:
                imported += await _store(sessionmaker, batch)
                progress.advance(task, len(batch))
    return imported


async def _store(
    sessionmaker: async_sessionmaker[AsyncSession], batch: list[ReasoningTrace]
) -> int:
    async with sessionmaker() as session, session.begin():
        return len(await service.create_traces(session, batch))


@app.command("export")
def export_traces(
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write here instead of stdout.")
    ] = None,
    meta: MetaOption = None,
    q: Annotated[str | None, typer.Option(help="Text in prompt or answer.")] = None,
    limit: Annotated[int | None, typer.Option(min=1, help="At most this many traces.")] = None,
) -> None:
    """Export traces as JSONL (oldest first), in the format `traces import` reads."""
    settings = settings_or_exit()
    flt = TraceFilter(meta=_meta_filters(meta), q=q)

    async def run(handle: TextIO) -> int:
        count = 0
        async with sessionmaker_for(settings) as sessionmaker, sessionmaker() as session:
            async for row in service.iter_traces(session, flt, limit=limit):
                handle.write(json.dumps(row.payload, ensure_ascii=False) + "\n")
                count += 1
        return count

    if output is None:
        count = asyncio.run(run(sys.stdout))
    else:
        with output.open("w", encoding="utf-8") as handle:
            count = asyncio.run(run(handle))
    err_console.print(f"exported {count} trace(s)")


@app.command("list")
def list_traces(
    limit: Annotated[int, typer.Option(min=1, max=100)] = 20,
    offset: Annotated[int, typer.Option(min=0)] = 0,
    meta: MetaOption = None,
    q: Annotated[str | None, typer.Option(help="Text in prompt or answer.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON lines.")] = False,
) -> None:
    """List traces, newest first."""
    settings = settings_or_exit()
    flt = TraceFilter(meta=_meta_filters(meta), q=q)

    async def run() -> list[tuple[str, str, str, str]]:
        async with sessionmaker_for(settings) as sessionmaker, sessionmaker() as session:
            page = await service.list_traces(session, flt, limit=limit, offset=offset)
            return [
                (str(r.id), r.created_at.isoformat(), r.trace_version, r.prompt_preview)
                for r in page.rows
            ]

    rows = asyncio.run(run())
    if as_json:
        for trace_id, created_at, version, prompt in rows:
            console.print_json(
                json.dumps(
                    {
                        "id": trace_id,
                        "created_at": created_at,
                        "trace_version": version,
                        "prompt": prompt,
                    }
                )
            )
        return
    table = Table("created_at", "version", "prompt")
    table.add_column("id", no_wrap=True, min_width=36)
    for trace_id, created_at, version, prompt in rows:
        short = prompt if len(prompt) <= 60 else prompt[:57] + "..."
        table.add_row(created_at[:19], version, short, trace_id)
    console.print(table)
