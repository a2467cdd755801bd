"""Generator schemas: requests and the generated-traces response (SPEC §4)."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from tunix_rt.traces.schemas import ReasoningTrace


class UngarStatus(BaseModel):
    available: bool
    version: str
    games: list[str]


class HighCardDuelGenerate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    count: int = Field(default=10, ge=1, le=100)
    seed: int | None = Field(
        default=None, ge=0, le=2**63 - 1, description="Same seed, same episodes; null = random."
    )
    persist: bool = Field(default=True, description="Store the traces (else only return them).")


class HighCardDuelPreview(BaseModel):
    trace_id: uuid.UUID | None
    game: str
    result: Literal["win", "loss", "tie"]
    my_card: str


class HighCardDuelGenerated(BaseModel):
    trace_ids: list[uuid.UUID] = Field(description="Stored traces, in episode order.")
    preview: list[HighCardDuelPreview] = Field(description="The first three episodes.")
    seed: int
    traces: list[ReasoningTrace] | None = Field(
        default=None, description="The generated traces when persist=false."
    )


class ArithmeticGenerate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [{"count": 200, "seed": 1, "digits": 2, "ops": ["+", "-"], "terms": 2}]
        },
    )

    count: int = Field(default=100, ge=1, le=10_000)
    seed: int = Field(default=0, ge=0, le=2**63 - 1)
    digits: int = Field(default=2, ge=1, le=6, description="Digits of every operand.")
    ops: list[Annotated[str, Field(min_length=1, max_length=8)]] = Field(
        default_factory=lambda: ["+"],
        min_length=1,
        max_length=10,
        description="Operations to draw from: '+', '-', '×' (also '*' or 'x').",
    )
    terms: int = Field(default=2, ge=2, le=5, description="Operands per problem.")
    style: Literal["plain", "word"] = "plain"
    unique: bool = Field(default=True, description="No two problems alike.")
    persist: bool = True


class ArithmeticPreview(BaseModel):
    trace_id: uuid.UUID | None
    prompt: str
    final_answer: str
    task: str


class ArithmeticGenerated(BaseModel):
    trace_ids: list[uuid.UUID]
    preview: list[ArithmeticPreview]
    count: int
    seed: int
    traces: list[ReasoningTrace] | None = Field(
        default=None, description="The generated traces when persist=false."
    )
