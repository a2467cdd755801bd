"""Model registry request and read shapes (SPEC §11)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from tunix_rt.kit.text import Label, Name, Text

Description = Annotated[Text, Field(max_length=10_000)]


class ModelCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"name": "arith", "description": "tiny arithmetic"}]},
    )

    name: Name = Field(description="Letters, digits, '.', '_' and '-'; starts alnum.")
    description: Description | None = None


class VersionCreate(BaseModel):
    """Promote a completed local training run's final model."""

    model_config = ConfigDict(extra="forbid")

    run_id: uuid.UUID
    version: Label | None = Field(
        default=None, description="Version name; default v1, v2, … in promotion order."
    )


class AliasSet(BaseModel):
    model_config = ConfigDict(extra="forbid")

    version: Label = Field(description="The version the alias points at (a name like 'v2').")


class Provenance(BaseModel):
    dataset_key: str | None
    dataset_sha256: str | None
    model_id: str = Field(description="The base model the run trained.")
    config: dict[str, Any] = Field(description="The run's resolved training config.")
    evaluation: dict[str, Any] | None = Field(
        default=None,
        description="The evaluation the metrics come from (id, judge, eval set, item count).",
    )


class Version(BaseModel):
    name: str = Field(description="The registered model's name.")
    version: str
    ref: str = Field(description="name@version: what runs and evaluations accept as model.")
    run_id: uuid.UUID | None = Field(
        description="The run it was promoted from (kept after that run is deleted)."
    )
    sha256: str = Field(description="SHA-256 of model.safetensors.")
    size_bytes: int
    metrics: dict[str, Any] = Field(description="The run's latest evaluation at promotion.")
    provenance: Provenance
    aliases: list[str]
    created_at: datetime


class Alias(BaseModel):
    alias: str
    version: str
    updated_at: datetime


class ModelSummary(BaseModel):
    name: str
    description: str | None
    version_count: int
    latest_version: str | None
    aliases: dict[str, str] = Field(description="alias → version")
    created_at: datetime
    updated_at: datetime


class ModelDetail(ModelSummary):
    versions: list[Version] = Field(description="Newest first.")


class ModelList(BaseModel):
    data: list[ModelSummary]
