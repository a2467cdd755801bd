"""Tuning trials: one row per Ray Tune trial of a tuning job (the job is a ``tune`` run)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, Float, ForeignKey, Index, String, Text, UniqueConstraint, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from tunix_rt.db import Base, JSONType, UTCDateTime, new_id, utcnow


class TuningTrial(Base):
    __tablename__ = "tuning_trials"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    job_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("runs.id", ondelete="CASCADE"), nullable=False
    )
    trial_id: Mapped[str] = mapped_column(String(64), nullable=False)
    # The trial's training run; kept when the job is deleted, nulled when the run is.
    run_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("runs.id", ondelete="SET NULL"), nullable=True
    )
    params: Mapped[dict[str, Any]] = mapped_column(JSONType, nullable=False)
    metric_value: Mapped[float | None] = mapped_column(Float, nullable=True)
    stopped_early: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    # Why a finished trial has no metric (e.g. its evaluation failed).
    message: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    __table_args__ = (
        UniqueConstraint("job_id", "trial_id", name="uq_tuning_trials_job_trial"),
        Index("ix_tuning_trials_run_id", "run_id"),
    )
