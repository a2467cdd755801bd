"""A rate limit on writes: POST, PUT, PATCH and DELETE under ``/api/``.

One token bucket per client: per bearer token when the request has an ``Authorization``
header (keyed on its SHA-256, never the token itself), else per client address. A bucket
holds ``writes_per_minute`` writes and refills continuously at that rate, so bursts up to
the limit pass and a steady client gets exactly the rate. Over the limit → 429 with
``Retry-After`` (whole seconds until the next write is allowed) and a JSON detail.

The buckets live in this process's memory: each server replica limits on its own, and
a restart forgets them. Idle full buckets are dropped, so memory stays bounded by the
clients active in the last minute or so.
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections.abc import Callable

from starlette.types import ASGIApp, Receive, Scope, Send

from tunix_rt.kit.request_guard import BODY_METHODS, _drain

# Sweep idle buckets once this many exist; the next sweep waits until the count doubles,
# so a scan (O(buckets)) is amortized over at least as many writes whatever the clients do.
SWEEP_AT = 4096


class TokenBuckets:
    """Buckets by key; ``take`` spends one token or says how long until one is there."""

    def __init__(self, per_minute: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.capacity = float(per_minute)
        self.rate = per_minute / 60.0  # tokens per second
        self.clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, at)
        self._sweep_at = SWEEP_AT

    def take(self, key: str) -> float:
        """0 when the write may go ahead (a token is spent), else seconds to wait."""
        now = self.clock()
        tokens, at = self._buckets.get(key, (self.capacity, now))
        tokens = min(self.capacity, tokens + (now - at) * self.rate)
        if tokens >= 1.0:
            self._buckets[key] = (tokens - 1.0, now)
            if len(self._buckets) >= self._sweep_at:
                self._sweep(now)
            return 0.0
        self._buckets[key] = (tokens, now)
        return (1.0 - tokens) / self.rate

    def _sweep(self, now: float) -> None:
        rate, capacity = self.rate, self.capacity
        full = [k for k, (t, at) in self._buckets.items() if t + (now - at) * rate >= capacity]
        for key in full:
            del self._buckets[key]
        self._sweep_at = max(SWEEP_AT, 2 * len(self._buckets))

    def __len__(self) -> int:
        return len(self._buckets)


def client_key(scope: Scope) -> str:
    """``token:<sha256>`` for a request with credentials, else ``addr:<host>``."""
    for name, value in scope.get("headers", []):
        if name == b"authorization":
            return "token:" + hashlib.sha256(value).hexdigest()
    client = scope.get("client")
    return f"addr:{client[0] if client else 'unknown'}"


class RateLimitMiddleware:
    """Pure ASGI. ``writes_per_minute`` is read per request (0 turns the limit off)."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        writes_per_minute: Callable[[], int],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.app = app
        self.writes_per_minute = writes_per_minute
        self.clock = clock
        self.buckets: TokenBuckets | None = None

    def _buckets(self, limit: int) -> TokenBuckets:
        if self.buckets is None or self.buckets.capacity != limit:
            self.buckets = TokenBuckets(limit, self.clock)
        return self.buckets

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        limit = self.writes_per_minute() if scope["type"] == "http" else 0
        if (
            limit <= 0
            or scope["method"] not in BODY_METHODS
            or not scope["path"].startswith("/api/")
        ):
            await self.app(scope, receive, send)
            return
        wait = self._buckets(limit).take(client_key(scope))
        if not wait:
            await self.app(scope, receive, send)
            return
        retry_after = max(1, math.ceil(wait))
        await _drain(receive)  # answering mid-upload would reset the client's socket
        body = json.dumps(
            {
                "detail": f"rate limit exceeded: at most {limit} writes per minute; "
                f"retry in {retry_after} s",
            }
        ).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 429,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(body)).encode()),
                    (b"retry-after", str(retry_after).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": body})
