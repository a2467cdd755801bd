"""ORM table of API tokens (SPEC §12): only a SHA-256 of each token is stored."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import CheckConstraint, Index, String, Uuid, text
from sqlalchemy.orm import Mapped, mapped_column

from tunix_rt.db import Base, UTCDateTime, new_id, utcnow

SCOPES = ("read", "write", "admin")


class ApiToken(Base):
    """A bearer token's public part and hash. The token is ``trt_{lookup_id}_{secret}``:
    ``lookup_id`` finds the row, the SHA-256 of the whole token is compared."""

    __tablename__ = "api_tokens"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(128), nullable=False)
    scope: Mapped[str] = mapped_column(String(16), nullable=False)
    lookup_id: Mapped[str] = mapped_column(String(32), nullable=False, unique=True)
    token_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)

    __table_args__ = (
        CheckConstraint("scope IN ('read', 'write', 'admin')", name="scope"),
        # A name is taken by at most one live token; a revoked token's name can be reused.
        Index(
            "uq_api_tokens_active_name",
            "name",
            unique=True,
            sqlite_where=text("revoked_at IS NULL"),
            postgresql_where=text("revoked_at IS NULL"),
        ),
    )
