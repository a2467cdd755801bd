"""Request and response shapes of hyperparameter tuning (SPEC §9)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field

from tunix_rt.kit.text import Key, Label, ModelRef, Name
from tunix_rt.training.params import TrainParams

# Run parameters a search may vary (the numeric training parameters and the format).
Searchable = Literal[
    "learning_rate",
    "num_epochs",
    "batch_size",
    "max_steps",
    "seed",
    "lora_rank",
    "lora_alpha",
    "weight_decay",
    "warmup_steps",
    "eval_every",
    "completion_format",
]
SEARCHABLE: tuple[str, ...] = get_args(Searchable)
# What a job optimises: the held-out loss, or a metric of the trials' evaluations (the
# judge reporting each: tuning.service.METRIC_JUDGES).
Metric = Literal[
    "eval_loss", "score", "accuracy", "format_rate", "baseline_score", "llm_judge_score"
]

Choice = str | int | float


class ChoiceParam(BaseModel):
    model_config = ConfigDict(extra="forbid")

    type: Literal["choice"]
    values: list[Choice] = Field(min_length=1, max_length=100)


class RangeParam(BaseModel):
    """``uniform``/``loguniform`` floats and ``randint`` integers in [min, max]
    (``randint``: max exclusive, as in Ray Tune); ``quniform`` rounds to multiples of q."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["uniform", "loguniform", "randint", "quniform"]
    min: float = Field(allow_inf_nan=False)
    max: float = Field(allow_inf_nan=False)
    q: float | None = Field(default=None, gt=0, allow_inf_nan=False)


SearchParam = Annotated[ChoiceParam | RangeParam, Field(discriminator="type")]


class TuningJobCreate(BaseModel):
    """A search over run parameters; every trial is an ordinary run."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "name": "arith-lr",
                    "dataset_key": "arith-v1",
                    "model_id": "tunix-rt/tiny-gemma",
                    "base": {"max_steps": 200, "batch_size": 8, "max_seq_length": 128},
                    "search_space": {
                        "learning_rate": {"type": "loguniform", "min": 1e-4, "max": 1e-2}
                    },
                    "metric": "eval_loss",
                    "mode": "min",
                    "num_trials": 4,
                }
            ]
        },
    )

    name: Name
    dataset_key: Key
    model_id: ModelRef
    base: TrainParams = Field(
        default_factory=TrainParams, description="Run parameters (§6) shared by every trial."
    )
    search_space: dict[Searchable, SearchParam] = Field(
        min_length=1, max_length=len(SEARCHABLE), description="Run parameter → distribution."
    )
    metric: Metric = Field(
        default="eval_loss",
        description="eval_loss (held-out loss) or an evaluation metric such as accuracy.",
    )
    mode: Literal["min", "max"] = "min"
    num_trials: int = Field(default=4, ge=1, le=1000)
    max_concurrent: int = Field(default=1, ge=1, le=64)
    search: Literal["random", "optuna"] = "random"
    scheduler: Literal["none", "asha"] = Field(
        default="none", description="asha stops trials early on the held-out eval loss."
    )
    seed: int | None = Field(default=None, ge=0, le=2**31 - 1)
    queue: Label = Field(default="default", description="Queue of the job and its trials.")


JobStatus = Literal["pending", "running", "completed", "failed", "cancelled"]


class Trial(BaseModel):
    trial_id: str
    run_id: uuid.UUID | None
    params: dict[str, Any]
    status: str = Field(description="Its run's status.")
    metric_value: float | None
    stopped_early: bool
    message: str | None = Field(description="Why a finished trial has no metric.")
    created_at: datetime


class BestTrial(BaseModel):
    trial_id: str
    run_id: uuid.UUID | None
    params: dict[str, Any]
    metric_value: float


class TuningJobSummary(BaseModel):
    job_id: uuid.UUID
    name: str
    status: JobStatus
    dataset_key: str
    model_id: str
    metric: str
    mode: Literal["min", "max"]
    num_trials: int
    trials_finished: int
    best_metric_value: float | None
    message: str | None
    created_at: datetime
    started_at: datetime | None
    completed_at: datetime | None


class TuningJob(TuningJobSummary):
    """A job in full: its request, trials and the best trial so far."""

    request: TuningJobCreate
    trials: list[Trial]
    best: BestTrial | None
