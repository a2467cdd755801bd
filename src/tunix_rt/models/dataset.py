"""ORM tables for the dataset domain: one row per built (immutable) dataset version."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Float, Index, Integer, String, Text, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from tunix_rt.db import Base, JSONType, UTCDateTime, new_id, utcnow


class Dataset(Base):
    """A built dataset version. Its content lives on disk (traces.jsonl + manifest.json);
    the row indexes it and carries the manifest's summary fields for listing."""

    __tablename__ = "datasets"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)  # build_id
    dataset_key: Mapped[str] = mapped_column(String(200), nullable=False)
    dataset_name: Mapped[str] = mapped_column(String(128), nullable=False)
    dataset_version: Mapped[str] = mapped_column(String(64), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    selection_strategy: Mapped[str] = mapped_column(String(16), nullable=False)
    seed: Mapped[int | None] = mapped_column(Integer, nullable=True)
    eval_fraction: Mapped[float] = mapped_column(Float, nullable=False, default=0.0)
    filters: Mapped[dict[str, Any]] = mapped_column(JSONType, nullable=False)
    trace_count: Mapped[int] = mapped_column(Integer, nullable=False)
    train_count: Mapped[int] = mapped_column(Integer, nullable=False)
    eval_count: Mapped[int] = mapped_column(Integer, nullable=False)
    stats: Mapped[dict[str, Any]] = mapped_column(JSONType, nullable=False)
    sha256: Mapped[str] = mapped_column(String(64), nullable=False)
    manifest_path: Mapped[str] = mapped_column(Text, nullable=False)
    session_id: Mapped[str | None] = mapped_column(String(200), nullable=True)
    parent_dataset_id: Mapped[str | None] = mapped_column(String(200), nullable=True)
    training_run_id: Mapped[str | None] = mapped_column(String(200), nullable=True)

    __table_args__ = (
        UniqueConstraint("dataset_key", name="uq_datasets_dataset_key"),
        # Newest-first listing.
        Index("ix_datasets_created_at_id", "created_at", "id"),
    )
