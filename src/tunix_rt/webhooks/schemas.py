"""Webhook request and read shapes."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from tunix_rt.kit.text import Name, Text

# What ended ("run" = a training run) and how.
Event = Literal[
    "run.completed",
    "run.failed",
    "run.cancelled",
    "evaluation.completed",
    "evaluation.failed",
    "evaluation.cancelled",
    "tuning.completed",
    "tuning.failed",
    "tuning.cancelled",
]
EVENTS: tuple[str, ...] = Event.__args__  # type: ignore[attr-defined]


def _http_url(value: str) -> str:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError("must be an http:// or https:// URL with a host")
    return value


Url = Annotated[Text, Field(min_length=1, max_length=2000), AfterValidator(_http_url)]


class WebhookCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "name": "ci",
                    "url": "https://ci.example.com/hooks/tunix",
                    "secret": "a long random string",
                    "events": ["run.completed", "run.failed"],
                }
            ]
        },
    )

    name: Name
    url: Url
    secret: Text = Field(
        min_length=16, max_length=500, description="Signs each body (HMAC-SHA256)."
    )
    events: list[Event] = Field(
        default_factory=list, max_length=len(EVENTS), description="Empty: every event."
    )


class Webhook(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    name: str
    url: str
    events: list[str]
    active: bool
    created_at: datetime


class WebhookList(BaseModel):
    data: list[Webhook]


class Delivery(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: uuid.UUID
    webhook_id: uuid.UUID
    event: str
    payload: dict[str, Any]
    status: Literal["pending", "delivered", "failed"]
    attempts: int
    next_attempt_at: datetime | None
    last_status_code: int | None
    last_error: str | None
    created_at: datetime
    delivered_at: datetime | None


class DeliveryList(BaseModel):
    data: list[Delivery]
