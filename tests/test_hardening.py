"""Shared-host hardening (SPEC §12, docs/operations.md): the write rate limit, request
ids in responses and logs, security headers, CORS."""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

import httpx
import pytest
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from tests.conftest import serve_in_process
from tests.server_process import serving, upgrade
from tunix_rt.app import create_app
from tunix_rt.config import Settings, SettingsError, load_settings
from tunix_rt.kit.rate_limit import RateLimitMiddleware, TokenBuckets
from tunix_rt.kit.request_id import RequestIdFilter, RequestIdMiddleware
from tunix_rt.kit.security_headers import UI_POLICY

AppFactory = Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]
HEX_ID = re.compile(r"^[0-9a-f]{32}$")
TRACE = {
    "trace_version": "1.0",
    "prompt": "What is 2 + 3?",
    "final_answer": "5",
    "steps": [{"i": 0, "type": "compute", "content": "2 + 3 = 5"}],
}


# --- rate limit ---------------------------------------------------------------------------


def test_token_bucket_allows_a_burst_then_the_rate() -> None:
    now = [0.0]
    buckets = TokenBuckets(60, clock=lambda: now[0])  # one per second, bursts of 60
    assert all(buckets.take("a") == 0 for _ in range(60))
    assert buckets.take("a") == pytest.approx(1.0)
    assert buckets.take("b") == 0  # another client has its own bucket
    now[0] += 0.5
    assert buckets.take("a") == pytest.approx(0.5)
    now[0] += 0.5
    assert buckets.take("a") == 0
    now[0] += 3600  # refills to the burst, never past it
    assert sum(buckets.take("a") == 0 for _ in range(100)) == 60


def test_idle_buckets_are_dropped(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("tunix_rt.kit.rate_limit.SWEEP_AT", 100)
    now = [0.0]
    buckets = TokenBuckets(60, clock=lambda: now[0])
    for i in range(98):
        buckets.take(f"old-{i}")
    now[0] += 2.0  # every old bucket has refilled: nothing left to remember
    buckets.take("recent")
    assert len(buckets) == 99
    buckets.take("busy")  # the 100th key: a sweep keeps only buckets that are not full
    assert len(buckets) == 2
    assert sum(buckets.take("busy") == 0 for _ in range(100)) == 59  # its count survived


async def test_writes_over_the_limit_get_429_with_retry_after(app_factory: AppFactory) -> None:
    async with app_factory(rate_limit_writes_per_minute=3) as client:
        created = [await client.post("/api/traces", json=TRACE) for _ in range(3)]
        assert [r.status_code for r in created] == [201, 201, 201]
        refused = await client.post("/api/traces", json=TRACE)
        assert refused.status_code == 429
        assert int(refused.headers["retry-after"]) == 20  # 3 a minute: one every 20 s
        assert "3 writes per minute" in refused.json()["detail"]
        assert HEX_ID.match(refused.headers["x-request-id"])
        # Other methods and reads pass; the refused write stored nothing.
        assert (
            await client.delete("/api/traces/00000000-0000-0000-0000-000000000000")
        ).status_code == 429
        listed = await client.get("/api/traces", params={"limit": 100})
        assert listed.status_code == 200 and len(listed.json()["data"]) == 3


async def test_limit_is_per_token_and_per_address(settings: Settings) -> None:
    app = create_app(settings.model_copy(update={"rate_limit_writes_per_minute": 1}))
    async with serve_in_process(app):

        async def post(address: str, token: str | None = None) -> int:
            transport = httpx.ASGITransport(app=app, client=(address, 1234))
            headers = {"Authorization": f"Bearer {token}"} if token else {}
            async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as c:
                return (await c.post("/api/traces", json=TRACE, headers=headers)).status_code

        assert await post("10.0.0.1") == 201
        assert await post("10.0.0.1") == 429
        assert await post("10.0.0.2") == 201  # another address
        assert await post("10.0.0.1", "secret-a") == 201  # a token has its own bucket
        assert await post("10.0.0.3", "secret-a") == 429  # ... wherever it comes from
        assert await post("10.0.0.1", "secret-b") == 201
    limiter = _middleware(app, RateLimitMiddleware)
    assert limiter.buckets is not None
    keys = list(limiter.buckets._buckets)
    assert f"token:{hashlib.sha256(b'Bearer secret-a').hexdigest()}" in keys
    assert not any("secret" in key for key in keys)  # the raw token is never kept


async def test_zero_turns_the_limit_off(app_factory: AppFactory) -> None:
    async with app_factory(rate_limit_writes_per_minute=0) as client:
        statuses = {(await client.post("/api/traces", json=TRACE)).status_code for _ in range(30)}
        assert statuses == {201}


def _middleware(app: Any, kind: type) -> Any:
    """The instance of a middleware class in the app's built stack."""
    layer = app.middleware_stack
    while layer is not None:
        if isinstance(layer, kind):
            return layer
        layer = getattr(layer, "app", None)
    raise AssertionError(f"{kind.__name__} not installed")


# --- request ids --------------------------------------------------------------------------


async def test_request_id_on_every_response(client: httpx.AsyncClient) -> None:
    fresh = await client.get("/api/health")
    assert HEX_ID.match(fresh.headers["x-request-id"])
    again = await client.get("/api/health")
    assert again.headers["x-request-id"] != fresh.headers["x-request-id"]
    given = await client.get("/api/health", headers={"X-Request-ID": "ci-42.retry_1"})
    assert given.headers["x-request-id"] == "ci-42.retry_1"
    for bad in ("x" * 129, "a b", "<script>", "id\\n"):
        replaced = await client.get("/api/health", headers={"X-Request-ID": bad})
        assert HEX_ID.match(replaced.headers["x-request-id"]), bad
    # Refusals of every layer carry it too: unknown route, validation, guard (415, Host).
    refusals = [
        await client.get("/api/nope", headers={"X-Request-ID": "r1"}),
        await client.post("/api/traces", json={}, headers={"X-Request-ID": "r2"}),
        await client.post(
            "/api/traces",
            content=b"x",
            headers={"content-type": "text/plain", "X-Request-ID": "r3"},
        ),
        await client.get("/api/health", headers={"Host": "evil.example", "X-Request-ID": "r4"}),
        await client.get("/", headers={"X-Request-ID": "r5"}),
    ]
    assert [r.status_code for r in refusals] == [404, 422, 415, 400, 200]
    assert [r.headers["x-request-id"] for r in refusals] == ["r1", "r2", "r3", "r4", "r5"]


async def test_log_records_and_server_errors_carry_the_request_id() -> None:
    records: list[logging.LogRecord] = []
    handler = logging.Handler()
    handler.emit = records.append  # type: ignore[method-assign]
    handler.addFilter(RequestIdFilter())
    logger = logging.getLogger("tests.request_id")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logging.getLogger("tunix_rt.kit.request_id").addHandler(handler)

    async def noisy(_: Request) -> PlainTextResponse:
        logger.info("working")
        return PlainTextResponse("ok")

    async def broken(_: Request) -> PlainTextResponse:
        raise RuntimeError("boom")

    app = Starlette(
        routes=[Route("/noisy", noisy), Route("/broken", broken)],
        middleware=[Middleware(RequestIdMiddleware)],  # inside the server-error layer
    )
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as c:
            assert (await c.get("/noisy", headers={"X-Request-ID": "abc"})).text == "ok"
            failed = await c.get("/broken", headers={"X-Request-ID": "def"})
        logger.info("outside")
    finally:
        logger.removeHandler(handler)
        logging.getLogger("tunix_rt.kit.request_id").removeHandler(handler)
    assert failed.status_code == 500
    assert failed.headers["x-request-id"] == "def"
    assert failed.json() == {"detail": "Internal Server Error", "request_id": "def"}
    seen = [(r.getMessage(), r.request_id) for r in records]  # type: ignore[attr-defined]
    assert seen == [("working", "abc"), ("unhandled error in GET /broken", "def"), ("outside", "-")]
    assert records[1].exc_info is not None  # the traceback is logged


def test_served_log_lines_carry_the_request_id(tmp_path: Path) -> None:
    """``tunix-rt serve``: the access line of a request names its id."""
    upgrade(tmp_path)
    with serving(tmp_path) as (url, log, _):
        answer = httpx.get(f"{url}/api/traces", headers={"X-Request-ID": "find-me-7"})
        assert answer.headers["x-request-id"] == "find-me-7"
        httpx.get(f"{url}/api/health")
    lines = log.read_text().splitlines()
    access = [line for line in lines if "GET /api/traces" in line]
    assert access and "[find-me-7]" in access[0], lines[-10:]
    started = [line for line in lines if "Application startup complete" in line]
    assert started and "[-]" in started[0]  # outside a request


# --- security headers and CORS -------------------------------------------------------------


async def test_security_headers(client: httpx.AsyncClient) -> None:
    ui = await client.get("/")
    api = await client.get("/api/health")
    docs = await client.get("/docs")
    for response in (ui, api, docs):
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["x-frame-options"] == "DENY"
        assert response.headers["referrer-policy"] == "no-referrer"
    assert ui.headers["content-security-policy"] == UI_POLICY
    assert "script-src 'self'" in UI_POLICY and "frame-ancestors 'none'" in UI_POLICY
    assert api.headers["content-security-policy"] == "default-src 'none'; frame-ancestors 'none'"
    assert "content-security-policy" not in docs.headers  # Swagger UI runs an inline script


async def test_cors_is_off_by_default(client: httpx.AsyncClient) -> None:
    preflight = await client.options(
        "/api/traces",
        headers={"Origin": "https://ui.example", "Access-Control-Request-Method": "POST"},
    )
    assert "access-control-allow-origin" not in preflight.headers
    plain = await client.get("/api/health", headers={"Origin": "https://ui.example"})
    assert "access-control-allow-origin" not in plain.headers


async def test_cors_origins_setting(app_factory: AppFactory) -> None:
    origin = "https://ui.example"
    async with app_factory(cors_origins=f"{origin}, http://localhost:5173/") as client:
        preflight = await client.options(
            "/api/traces",
            headers={
                "Origin": origin,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "authorization, content-type",
            },
        )
        assert preflight.status_code == 200
        assert preflight.headers["access-control-allow-origin"] == origin
        assert "POST" in preflight.headers["access-control-allow-methods"]
        assert "authorization" in preflight.headers["access-control-allow-headers"].lower()
        read = await client.get("/api/health", headers={"Origin": origin})
        assert read.headers["access-control-allow-origin"] == origin
        assert "x-request-id" in read.headers["access-control-expose-headers"].lower()
        other = await client.get("/api/health", headers={"Origin": "https://evil.example"})
        assert "access-control-allow-origin" not in other.headers


def test_cors_origins_are_validated() -> None:
    assert load_settings(cors_origins=" https://a.example/ ,*").cors_origin_list == [
        "https://a.example",
        "*",
    ]
    for bad in ("a.example", "https://a.example/path", "ftp://a.example"):
        with pytest.raises(SettingsError, match="TUNIX_RT_CORS_ORIGINS"):
            load_settings(cors_origins=bad)
    with pytest.raises(SettingsError, match="TUNIX_RT_RATE_LIMIT_WRITES_PER_MINUTE"):
        load_settings(rate_limit_writes_per_minute=-1)
