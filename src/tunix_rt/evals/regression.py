"""Regression gates: named baselines of one metric, and direction-aware checks.

A check fails when the run's metric is worse than the baseline by more than the
tolerance (default 5%) *relative to the baseline*: for a higher-is-better metric
``(baseline − current) / |baseline| > 5%``, for a lower-is-better one
``(current − baseline) / |baseline| > 5%``. At a baseline of exactly 0 a relative change
is undefined, so the tolerance applies in the metric's own units.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from tunix_rt.config import Settings
from tunix_rt.db import utcnow
from tunix_rt.evals.schemas import BaselineCreate
from tunix_rt.evals.service import latest_evaluation_or_none
from tunix_rt.kit.errors import BadRequest, NotFound
from tunix_rt.models.evaluation import Evaluation, RegressionBaseline
from tunix_rt.models.run import Run
from tunix_rt.registry import service as registry
from tunix_rt.runs.service import get_run


@dataclass(frozen=True)
class Comparison:
    delta: float
    delta_percent: float | None
    regression: float  # how much worse, relative (or absolute at a zero baseline); ≤ 0 = not worse
    relative: bool
    verdict: Literal["pass", "fail"]


def compare(
    baseline: float, current: float, *, lower_is_better: bool, tolerance: float = 0.05
) -> Comparison:
    """Compare ``current`` with ``baseline``; fail on a regression beyond ``tolerance``."""
    delta = current - baseline
    worse_by = delta if lower_is_better else -delta
    relative = baseline != 0
    regression = worse_by / abs(baseline) if relative else worse_by
    # Rounding keeps 0.9 → 0.855 (exactly 5% down) from failing on float noise.
    verdict: Literal["pass", "fail"] = "fail" if round(regression, 9) > tolerance else "pass"
    return Comparison(
        delta=round(delta, 9),
        delta_percent=round(delta / abs(baseline) * 100, 4) if relative else None,
        regression=round(regression, 9),
        relative=relative,
        verdict=verdict,
    )


async def _metric_of_latest(session: AsyncSession, run_id: uuid.UUID, metric: str) -> Any:
    evaluation = await latest_evaluation_or_none(session, run_id)
    if evaluation is None:
        raise BadRequest(f"run {run_id} has no evaluation; evaluate it first")
    value = evaluation.metrics.get(metric)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        known = ", ".join(sorted(evaluation.metrics)) or "none"
        raise BadRequest(
            f"the latest evaluation of run {run_id} has no metric {metric!r} (it has: {known})"
        )
    return evaluation, float(value)


@dataclass(frozen=True)
class EvaluatedOn:
    """What an evaluation answered: a named eval set, or a dataset's eval split."""

    eval_set: str | None
    dataset_key: str | None

    def describe(self) -> str:
        return f"eval set {self.eval_set}" if self.eval_set else f"dataset {self.dataset_key}"


async def _metric_of_model(
    session: AsyncSession,
    settings: Settings,
    model: str,
    metric: str,
    *,
    field: str,
    like: EvaluatedOn | None = None,
) -> tuple[registry.Resolved, float]:
    """A registered version's ``metric``: from its latest evaluation as a registered model
    (``POST /api/tunix/evaluations``), else from the metrics recorded at promotion. With
    ``like``, only an evaluation on the same eval set (or the same dataset's eval split)
    counts, so a check compares like with like."""
    resolved = await registry.resolve(session, settings, model, field=field)
    stmt = (
        select(Evaluation)
        .join(Run, Run.id == Evaluation.run_id)
        .where(Run.model_id == resolved.ref, Run.kind == "evaluate", Run.parent_run_id.is_(None))
        .order_by(Evaluation.evaluated_at.desc(), Evaluation.id.desc())
        .limit(1)
    )
    if like is not None and like.eval_set is not None:
        stmt = stmt.where(Evaluation.eval_set_name == like.eval_set)
    elif like is not None:
        stmt = stmt.where(Evaluation.eval_set_name.is_(None), Run.dataset_key == like.dataset_key)
    evaluation = await session.scalar(stmt)
    metrics: dict[str, Any] = {}
    if evaluation is not None:
        metrics = {**evaluation.metrics, "score": evaluation.score}
    else:
        provenance = resolved.version.provenance
        promoted = EvaluatedOn(
            (provenance.get("evaluation") or {}).get("eval_set"), provenance.get("dataset_key")
        )
        if like is None or like == promoted:
            metrics = resolved.version.metrics
        elif resolved.version.metrics:
            raise BadRequest(
                f"{resolved.ref} was evaluated on {promoted.describe()}, the run on "
                f"{like.describe()}; evaluate the model there (POST /api/tunix/evaluations)"
            )
    value = metrics.get(metric)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        known = ", ".join(sorted(k for k, v in metrics.items() if _is_number(v))) or "none"
        raise BadRequest(
            f"{resolved.ref} has no evaluated metric {metric!r} (it has: {known}); evaluate "
            "it with POST /api/tunix/evaluations"
        )
    return resolved, float(value)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


async def upsert_baseline(
    session: AsyncSession, settings: Settings, body: BaselineCreate
) -> tuple[RegressionBaseline, bool]:
    """Create or replace the baseline ``body.name`` from the run's latest evaluation or a
    registered model version's metric."""
    name, run_id, metric = body.name, body.run_id, body.metric
    model_ref = None
    if body.model is not None:
        resolved, value = await _metric_of_model(
            session, settings, body.model, metric, field="model"
        )
        run_id, model_ref = resolved.version.run_id, resolved.ref
        if run_id is not None and await session.get(Run, run_id) is None:
            run_id = None  # the source run is gone; the value stays
    else:
        assert run_id is not None
        await get_run(session, run_id)
        _, value = await _metric_of_latest(session, run_id, metric)
    now = utcnow()
    row = await _find_baseline(session, name)
    created = row is None
    if row is None:
        row = RegressionBaseline(
            name=name,
            run_id=run_id,
            model_ref=model_ref,
            metric=metric,
            value=value,
            created_at=now,
            updated_at=now,
        )
        try:
            async with session.begin_nested():
                session.add(row)
        except IntegrityError:  # created by a concurrent request: update that one
            row = await _find_baseline(session, name)
            created = False
            if row is None:
                raise
    row.run_id = run_id
    row.model_ref = model_ref
    row.metric = metric
    row.value = value
    row.lower_is_better = body.lower_is_better
    row.updated_at = now
    await session.flush()
    return row, created


async def _find_baseline(session: AsyncSession, name: str) -> RegressionBaseline | None:
    stmt = select(RegressionBaseline).where(RegressionBaseline.name == name)
    return await session.scalar(stmt.execution_options(populate_existing=True))


async def list_baselines(session: AsyncSession) -> list[RegressionBaseline]:
    stmt = select(RegressionBaseline).order_by(RegressionBaseline.name)
    return list((await session.scalars(stmt)).all())


async def get_baseline(session: AsyncSession, name: str) -> RegressionBaseline:
    row = await _find_baseline(session, name)
    if row is None:
        raise NotFound(f"baseline {name!r} not found")
    return row


async def delete_baseline(session: AsyncSession, name: str) -> None:
    await session.delete(await get_baseline(session, name))
    await session.flush()


@dataclass(frozen=True)
class CheckResult:
    baseline: RegressionBaseline
    run_id: uuid.UUID
    current_value: float
    comparison: Comparison
    details: dict[str, Any]


async def check_regression(
    session: AsyncSession,
    settings: Settings,
    *,
    run_id: uuid.UUID,
    baseline_name: str | None = None,
    baseline_model: str | None = None,
    metric: str | None = None,
    lower_is_better: bool = False,
) -> CheckResult:
    """Compare the run's latest evaluation with the named baseline, or with a registered
    model version (``name@champion``) on ``metric``."""
    if baseline_model is not None:
        metric = metric or "score"
        run = await get_run(session, run_id)
        latest = await latest_evaluation_or_none(session, run_id)
        like = EvaluatedOn(latest.eval_set_name, run.dataset_key) if latest else None
        resolved, value = await _metric_of_model(
            session, settings, baseline_model, metric, field="baseline_model", like=like
        )
        baseline = RegressionBaseline(  # not stored: the comparison's reference only
            name=resolved.ref,
            run_id=resolved.version.run_id,
            model_ref=resolved.ref,
            metric=metric,
            value=value,
            lower_is_better=lower_is_better,
        )
    else:
        assert baseline_name is not None
        baseline = await get_baseline(session, baseline_name)
    await get_run(session, run_id)
    evaluation, current = await _metric_of_latest(session, run_id, baseline.metric)
    tolerance = settings.eval_regression_tolerance
    result = compare(
        baseline.value, current, lower_is_better=baseline.lower_is_better, tolerance=tolerance
    )
    direction = "lower" if baseline.lower_is_better else "higher"
    unit = "relative" if result.relative else "absolute"
    message = (
        f"{baseline.metric} {current:g} vs baseline {baseline.value:g} ({direction} is better): "
        + (
            f"worse by {result.regression:.2%} {unit}, over the {tolerance:.0%} tolerance"
            if result.verdict == "fail" and result.relative
            else f"worse by {result.regression:g}, over the {tolerance:g} tolerance"
            if result.verdict == "fail"
            else "within tolerance"
        )
    )
    return CheckResult(
        baseline=baseline,
        run_id=run_id,
        current_value=current,
        comparison=result,
        details={
            "lower_is_better": baseline.lower_is_better,
            "tolerance": tolerance,
            "comparison": unit,
            "regression": result.regression,
            "evaluation_id": str(evaluation.id),
            "evaluated_at": evaluation.evaluated_at.isoformat(),
            "message": message,
        },
    )
