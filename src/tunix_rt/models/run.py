"""ORM tables for the run domain: a run (the job), its log lines and its step metrics."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal, get_args

from sqlalchemy import (
    BigInteger,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    Uuid,
)
from sqlalchemy.orm import Mapped, mapped_column

from tunix_rt.db import Base, JSONType, UTCDateTime, new_id, utcnow

# SQLite only auto-increments an INTEGER PRIMARY KEY (the rowid); Postgres gets BIGINT.
BigIntPK = BigInteger().with_variant(Integer(), "sqlite")

# The one definition of run statuses, modes and kinds (the API's enums come from these).
RunStatus = Literal[
    "pending", "running", "cancel_requested", "completed", "failed", "timeout", "cancelled"
]
RunMode = Literal["dry-run", "local"]
RunKind = Literal["train", "evaluate", "tune"]
RUN_STATUSES: tuple[str, ...] = get_args(RunStatus)
TERMINAL_STATUSES = frozenset({"completed", "failed", "timeout", "cancelled"})
ACTIVE_STATUSES = frozenset({"running", "cancel_requested"})


class Run(Base):
    """A training (or evaluation) run; the row is also the queue's job."""

    __tablename__ = "runs"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    kind: Mapped[str] = mapped_column(String(16), nullable=False, default="train")
    mode: Mapped[str] = mapped_column(String(16), nullable=False)
    status: Mapped[str] = mapped_column(String(32), nullable=False, default="pending")
    dataset_key: Mapped[str | None] = mapped_column(String(200), nullable=True)
    model_id: Mapped[str] = mapped_column(String(500), nullable=False)
    parent_run_id: Mapped[uuid.UUID | None] = mapped_column(
        Uuid, ForeignKey("runs.id", ondelete="CASCADE"), nullable=True
    )
    config: Mapped[dict[str, Any]] = mapped_column(JSONType, nullable=False)
    output_dir: Mapped[str] = mapped_column(Text, nullable=False)
    priority: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    # Named queue: workers started with --queue take only their queues' runs.
    queue: Mapped[str] = mapped_column(
        String(64), nullable=False, default="default", server_default="default"
    )
    attempt: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    max_attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=3)
    worker_id: Mapped[str | None] = mapped_column(String(200), nullable=True)
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    queued_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    timeout_seconds: Mapped[int | None] = mapped_column(Integer, nullable=True)
    exit_code: Mapped[int | None] = mapped_column(Integer, nullable=True)
    message: Mapped[str | None] = mapped_column(Text, nullable=True)
    duration_seconds: Mapped[float | None] = mapped_column(Float, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)

    __table_args__ = (
        Index("ix_runs_dataset_key", "dataset_key"),
        Index("ix_runs_parent_run_id", "parent_run_id"),
        # Newest-first registry listing.
        Index("ix_runs_created_at_id", "created_at", "id"),
    )


# The queue's claim: pending runs by priority (highest first), then FIFO, in exactly the
# claim's ORDER BY, so a claim reads one index entry however many runs are queued (a
# same-direction index made Postgres sort every pending run of the top priority: 18 ms
# per claim with 17k of them, 0.05 ms with this one).
Index("ix_runs_claim", Run.status, Run.priority.desc(), Run.queued_at, Run.id)


class RunLog(Base):
    """One line of a run's output; ``seq`` increases per run (SSE event id)."""

    __tablename__ = "run_logs"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    run_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("runs.id", ondelete="CASCADE"), nullable=False
    )
    seq: Mapped[int] = mapped_column(Integer, nullable=False)
    stream: Mapped[str] = mapped_column(String(8), nullable=False)
    chunk: Mapped[str] = mapped_column(Text, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)

    __table_args__ = (UniqueConstraint("run_id", "seq", name="uq_run_logs_run_id_seq"),)


class RunMetric(Base):
    """One training step's metrics as reported by the child."""

    __tablename__ = "run_metrics"

    id: Mapped[int] = mapped_column(BigIntPK, primary_key=True, autoincrement=True)
    run_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("runs.id", ondelete="CASCADE"), nullable=False
    )
    step: Mapped[int] = mapped_column(Integer, nullable=False)
    # The run's attempt that reported it: a resumed attempt repeats the steps after its
    # checkpoint, and readers keep the newest attempt's point per step.
    attempt: Mapped[int] = mapped_column(Integer, nullable=False, default=0, server_default="0")
    loss: Mapped[float | None] = mapped_column(Float, nullable=True)
    eval_loss: Mapped[float | None] = mapped_column(Float, nullable=True)
    learning_rate: Mapped[float | None] = mapped_column(Float, nullable=True)
    tokens_per_second: Mapped[float | None] = mapped_column(Float, nullable=True)
    elapsed_seconds: Mapped[float | None] = mapped_column(Float, nullable=True)
    total_steps: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # GRPO runs: the step's summed reward over its completions, KL to the start model, and
    # the share of completions with the right answer.
    reward_mean: Mapped[float | None] = mapped_column(Float, nullable=True)
    reward_std: Mapped[float | None] = mapped_column(Float, nullable=True)
    kl: Mapped[float | None] = mapped_column(Float, nullable=True)
    accuracy: Mapped[float | None] = mapped_column(Float, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)

    __table_args__ = (Index("ix_run_metrics_run_id_step", "run_id", "step"),)
