"""``baseline``: the SPEC §3 trace-shape score of each generated trace, averaged."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from tunix_rt.evals.judges.base import JudgeResult, PredictionItem, verdict_for
from tunix_rt.kit.answers import parse_output
from tunix_rt.traces.scoring import baseline_score


def generated_trace(item: PredictionItem) -> dict[str, Any]:
    """The generated output as a trace payload (steps + final answer)."""
    parsed = parse_output(item.output)
    return {
        "prompt": item.prompt,
        "steps": [{"i": i, "type": "step", "content": s} for i, s in enumerate(parsed.steps)],
        "final_answer": parsed.answer or "",
    }


class BaselineJudge:
    """Mean trace-shape score (0–100) of the generated traces; says nothing of correctness."""

    name: ClassVar[str] = "baseline"
    version: ClassVar[str] = "1"

    def __init__(self, pass_score: float = 50.0) -> None:
        self.pass_score = pass_score

    async def judge(self, items: Sequence[PredictionItem]) -> JudgeResult:
        details: list[dict[str, Any]] = []
        for item in items:
            result = baseline_score(generated_trace(item))
            details.append(
                {
                    "id": item.id,
                    "score": result.score,
                    "step_count": result.step_count,
                    "avg_step_length": result.avg_step_length,
                }
            )
        score = round(sum(d["score"] for d in details) / len(details), 2) if details else 0.0
        return JudgeResult(
            name=self.name,
            version=self.version,
            score=score,
            verdict=verdict_for(score, self.pass_score, judged=len(items)),
            metrics={"baseline_score": score},
            summary={"total": len(items)},
            items=details,
        )
