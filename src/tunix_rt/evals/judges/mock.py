"""``mock``: a deterministic stand-in for tests. Never a default; it measures nothing."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import ClassVar

from tunix_rt.evals.judges.base import JudgeResult, PredictionItem, verdict_for


class MockJudge:
    """Score = a hash of the items' ids and outputs mod 101 (same inputs, same score)."""

    name: ClassVar[str] = "mock"
    version: ClassVar[str] = "1"

    def __init__(self, pass_score: float = 50.0) -> None:
        self.pass_score = pass_score

    async def judge(self, items: Sequence[PredictionItem]) -> JudgeResult:
        digest = hashlib.sha256()
        for item in sorted(items, key=lambda i: i.id):
            digest.update(f"{item.id}\0{item.output}\0".encode())
        score = float(int.from_bytes(digest.digest()[:8], "big") % 101)
        return JudgeResult(
            name=self.name,
            version=self.version,
            score=score,
            verdict=verdict_for(score, self.pass_score, judged=len(items)),
            metrics={"mock_score": score},
            summary={"mock": True, "total": len(items)},
            items=[{"id": item.id} for item in items],
        )
