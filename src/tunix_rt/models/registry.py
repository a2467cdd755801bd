"""ORM tables for the model registry (SPEC §11): registered models, their immutable
versions (weights promoted from runs, content-addressed by SHA-256) and aliases."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import BigInteger, ForeignKey, Index, String, Text, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from tunix_rt.db import Base, JSONType, UTCDateTime, new_id, utcnow


class RegisteredModel(Base):
    """A named model: the family of versions a team ships under one name."""

    __tablename__ = "registered_models"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(128), nullable=False, unique=True)
    description: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)


class ModelVersion(Base):
    """One immutable version: the weights of a run's final model, stored in the registry
    store under their SHA-256 (``{data_dir}/registry/blobs/{sha256}``) so a run can be
    deleted without losing them."""

    __tablename__ = "model_versions"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    model_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("registered_models.id", ondelete="CASCADE"), nullable=False
    )
    version: Mapped[str] = mapped_column(String(64), nullable=False)
    # The run the weights came from; kept as a value when that run is deleted.
    run_id: Mapped[uuid.UUID | None] = mapped_column(Uuid, nullable=True)
    sha256: Mapped[str] = mapped_column(String(64), nullable=False)
    size_bytes: Mapped[int] = mapped_column(BigInteger, nullable=False)
    metrics: Mapped[dict[str, Any]] = mapped_column(JSONType, nullable=False)
    provenance: Mapped[dict[str, Any]] = mapped_column(JSONType, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)

    __table_args__ = (
        UniqueConstraint("model_id", "version", name="uq_model_versions_model_version"),
        Index("ix_model_versions_model_id_sha256", "model_id", "sha256"),
        Index("ix_model_versions_sha256", "sha256"),
    )


class ModelAlias(Base):
    """A movable name (``champion``, ``staging``) for one version of a model."""

    __tablename__ = "model_aliases"

    model_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("registered_models.id", ondelete="CASCADE"), primary_key=True
    )
    alias: Mapped[str] = mapped_column(String(64), primary_key=True)
    # RESTRICT: a version an alias points at cannot be deleted (409 first).
    version_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("model_versions.id", ondelete="RESTRICT"), nullable=False
    )
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)

    __table_args__ = (Index("ix_model_aliases_version_id", "version_id"),)
