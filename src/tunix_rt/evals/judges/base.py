"""The judge interface: a versioned scorer of generated answers with per-item details."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal, Protocol

Verdict = Literal["pass", "fail", "uncertain"]


@dataclass(frozen=True)
class PredictionItem:
    """One generated answer to judge: the raw prompt, the model's output, the reference."""

    id: str
    prompt: str
    output: str
    expected_answer: str | None = None
    category: str | None = None


@dataclass
class JudgeResult:
    """A judge's verdict on a set of items: ``score`` 0–100, metrics and per-item details."""

    name: str
    version: str
    score: float
    verdict: Verdict
    metrics: dict[str, float]
    summary: dict[str, Any] = field(default_factory=dict)
    items: list[dict[str, Any]] = field(default_factory=list)
    max_score: float = 100.0

    @property
    def spec(self) -> str:
        return f"{self.name}@{self.version}"

    def detailed_metric(self) -> dict[str, Any]:
        """The SPEC §7 ``detailed_metrics`` entry."""
        return {
            "name": self.name,
            "score": self.score,
            "max_score": self.max_score,
            "details": {
                "version": self.version,
                "verdict": self.verdict,
                "metrics": self.metrics,
                **self.summary,
                "items": self.items,
            },
        }


class Judge(Protocol):
    name: ClassVar[str]
    version: ClassVar[str]

    async def judge(self, items: Sequence[PredictionItem]) -> JudgeResult: ...


def verdict_for(score: float, pass_score: float, *, judged: int) -> Verdict:
    """``uncertain`` when nothing could be judged, else pass at or above ``pass_score``."""
    if judged == 0:
        return "uncertain"
    return "pass" if score >= pass_score else "fail"


def percent(part: float, whole: float) -> float:
    return round(100.0 * part / whole, 2) if whole else 0.0
