"""``answer_correctness``: the extracted final answer against the expected one."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any, ClassVar

from tunix_rt.evals.judges.base import JudgeResult, PredictionItem, percent, verdict_for
from tunix_rt.kit.answers import answers_match, extract_answer


class AnswerCorrectnessJudge:
    """Accuracy of the answer after the last ``Answer:``; numbers compare by value."""

    name: ClassVar[str] = "answer_correctness"
    version: ClassVar[str] = "1"

    def __init__(self, pass_score: float = 50.0) -> None:
        self.pass_score = pass_score

    async def judge(self, items: Sequence[PredictionItem]) -> JudgeResult:
        details: list[dict[str, Any]] = []
        per_category: dict[str, list[int]] = defaultdict(lambda: [0, 0])
        correct = scored = 0
        for item in items:
            extracted = extract_answer(item.output)
            if item.expected_answer is None:
                details.append({"id": item.id, "extracted_answer": extracted, "correct": None})
                continue
            ok = answers_match(extracted, item.expected_answer)
            scored += 1
            correct += ok
            if item.category:
                per_category[item.category][0] += ok
                per_category[item.category][1] += 1
            details.append({"id": item.id, "extracted_answer": extracted, "correct": ok})
        accuracy = correct / scored if scored else 0.0
        score = percent(correct, scored)
        return JudgeResult(
            name=self.name,
            version=self.version,
            score=score,
            verdict=verdict_for(score, self.pass_score, judged=scored),
            metrics={"accuracy": round(accuracy, 4)},
            summary={
                "correct": correct,
                "total": scored,
                "unscored": len(items) - scored,
                "by_category": {
                    name: {"correct": c, "total": t, "accuracy": round(c / t, 4)}
                    for name, (c, t) in sorted(per_category.items())
                },
            },
            items=details,
        )
