"""ORM tables for the evaluation domain: evaluations, regression baselines, eval sets."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, Float, ForeignKey, Index, Integer, String, Text, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from tunix_rt.db import Base, JSONType, UTCDateTime, new_id, utcnow


class Evaluation(Base):
    """Judged answers of a trained run (``run_id``), produced by an evaluate job run."""

    __tablename__ = "evaluations"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    run_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("runs.id", ondelete="CASCADE"), nullable=False
    )
    job_run_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("runs.id", ondelete="SET NULL"), nullable=True
    )
    score: Mapped[float] = mapped_column(Float, nullable=False)
    verdict: Mapped[str] = mapped_column(String(16), nullable=False)
    metrics: Mapped[dict[str, Any]] = mapped_column(JSONType, nullable=False)
    detailed_metrics: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, nullable=False)
    judge_name: Mapped[str] = mapped_column(String(64), nullable=False)
    judge_version: Mapped[str] = mapped_column(String(32), nullable=False)
    eval_set_name: Mapped[str | None] = mapped_column(String(128), nullable=True)
    item_count: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    predictions_path: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    evaluated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)

    @property
    def judge(self) -> dict[str, str]:
        """The judge that set the score, as the API shows it."""
        return {"name": self.judge_name, "version": self.judge_version}

    __table_args__ = (
        # Latest evaluation of a run (the leaderboard's one row per run).
        Index("ix_evaluations_run_id_evaluated_at", "run_id", "evaluated_at"),
        Index("ix_evaluations_job_run_id", "job_run_id"),
    )


class RegressionBaseline(Base):
    """A named reference value of one metric; checks compare a run's latest evaluation."""

    __tablename__ = "regression_baselines"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(128), nullable=False, unique=True)
    # The value stays a valid gate if the run is deleted later.
    run_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("runs.id", ondelete="SET NULL"), nullable=True
    )
    # A baseline taken from a registered model version: its name@version.
    model_ref: Mapped[str | None] = mapped_column(String(200), nullable=True)
    metric: Mapped[str] = mapped_column(String(128), nullable=False)
    value: Mapped[float] = mapped_column(Float, nullable=False)
    lower_is_better: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)

    __table_args__ = (Index("ix_regression_baselines_run_id", "run_id"),)


class EvalSet(Base):
    """A named, registered list of ``{id, prompt, expected_answer, category?}`` items."""

    __tablename__ = "eval_sets"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(128), nullable=False, unique=True)
    description: Mapped[str | None] = mapped_column(Text, nullable=True)
    items: Mapped[list[dict[str, Any]]] = mapped_column(JSONType, nullable=False)
    item_count: Mapped[int] = mapped_column(Integer, nullable=False)
    sha256: Mapped[str] = mapped_column(String(64), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
