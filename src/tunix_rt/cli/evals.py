"""``tunix-rt eval`` and ``tunix-rt regression``: evaluation, leaderboard, gates."""

from __future__ import annotations

import asyncio
import json
import sys
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table
from sqlalchemy.ext.asyncio import AsyncSession

from tunix_rt.cli.common import (
    console,
    err_console,
    fail,
    run_in_transaction,
    sessionmaker_for,
    settings_or_exit,
)
from tunix_rt.config import Settings
from tunix_rt.evals import eval_sets, regression, schemas, service
from tunix_rt.kit.errors import DomainError
from tunix_rt.runs.capacity import Slots

eval_app = typer.Typer(help="Evaluate trained runs and show the leaderboard.", no_args_is_help=True)
regression_app = typer.Typer(help="Regression baselines and checks.", no_args_is_help=True)
sets_app = typer.Typer(help="Named eval sets (JSONL of id, prompt, expected_answer).")
eval_app.add_typer(sets_app, name="sets")

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON.")]


def _run_id(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise fail(f"not a run id: {value!r}", 2) from None


def _date(value: str | None, option: str) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise fail(f"{option} expects an ISO date or datetime, got {value!r}", 2) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")


def _print_evaluation(ev: schemas.Evaluation) -> None:
    source = f"eval set {ev.eval_set}" if ev.eval_set else "dataset eval split"
    console.print(
        f"run {ev.run_id}: score [bold]{ev.score:g}[/bold] ({ev.verdict}) by "
        f"{ev.judge.name}@{ev.judge.version} on {ev.item_count} items ({source}), "
        f"{ev.evaluated_at:%Y-%m-%d %H:%M:%S} UTC",
        highlight=False,
    )
    table = Table("judge", "score", "verdict", "metrics")
    for entry in ev.detailed_metrics:
        metrics = entry.details.get("metrics") or {}
        table.add_row(
            f"{entry.name}@{entry.details.get('version', '?')}",
            f"{entry.score:g}/{entry.max_score:g}",
            str(entry.details.get("verdict", "")),
            ", ".join(f"{k}={v:g}" for k, v in metrics.items()),
        )
    console.print(table)
    if ev.predictions_artifact:
        console.print(f"predictions: {ev.predictions_artifact}", highlight=False)


def _judges(values: list[str] | None) -> list[str] | None:
    if not values:
        return None
    return [part for value in values for part in value.split(",") if part.strip()]


@eval_app.command("run")
def run_evaluation(
    run_id: Annotated[str, typer.Argument(help="A completed local training run.")],
    judge: Annotated[
        list[str] | None,
        typer.Option(
            "--judge",
            "-j",
            help="Judge as name or name@version (repeatable; the first sets the score).",
        ),
    ] = None,
    eval_set: Annotated[str | None, typer.Option(help="Registered eval set.")] = None,
    limit: Annotated[int | None, typer.Option(min=1, help="Only the first N items.")] = None,
    batch_size: Annotated[int | None, typer.Option(min=1)] = None,
    max_new_tokens: Annotated[int | None, typer.Option(min=1)] = None,
    temperature: Annotated[float, typer.Option(min=0, help="0 = greedy.")] = 0.0,
    top_p: Annotated[float | None, typer.Option()] = None,
    queue: Annotated[
        bool, typer.Option("--async", help="Queue it for a worker and print the job id.")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Generate answers with the run's model, judge them and store the evaluation."""
    settings = settings_or_exit()
    try:
        request = schemas.EvaluateRequest(
            judge_override=_judges(judge),
            eval_set=eval_set,
            limit=limit,
            batch_size=batch_size,
            max_new_tokens=max_new_tokens,
            temperature=temperature,
            top_p=top_p,
        )
    except ValueError as exc:
        raise fail(f"invalid options: {exc}", 2) from None
    try:
        result = asyncio.run(_evaluate(settings, _run_id(run_id), request, queue=queue))
    except DomainError as exc:
        raise fail(exc.detail) from None
    if isinstance(result, uuid.UUID):
        console.print(str(result))
    elif as_json:
        _print_json(result.model_dump(mode="json"))
    else:
        _print_evaluation(result)


async def _evaluate(
    settings: Settings, run_id: uuid.UUID, request: schemas.EvaluateRequest, *, queue: bool
) -> schemas.Evaluation | uuid.UUID:
    async with sessionmaker_for(settings) as sessionmaker:
        if queue:
            async with sessionmaker() as session, session.begin():
                job = await service.queue_evaluation(session, settings, run_id, request)
            err_console.print(f"evaluation job {job.id} queued", highlight=False)
            return job.id
        err_console.print(f"evaluating run {run_id}: generating…", highlight=False)
        slots = Slots(settings.worker_concurrency)
        evaluation = await service.evaluate_run(sessionmaker, settings, slots, run_id, request)
        return schemas.Evaluation.model_validate(evaluation)


@eval_app.command("show")
def show_evaluation(
    run_id: Annotated[str, typer.Argument(help="A run id.")], as_json: JsonOption = False
) -> None:
    """Show a run's latest evaluation."""
    settings = settings_or_exit()

    async def run() -> schemas.Evaluation:
        async with sessionmaker_for(settings) as sessionmaker, sessionmaker() as session:
            return schemas.Evaluation.model_validate(
                await service.latest_evaluation(session, _run_id(run_id))
            )

    try:
        ev = asyncio.run(run())
    except DomainError as exc:
        raise fail(exc.detail) from None
    if as_json:
        _print_json(ev.model_dump(mode="json"))
    else:
        _print_evaluation(ev)


@eval_app.command("leaderboard")
def leaderboard(
    dataset_key: Annotated[str | None, typer.Option()] = None,
    model_id: Annotated[str | None, typer.Option()] = None,
    after: Annotated[str | None, typer.Option(help="Evaluated at or after (ISO).")] = None,
    before: Annotated[str | None, typer.Option(help="Evaluated before (ISO).")] = None,
    limit: Annotated[int, typer.Option(min=1, max=100)] = 50,
    offset: Annotated[int, typer.Option(min=0)] = 0,
    as_json: JsonOption = False,
) -> None:
    """Runs ranked by their latest evaluation's score."""
    settings = settings_or_exit()
    flt = service.LeaderboardFilter(
        dataset_key=dataset_key,
        model_id=model_id,
        evaluated_after=_date(after, "--after"),
        evaluated_before=_date(before, "--before"),
    )

    async def run() -> list[dict[str, Any]]:
        async with sessionmaker_for(settings) as sessionmaker, sessionmaker() as session:
            page = await service.leaderboard(session, flt, limit=limit, offset=offset)
        return [
            {
                "rank": offset + i + 1,
                "run_id": str(r.id),
                "model_id": r.model_id,
                "dataset_key": r.dataset_key,
                "score": ev.score,
                "verdict": ev.verdict,
                "metrics": ev.metrics,
                "evaluated_at": ev.evaluated_at.isoformat(),
            }
            for i, (ev, r) in enumerate(page.rows)
        ]

    rows = asyncio.run(run())
    if as_json:
        _print_json(rows)
        return
    table = Table("#", "run", "model", "dataset", "score", "verdict", "metrics", "evaluated")
    for row in rows:
        metrics = {k: v for k, v in row["metrics"].items() if k != "score"}
        table.add_row(
            str(row["rank"]),
            row["run_id"][:8],
            row["model_id"],
            row["dataset_key"] or "",
            f"{row['score']:g}",
            row["verdict"],
            ", ".join(f"{k}={v:g}" for k, v in metrics.items()),
            row["evaluated_at"][:19],
        )
    console.print(table)


@sets_app.command("add")
def add_eval_set(
    name: Annotated[str, typer.Argument(help="Name (letters, digits, . _ -).")],
    file: Annotated[Path, typer.Argument(help="JSONL: {id, prompt, expected_answer, category?}.")],
    description: Annotated[str | None, typer.Option()] = None,
) -> None:
    """Register an eval set from a JSONL file (every bad line is reported by number)."""
    settings = settings_or_exit()
    try:
        with file.open(encoding="utf-8") as handle:
            items, errors = eval_sets.parse_jsonl(handle)
    except OSError as exc:
        raise fail(f"cannot read {file}: {exc}", 2) from None
    if errors:
        for error in errors[: eval_sets.MAX_REPORTED]:
            err_console.print(f"{file}:{error}", highlight=False, markup=False)
        raise fail(f"{len(errors)} invalid line(s); nothing registered", 2)
    try:
        body = schemas.EvalSetCreate(name=name, description=description, items=items)
    except ValueError as exc:
        raise fail(str(exc), 2) from None

    _register(settings, lambda: body)


def _register(settings: Settings, body_of: Callable[[], schemas.EvalSetCreate]) -> None:
    """Register an eval set in one transaction and print its size; errors exit 1."""

    async def work(session: AsyncSession) -> schemas.EvalSetSummary:
        row = await eval_sets.create_eval_set(session, body_of())
        return schemas.EvalSetSummary.model_validate(row)

    summary = run_in_transaction(settings, work, all_one=True)
    console.print(f"eval set {summary.name}: {summary.item_count} items", highlight=False)


@sets_app.command("add-builtin")
def add_builtin_eval_set(
    name: Annotated[
        str, typer.Argument(help="A built-in set: " + ", ".join(sorted(eval_sets.BUILTIN_SETS)))
    ] = "starter-v1",
) -> None:
    """Register an eval set shipped with Tunix RT (under its own name)."""
    _register(settings_or_exit(), lambda: eval_sets.builtin_eval_set(name))


@sets_app.command("list")
def list_eval_sets(as_json: JsonOption = False) -> None:
    """Registered eval sets."""
    settings = settings_or_exit()

    async def run() -> list[schemas.EvalSetSummary]:
        async with sessionmaker_for(settings) as sessionmaker, sessionmaker() as session:
            return [
                schemas.EvalSetSummary.model_validate(r)
                for r in await eval_sets.list_eval_sets(session)
            ]

    rows = asyncio.run(run())
    if as_json:
        _print_json([r.model_dump(mode="json") for r in rows])
        return
    table = Table("name", "items", "sha256", "created", "description")
    for r in rows:
        table.add_row(
            r.name, str(r.item_count), r.sha256[:12], f"{r.created_at:%Y-%m-%d}", r.description
        )
    console.print(table)


@sets_app.command("delete")
def delete_eval_set(name: str) -> None:
    """Delete an eval set."""
    settings = settings_or_exit()

    async def run() -> None:
        async with sessionmaker_for(settings) as sessionmaker, sessionmaker() as session:
            await eval_sets.delete_eval_set(session, name)
            await session.commit()

    try:
        asyncio.run(run())
    except DomainError as exc:
        raise fail(exc.detail) from None
    console.print(f"eval set {name} deleted", highlight=False)


@regression_app.command("baseline")
def set_baseline(
    name: Annotated[str, typer.Argument(help="Baseline name (created or replaced).")],
    run: Annotated[
        str | None, typer.Option("--run", help="Run whose latest evaluation is the base.")
    ] = None,
    model: Annotated[
        str | None,
        typer.Option("--model", help="Or a registered model: name@version or name@alias."),
    ] = None,
    metric: Annotated[str, typer.Option(help="Metric of that evaluation.")] = "score",
    lower_is_better: Annotated[
        bool, typer.Option("--lower-is-better", help="For losses and error rates.")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Create or replace a named baseline from a run's latest evaluation or a registered
    model version."""
    settings = settings_or_exit()
    if (run is None) == (model is None):
        raise fail("give exactly one of --run and --model", 2)
    try:
        body = schemas.BaselineCreate(
            name=name,
            run_id=_run_id(run) if run is not None else None,
            model=model,
            metric=metric,
            lower_is_better=lower_is_better,
        )
    except ValueError as exc:
        raise fail(str(exc), 2) from None

    async def go() -> schemas.Baseline:
        async with sessionmaker_for(settings) as sessionmaker, sessionmaker() as session:
            row, _ = await regression.upsert_baseline(session, settings, body)
            await session.commit()
            return schemas.Baseline.model_validate(row)

    try:
        baseline = asyncio.run(go())
    except DomainError as exc:
        raise fail(exc.detail) from None
    if as_json:
        _print_json(baseline.model_dump(mode="json"))
        return
    direction = "lower" if baseline.lower_is_better else "higher"
    console.print(
        f"baseline {baseline.name}: {baseline.metric} = {baseline.value:g} "
        f"({direction} is better) from "
        + (f"model {baseline.model}" if baseline.model else f"run {baseline.run_id}"),
        highlight=False,
    )


@regression_app.command("baselines")
def list_baselines(as_json: JsonOption = False) -> None:
    """All baselines."""
    settings = settings_or_exit()

    async def go() -> list[schemas.Baseline]:
        async with sessionmaker_for(settings) as sessionmaker, sessionmaker() as session:
            return [
                schemas.Baseline.model_validate(r) for r in await regression.list_baselines(session)
            ]

    rows = asyncio.run(go())
    if as_json:
        _print_json([r.model_dump(mode="json") for r in rows])
        return
    table = Table("name", "metric", "value", "better", "run", "updated")
    for b in rows:
        table.add_row(
            b.name,
            b.metric,
            f"{b.value:g}",
            "lower" if b.lower_is_better else "higher",
            str(b.run_id or "(deleted)"),
            f"{b.updated_at:%Y-%m-%d %H:%M}",
        )
    console.print(table)


@regression_app.command("check")
def check(
    run: Annotated[str, typer.Option("--run", help="Run to check (its latest evaluation).")],
    baseline: Annotated[str | None, typer.Option("--baseline", help="Baseline name.")] = None,
    baseline_model: Annotated[
        str | None,
        typer.Option(
            "--baseline-model", help="Or a registered model, e.g. name@champion, on --metric."
        ),
    ] = None,
    metric: Annotated[str, typer.Option(help="With --baseline-model.")] = "score",
    lower_is_better: Annotated[
        bool, typer.Option("--lower-is-better", help="With --baseline-model.")
    ] = False,
    as_json: JsonOption = False,
) -> None:
    """Compare a run with a baseline or a registered model; exit 1 on a regression beyond
    the tolerance (CI gate)."""
    settings = settings_or_exit()
    run_id = _run_id(run)
    if (baseline is None) == (baseline_model is None):
        raise fail("give exactly one of --baseline and --baseline-model", 2)

    async def go() -> regression.CheckResult:
        async with sessionmaker_for(settings) as sessionmaker, sessionmaker() as session:
            return await regression.check_regression(
                session,
                settings,
                run_id=run_id,
                baseline_name=baseline,
                baseline_model=baseline_model,
                metric=metric,
                lower_is_better=lower_is_better,
            )

    try:
        result = asyncio.run(go())
    except DomainError as exc:
        raise fail(exc.detail, 2) from None
    comparison = result.comparison
    if as_json:
        _print_json(
            {
                "run_id": str(run_id),
                "baseline_name": result.baseline.name,
                "baseline_run_id": str(result.baseline.run_id) if result.baseline.run_id else None,
                "metric_name": result.baseline.metric,
                "baseline_value": result.baseline.value,
                "current_value": result.current_value,
                "delta": comparison.delta,
                "delta_percent": comparison.delta_percent,
                "verdict": comparison.verdict,
                "details": result.details,
            }
        )
    else:
        style = "green" if comparison.verdict == "pass" else "red"
        percent = (
            f" ({comparison.delta_percent:+g}%)" if comparison.delta_percent is not None else ""
        )
        console.print(
            f"[{style}]{comparison.verdict.upper()}[/{style}] {result.details['message']}; "
            f"delta {comparison.delta:+g}{percent}",
            highlight=False,
        )
    if comparison.verdict == "fail":
        raise typer.Exit(1)
