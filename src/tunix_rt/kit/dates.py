"""Date-time query parameters."""

from __future__ import annotations

from datetime import UTC, datetime

from tunix_rt.kit.errors import Unprocessable


def as_utc(field: str, value: datetime | None) -> datetime | None:
    """Naive times are taken as UTC; a time that cannot be expressed in UTC is a 422
    naming ``field``."""
    if value is None:
        return None
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise Unprocessable(field, "date is out of the supported range") from None
