"""Dataset schemas: the build request, the manifest, exports and the template preview."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from tunix_rt.datasets.formats import ExportFormat
from tunix_rt.kit.text import Key, Label, ModelRef, Name, Text
from tunix_rt.training.params import (
    BatchSize,
    CompletionFormat,
    LearningRate,
    MaxSeqLength,
    NumEpochs,
)

__all__ = ["CompletionFormat"]

# Keys name directories on disk: keep them to a safe, portable alphabet.

SelectionStrategy = Literal["latest", "random"]
Split = Literal["train", "eval", "all"]


class DatasetBuild(BaseModel):
    """What to select from the stored traces, and how to split it."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "dataset_name": "arith",
                    "dataset_version": "v1",
                    "filters": {"source": "arithmetic"},
                    "limit": 500,
                    "selection_strategy": "random",
                    "seed": 7,
                    "eval_fraction": 0.1,
                }
            ]
        },
    )

    dataset_name: Name
    dataset_version: Label
    # Keys and values are checked by the service (pattern, storable text), naming the key.
    filters: dict[str, str | int | float] = Field(
        default_factory=dict,
        max_length=64,
        description="meta key → value; a trace matches when every meta value equals (as text).",
    )
    limit: int = Field(default=100, ge=1, le=10_000)
    selection_strategy: SelectionStrategy = "latest"
    seed: int | None = Field(
        default=None, ge=0, le=2**31 - 1, description="Required for random selection."
    )
    eval_fraction: float = Field(default=0.0, ge=0, le=0.5)
    session_id: Text | None = Field(default=None, max_length=200)
    parent_dataset_id: Text | None = Field(default=None, max_length=200)
    training_run_id: Text | None = Field(default=None, max_length=200)


class DatasetBuilt(BaseModel):
    dataset_key: str
    build_id: uuid.UUID
    trace_count: int
    train_count: int
    eval_count: int
    sha256: str
    manifest_path: str


class DatasetStats(BaseModel):
    trace_count: int
    avg_step_count: float
    min_step_count: int
    max_step_count: int
    avg_total_chars: float


class DatasetSplits(BaseModel):
    train: list[str]
    eval: list[str]


class DatasetManifest(BaseModel):
    """The manifest.json of a built dataset version."""

    dataset_key: str
    build_id: uuid.UUID
    dataset_name: str
    dataset_version: str
    dataset_schema_version: str
    created_at: datetime
    filters: dict[str, str]
    selection_strategy: SelectionStrategy
    seed: int | None
    eval_fraction: float
    trace_ids: list[str]
    trace_count: int
    stats: DatasetStats
    splits: DatasetSplits
    sha256: str = Field(description="SHA-256 of traces.jsonl, the materialized content.")
    session_id: str | None
    parent_dataset_id: str | None
    training_run_id: str | None


class DatasetSummary(BaseModel):
    dataset_key: str
    build_id: uuid.UUID
    dataset_name: str
    dataset_version: str
    created_at: datetime
    selection_strategy: SelectionStrategy
    seed: int | None
    eval_fraction: float
    filters: dict[str, str]
    trace_count: int
    train_count: int
    eval_count: int
    sha256: str


class SFTExport(BaseModel):
    """Export a dataset, or the named traces, in the tunix_sft format."""

    model_config = ConfigDict(extra="forbid")

    dataset_key: Key | None = None
    trace_ids: list[uuid.UUID] | None = Field(default=None, min_length=1, max_length=10_000)
    limit: int = Field(default=100, ge=1, le=10_000)


class SFTManifestRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    dataset_key: Key
    model_id: ModelRef
    output_dir: Name = Field(description="Run directory name, under {data_dir}/runs/.")
    learning_rate: LearningRate = 2e-5
    num_epochs: NumEpochs = 3
    batch_size: BatchSize = 8
    max_seq_length: MaxSeqLength = 2048


class SFTManifest(BaseModel):
    manifest_yaml: str = Field(description="A run request for `tunix-rt runs submit --config`.")
    dataset_key: str
    model_id: str
    format: Literal["tunix_sft"] = "tunix_sft"
    data_path: str = Field(description="The exported train split (tunix_sft JSONL).")
    message: str


class PreviewToken(BaseModel):
    id: int
    piece: str
    loss: bool = Field(description="True for completion tokens (the ones the loss is taken on).")
    truncated: bool = Field(description="True past max_seq_length (the trainer drops it).")


class DatasetPreview(BaseModel):
    """One example exactly as the trainer sees it."""

    dataset_key: str
    split: Split
    index: int
    split_size: int
    trace_id: str
    export_format: ExportFormat = "tunix_sft"
    completion_format: CompletionFormat
    prompt: str = Field(description="Rendered prompt (no loss).")
    completion: str = Field(description="Rendered completion (loss).")
    text: str = Field(description="prompt + completion, the full training text.")
    char_count: int
    prompt_char_count: int
    token_count: int
    prompt_token_count: int
    completion_token_count: int
    max_seq_length: int
    truncated: bool
    truncate_at_token: int | None = Field(
        description="Index of the first token the trainer drops, or null when it all fits."
    )
    loss_token_count: int = Field(description="Completion tokens that survive truncation.")
    tokens: list[PreviewToken]
    tokenizer: str = Field(description="What tokenized it (the dataset's fitted tokenizer).")
    vocab_size: int
