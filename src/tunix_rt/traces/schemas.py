"""Trace schemas: the ReasoningTrace document and the API's read/write shapes."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

import msgspec
from pydantic import BaseModel, ConfigDict, Field, field_validator

from tunix_rt.kit.text import Text, json_problem


class TraceStep(BaseModel):
    model_config = ConfigDict(extra="forbid")

    i: int = Field(ge=0, le=2**31 - 1, description="Step index, unique within the trace.")
    type: Text = Field(min_length=1, max_length=64, examples=["compute"])
    content: Text = Field(min_length=1, max_length=20_000)


class ReasoningTrace(BaseModel):
    """A prompt, the numbered steps that reason about it, and the final answer."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "trace_version": "1.0",
                    "prompt": "What is 27 × 19?",
                    "final_answer": "513",
                    "steps": [
                        {"i": 0, "type": "parse", "content": "Multiply 27 by 19."},
                        {"i": 1, "type": "compute", "content": "27 × 19 = 27 × 20 - 27"},
                        {"i": 2, "type": "compute", "content": "540 - 27 = 513"},
                    ],
                    "meta": {"source": "example"},
                }
            ]
        },
    )

    trace_version: Text = Field(min_length=1, max_length=64)
    prompt: Text = Field(min_length=1, max_length=50_000)
    final_answer: Text = Field(min_length=1, max_length=50_000)
    steps: list[TraceStep] = Field(min_length=1, max_length=1000)
    meta: dict[str, Any] | None = None

    @field_validator("steps")
    @classmethod
    def _unique_indices(cls, steps: list[TraceStep]) -> list[TraceStep]:
        seen: set[int] = set()
        for step in steps:
            if step.i in seen:
                raise ValueError(f"step indices must be unique; i={step.i} appears twice")
            seen.add(step.i)
        return steps

    @field_validator("meta")
    @classmethod
    def _storable_meta(cls, meta: dict[str, Any] | None) -> dict[str, Any] | None:
        problem = json_problem(meta, "meta")
        if problem:
            raise ValueError(problem)
        return meta

    def to_payload(self) -> dict[str, Any]:
        return self.model_dump(mode="json", exclude_none=True)


MAX_BATCH = 1000


# The shape of a ReasoningTrace for the batch endpoint's fast path (traces/batch.py),
# decoded and checked in one pass by msgspec: the same fields and limits, strict types,
# and none of the Python-level checks (storable text, finite meta numbers, unique step
# indices), which the fast path covers another way. Anything it rejects goes through
# ReasoningTrace for the exact errors. The limits must equal ReasoningTrace's
# (tests/traces/test_batch_fast_path.py compares the two JSON schemas). ``gc=False``: decoded
# JSON holds no reference cycles, so the collector need not track a batch's structs.
class TraceStepShape(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    i: Annotated[int, msgspec.Meta(ge=0, le=2**31 - 1)]
    type: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    content: Annotated[str, msgspec.Meta(min_length=1, max_length=20_000)]


class ReasoningTraceShape(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True, gc=False):
    trace_version: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    prompt: Annotated[str, msgspec.Meta(min_length=1, max_length=50_000)]
    final_answer: Annotated[str, msgspec.Meta(min_length=1, max_length=50_000)]
    steps: Annotated[list[TraceStepShape], msgspec.Meta(min_length=1, max_length=1000)]
    meta: dict[str, Any] | None = None  # omitted when None, like to_payload()


TraceBatchShape = Annotated[
    list[ReasoningTraceShape], msgspec.Meta(min_length=1, max_length=MAX_BATCH)
]


class TraceCreated(BaseModel):
    id: uuid.UUID
    created_at: datetime
    trace_version: str


class TraceSummary(TraceCreated):
    prompt_preview: str = Field(description="The prompt's first 120 characters.")


class Trace(TraceCreated):
    payload: ReasoningTrace


class TraceBatchCreated(BaseModel):
    created_count: int
    traces: list[TraceCreated]


class TraceCount(BaseModel):
    count: int


class ScoreRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    criteria: Literal["baseline"] = "baseline"


class ScoreDetails(BaseModel):
    step_count: int
    avg_step_length: float
    total_chars: int
    step_score: float
    length_score: float
    criteria: str
    scored_at: datetime


class TraceScore(BaseModel):
    trace_id: uuid.UUID
    score: float
    details: ScoreDetails


class ScoredTrace(Trace):
    score: float


class TraceComparison(BaseModel):
    base: ScoredTrace
    other: ScoredTrace
