"""ASGI middleware that checks every request before the app sees it.

1. **Host.** The ``Host`` header must name this server (DNS-rebinding guard): loopback
   names, the bind host, the machine's name and ``TUNIX_RT_ALLOWED_HOSTS``. Else 400.
2. **Content type.** A request with a body to ``/api/*`` must declare the type its route
   reads (JSON, or NDJSON for imports); else 415. Browsers send a cross-site request
   without asking first only for form and ``text/plain`` bodies, so this also stops
   cross-site writes.
3. **Size.** Every body is capped (per route, or the default): a ``Content-Length``
   header is checked up front, and the bytes are counted as they arrive, so a chunked
   upload or a lying header is caught too. The body is buffered up to the cap and
   replayed to the app.

A refused request's remaining body is read and dropped before the answer goes out: a
server that answers and closes while the client is still sending makes the client's
socket reset, and the client never sees the 413.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable

from starlette.types import ASGIApp, Message, Receive, Scope, Send

Route = tuple[str, str]  # (method, path)
JSON_TYPES = ("application/json",)
NDJSON_TYPES = ("application/x-ndjson", "application/ndjson", "application/jsonl")
BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# How long a refused request's body is drained before the connection is dropped anyway.
DRAIN_SECONDS = 30.0


class RequestGuardMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        hosts: Callable[[], frozenset[str] | None],
        default_limit: Callable[[], int],
        limits: dict[Route, Callable[[], int]],
        body_types: dict[Route, tuple[str, ...]],
    ) -> None:
        self.app = app
        self.hosts = hosts
        self.default_limit = default_limit
        self.limits = limits
        self.body_types = body_types

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {name: value for name, value in scope.get("headers", [])}
        allowed = self.hosts()
        if allowed is not None:
            host = _host_name(headers.get(b"host", b"").decode("latin-1"))
            if host not in allowed:
                detail = (
                    f"Host {host!r} is not served here; add it to TUNIX_RT_ALLOWED_HOSTS "
                    "if this server should answer to that name"
                )
                await _refuse(receive, send, 400, detail)
                return
        method = scope["method"]
        if method not in BODY_METHODS:
            await self.app(scope, receive, send)
            return
        route = (method, scope["path"].rstrip("/") or "/")
        declared = _content_length(headers)
        has_body = bool(declared) or b"transfer-encoding" in headers
        if has_body and route[1].startswith("/api/"):
            accepted = self.body_types.get(route, JSON_TYPES)
            given = headers.get(b"content-type", b"").decode("latin-1")
            base = given.split(";", 1)[0].strip().lower()
            if base not in accepted and not (accepted == JSON_TYPES and base.endswith("+json")):
                detail = (
                    f"content-type must be {' or '.join(accepted)} for this request body "
                    f"(got {given or 'none'!r})"
                )
                await _refuse(receive, send, 415, detail)
                return
        limit = self.limits.get(route, self.default_limit)()
        if declared is not None and declared > limit:
            await _refuse(receive, send, 413, _too_large(limit))
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            more = bool(message.get("more_body", False))
            if size > limit:
                await _refuse(receive, send, 413, _too_large(limit), drained=not more)
                return
            chunks.append(chunk)
            if not more:
                break
        body = b"".join(chunks)
        scope.setdefault("state", {})["body_size"] = size
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)


def _host_name(host: str) -> str:
    host = host.strip().lower()
    if host.startswith("["):  # [::1]:8000
        return host[: host.find("]") + 1] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def _content_length(headers: dict[bytes, bytes]) -> int | None:
    value = headers.get(b"content-length")
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        return None


def _too_large(limit: int) -> str:
    return f"request body exceeds the limit of {limit} bytes"


async def _drain(receive: Receive) -> None:
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(DRAIN_SECONDS):
            while True:
                message = await receive()
                if message["type"] == "http.disconnect" or not message.get("more_body", False):
                    return


async def _refuse(
    receive: Receive, send: Send, status: int, detail: str, *, drained: bool = False
) -> None:
    if not drained:
        await _drain(receive)
    body = json.dumps({"detail": detail}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
                (b"connection", b"close"),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
