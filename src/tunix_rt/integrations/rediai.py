"""RediAI client: health probe with a per-process TTL cache, mock or real."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Protocol

import httpx
from pydantic import BaseModel

from tunix_rt.config import Settings


class RediHealth(BaseModel):
    status: str
    error: str | None = None


class RediAIClient(Protocol):
    async def health(self) -> RediHealth: ...

    async def aclose(self) -> None: ...


class MockRediAIClient:
    """Offline stand-in used when ``REDIAI_MODE=mock``: always healthy, no network."""

    async def health(self) -> RediHealth:
        return RediHealth(status="healthy")

    async def aclose(self) -> None:
        return None


class HttpRediAIClient:
    """Probes ``base_url + health_path``; results (good or bad) are cached for ``ttl``."""

    def __init__(
        self,
        base_url: str,
        health_path: str,
        *,
        timeout: float = 5.0,
        ttl: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.health_url = base_url.rstrip("/") + health_path
        self.timeout = timeout
        self.ttl = ttl
        self._clock = clock
        self._client = httpx.AsyncClient(timeout=timeout, transport=transport)
        self._cached: tuple[float, RediHealth] | None = None
        self._lock = asyncio.Lock()

    async def health(self) -> RediHealth:
        cached = self._fresh()
        if cached is not None:
            return cached
        async with self._lock:  # one probe at a time; waiters reuse its result
            cached = self._fresh()
            if cached is not None:
                return cached
            result = await self._probe()
            self._cached = (self._clock(), result)
            return result

    def _fresh(self) -> RediHealth | None:
        if self._cached is None or self.ttl <= 0:
            return None
        at, result = self._cached
        return result if self._clock() - at < self.ttl else None

    async def _probe(self) -> RediHealth:
        try:
            response = await self._client.get(self.health_url)
        except httpx.TimeoutException:
            return RediHealth(status="down", error=f"Timeout after {self.timeout:g}s")
        except httpx.ConnectError:
            return RediHealth(status="down", error="Connection refused")
        except httpx.HTTPError as exc:
            return RediHealth(status="down", error=f"{type(exc).__name__}: {exc}")
        if not response.is_success:
            return RediHealth(status="down", error=f"HTTP {response.status_code}")
        return RediHealth(status="healthy")

    async def aclose(self) -> None:
        await self._client.aclose()


def make_rediai_client(settings: Settings) -> RediAIClient:
    if settings.rediai_mode == "mock":
        return MockRediAIClient()
    return HttpRediAIClient(
        settings.rediai_base_url,
        settings.rediai_health_path,
        timeout=settings.rediai_timeout_seconds,
        ttl=settings.rediai_health_cache_ttl_seconds,
    )
