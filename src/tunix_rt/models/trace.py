from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import Index, String, Uuid
from sqlalchemy.orm import Mapped, mapped_column

from tunix_rt.db import Base, JSONType, UTCDateTime, new_id, utcnow


class Trace(Base):
    """A stored reasoning trace; ``payload`` is the validated ReasoningTrace document."""

    __tablename__ = "traces"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    trace_version: Mapped[str] = mapped_column(String(64), nullable=False)
    payload: Mapped[dict[str, Any]] = mapped_column(JSONType, nullable=False)

    __table_args__ = (
        # Newest-first listing and keyset pagination walk this index.
        Index("ix_traces_created_at_id", "created_at", "id"),
    )
