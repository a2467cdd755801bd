"""The baseline trace-shape score (SPEC §3): more steps and fuller steps score higher."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class BaselineScore:
    score: float
    step_count: int
    avg_step_length: float
    total_chars: int
    step_score: float
    length_score: float


def baseline_score(payload: dict[str, Any]) -> BaselineScore:
    """0–100: up to 50 for reaching 10 steps, up to 50 for an average step of 500 chars."""
    steps = payload.get("steps") or []
    step_count = len(steps)
    total_chars = sum(len(str(step.get("content", ""))) for step in steps)
    avg = total_chars / step_count if step_count else 0.0
    step_score = min(step_count / 10, 1.0) * 50
    length_score = min(avg / 500, 1.0) * 50
    return BaselineScore(
        score=round(step_score + length_score, 2),
        step_count=step_count,
        avg_step_length=round(avg, 2),
        total_chars=total_chars,
        step_score=round(step_score, 2),
        length_score=round(length_score, 2),
    )
