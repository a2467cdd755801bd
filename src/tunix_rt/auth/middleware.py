"""Pure ASGI middleware that asks every ``/api/*`` request for an API token when auth is
required (docs/security.md). It runs before the body is read, so a client without a
token cannot make the server buffer an upload.

- ``GET /api/health`` and ``DELETE /api/auth/session`` (sign-out) stay open; ``/metrics``
  is open unless ``TUNIX_RT_METRICS_PUBLIC=false``; the web UI's files are always open
  (the UI must load to ask for a token).
- The token comes in ``Authorization: Bearer <token>``. For the GET routes a browser
  opens itself — the SSE log stream, downloads and exports, where neither ``EventSource``
  nor a link can send a header — the HttpOnly cookie that ``POST /api/auth/session`` sets
  is accepted as well. Never a query parameter: URLs end up in access logs and history.
- No, malformed, unknown or revoked token → 401 with ``WWW-Authenticate: Bearer``; a
  token whose scope is too low → 403 (read < write < admin; writes need write, token
  management needs admin).
- The request's ``Principal`` (token name and scope, never the token) is put in
  ``scope["state"]["principal"]`` for whatever runs after this middleware.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
from collections.abc import Callable

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.requests import cookie_parser
from starlette.types import ASGIApp, Receive, Scope, Send

from tunix_rt.auth import service
from tunix_rt.config import Settings

COOKIE = "tunix_rt_token"
# GET routes a browser fetches by URL: the log stream, `…/download`, `….jsonl`/`….csv`.
COOKIE_ROUTES = re.compile(r"/api/.+/(logs|download|[^/]+\.(jsonl|csv))")
PUBLIC = frozenset(
    {("GET", "/api/health"), ("HEAD", "/api/health"), ("DELETE", "/api/auth/session")}
)
# Any live token may sign in (the UI checks a token there before keeping it).
ANY_SCOPE = frozenset({"/api/auth/session"})
# A refused request's body is read and dropped (up to this much, for this long) so the
# client sees the answer instead of a reset connection.
DRAIN_BYTES = 1_048_576
DRAIN_SECONDS = 5.0
REALM = 'Bearer realm="tunix-rt"'

log = logging.getLogger(__name__)


class AuthMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        settings: Settings,
        sessionmaker: Callable[[], async_sessionmaker[AsyncSession]],
    ) -> None:
        self.app = app
        self.settings = settings
        self.required = settings.auth_required
        self.sessionmaker = sessionmaker

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not self.required:
            await self.app(scope, receive, send)
            return
        method, path = scope["method"], scope["path"]
        if not self._protected(method, path):
            await self.app(scope, receive, send)
            return
        token = _presented(scope, method, path)
        if token is None:
            detail = (
                "this server requires an API token: send 'Authorization: Bearer <token>' "
                "(an admin creates one with `tunix-rt tokens create`)"
            )
            await _refuse(receive, send, 401, detail, REALM)
            return
        principal = await self._verify(token)
        if principal is None:
            detail = "the API token is invalid or revoked"
            await _refuse(receive, send, 401, detail, f'{REALM}, error="invalid_token"')
            return
        needed = service.needed_scope(method, path)
        if path not in ANY_SCOPE and not service.grants(principal.scope, needed):
            detail = (
                f"token {principal.name!r} has scope {principal.scope!r}; "
                f"{method} {path} needs {needed!r}"
            )
            challenge = f'{REALM}, error="insufficient_scope", scope="{needed}"'
            await _refuse(receive, send, 403, detail, challenge)
            return
        scope.setdefault("state", {})["principal"] = principal
        await self.app(scope, receive, send)

    def _protected(self, method: str, path: str) -> bool:
        if path == "/metrics":
            return not self.settings.metrics_public
        return path.startswith("/api/") and (method, path) not in PUBLIC and method != "OPTIONS"

    async def _verify(self, token: str) -> service.Principal | None:
        async with self.sessionmaker()() as session:
            try:
                principal = await service.verify(session, token)
                await session.commit()
            except BaseException:
                await session.rollback()
                raise
        return principal


def _presented(scope: Scope, method: str, path: str) -> str | None:
    """The token from the Authorization header, else (browser-opened GETs) the cookie."""
    headers = dict(scope.get("headers", []))
    authorization = headers.get(b"authorization", b"").decode("latin-1").strip()
    if authorization:
        kind, _, value = authorization.partition(" ")
        if kind.lower() != "bearer":
            return None
        return value.strip() or None
    if method in ("GET", "HEAD") and COOKIE_ROUTES.fullmatch(path):
        cookies = cookie_parser(headers.get(b"cookie", b"").decode("latin-1"))
        return cookies.get(COOKIE) or None
    return None


async def _drain(receive: Receive) -> bool:
    """Read and drop the request body; True when all of it was read."""
    size = 0
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(DRAIN_SECONDS):
            while size <= DRAIN_BYTES:
                message = await receive()
                if message["type"] == "http.disconnect":
                    return True
                size += len(message.get("body", b""))
                if not message.get("more_body", False):
                    return True
    return False


async def _refuse(receive: Receive, send: Send, status: int, detail: str, challenge: str) -> None:
    drained = await _drain(receive)
    body = json.dumps({"detail": detail}).encode()
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"www-authenticate", challenge.encode()),
    ]
    if not drained:
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def log_auth_mode(settings: Settings) -> None:
    """Say in the log when auth is on because of the bind address, or off where it
    should not be."""
    if settings.auth == "auto" and settings.auth_required:
        log.warning(
            "TUNIX_RT_AUTH=auto and the server binds %s (not loopback): API tokens are "
            "required on /api/*; create one with `tunix-rt tokens create --name NAME "
            "--scope admin`, or set TUNIX_RT_AUTH=off to serve without them",
            settings.host,
        )
    elif settings.auth == "off" and not settings.binds_loopback:
        log.warning(
            "TUNIX_RT_AUTH=off and the server binds %s (not loopback): anyone who can "
            "reach it can read and delete every trace, dataset, run and model",
            settings.host,
        )
