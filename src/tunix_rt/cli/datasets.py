"""``tunix-rt datasets``: build, inspect, export and delete dataset versions."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from tunix_rt.cli.common import (
    console,
    err_console,
    fail,
    run_in_transaction,
    settings_or_exit,
)
from tunix_rt.cli.traces import MetaOption, _meta_filters
from tunix_rt.datasets import exports, service
from tunix_rt.datasets.formats import EXPORT_FORMATS, chunked
from tunix_rt.kit.errors import DomainError

app = typer.Typer(help="Immutable, versioned datasets.", no_args_is_help=True)


@app.command("build")
def build(
    name: Annotated[str, typer.Option("--name", help="Dataset name.")],
    version: Annotated[str, typer.Option("--version", help="Dataset version.")],
    meta: MetaOption = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000, help="At most this many traces.")] = 100,
    strategy: Annotated[
        str, typer.Option(help="latest (newest first) or random (needs --seed).")
    ] = "latest",
    seed: Annotated[int | None, typer.Option(min=0, max=2**31 - 1, help="RNG seed.")] = None,
    eval_fraction: Annotated[
        float, typer.Option(min=0, max=0.5, help="Hold out this share as the eval split.")
    ] = 0.0,
    session_id: Annotated[str | None, typer.Option(help="Recorded in the manifest.")] = None,
    parent_dataset_id: Annotated[str | None, typer.Option(help="Recorded in the manifest.")] = None,
    training_run_id: Annotated[str | None, typer.Option(help="Recorded in the manifest.")] = None,
) -> None:
    """Build a new immutable dataset version from the stored traces."""
    if strategy not in ("latest", "random"):
        raise fail("--strategy must be latest or random", 2)
    settings = settings_or_exit()
    spec = service.BuildSpec(
        dataset_name=name,
        dataset_version=version,
        filters=dict(_meta_filters(meta)),
        limit=limit,
        selection_strategy=strategy,  # type: ignore[arg-type]
        seed=seed,
        eval_fraction=eval_fraction,
        session_id=session_id,
        parent_dataset_id=parent_dataset_id,
        training_run_id=training_run_id,
    )
    if len(name) > 128 or len(version) > 64:
        raise fail("--name is at most 128 characters, --version at most 64", 2)
    result = run_in_transaction(
        settings, lambda session: service.build_dataset(session, settings, spec)
    )
    console.print(
        f"built {result.dataset_key}: {result.trace_count} trace(s) "
        f"(train {result.train_count}, eval {result.eval_count})"
    )
    console.print(f"sha256   {result.sha256}")
    console.print(f"manifest {result.manifest_path}")


@app.command("list")
def list_datasets(
    limit: Annotated[int, typer.Option(min=1, max=100)] = 20,
    offset: Annotated[int, typer.Option(min=0)] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON lines.")] = False,
) -> None:
    """List dataset versions, newest first."""
    settings = settings_or_exit()
    rows, _ = run_in_transaction(
        settings, lambda s: service.list_datasets(s, limit=limit, offset=offset)
    )
    if as_json:
        for row in rows:
            item = {
                "dataset_key": row.dataset_key,
                "build_id": str(row.id),
                "created_at": row.created_at.isoformat(),
                "trace_count": row.trace_count,
                "train_count": row.train_count,
                "eval_count": row.eval_count,
                "sha256": row.sha256,
            }
            sys.stdout.write(json.dumps(item) + "\n")
        return
    table = Table("key", "created_at", "traces", "train/eval", "strategy", "sha256")
    for row in rows:
        table.add_row(
            row.dataset_key,
            row.created_at.isoformat()[:19],
            str(row.trace_count),
            f"{row.train_count}/{row.eval_count}",
            row.selection_strategy + (f" seed={row.seed}" if row.seed is not None else ""),
            row.sha256[:12],
        )
    console.print(table)


@app.command("show")
def show(
    key: Annotated[str, typer.Argument(help="Dataset key (name-version).")],
    ids: Annotated[bool, typer.Option(help="Include trace ids and splits.")] = False,
) -> None:
    """Print a dataset's manifest as JSON."""
    settings = settings_or_exit()
    manifest: dict[str, Any] = run_in_transaction(
        settings, lambda session: service.get_manifest(session, settings, key)
    )
    if not ids:
        manifest["trace_ids"] = f"<{len(manifest['trace_ids'])} ids; --ids to show>"
        manifest["splits"] = {k: f"<{len(v)} ids>" for k, v in manifest["splits"].items()}
    sys.stdout.write(json.dumps(manifest, indent=2) + "\n")


@app.command("export")
def export(
    key: Annotated[str, typer.Argument(help="Dataset key (name-version).")],
    format: Annotated[
        str, typer.Option("--format", "-f", help=f"One of: {', '.join(EXPORT_FORMATS)}.")
    ] = "trace",
    split: Annotated[str, typer.Option(help="train, eval or all.")] = "all",
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write here instead of stdout.")
    ] = None,
    limit: Annotated[int | None, typer.Option(min=1, help="At most this many lines.")] = None,
) -> None:
    """Stream a dataset split as NDJSON in one of the export formats."""
    if format not in EXPORT_FORMATS:
        raise fail(f"unknown format {format!r}; choose from {', '.join(EXPORT_FORMATS)}", 2)
    if split not in ("train", "eval", "all"):
        raise fail("--split must be train, eval or all", 2)
    settings = settings_or_exit()
    run_in_transaction(settings, lambda session: service.get_dataset(session, key))
    try:
        lines = exports.export_lines(settings, key, format, split, limit=limit)  # type: ignore[arg-type]
    except DomainError as exc:
        raise fail(exc.detail) from None
    count = 0

    def counted() -> Any:
        nonlocal count
        for line in lines:
            count += 1
            yield line

    if output is None:
        for chunk in chunked(counted()):
            sys.stdout.buffer.write(chunk)
        sys.stdout.flush()
    else:
        with output.open("wb") as handle:
            for chunk in chunked(counted()):
                handle.write(chunk)
    err_console.print(f"exported {count} line(s) of {key} ({format}, {split})")


@app.command("delete")
def delete(
    key: Annotated[str, typer.Argument(help="Dataset key (name-version).")],
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
) -> None:
    """Delete a dataset version and its files (refused while a run uses it)."""
    if not yes:
        typer.confirm(f"Delete dataset {key} and its files?", abort=True)
    settings = settings_or_exit()
    run_in_transaction(settings, lambda session: service.delete_dataset(session, settings, key))
    console.print(f"deleted {key}")
