"""Run schemas: the run request (SPEC §6) and the API's read shapes."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from tunix_rt.kit.text import Key, Label, ModelRef, Name
from tunix_rt.models.run import RunKind, RunMode, RunStatus
from tunix_rt.training.params import TrainParams

__all__ = ["RunKind", "RunMode", "RunStatus"]


class RunRequest(TrainParams):
    """What to train, on what, and how (SPEC §6): the run contract plus where it runs."""

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

    dataset_key: Key = Field(description="A built dataset.")
    model_id: ModelRef | None = Field(
        default=None,
        description=(
            "Preset (tunix-rt/tiny-gemma), a checkpoint directory inside a model directory "
            "(TUNIX_RT_MODEL_DIRS; by name or absolute path) or a cached hub id. Required "
            "for sft; a grpo run continues init_from's model (leave it out)."
        ),
    )
    output_dir: Name | None = Field(
        default=None,
        description=(
            "Name of the run directory, created under {data_dir}/runs/; default the run id. "
            "Never shared by runs."
        ),
    )
    dry_run: bool = Field(default=True, description="Validate only (seconds, no training).")
    timeout_seconds: int | None = Field(default=None, ge=1, le=30 * 86400)
    priority: int = Field(default=0, ge=-1000, le=1000, description="Higher runs first.")
    queue: Label = Field(
        default="default",
        description="Named queue; a worker started with --queue NAME takes only its queues.",
    )


class _FromRow(BaseModel):
    """Read shapes built from ORM rows (``model_validate(row)``)."""

    model_config = ConfigDict(
        from_attributes=True, json_schema_serialization_defaults_required=True
    )


class RunSummary(_FromRow):
    run_id: uuid.UUID = Field(validation_alias="id")
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


class Run(_FromRow):
    """A run in full: state, timings, output tails (≤10 KB each), directory and config."""

    run_id: uuid.UUID = Field(validation_alias="id")
    kind: RunKind
    status: RunStatus
    mode: RunMode
    dataset_key: str | None
    model_id: str
    output_dir: str
    exit_code: int | None
    stdout: str = ""
    stderr: str = ""
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


class RunStatusInfo(_FromRow):
    run_id: uuid.UUID = Field(validation_alias="id")
    status: RunStatus
    queued_at: datetime
    started_at: datetime | None
    completed_at: datetime | None
    exit_code: int | None
    message: str | None
    attempt: int
    worker_id: str | None


class RunMetricPoint(_FromRow):
    step: int
    attempt: int = Field(description="The attempt that reported it (the newest wins).")
    loss: float | None
    eval_loss: float | None
    learning_rate: float | None
    tokens_per_second: float | None
    elapsed_seconds: float | None
    total_steps: int | None
    reward_mean: float | None = Field(default=None, description="GRPO: mean summed reward.")
    reward_std: float | None = Field(default=None, description="GRPO: its standard deviation.")
    kl: float | None = Field(default=None, description="GRPO: KL to the start model.")
    accuracy: float | None = Field(
        default=None, description="GRPO: share of the step's completions answered right."
    )
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


class ModelPreset(BaseModel):
    model_id: str
    description: str


class TunixStatus(BaseModel):
    available: bool
    version: str | None
    jax_version: str | None
    runtime_required: bool = Field(description="Local (training) runs need Tunix and JAX.")
    message: str
    presets: list[ModelPreset] = Field(description="Built-in models trained from scratch.")


class RunFilter(BaseModel):
    """Runs matching every given criterion (give at least one)."""

    model_config = ConfigDict(extra="forbid")

    status: list[RunStatus] | None = Field(default=None, max_length=16)
    dataset_key: Key | None = None
    model_id: ModelRef | None = None
    kind: RunKind | None = None
    created_before: datetime | None = Field(
        default=None, description="Runs created before this instant (UTC when no zone)."
    )

    @model_validator(mode="after")
    def _some_criterion(self) -> RunFilter:
        if not any(getattr(self, name) for name in type(self).model_fields):
            raise ValueError("give at least one criterion (status, dataset_key, model_id, ...)")
        if self.created_before is not None and self.created_before.tzinfo is None:
            self.created_before = self.created_before.replace(tzinfo=UTC)
        return self


class BulkDeleteRequest(BaseModel):
    """Delete the runs named by ``ids`` or matching ``filter`` (exactly one of them)."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"filter": {"status": ["failed"]}, "dry_run": True}]},
    )

    ids: list[uuid.UUID] | None = Field(default=None, min_length=1, max_length=1000)
    filter: RunFilter | None = None
    dry_run: bool = Field(default=False, description="Count and list; delete nothing.")

    @model_validator(mode="after")
    def _one_selector(self) -> BulkDeleteRequest:
        if (self.ids is None) == (self.filter is None):
            raise ValueError("give exactly one of ids and filter")
        return self


class SkippedRun(BaseModel):
    run_id: uuid.UUID
    reason: str


class BulkDeleteResult(BaseModel):
    dry_run: bool
    matched: int = Field(description="Runs named or matched (including those skipped).")
    count: int = Field(description="Runs deleted (dry run: that would be deleted).")
    run_ids: list[uuid.UUID]
    bytes: int = Field(description="Bytes of run directories freed (or that would be).")
    skipped: list[SkippedRun] = Field(
        description="Runs kept, with the reason (unfinished, unfinished child runs, unknown id)."
    )


# --- analytics (GET /api/tunix/runs/stats) ---------------------------------------------------


class DurationPercentiles(BaseModel):
    p50: float | None
    p90: float | None
    p99: float | None


class RunStatsGroup(BaseModel):
    key: str | None = Field(
        description="Dataset key, model id or day (YYYY-MM-DD, UTC); `all` for the overall "
        "row; null for runs without a dataset."
    )
    runs: int
    by_status: dict[RunStatus, int]
    finished: int = Field(description="Completed, failed, timed out or cancelled.")
    success_rate: float | None = Field(description="completed / finished; null before any.")
    completed_with_duration: int = Field(description="Completed runs the percentiles cover.")
    duration_seconds: DurationPercentiles = Field(
        description="Percentiles of started → completed over the completed runs."
    )


class RunStats(BaseModel):
    kind: RunKind | None = Field(description="The kind counted; null = every kind.")
    created_after: datetime | None
    created_before: datetime | None
    overall: RunStatsGroup
    by_dataset: list[RunStatsGroup] = Field(description="Most runs first.")
    by_model: list[RunStatsGroup] = Field(description="Most runs first.")
    per_day: list[RunStatsGroup] = Field(description="By creation day (UTC), oldest first.")
