"""HTTP endpoints for evaluation, leaderboard, regression gates and eval sets (SPEC §7)."""

from __future__ import annotations

import asyncio
import uuid
from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Body, Query, Request, Response, status

from tunix_rt.evals import eval_sets, regression, schemas, service
from tunix_rt.evals.service import LeaderboardFilter
from tunix_rt.kit.dates import as_utc
from tunix_rt.kit.deps import SessionDep, SettingsDep, sessionmaker_of
from tunix_rt.kit.errors import NotFound, PayloadTooLarge, Unprocessable
from tunix_rt.kit.pagination import Offset, Page, Pagination
from tunix_rt.kit.text import Key, ModelRef, Name, Text
from tunix_rt.models.evaluation import Evaluation
from tunix_rt.registry import service as registry
from tunix_rt.runs.service import get_run

router = APIRouter(tags=["evaluation"])

MAX_EVAL_SET_BYTES = 64 * 1_048_576


# --- evaluations of a run ---------------------------------------------------------------------


@router.post(
    "/api/tunix/runs/{run_id}/evaluate",
    status_code=status.HTTP_201_CREATED,
    operation_id="evaluate_run",
    responses={
        400: {"description": "Dry-run, unfinished or evaluate-job run; nothing to evaluate on."},
        404: {"description": "Unknown run or eval set."},
        409: {"description": "The evaluate job was cancelled before it finished."},
        500: {"description": "Generation failed; the evaluate job's logs say why."},
    },
)
async def evaluate_run(
    run_id: uuid.UUID,
    request: Request,
    settings: SettingsDep,
    body: Annotated[schemas.EvaluateRequest | None, Body()] = None,
) -> schemas.Evaluation:
    """Generate answers with the run's trained model, judge them and store the evaluation."""
    row = await service.evaluate_run(
        sessionmaker_of(request),
        settings,
        request.app.state.slots,
        run_id,
        body or schemas.EvaluateRequest(),
    )
    return schemas.Evaluation.model_validate(row)


@router.post(
    "/api/tunix/evaluations",
    status_code=status.HTTP_201_CREATED,
    operation_id="evaluate_model",
    responses={
        400: {"description": "The dataset has no eval split."},
        404: {"description": "Unknown model, version, alias, dataset or eval set."},
        409: {"description": "The evaluate job was cancelled before it finished."},
        500: {"description": "Generation failed; the evaluate job's logs say why."},
    },
)
async def evaluate_model(
    request: Request, settings: SettingsDep, body: schemas.ModelEvaluateRequest
) -> schemas.Evaluation:
    """Evaluate a registered model (``model: name@version|alias``): its weights are loaded
    from the registry; the evaluation belongs to the evaluate job (``run_id``), whose
    ``model_id`` is the pinned ``name@version``."""
    row = await service.evaluate_model(
        sessionmaker_of(request), settings, request.app.state.slots, body
    )
    return schemas.Evaluation.model_validate(row)


@router.get(
    "/api/tunix/runs/{run_id}/evaluation",
    operation_id="get_run_evaluation",
    responses={404: {"description": "Unknown run, or the run has no evaluation yet."}},
)
async def get_run_evaluation(run_id: uuid.UUID, session: SessionDep) -> schemas.Evaluation:
    """The run's latest evaluation."""
    return schemas.Evaluation.model_validate(await service.latest_evaluation(session, run_id))


@router.get("/api/tunix/runs/{run_id}/evaluations", operation_id="list_run_evaluations")
async def list_run_evaluations(run_id: uuid.UUID, session: SessionDep) -> schemas.EvaluationList:
    """Every evaluation of the run, newest first."""
    rows = await service.list_evaluations(session, run_id)
    return schemas.EvaluationList(data=[schemas.Evaluation.model_validate(r) for r in rows])


@router.get("/api/tunix/runs/{run_id}/predictions", operation_id="list_run_predictions")
async def list_run_predictions(
    run_id: uuid.UUID,
    session: SessionDep,
    wrong_only: Annotated[bool, Query(description="Only items answered incorrectly.")] = False,
    evaluation_id: Annotated[
        uuid.UUID | None, Query(description="Default: the latest evaluation.")
    ] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Offset = 0,
) -> schemas.PredictionPage:
    """Per-item generated vs expected answers of an evaluation (predictions.jsonl)."""
    run = await get_run(session, run_id)
    if evaluation_id is None:
        evaluation = await service.latest_evaluation(session, run_id)
    else:
        found = await session.get(Evaluation, evaluation_id)
        if found is None or found.run_id != run_id:
            raise NotFound(f"evaluation {evaluation_id} of run {run_id} not found")
        evaluation = found
    page = await asyncio.to_thread(
        service.read_predictions,
        service.predictions_file(run, evaluation),
        wrong_only=wrong_only,
        limit=limit,
        offset=offset,
    )
    return schemas.PredictionPage(
        evaluation_id=evaluation.id,
        run_id=run_id,
        total=page.total,
        wrong=page.wrong,
        data=[schemas.Prediction.model_validate(r) for r in page.rows],
        pagination=Pagination(limit=limit, offset=offset, next_offset=page.next_offset),
    )


# --- leaderboard --------------------------------------------------------------------------------


@router.get("/api/tunix/evaluations", operation_id="get_leaderboard")
async def get_leaderboard(
    session: SessionDep,
    settings: SettingsDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
    offset: Offset = 0,
    dataset_key: Annotated[Key | None, Query()] = None,
    model_id: Annotated[ModelRef | None, Query()] = None,
    model: Annotated[
        ModelRef | None,
        Query(description="A registered model (name@version|alias): its runs and evaluations."),
    ] = None,
    evaluated_after: Annotated[datetime | None, Query(description="Inclusive.")] = None,
    evaluated_before: Annotated[datetime | None, Query(description="Exclusive.")] = None,
) -> Page[schemas.LeaderboardRow]:
    """Leaderboard: one row per run (its latest evaluation), best score first."""
    if model:
        if model_id:
            raise Unprocessable("model", "give model or model_id, not both")
        model_id = (await registry.resolve(session, settings, model, field="model")).ref
    flt = LeaderboardFilter(
        dataset_key=dataset_key or None,
        model_id=model_id or None,
        evaluated_after=as_utc("evaluated_after", evaluated_after),
        evaluated_before=as_utc("evaluated_before", evaluated_before),
    )
    page = await service.leaderboard(session, flt, limit=limit, offset=offset)
    registered = await registry.registered_names(session, [run.id for _, run in page.rows])
    return Page[schemas.LeaderboardRow](
        data=[
            schemas.LeaderboardRow(
                rank=offset + index + 1,
                run_id=run.id,
                evaluation_id=ev.id,
                model_id=run.model_id,
                registered_as=registered.get(run.id, []),
                dataset_key=run.dataset_key,
                score=ev.score,
                verdict=ev.verdict,
                metrics=ev.metrics,
                judge=schemas.JudgeRef(name=ev.judge_name, version=ev.judge_version),
                eval_set=ev.eval_set_name,
                item_count=ev.item_count,
                evaluated_at=ev.evaluated_at,
            )
            for index, (ev, run) in enumerate(page.rows)
        ],
        pagination=Pagination(limit=limit, offset=offset, next_offset=page.next_offset),
    )


@router.get(
    "/api/tunix/evaluations/{evaluation_id}",
    operation_id="get_evaluation",
    responses={404: {"description": "Unknown evaluation."}},
)
async def get_evaluation(evaluation_id: uuid.UUID, session: SessionDep) -> schemas.Evaluation:
    """One evaluation by id."""
    row = await session.get(Evaluation, evaluation_id)
    if row is None:
        raise NotFound(f"evaluation {evaluation_id} not found")
    return schemas.Evaluation.model_validate(row)


# --- regression ---------------------------------------------------------------------------------


@router.post(
    "/api/regression/baselines",
    status_code=status.HTTP_201_CREATED,
    operation_id="upsert_baseline",
    tags=["regression"],
    responses={
        400: {"description": "The run has no evaluation with that metric."},
        404: {"description": "Unknown run or registered model."},
    },
)
async def upsert_baseline(
    body: schemas.BaselineCreate, session: SessionDep, settings: SettingsDep
) -> schemas.Baseline:
    """Create or replace a named baseline from the run's latest evaluation metric, or from
    a registered model version (``model: name@version|alias``)."""
    row, _ = await regression.upsert_baseline(session, settings, body)
    return schemas.Baseline.model_validate(row)


@router.get("/api/regression/baselines", operation_id="list_baselines", tags=["regression"])
async def list_baselines(session: SessionDep) -> schemas.BaselineList:
    """All baselines by name."""
    return schemas.BaselineList(
        data=[schemas.Baseline.model_validate(r) for r in await regression.list_baselines(session)]
    )


@router.get("/api/regression/baselines/{name}", operation_id="get_baseline", tags=["regression"])
async def get_baseline(name: Key, session: SessionDep) -> schemas.Baseline:
    """One baseline."""
    return schemas.Baseline.model_validate(await regression.get_baseline(session, name))


@router.delete(
    "/api/regression/baselines/{name}",
    status_code=status.HTTP_204_NO_CONTENT,
    operation_id="delete_baseline",
    tags=["regression"],
)
async def delete_baseline(name: Key, session: SessionDep) -> Response:
    """Delete a baseline."""
    await regression.delete_baseline(session, name)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/api/regression/check",
    operation_id="check_regression",
    tags=["regression"],
    responses={
        400: {"description": "The run has no evaluation with the baseline's metric."},
        404: {"description": "Unknown run or baseline."},
    },
)
async def check_regression(
    body: schemas.RegressionCheckRequest, session: SessionDep, settings: SettingsDep
) -> schemas.RegressionCheck:
    """Compare the run's latest evaluation with a baseline: fail on a >5% relative regression."""
    result = await regression.check_regression(
        session,
        settings,
        run_id=body.run_id,
        baseline_name=body.baseline_name,
        baseline_model=body.baseline_model,
        metric=body.metric,
        lower_is_better=body.lower_is_better,
    )
    return schemas.RegressionCheck(
        run_id=result.run_id,
        baseline_name=result.baseline.name,
        baseline_run_id=result.baseline.run_id,
        metric_name=result.baseline.metric,
        baseline_value=result.baseline.value,
        current_value=result.current_value,
        delta=result.comparison.delta,
        delta_percent=result.comparison.delta_percent,
        verdict=result.comparison.verdict,
        details=result.details,
    )


# --- eval sets ----------------------------------------------------------------------------------


@router.post(
    "/api/eval-sets",
    status_code=status.HTTP_201_CREATED,
    operation_id="create_eval_set",
    tags=["eval sets"],
    responses={409: {"description": "The name is taken."}},
)
async def create_eval_set(
    body: schemas.EvalSetCreate, session: SessionDep
) -> schemas.EvalSetSummary:
    """Register a named eval set of {id, prompt, expected_answer, category?} items."""
    return schemas.EvalSetSummary.model_validate(await eval_sets.create_eval_set(session, body))


@router.post(
    "/api/eval-sets/builtin/{name}",
    status_code=status.HTTP_201_CREATED,
    operation_id="add_builtin_eval_set",
    tags=["eval sets"],
    responses={
        404: {"description": "No built-in set of that name."},
        409: {"description": "Registered already."},
    },
)
async def add_builtin_eval_set(name: Name, session: SessionDep) -> schemas.EvalSetSummary:
    """Register an eval set shipped with Tunix RT (e.g. ``starter-v1``) under its name."""
    row = await eval_sets.create_eval_set(session, eval_sets.builtin_eval_set(name))
    return schemas.EvalSetSummary.model_validate(row)


@router.post(
    "/api/eval-sets/import",
    status_code=status.HTTP_201_CREATED,
    operation_id="import_eval_set",
    tags=["eval sets"],
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/x-ndjson": {"schema": {"type": "string"}}},
        }
    },
    responses={
        409: {"description": "The name is taken."},
        422: {"description": "Invalid lines, reported by line number."},
    },
)
async def import_eval_set(
    request: Request,
    session: SessionDep,
    name: Annotated[Name, Query()],
    description: Annotated[Text | None, Query(max_length=2000)] = None,
) -> schemas.EvalSetSummary:
    """Register an eval set from a JSONL body, one item per line (errors name the line)."""
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_EVAL_SET_BYTES:
            raise PayloadTooLarge(f"eval set exceeds {MAX_EVAL_SET_BYTES} bytes")
        chunks.append(chunk)
    text = b"".join(chunks).decode("utf-8", "replace")
    items, errors = eval_sets.parse_jsonl(text.splitlines())
    if errors:
        eval_sets.raise_line_errors(errors)
    if not items:
        raise Unprocessable((), "the eval set has no items")
    body = schemas.EvalSetCreate(name=name, description=description, items=items)
    return schemas.EvalSetSummary.model_validate(await eval_sets.create_eval_set(session, body))


@router.get("/api/eval-sets", operation_id="list_eval_sets", tags=["eval sets"])
async def list_eval_sets(session: SessionDep) -> schemas.EvalSetList:
    """Registered eval sets by name."""
    return schemas.EvalSetList(
        data=[
            schemas.EvalSetSummary.model_validate(r)
            for r in await eval_sets.list_eval_sets(session)
        ]
    )


@router.get("/api/eval-sets/{name}", operation_id="get_eval_set", tags=["eval sets"])
async def get_eval_set(name: Key, session: SessionDep) -> schemas.EvalSetDetail:
    """An eval set with its items."""
    row = await eval_sets.get_eval_set(session, name)
    return schemas.EvalSetDetail.model_validate(row)


@router.delete(
    "/api/eval-sets/{name}",
    status_code=status.HTTP_204_NO_CONTENT,
    operation_id="delete_eval_set",
    tags=["eval sets"],
)
async def delete_eval_set(name: Key, session: SessionDep) -> Response:
    """Delete an eval set (evaluations made with it are kept)."""
    await eval_sets.delete_eval_set(session, name)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
