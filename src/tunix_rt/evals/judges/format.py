"""``format``: share of outputs shaped ``Reasoning:`` + numbered steps + ``Answer:``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from tunix_rt.evals.judges.base import JudgeResult, PredictionItem, percent, verdict_for
from tunix_rt.kit.answers import parse_output


def format_check(output: str) -> dict[str, Any]:
    """Which parts of the expected structure an output has; ``ok`` when all of them."""
    parsed = parse_output(output)
    checks = {
        "has_reasoning_header": parsed.has_reasoning_header,
        "step_count": len(parsed.steps),
        "numbering_ok": parsed.numbering_ok,
        "has_answer": parsed.answer is not None,
        "answer_is_last": parsed.answer_is_last,
    }
    checks["ok"] = parsed.well_formed
    return checks


class FormatJudge:
    """An output passes when it has the header, steps numbered 1..n and a final answer line."""

    name: ClassVar[str] = "format"
    version: ClassVar[str] = "1"

    def __init__(self, pass_score: float = 50.0) -> None:
        self.pass_score = pass_score

    async def judge(self, items: Sequence[PredictionItem]) -> JudgeResult:
        details = [{"id": item.id, **format_check(item.output)} for item in items]
        ok = sum(1 for d in details if d["ok"])
        score = percent(ok, len(items))
        return JudgeResult(
            name=self.name,
            version=self.version,
            score=score,
            verdict=verdict_for(score, self.pass_score, judged=len(items)),
            metrics={"format_rate": round(ok / len(items), 4) if items else 0.0},
            summary={"well_formed": ok, "total": len(items)},
            items=details,
        )
