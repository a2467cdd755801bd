from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Float, ForeignKey, Index, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from tunix_rt.db import Base, JSONType, UTCDateTime, new_id, utcnow


class TraceScore(Base):
    """A score computed for a trace under some criteria; deleted with its trace."""

    __tablename__ = "trace_scores"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    trace_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("traces.id", ondelete="CASCADE"), nullable=False
    )
    criteria: Mapped[str] = mapped_column(String(64), nullable=False)
    score: Mapped[float] = mapped_column(Float, nullable=False)
    details: Mapped[dict[str, Any]] = mapped_column(JSONType, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)

    __table_args__ = (Index("ix_trace_scores_trace_id", "trace_id"),)
