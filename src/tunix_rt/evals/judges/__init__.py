"""Judges behind one interface, addressed as ``name`` or ``name@version``.

An evaluation applies a list of judges; the first one sets the evaluation's score,
verdict and ``judge``; every judge contributes metrics and a ``detailed_metrics`` entry.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from tunix_rt.config import Settings
from tunix_rt.evals.judges.base import Judge, JudgeResult, PredictionItem, Verdict
from tunix_rt.evals.judges.baseline import BaselineJudge
from tunix_rt.evals.judges.correctness import AnswerCorrectnessJudge
from tunix_rt.evals.judges.format import FormatJudge
from tunix_rt.evals.judges.llm import LLMJudge, LLMJudgeConfig
from tunix_rt.kit.errors import Unprocessable

__all__ = [
    "JUDGE_VERSIONS",
    "EvaluationOutcome",
    "Judge",
    "JudgeResult",
    "PredictionItem",
    "build_judge",
    "parse_judge_specs",
    "run_judges",
]

# name -> the versions this build can run (the last is the default). The mock judge
# (judges/mock.py) is deliberately absent: tests build it directly, and neither the API
# nor the CLI can select it, so no leaderboard score comes from it.
JUDGE_VERSIONS: dict[str, tuple[str, ...]] = {
    AnswerCorrectnessJudge.name: (AnswerCorrectnessJudge.version,),
    FormatJudge.name: (FormatJudge.version,),
    BaselineJudge.name: (BaselineJudge.version,),
    LLMJudge.name: (LLMJudge.version,),
}
MAX_JUDGES = 8


def parse_judge_specs(value: str | Sequence[str], *, loc: str = "judge_override") -> list[str]:
    """Normalize ``"a,b@1"`` or ``["a", "b@1"]`` to ``["a@1", "b@1"]``; 422 on unknowns."""
    parts = value.split(",") if isinstance(value, str) else list(value)
    specs: list[str] = []
    for raw in parts:
        name, _, version = raw.strip().partition("@")
        if not name:
            continue
        versions = JUDGE_VERSIONS.get(name)
        if versions is None:
            known = ", ".join(sorted(JUDGE_VERSIONS))
            raise Unprocessable(loc, f"unknown judge {name!r}; known judges: {known}")
        if version and version not in versions:
            raise Unprocessable(
                loc, f"judge {name!r} has no version {version!r}; available: {', '.join(versions)}"
            )
        spec = f"{name}@{version or versions[-1]}"
        if spec not in specs:
            specs.append(spec)
    if not specs:
        raise Unprocessable(loc, "name at least one judge")
    if len(specs) > MAX_JUDGES:
        raise Unprocessable(loc, f"at most {MAX_JUDGES} judges")
    return specs


def llm_judge_config(settings: Settings) -> LLMJudgeConfig:
    return LLMJudgeConfig(
        base_url=settings.llm_judge_base_url or settings.rediai_base_url,
        model=settings.llm_judge_model,
        api_key=settings.llm_judge_api_key,
        timeout_seconds=settings.llm_judge_timeout_seconds,
        max_retries=settings.llm_judge_max_retries,
        concurrency=settings.llm_judge_concurrency,
        mock=settings.rediai_mode == "mock",
    )


def build_judge(
    spec: str, settings: Settings, *, transport: httpx.AsyncBaseTransport | None = None
) -> Judge:
    """A judge for a spec from ``parse_judge_specs``."""
    name = spec.partition("@")[0]
    pass_score = settings.eval_pass_score
    if name == LLMJudge.name:
        return LLMJudge(llm_judge_config(settings), pass_score=pass_score, transport=transport)
    simple: dict[str, type[AnswerCorrectnessJudge | FormatJudge | BaselineJudge]] = {
        AnswerCorrectnessJudge.name: AnswerCorrectnessJudge,
        FormatJudge.name: FormatJudge,
        BaselineJudge.name: BaselineJudge,
    }
    return simple[name](pass_score=pass_score)


@dataclass
class EvaluationOutcome:
    """What an evaluation stores: the first judge's score/verdict plus everyone's metrics."""

    score: float
    verdict: Verdict
    judge_name: str
    judge_version: str
    metrics: dict[str, float]
    detailed_metrics: list[dict[str, Any]]
    results: list[JudgeResult] = field(default_factory=list)

    def item_details(self) -> dict[str, dict[str, Any]]:
        """Per item id: each judge's details for it (``{judge name: {...}}``)."""
        out: dict[str, dict[str, Any]] = {}
        for result in self.results:
            for item in result.items:
                rest = {k: v for k, v in item.items() if k != "id"}
                out.setdefault(str(item["id"]), {})[result.name] = rest
        return out


async def run_judges(judges: Sequence[Judge], items: Sequence[PredictionItem]) -> EvaluationOutcome:
    if not judges:
        raise ValueError("at least one judge is needed")
    results = [await judge.judge(items) for judge in judges]
    primary = results[0]
    metrics: dict[str, float] = {"score": primary.score}
    for result in results:
        metrics.update(result.metrics)
    return EvaluationOutcome(
        score=primary.score,
        verdict=primary.verdict,
        judge_name=primary.name,
        judge_version=primary.version,
        metrics=metrics,
        detailed_metrics=[r.detailed_metric() for r in results],
        results=results,
    )
