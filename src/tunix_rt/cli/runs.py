"""``tunix-rt runs``: submit, watch and manage training runs (through the services, not HTTP)."""

from __future__ import annotations

import asyncio
import json
import shutil
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from rich.table import Table
from sqlalchemy.ext.asyncio import AsyncSession

from tunix_rt.cli.common import (
    console,
    err_console,
    fail,
    invalid,
    sessionmaker_for,
    settings_or_exit,
)
from tunix_rt.config import Settings
from tunix_rt.kit.errors import DomainError
from tunix_rt.models.run import Run
from tunix_rt.runs import artifacts as artifacts_mod
from tunix_rt.runs import logs as logs_mod
from tunix_rt.runs import management, queue, service
from tunix_rt.runs.capacity import Slots
from tunix_rt.runs.executor import start_inline
from tunix_rt.runs.schemas import BulkDeleteRequest, BulkDeleteResult, RunRequest

app = typer.Typer(help="Tunix training runs.", no_args_is_help=True)

REQUEST_FIELDS = set(RunRequest.model_fields) | {"method"}  # method: the older name of algorithm
STREAM_STYLE = {"stdout": "", "stderr": "yellow", "system": "cyan"}


def _parse_run_id(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise fail(f"not a run id: {value!r}", 2) from None


def load_run_config(path: Path) -> dict[str, Any]:
    """Read a run YAML (e.g. from ``POST /api/tunix/sft/manifest``) into request fields.

    Nested mappings are flattened one level; keys that are not run-request fields
    (``data_path``, ``format``, ...) are reported and ignored."""
    import yaml  # type: ignore[import-untyped,unused-ignore]

    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise fail(f"cannot read {path}: {exc}", 2) from None
    if not isinstance(raw, dict):
        raise fail(f"{path} must hold a mapping of run settings", 2)
    flat: dict[str, Any] = {}
    for key, value in raw.items():
        if isinstance(value, dict) and key not in REQUEST_FIELDS:
            flat.update(value)
        else:
            flat[str(key)] = value
    data_path = flat.get("data_path")
    if isinstance(data_path, str) and not Path(data_path).exists():
        err_console.print(f"warning: data_path {data_path} does not exist", highlight=False)
    ignored = sorted(k for k in flat if k not in REQUEST_FIELDS)
    if ignored:
        err_console.print(f"ignoring config keys: {', '.join(ignored)}", highlight=False)
    return {k: v for k, v in flat.items() if k in REQUEST_FIELDS}


def _request(config: Path | None, options: dict[str, Any]) -> RunRequest:
    fields = load_run_config(config) if config else {}
    fields.update({k: v for k, v in options.items() if v is not None})
    try:
        return RunRequest.model_validate(fields)
    except ValidationError as exc:
        raise invalid("run request", exc) from None


def _reward_weights(items: list[str] | None) -> dict[str, str] | None:
    """``--reward answer_correctness=1 --reward format=0.1`` → a mapping the request
    validates (names and weights are checked there)."""
    if not items:
        return None
    weights: dict[str, str] = {}
    for item in items:
        name, sep, weight = item.partition("=")
        if not sep or not name.strip():
            raise fail(f"--reward: expected NAME=WEIGHT (got {item!r})", 2)
        weights[name.strip()] = weight.strip()
    return weights


def _print_line(line: logs_mod.LogLine) -> None:
    style = STREAM_STYLE.get(line.stream, "")
    console.print(line.chunk, style=style or None, markup=False, highlight=False)


@app.command("submit")
def submit(
    config: Annotated[
        Path | None, typer.Option("--config", "-c", help="Run YAML (e.g. the SFT manifest).")
    ] = None,
    dataset_key: Annotated[str | None, typer.Option(help="Dataset key.")] = None,
    model_id: Annotated[str | None, typer.Option(help="Preset, local dir or hub id.")] = None,
    output_dir: Annotated[
        str | None, typer.Option(help="Run directory name, under {data_dir}/runs/.")
    ] = None,
    dry_run: Annotated[
        bool | None, typer.Option("--dry-run/--local", help="Validate only, or train.")
    ] = None,
    learning_rate: Annotated[float | None, typer.Option()] = None,
    num_epochs: Annotated[int | None, typer.Option()] = None,
    batch_size: Annotated[int | None, typer.Option()] = None,
    max_seq_length: Annotated[int | None, typer.Option()] = None,
    max_steps: Annotated[int | None, typer.Option()] = None,
    seed: Annotated[int | None, typer.Option()] = None,
    lora_rank: Annotated[int | None, typer.Option(help="0 = full fine-tune.")] = None,
    lora_alpha: Annotated[float | None, typer.Option(help="LoRA scale; default 2×rank.")] = None,
    weight_decay: Annotated[float | None, typer.Option(help="AdamW weight decay.")] = None,
    algorithm: Annotated[
        str | None,
        typer.Option("--algorithm", "--method", help="sft (default) or grpo (needs --init-from)."),
    ] = None,
    init_from: Annotated[
        str | None,
        typer.Option(
            help="GRPO: the completed run (id) or registered model (name@version|alias) "
            "whose model it starts from."
        ),
    ] = None,
    num_generations: Annotated[
        int | None, typer.Option(help="GRPO: completions per prompt (4).")
    ] = None,
    beta: Annotated[float | None, typer.Option(help="GRPO: KL penalty weight (0.04).")] = None,
    temperature: Annotated[
        float | None, typer.Option(help="GRPO: rollout sampling temperature (0.9).")
    ] = None,
    max_new_tokens: Annotated[
        int | None, typer.Option(help="GRPO: longest completion in tokens (256).")
    ] = None,
    filter_samples: Annotated[
        int | None,
        typer.Option(
            help="GRPO: screen the prompts with this many samples each first and train only "
            "on those whose samples earned different rewards (default: every prompt)."
        ),
    ] = None,
    reward: Annotated[
        list[str] | None,
        typer.Option(
            help="GRPO: NAME=WEIGHT, repeatable (answer_correctness, format, step_validity).",
        ),
    ] = None,
    eval_every: Annotated[int | None, typer.Option()] = None,
    checkpoint_every: Annotated[int | None, typer.Option()] = None,
    warmup_steps: Annotated[int | None, typer.Option()] = None,
    timeout: Annotated[int | None, typer.Option(help="Per-run timeout in seconds.")] = None,
    priority: Annotated[int | None, typer.Option()] = None,
    queue_name: Annotated[
        str | None, typer.Option("--queue", help="Named queue (default: default).")
    ] = None,
    completion_format: Annotated[str | None, typer.Option(help="reasoning | answer_only")] = None,
    group_by_length: Annotated[
        bool | None,
        typer.Option(
            "--group-by-length/--no-group-by-length",
            help="Batch examples of similar length together (less padding).",
        ),
    ] = None,
    packing: Annotated[
        bool | None,
        typer.Option(
            "--packing/--no-packing",
            help="Several whole examples per row of max_seq_length tokens (less padding).",
        ),
    ] = None,
    queue: Annotated[
        bool, typer.Option("--async", help="Queue it for a worker and return at once.")
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Do not print the log.")] = False,
) -> None:
    """Submit a run. Without --async it runs here, printing its log live."""
    settings = settings_or_exit()
    request = _request(
        config,
        {
            "dataset_key": dataset_key,
            "model_id": model_id,
            "output_dir": output_dir,
            "dry_run": dry_run,
            "learning_rate": learning_rate,
            "num_epochs": num_epochs,
            "batch_size": batch_size,
            "max_seq_length": max_seq_length,
            "max_steps": max_steps,
            "seed": seed,
            "lora_rank": lora_rank,
            "lora_alpha": lora_alpha,
            "weight_decay": weight_decay,
            "algorithm": algorithm,
            "init_from": (
                ({"model": init_from} if "@" in init_from else {"run_id": init_from})
                if init_from
                else None
            ),
            "num_generations": num_generations,
            "beta": beta,
            "temperature": temperature,
            "max_new_tokens": max_new_tokens,
            "filter_samples": filter_samples,
            "rewards": _reward_weights(reward),
            "eval_every": eval_every,
            "checkpoint_every": checkpoint_every,
            "warmup_steps": warmup_steps,
            "timeout_seconds": timeout,
            "priority": priority,
            "queue": queue_name,
            "completion_format": completion_format,
            "group_by_length": group_by_length,
            "packing": packing,
        },
    )
    if request.dry_run:
        err_console.print("dry run (validation only); pass --local to train", highlight=False)
    try:
        status = asyncio.run(_submit(settings, request, queued=queue, quiet=quiet))
    except DomainError as exc:
        raise fail(exc.detail) from None
    if status not in ("completed", "pending"):
        raise typer.Exit(1)


async def _submit(settings: Settings, request: RunRequest, *, queued: bool, quiet: bool) -> str:
    async with sessionmaker_for(settings) as sessionmaker:
        if queued:
            async with sessionmaker() as session, session.begin():
                run = await service.create_run(session, settings, request)
                await queue.enqueue(session)
            err_console.print(f"run {run.id} ({run.mode}) → {run.output_dir}", highlight=False)
            console.print(str(run.id))
            return "pending"

        async def create(session: AsyncSession, worker_id: str) -> Run:
            return await service.create_run(session, settings, request, hold_for=worker_id)

        # The same inline path as the API's sync mode, within this process's capacity.
        slots = Slots(settings.worker_concurrency)
        run, execution = await start_inline(sessionmaker, settings, slots, create)
        err_console.print(f"run {run.id} ({run.mode}) → {run.output_dir}", highlight=False)
        async for item in logs_mod.follow(sessionmaker, run.id, 0):
            if isinstance(item, str):
                break
            if not quiet:
                _print_line(item)
        await execution
        async with sessionmaker() as session:
            final = await service.get_run(session, run.id)
        message = f": {final.message}" if final.message else ""
        err_console.print(f"run {run.id} {final.status}{message}", highlight=False)
        return final.status


@app.command("list")
def list_runs(
    status: Annotated[
        list[str] | None, typer.Option("--status", help="Filter (repeatable).")
    ] = None,
    dataset_key: Annotated[str | None, typer.Option()] = None,
    mode: Annotated[str | None, typer.Option(help="dry-run | local")] = None,
    kind: Annotated[str | None, typer.Option(help="train | evaluate")] = None,
    limit: Annotated[int, typer.Option(min=1, max=100)] = 20,
    offset: Annotated[int, typer.Option(min=0)] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON lines.")] = False,
) -> None:
    """List runs, newest first."""
    settings = settings_or_exit()

    async def run() -> list[dict[str, Any]]:
        async with sessionmaker_for(settings) as sessionmaker, sessionmaker() as session:
            page = await service.list_runs(
                session,
                limit=limit,
                offset=offset,
                status=status,
                dataset_key=dataset_key,
                mode=mode,
                kind=kind,
            )
            return [
                {
                    "run_id": str(r.id),
                    "kind": r.kind,
                    "status": r.status,
                    "mode": r.mode,
                    "dataset_key": r.dataset_key,
                    "model_id": r.model_id,
                    "created_at": r.created_at.isoformat(),
                    "duration_seconds": r.duration_seconds,
                }
                for r in page.rows
            ]

    rows = asyncio.run(run())
    if as_json:
        for row in rows:
            sys.stdout.write(json.dumps(row) + "\n")
        return
    table = Table("created_at", "status", "mode", "dataset", "model", "seconds")
    table.add_column("run_id", no_wrap=True, min_width=36)
    for row in rows:
        seconds = row["duration_seconds"]
        table.add_row(
            row["created_at"][:19],
            row["status"],
            row["mode"],
            row["dataset_key"] or "",
            row["model_id"],
            f"{seconds:.1f}" if seconds is not None else "",
            row["run_id"],
        )
    console.print(table)


@app.command("show")
def show(run_id: Annotated[str, typer.Argument(help="Run id.")]) -> None:
    """Print a run in full (JSON, the API's shape)."""
    settings = settings_or_exit()
    rid = _parse_run_id(run_id)

    async def run() -> str:
        async with sessionmaker_for(settings) as sessionmaker, sessionmaker() as session:
            detail = await service.run_detail(session, await service.get_run(session, rid))
            return detail.model_dump_json(indent=2)

    try:
        sys.stdout.write(asyncio.run(run()) + "\n")
    except DomainError as exc:
        raise fail(exc.detail) from None


@app.command("logs")
def logs(
    run_id: Annotated[str, typer.Argument(help="Run id.")],
    since_seq: Annotated[int, typer.Option(min=0, help="Print lines after this seq.")] = 0,
    follow: Annotated[
        bool, typer.Option("--follow/--no-follow", "-f", help="Keep printing until it ends.")
    ] = True,
) -> None:
    """Print a run's log; by default follow it live until the run ends."""
    settings = settings_or_exit()
    rid = _parse_run_id(run_id)

    async def run() -> str | None:
        async with sessionmaker_for(settings) as sessionmaker:
            async with sessionmaker() as session:
                await service.get_run(session, rid)
                if not follow:
                    after = since_seq
                    while lines := await logs_mod.read_lines(session, rid, after):
                        for line in lines:
                            _print_line(line)
                        after = lines[-1].seq
                    return None
            async for item in logs_mod.follow(sessionmaker, rid, since_seq):
                if isinstance(item, str):
                    return item
                _print_line(item)
        return None

    try:
        final = asyncio.run(run())
    except DomainError as exc:
        raise fail(exc.detail) from None
    if final:
        err_console.print(f"run {rid} {final}", highlight=False)


@app.command("cancel")
def cancel(run_id: Annotated[str, typer.Argument(help="Run id.")]) -> None:
    """Cancel a pending or running run (its child gets SIGTERM, then SIGKILL)."""
    settings = settings_or_exit()
    rid = _parse_run_id(run_id)

    async def run() -> str:
        async with sessionmaker_for(settings) as sessionmaker, sessionmaker() as session:
            message = await service.cancel_run(session, rid)
            await session.commit()
            return message

    try:
        console.print(asyncio.run(run()), highlight=False)
    except DomainError as exc:
        raise fail(exc.detail) from None


@app.command("artifacts")
def artifacts(
    run_id: Annotated[str, typer.Argument(help="Run id.")],
    download: Annotated[
        str | None, typer.Option(help="Copy this artifact (relative path) out of the run.")
    ] = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Where --download writes.")
    ] = None,
) -> None:
    """List a run's files, or copy one out with --download."""
    settings = settings_or_exit()
    rid = _parse_run_id(run_id)

    async def run_dir() -> str:
        async with sessionmaker_for(settings) as sessionmaker, sessionmaker() as session:
            return service.files_dir(settings, await service.get_run(session, rid))

    try:
        directory = asyncio.run(run_dir())
        if download is not None:
            source = artifacts_mod.resolve_artifact(directory, download)
            target = output or Path(source.name)
            shutil.copyfile(source, target)
            err_console.print(f"wrote {target} ({source.stat().st_size} bytes)", highlight=False)
            return
    except DomainError as exc:
        raise fail(exc.detail) from None
    table = Table("size", "path")
    for item in artifacts_mod.list_artifacts(directory):
        table.add_row(str(item.size), item.path)
    console.print(table)


@app.command("retry")
def retry(run_id: Annotated[str, typer.Argument(help="A failed or cancelled run's id.")]) -> None:
    """Queue a new run with a failed, timed-out or cancelled run's config; prints its id."""
    settings = settings_or_exit()
    rid = _parse_run_id(run_id)

    async def run() -> Run:
        async with sessionmaker_for(settings) as sessionmaker, sessionmaker() as session:
            async with session.begin():
                new = await management.retry_run(session, settings, rid)
                await queue.enqueue(session)
            return new

    try:
        new = asyncio.run(run())
    except DomainError as exc:
        raise fail(exc.detail) from None
    err_console.print(f"run {new.id} queued (retry of {rid}) → {new.output_dir}", highlight=False)
    console.print(str(new.id))


def _when(value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise fail(f"--created-before: not an ISO date or date-time: {value!r}", 2) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


@app.command("delete")
def delete(
    run_ids: Annotated[list[str] | None, typer.Argument(help="Run ids (or use filters).")] = None,
    status: Annotated[
        list[str] | None, typer.Option("--status", help="Filter (repeatable).")
    ] = None,
    dataset_key: Annotated[str | None, typer.Option()] = None,
    model_id: Annotated[str | None, typer.Option()] = None,
    kind: Annotated[str | None, typer.Option(help="train | evaluate | tune")] = None,
    created_before: Annotated[
        str | None, typer.Option(help="ISO date or date-time (UTC unless a zone is given).")
    ] = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only count and list.")] = False,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask to confirm.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the result as JSON.")] = False,
) -> None:
    """Delete finished runs (rows and files) by id or by filter; unfinished ones are kept."""
    settings = settings_or_exit()
    fields: dict[str, Any] = {
        "status": status,
        "dataset_key": dataset_key,
        "model_id": model_id,
        "kind": kind,
        "created_before": _when(created_before),
    }
    criteria = {k: v for k, v in fields.items() if v}
    try:
        if run_ids:
            ids = [_parse_run_id(r) for r in run_ids]
            body = BulkDeleteRequest(ids=ids, dry_run=True) if not criteria else None
        else:
            body = BulkDeleteRequest.model_validate({"filter": criteria, "dry_run": True})
    except ValidationError as exc:
        raise invalid("delete request", exc) from None
    if body is None:
        raise fail("give run ids or filters, not both", 2)

    async def run(request: BulkDeleteRequest) -> BulkDeleteResult:
        async with (
            sessionmaker_for(settings) as sessionmaker,
            sessionmaker() as session,
            session.begin(),
        ):
            return await management.bulk_delete(session, settings, request)

    preview = asyncio.run(run(body))
    if not dry_run and preview.count and not yes:
        typer.confirm(f"Delete {preview.count} run(s) and their files?", abort=True)
    result = preview if dry_run else asyncio.run(run(body.model_copy(update={"dry_run": False})))
    if as_json:
        sys.stdout.write(result.model_dump_json(indent=2) + "\n")
        return
    verb = "would delete" if dry_run else "deleted"
    for rid in result.run_ids:
        console.print(f"{verb} {rid}", highlight=False)
    for skipped in result.skipped:
        err_console.print(f"kept {skipped.run_id}: {skipped.reason}", highlight=False)
    console.print(f"{verb} {result.count} run(s), {result.bytes} bytes", highlight=False)
