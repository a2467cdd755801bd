"""RediAI health in real mode against a local stub server, and in mock mode."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from tests.conftest import serve_in_process
from tunix_rt.app import create_app
from tunix_rt.config import Settings
from tunix_rt.integrations.rediai import HttpRediAIClient, MockRediAIClient


class StubRediAI(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.hits: list[str] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(BaseHTTPRequestHandler):
    server: StubRediAI

    def do_GET(self) -> None:
        self.server.hits.append(self.path)
        if self.path == "/slow":
            time.sleep(1.0)
        status = 500 if self.path == "/fail" else 200
        body = b'{"ok": true}'
        try:
            self.send_response(status)
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def stub() -> Iterator[StubRediAI]:
    server = StubRediAI()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}"


async def probe(base: str, path: str, **kwargs: object) -> dict[str, object]:
    client = HttpRediAIClient(base, path, **kwargs)  # type: ignore[arg-type]
    try:
        return (await client.health()).model_dump(exclude_none=True)
    finally:
        await client.aclose()


async def test_healthy(stub: StubRediAI) -> None:
    assert await probe(stub.url, "/health") == {"status": "healthy"}
    assert stub.hits == ["/health"]


async def test_http_error(stub: StubRediAI) -> None:
    assert await probe(stub.url, "/fail") == {"status": "down", "error": "HTTP 500"}


async def test_timeout(stub: StubRediAI) -> None:
    result = await probe(stub.url, "/slow", timeout=0.2)
    assert result == {"status": "down", "error": "Timeout after 0.2s"}


async def test_default_timeout_is_five_seconds_in_the_message(stub: StubRediAI) -> None:
    client = HttpRediAIClient(stub.url, "/x")
    assert client.timeout == 5.0
    await client.aclose()


async def test_connection_refused() -> None:
    result = await probe(closed_port_url(), "/health")
    assert result == {"status": "down", "error": "Connection refused"}


async def test_results_are_cached_for_the_ttl(stub: StubRediAI) -> None:
    now = [100.0]
    client = HttpRediAIClient(stub.url, "/health", ttl=30, clock=lambda: now[0])
    try:
        await client.health()
        now[0] += 29.9
        await client.health()
        assert len(stub.hits) == 1
        now[0] += 0.2
        await client.health()
        assert len(stub.hits) == 2
    finally:
        await client.aclose()


async def test_failures_are_cached_too_and_ttl_zero_disables(stub: StubRediAI) -> None:
    client = HttpRediAIClient(stub.url, "/fail", ttl=30)
    uncached = HttpRediAIClient(stub.url, "/fail", ttl=0)
    try:
        assert (await client.health()).error == "HTTP 500"
        assert (await client.health()).error == "HTTP 500"
        assert len(stub.hits) == 1
        await uncached.health()
        await uncached.health()
        assert len(stub.hits) == 3
    finally:
        await client.aclose()
        await uncached.aclose()


async def test_mock_mode_is_always_healthy_without_network() -> None:
    assert (await MockRediAIClient().health()).status == "healthy"


async def test_endpoint_in_real_mode(settings: Settings, stub: StubRediAI) -> None:
    real = settings.model_copy(
        update={"rediai_mode": "real", "rediai_base_url": stub.url, "rediai_health_path": "/fail"}
    )
    async with serve_in_process(create_app(real)) as client:
        response = await client.get("/api/redi/health")
    assert response.status_code == 200
    assert response.json() == {"status": "down", "error": "HTTP 500"}


async def test_endpoint_in_mock_mode(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/redi/health")
    assert response.status_code == 200
    assert response.json()["status"] == "healthy"
