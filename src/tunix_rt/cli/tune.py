"""``tunix-rt tune``: hyperparameter tuning jobs on Ray Tune (through the services)."""

from __future__ import annotations

import asyncio
import json
import sys
import uuid
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from tunix_rt.cli.common import (
    console,
    err_console,
    fail,
    invalid,
    sessionmaker_for,
    settings_or_exit,
)
from tunix_rt.config import Settings
from tunix_rt.jobs import register_job_kinds
from tunix_rt.kit.errors import DomainError
from tunix_rt.models.run import Run
from tunix_rt.runs import queue
from tunix_rt.runs.capacity import Slots
from tunix_rt.runs.executor import start_inline
from tunix_rt.tuning import driver, schemas, service

app = typer.Typer(help="Hyperparameter tuning on Ray Tune (every trial is a run).")

FINISHED = ("completed", "failed", "cancelled")


def _job_id(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise fail(f"not a job id: {value!r}", 2) from None


def _json_option(value: str | None, option: str) -> Any:
    if value is None:
        return None
    text = Path(value[1:]).read_text(encoding="utf-8") if value.startswith("@") else value
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise fail(f"{option}: not valid JSON ({exc.msg})", 2) from None


def _request(fields: dict[str, Any]) -> schemas.TuningJobCreate:
    try:
        return schemas.TuningJobCreate.model_validate(
            {k: v for k, v in fields.items() if v is not None}
        )
    except ValidationError as exc:
        raise invalid("tuning job", exc) from None


@app.command("start")
def start(
    name: Annotated[str, typer.Option(help="Job name.")],
    dataset_key: Annotated[str, typer.Option(help="Dataset key (needs an eval split).")],
    space: Annotated[
        str,
        typer.Option(
            help='Search space JSON (or @file), e.g. \'{"learning_rate": {"type": '
            '"loguniform", "min": 1e-4, "max": 1e-2}}\'.'
        ),
    ],
    model_id: Annotated[str, typer.Option(help="Model preset or checkpoint.")] = (
        "tunix-rt/tiny-gemma"
    ),
    base: Annotated[
        str | None, typer.Option(help="Run parameters shared by every trial, JSON or @file.")
    ] = None,
    metric: Annotated[str, typer.Option(help="eval_loss, accuracy, score, ...")] = "eval_loss",
    mode: Annotated[str, typer.Option(help="min | max")] = "min",
    trials: Annotated[int, typer.Option("--trials", help="Number of trials.")] = 4,
    max_concurrent: Annotated[int, typer.Option(help="Trials at once.")] = 1,
    search: Annotated[str, typer.Option(help="random | optuna")] = "random",
    scheduler: Annotated[str, typer.Option(help="none | asha")] = "none",
    seed: Annotated[int | None, typer.Option(help="Search seed.")] = None,
    queue_name: Annotated[str, typer.Option("--queue", help="Queue of the job.")] = "default",
    queued: Annotated[
        bool, typer.Option("--async", help="Queue it for a worker and return at once.")
    ] = False,
) -> None:
    """Start a tuning job. Without --async it runs here, with a progress bar of trials."""
    settings = settings_or_exit()
    request = _request(
        {
            "name": name,
            "dataset_key": dataset_key,
            "model_id": model_id,
            "base": _json_option(base, "--base"),
            "search_space": _json_option(space, "--space"),
            "metric": metric,
            "mode": mode,
            "num_trials": trials,
            "max_concurrent": max_concurrent,
            "search": search,
            "scheduler": scheduler,
            "seed": seed,
            "queue": queue_name,
        }
    )
    try:
        status = asyncio.run(_start(settings, request, queued=queued))
    except DomainError as exc:
        raise fail(exc.detail) from None
    if status not in ("completed", "pending"):
        raise typer.Exit(1)


async def _start(settings: Settings, request: schemas.TuningJobCreate, *, queued: bool) -> str:
    async with sessionmaker_for(settings) as sessionmaker:
        if queued:
            async with sessionmaker() as session, session.begin():
                job = await service.create_job(session, settings, request)
                await queue.enqueue(session)
            console.print(str(job.id))
            return "pending"

        async def create(session: Any, worker_id: str) -> Run:
            return await service.create_job(session, settings, request, hold_for=worker_id)

        job, execution = await start_inline(sessionmaker, settings, Slots(1), create)
        job_id = job.id
        err_console.print(f"tuning job {job_id}", highlight=False)
        await _follow(sessionmaker, job_id, request.num_trials, until=execution)
        await execution
        async with sessionmaker() as session:
            detail = await service.job_detail(session, await service.get_job(session, job_id))
        _print_best(detail)
        return detail.status


async def _follow(
    sessionmaker: Any, job_id: uuid.UUID, total: int, *, until: asyncio.Task[Any] | None
) -> schemas.TuningJob:
    """A progress bar of finished trials with the best value so far."""
    columns = (
        TextColumn("trials"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[best]}"),
        TimeElapsedColumn(),
    )
    with Progress(*columns, console=err_console, transient=False) as progress:
        task = progress.add_task("trials", total=total, best="")
        while True:
            async with sessionmaker() as session:
                detail = await service.job_detail(session, await service.get_job(session, job_id))
            best = f"best {detail.metric} {detail.best.metric_value:.4g}" if detail.best else ""
            progress.update(task, completed=detail.trials_finished, best=best)
            if detail.status in FINISHED or (until is not None and until.done()):
                return detail
            await asyncio.sleep(1.0)


def _print_best(detail: schemas.TuningJob) -> None:
    message = f": {detail.message}" if detail.message else ""
    err_console.print(f"tuning job {detail.job_id} {detail.status}{message}", highlight=False)
    if detail.best is not None:
        params = ", ".join(f"{k}={v}" for k, v in detail.best.params.items())
        console.print(
            f"best {detail.metric} {detail.best.metric_value:.4g}: {params} "
            f"(run {detail.best.run_id})",
            highlight=False,
        )


@app.command("show")
def show(
    job_id: Annotated[str, typer.Argument(help="Job id.")],
    follow: Annotated[bool, typer.Option("--follow", "-f", help="Watch until it ends.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """A job's trials and its best trial."""
    settings = settings_or_exit()
    jid = _job_id(job_id)

    async def go() -> schemas.TuningJob:
        async with sessionmaker_for(settings) as sessionmaker:
            if follow:
                async with sessionmaker() as session:
                    total = service.job_request(await service.get_job(session, jid)).num_trials
                await _follow(sessionmaker, jid, total, until=None)
            async with sessionmaker() as session:
                return await service.job_detail(session, await service.get_job(session, jid))

    try:
        detail = asyncio.run(go())
    except DomainError as exc:
        raise fail(exc.detail) from None
    if as_json:
        sys.stdout.write(detail.model_dump_json(indent=2) + "\n")
        return
    table = Table("trial", "status", detail.metric, "early stop", "params", "run_id")
    for trial in detail.trials:
        table.add_row(
            trial.trial_id,
            trial.status,
            "" if trial.metric_value is None else f"{trial.metric_value:.4g}",
            "yes" if trial.stopped_early else "",
            json.dumps(trial.params),
            str(trial.run_id or ""),
        )
    console.print(f"{detail.name} ({detail.job_id}) {detail.status}", highlight=False)
    console.print(table)
    _print_best(detail)


@app.command("list")
def list_jobs(
    limit: Annotated[int, typer.Option(min=1, max=100)] = 20,
    offset: Annotated[int, typer.Option(min=0)] = 0,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON lines.")] = False,
) -> None:
    """Tuning jobs, newest first."""
    settings = settings_or_exit()

    async def go() -> list[schemas.TuningJobSummary]:
        async with sessionmaker_for(settings) as sessionmaker, sessionmaker() as session:
            return (await service.list_jobs(session, limit=limit, offset=offset)).rows

    rows = asyncio.run(go())
    if as_json:
        for row in rows:
            sys.stdout.write(row.model_dump_json() + "\n")
        return
    table = Table("created_at", "name", "status", "trials", "best")
    table.add_column("job_id", no_wrap=True, min_width=36)
    for row in rows:
        best = "" if row.best_metric_value is None else f"{row.metric} {row.best_metric_value:.4g}"
        table.add_row(
            row.created_at.isoformat()[:19],
            row.name,
            row.status,
            f"{row.trials_finished}/{row.num_trials}",
            best,
            str(row.job_id),
        )
    console.print(table)


@app.command("cancel")
def cancel(job_id: Annotated[str, typer.Argument(help="Job id.")]) -> None:
    """Cancel a job and its running trials."""
    settings = settings_or_exit()
    jid = _job_id(job_id)

    async def go() -> str:
        async with (
            sessionmaker_for(settings) as sessionmaker,
            sessionmaker() as session,
            session.begin(),
        ):
            return await service.cancel_job(session, jid)

    try:
        console.print(asyncio.run(go()), highlight=False)
    except DomainError as exc:
        raise fail(exc.detail) from None


@app.command("driver", hidden=True)
def run_driver(config: Annotated[Path, typer.Option(help="tune_config.json")]) -> None:
    """The tuning job's child process (started by the ``tune`` job kind)."""
    raise typer.Exit(driver.main(config, register_job_kinds))
