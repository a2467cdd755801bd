"""Evaluation schemas: requests and read shapes of SPEC §7."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from tunix_rt.kit.pagination import Pagination
from tunix_rt.kit.text import Key, ModelRef, Name, Text
from tunix_rt.training.params import GenBatchSize, MaxNewTokens, Seed, Temperature, TopP

Verdict = Literal["pass", "fail", "uncertain"]


class EvaluateRequest(BaseModel):
    """How to evaluate a completed run; every field is optional."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"judge_override": "answer_correctness,format"}]},
    )

    judge_override: Annotated[Text, Field(max_length=1000)] | list[Key] | None = Field(
        default=None,
        description=(
            "Judges to apply instead of the configured default, as `name` or `name@version`, "
            "comma-separated or a list; the first sets the score. Known: answer_correctness, "
            "format, baseline, llm_judge."
        ),
    )
    eval_set: Name | None = Field(
        default=None, description="A registered eval set; default the dataset's eval split."
    )
    limit: int | None = Field(default=None, ge=1, le=100_000, description="Judge the first N.")
    batch_size: GenBatchSize | None = Field(default=None, description="Default: server's.")
    max_new_tokens: MaxNewTokens | None = Field(default=None, description="Default: server's.")
    temperature: Temperature = Field(default=0.0, description="0 = greedy.")
    top_p: TopP | None = None
    seed: Seed = 0


class ModelEvaluateRequest(EvaluateRequest):
    """Evaluate a registered model version on a dataset's eval split or an eval set."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"model": "arith@champion", "dataset_key": "arith-v1"}]},
    )

    model: ModelRef = Field(description="A registered model: name@version or name@alias.")
    dataset_key: Key | None = Field(
        default=None, description="Whose eval split to answer (or give eval_set)."
    )


class JudgeRef(BaseModel):
    name: str
    version: str


class DetailedMetric(BaseModel):
    name: str
    score: float
    max_score: float
    details: dict[str, Any]


class _FromRow(BaseModel):
    """Read shapes built from ORM rows (``model_validate(row)``)."""

    model_config = ConfigDict(
        from_attributes=True, json_schema_serialization_defaults_required=True
    )


class Evaluation(_FromRow):
    """An evaluation of a trained run (SPEC §7)."""

    evaluation_id: uuid.UUID = Field(validation_alias="id")
    run_id: uuid.UUID
    job_run_id: uuid.UUID | None
    score: float = Field(description="0–100, set by the first judge.")
    verdict: Verdict
    metrics: dict[str, float]
    detailed_metrics: list[DetailedMetric]
    judge: JudgeRef
    eval_set: str | None = Field(
        validation_alias="eval_set_name",
        description="Eval set name; null = the dataset's eval split.",
    )
    item_count: int
    predictions_artifact: str | None = Field(
        validation_alias="predictions_path",
        description="Path of predictions.jsonl inside the run's artifacts.",
    )
    evaluated_at: datetime


class EvaluationList(BaseModel):
    data: list[Evaluation]


class LeaderboardRow(BaseModel):
    rank: int
    run_id: uuid.UUID
    evaluation_id: uuid.UUID
    model_id: str = Field(description="The base model, or name@version for a registered one.")
    registered_as: list[str] = Field(
        description="Registered versions (name@version) promoted from this run."
    )
    dataset_key: str | None
    score: float
    verdict: Verdict
    metrics: dict[str, float]
    judge: JudgeRef
    eval_set: str | None
    item_count: int
    evaluated_at: datetime


class Prediction(BaseModel):
    id: str
    prompt: str
    output: str
    extracted_answer: str | None
    expected_answer: str | None
    correct: bool | None
    category: str | None = None
    judges: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="Per judge, its details for this item."
    )


class PredictionPage(BaseModel):
    evaluation_id: uuid.UUID
    run_id: uuid.UUID
    total: int = Field(description="Items in the evaluation.")
    wrong: int = Field(description="Items whose answer was judged incorrect.")
    data: list[Prediction]
    pagination: Pagination


class BaselineCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"name": "arith-main", "run_id": str(uuid.UUID(int=1)), "metric": "accuracy"}
            ]
        },
    )

    name: Name
    run_id: uuid.UUID | None = Field(default=None, description="The run whose value to keep.")
    model: ModelRef | None = Field(
        default=None,
        description="Or a registered model (name@version|alias): its latest evaluation, "
        "else the metrics recorded when it was promoted.",
    )
    metric: Text = Field(
        default="score",
        min_length=1,
        max_length=128,
        description="A key of the run's latest evaluation metrics (score, accuracy, ...).",
    )
    lower_is_better: bool = Field(default=False, description="True for losses and error rates.")

    @model_validator(mode="after")
    def _one_source(self) -> BaselineCreate:
        if (self.run_id is None) == (self.model is None):
            raise ValueError("give exactly one of run_id and model")
        return self


class Baseline(_FromRow):
    name: str
    run_id: uuid.UUID | None
    model: str | None = Field(
        validation_alias="model_ref", description="The registered model version it came from."
    )
    metric: str
    value: float
    lower_is_better: bool
    created_at: datetime
    updated_at: datetime


class BaselineList(BaseModel):
    data: list[Baseline]


class RegressionCheckRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    run_id: uuid.UUID
    baseline_name: Key | None = None
    baseline_model: ModelRef | None = Field(
        default=None,
        description="Compare with a registered model (name@version|alias) instead of a "
        "named baseline, on `metric`.",
    )
    metric: Text | None = Field(
        default=None, max_length=128, description="With baseline_model; default score."
    )
    lower_is_better: bool = False

    @model_validator(mode="after")
    def _one_baseline(self) -> RegressionCheckRequest:
        if (self.baseline_name is None) == (self.baseline_model is None):
            raise ValueError("give exactly one of baseline_name and baseline_model")
        return self


class RegressionCheck(BaseModel):
    run_id: uuid.UUID
    baseline_name: str
    baseline_run_id: uuid.UUID | None
    metric_name: str
    baseline_value: float
    current_value: float
    delta: float = Field(description="current − baseline.")
    delta_percent: float | None = Field(description="delta / |baseline| × 100; null at 0.")
    verdict: Literal["pass", "fail"]
    details: dict[str, Any]


class EvalSetItem(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: Text = Field(min_length=1, max_length=200)
    prompt: Text = Field(min_length=1, max_length=50_000)
    expected_answer: Text = Field(min_length=1, max_length=50_000)
    category: Text | None = Field(default=None, max_length=128)

    @field_validator("id", "expected_answer", mode="before")
    @classmethod
    def _numbers_as_text(cls, value: Any) -> Any:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return str(value)
        return value


class EvalSetCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Name
    description: Text | None = Field(default=None, max_length=2000)
    items: list[EvalSetItem] = Field(min_length=1, max_length=100_000)


class EvalSetSummary(_FromRow):
    name: str
    description: str | None
    item_count: int
    sha256: str
    created_at: datetime


class EvalSetDetail(EvalSetSummary):
    items: list[EvalSetItem]


class EvalSetList(BaseModel):
    data: list[EvalSetSummary]
