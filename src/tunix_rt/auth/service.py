"""API tokens (SPEC §12): create, list, revoke, and check a presented token.

A token is ``trt_{lookup_id}_{secret}``: 12 hex characters that find its row, then 32
random bytes (URL-safe base64). Only the SHA-256 of the whole token is stored; a
presented token's hash is compared with ``hmac.compare_digest``. SHA-256 rather than a
slow password hash is enough here: the secret has 256 bits of entropy, so there is
nothing to guess, and every request checks a token.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from tunix_rt.auth import schemas
from tunix_rt.db import utcnow
from tunix_rt.kit.errors import Conflict, NotFound
from tunix_rt.models.auth import SCOPES, ApiToken

PREFIX = "trt_"
TOKEN_PATTERN = re.compile(r"trt_([0-9a-f]{12})_[A-Za-z0-9_-]{43}")
# ``last_used_at`` is written at most this often per token: a read-mostly server does
# not turn every request into a write.
LAST_USED_EVERY = timedelta(seconds=60)
WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


@dataclass(frozen=True)
class Principal:
    """Who made a request: the token's name and scope (never the token)."""

    name: str
    scope: str


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def public_prefix(lookup_id: str) -> str:
    """The part of a token that may be shown (lists, logs): it finds, it does not open."""
    return f"{PREFIX}{lookup_id}"


def describe(row: ApiToken) -> schemas.Token:
    """A token as shown in lists: its prefix, never the token."""
    return schemas.Token(
        name=row.name,
        scope=row.scope,  # the table's check constraint keeps it one of the three
        prefix=public_prefix(row.lookup_id),
        created_at=row.created_at,
        last_used_at=row.last_used_at,
        revoked_at=row.revoked_at,
    )


def grants(scope: str, needed: str) -> bool:
    """admin ⊃ write ⊃ read."""
    return SCOPES.index(scope) >= SCOPES.index(needed)


def needed_scope(method: str, path: str) -> str:
    """The scope a request needs: admin for token management, write for a write method."""
    if path == "/api/tokens" or path.startswith("/api/tokens/"):
        return "admin"
    return "write" if method in WRITE_METHODS else "read"


async def create_token(session: AsyncSession, name: str, scope: str) -> tuple[ApiToken, str]:
    """A new token: the row (flushed) and the token itself, which is not kept anywhere."""
    if scope not in SCOPES:
        raise ValueError(f"unknown scope {scope!r}")
    if await _active(session, name) is not None:
        raise Conflict(f"a token named {name!r} exists; revoke it first or pick another name")
    lookup_id = secrets.token_hex(6)
    token = f"{PREFIX}{lookup_id}_{secrets.token_urlsafe(32)}"
    row = ApiToken(name=name, scope=scope, lookup_id=lookup_id, token_hash=hash_token(token))
    session.add(row)
    await session.flush()
    return row, token


async def list_tokens(session: AsyncSession) -> list[ApiToken]:
    """Every token, revoked ones included, newest first."""
    rows = await session.scalars(select(ApiToken).order_by(ApiToken.created_at.desc()))
    return list(rows)


async def revoke_token(session: AsyncSession, name: str) -> ApiToken:
    """Revoke the live token of that name; it is refused from the next request on."""
    row = await _active(session, name)
    if row is None:
        raise NotFound(f"no live token named {name!r}")
    row.revoked_at = utcnow()
    await session.flush()
    return row


async def has_admin_token(session: AsyncSession) -> bool:
    found = await session.scalar(
        select(ApiToken.id).where(ApiToken.scope == "admin", ApiToken.revoked_at.is_(None)).limit(1)
    )
    return found is not None


async def _active(session: AsyncSession, name: str) -> ApiToken | None:
    return await session.scalar(
        select(ApiToken).where(ApiToken.name == name, ApiToken.revoked_at.is_(None))
    )


async def verify(session: AsyncSession, token: str) -> Principal | None:
    """Who ``token`` belongs to, if it is a live token; its use is noted (flushed) at most
    once a minute."""
    match = TOKEN_PATTERN.fullmatch(token)
    if match is None:
        return None
    row = await session.scalar(select(ApiToken).where(ApiToken.lookup_id == match[1]))
    if row is None or not hmac.compare_digest(row.token_hash, hash_token(token)):
        return None
    if row.revoked_at is not None:
        return None
    now = utcnow()
    if row.last_used_at is None or now - row.last_used_at >= LAST_USED_EVERY:
        # Conditional, so that concurrent requests write it once.
        await session.execute(
            update(ApiToken)
            .where(
                ApiToken.id == row.id,
                or_(
                    ApiToken.last_used_at.is_(None), ApiToken.last_used_at <= now - LAST_USED_EVERY
                ),
            )
            .values(last_used_at=now)
        )
    return Principal(name=row.name, scope=row.scope)
