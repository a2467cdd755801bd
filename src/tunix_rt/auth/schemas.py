"""API token request and read shapes (SPEC §12)."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from tunix_rt.kit.text import Name

Scope = Literal["read", "write", "admin"]


class TokenCreate(BaseModel):
    model_config = ConfigDict(
        extra="forbid", json_schema_extra={"examples": [{"name": "ci", "scope": "write"}]}
    )

    name: Name = Field(description="Letters, digits, '.', '_' and '-'; unique among live tokens.")
    scope: Scope = Field(
        default="read", description="read: GET only; write: also changes; admin: also tokens."
    )


class Token(BaseModel):
    """A token as listed: never the token itself."""

    name: str
    scope: Scope
    prefix: str = Field(description="The token's first characters (trt_ + its lookup id).")
    created_at: datetime
    last_used_at: datetime | None = Field(description="Noted at most once a minute.")
    revoked_at: datetime | None


class TokenCreated(Token):
    token: str = Field(description="The token: shown this once, only its hash is stored.")


class TokenList(BaseModel):
    data: list[Token]


class AuthSession(BaseModel):
    """Who the browser is signed in as."""

    auth_required: bool = Field(description="Whether this server asks for tokens.")
    name: str | None = Field(description="The token's name (null when auth is off).")
    scope: Scope | None
