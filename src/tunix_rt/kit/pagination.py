"""The one list-response shape, offset pagination and opaque keyset cursors."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import datetime
from typing import Annotated, Generic, TypeVar

from fastapi import Query
from pydantic import BaseModel

from tunix_rt.kit.errors import Unprocessable

T = TypeVar("T")

# The largest ``offset`` a list accepts: within every database's integer range, and far
# past any page worth reaching by offset (the keyset ``cursor`` is for walking far).
MAX_OFFSET = 2**31 - 1
Offset = Annotated[int, Query(ge=0, le=MAX_OFFSET, description="Rows to skip.")]


class Pagination(BaseModel):
    limit: int
    offset: int
    next_offset: int | None
    next_cursor: str | None = None


class Page(BaseModel, Generic[T]):
    data: list[T]
    pagination: Pagination


def encode_cursor(created_at: datetime, row_id: uuid.UUID) -> str:
    raw = json.dumps({"t": created_at.isoformat(), "id": str(row_id)}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    """Decode a cursor from ``encode_cursor``; a tampered one is a 422 on ``cursor``."""
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        data = json.loads(base64.urlsafe_b64decode(padded.encode()))
        created_at = datetime.fromisoformat(data["t"])
        if created_at.tzinfo is None:
            raise ValueError("naive timestamp")
        return created_at, uuid.UUID(data["id"])
    except (ValueError, KeyError, TypeError, json.JSONDecodeError) as exc:
        raise Unprocessable(
            "cursor", "invalid cursor; use a next_cursor value returned by this endpoint"
        ) from exc
