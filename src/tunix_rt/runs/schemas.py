"""Run schemas: the run request (SPEC §6) and the API's read shapes."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from tunix_rt.kit.text import NAME_PATTERN

RunStatus = Literal[
    "pending", "running", "cancel_requested", "completed", "failed", "timeout", "cancelled"
]
RunMode = Literal["dry-run", "local"]
RunKind = Literal["train", "evaluate"]
CompletionFormat = Literal["reasoning", "answer_only"]


class RunRequest(BaseModel):
    """What to train, on what, and how (SPEC §6)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "dataset_key": "arith-v1",
                    "model_id": "tunix-rt/tiny-gemma",
                    "dry_run": False,
                    "learning_rate": 0.003,
                    "num_epochs": 1,
                    "batch_size": 8,
                    "max_seq_length": 128,
                    "max_steps": 50,
                }
            ]
        },
    )

    dataset_key: str = Field(min_length=1, max_length=200, description="A built dataset.")
    model_id: str = Field(
        min_length=1,
        max_length=500,
        description="Preset (tunix-rt/tiny-gemma), local checkpoint directory or cached hub id.",
    )
    output_dir: str | None = Field(
        default=None,
        max_length=4096,
        description="Run directory; default {data_dir}/runs/{run_id}. Never shared by runs.",
    )
    dry_run: bool = Field(default=True, description="Validate only (seconds, no training).")
    learning_rate: float = Field(default=2e-5, gt=0, le=1)
    num_epochs: int = Field(default=3, ge=1, le=100)
    batch_size: int = Field(default=8, ge=1, le=512)
    max_seq_length: int = Field(default=2048, ge=16, le=32768)
    max_steps: int | None = Field(default=None, ge=1, le=10_000_000)
    seed: int = Field(default=0, ge=0, le=2**31 - 1)
    method: Literal["sft"] = Field(default="sft", description="Training method (sft; grpo later).")
    lora_rank: int = Field(default=0, ge=0, le=1024, description="0 = full fine-tune.")
    eval_every: int | None = Field(default=None, ge=1, le=10_000_000)
    checkpoint_every: int | None = Field(default=None, ge=1, le=10_000_000)
    warmup_steps: int | None = Field(default=None, ge=0, le=10_000_000)
    timeout_seconds: int | None = Field(default=None, ge=1, le=30 * 86400)
    priority: int = Field(default=0, ge=-1000, le=1000, description="Higher runs first.")
    queue: str = Field(
        default="default",
        min_length=1,
        max_length=64,
        pattern=NAME_PATTERN,
        description="Named queue; a worker started with --queue NAME takes only its queues.",
    )
    completion_format: CompletionFormat = Field(
        default="reasoning", description="Train on steps + answer, or on the answer only."
    )


class RunSummary(BaseModel):
    run_id: uuid.UUID
    kind: RunKind
    dataset_key: str | None
    model_id: str
    mode: RunMode
    status: RunStatus
    priority: int
    queue: str
    attempt: int
    queued_at: datetime
    started_at: datetime | None
    completed_at: datetime | None
    duration_seconds: float | None
    created_at: datetime


class Run(BaseModel):
    """A run in full: state, timings, output tails (≤10 KB each), directory and config."""

    run_id: uuid.UUID
    kind: RunKind
    status: RunStatus
    mode: RunMode
    dataset_key: str | None
    model_id: str
    output_dir: str
    exit_code: int | None
    stdout: str
    stderr: str
    duration_seconds: float | None
    queued_at: datetime
    started_at: datetime | None
    completed_at: datetime | None
    message: str | None
    config: dict[str, Any]
    parent_run_id: uuid.UUID | None
    priority: int
    queue: str
    attempt: int
    max_attempts: int
    worker_id: str | None
    timeout_seconds: int | None
    created_at: datetime
    report: dict[str, Any] | None = Field(
        default=None, description="The dry-run report, when the child printed one."
    )


class RunStatusInfo(BaseModel):
    run_id: uuid.UUID
    status: RunStatus
    queued_at: datetime
    started_at: datetime | None
    completed_at: datetime | None
    exit_code: int | None
    message: str | None
    attempt: int
    worker_id: str | None


class RunMetricPoint(BaseModel):
    step: int
    loss: float | None
    eval_loss: float | None
    learning_rate: float | None
    tokens_per_second: float | None
    elapsed_seconds: float | None
    total_steps: int | None
    created_at: datetime


class RunMetrics(BaseModel):
    run_id: uuid.UUID
    status: RunStatus
    total_steps: int | None = Field(description="Planned steps, from the newest metric.")
    data: list[RunMetricPoint]


class RunMessage(BaseModel):
    message: str


class Artifact(BaseModel):
    name: str
    size: int
    path: str = Field(description="Relative to the run directory, '/'-separated.")


class ArtifactList(BaseModel):
    run_id: uuid.UUID
    artifacts: list[Artifact]


class TunixStatus(BaseModel):
    available: bool
    version: str | None
    jax_version: str | None
    runtime_required: bool = Field(description="Local (training) runs need Tunix and JAX.")
    message: str
