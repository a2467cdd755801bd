"""The request guard in front of every route: Host check, JSON content types, a body
limit on every endpoint (413 whether or not the client sent a Content-Length), and the
constrained strings and JSON depth limit that keep hostile values away from queries."""

from __future__ import annotations

import http.client
import json
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import make_trace
from tests.server_process import serving, upgrade

ClientFactory = Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]


async def test_host_header_must_name_this_server(app_factory: ClientFactory) -> None:
    async with app_factory() as client:
        for host in ("localhost", "127.0.0.1:8000", "[::1]:8000", "LOCALHOST"):
            response = await client.get("/api/health", headers={"host": host})
            assert response.status_code == 200, host
        rebound = await client.get("/api/traces", headers={"host": "evil.example:8000"})
        assert rebound.status_code == 400
        assert "TUNIX_RT_ALLOWED_HOSTS" in rebound.json()["detail"]
        write = await client.post(
            "/api/traces", json=make_trace(), headers={"host": "evil.example"}
        )
        assert write.status_code == 400
        assert (await client.get("/api/traces/count")).json()["count"] == 0
    async with app_factory(allowed_hosts="tunix.internal, other.example") as client:
        for host in ("tunix.internal", "other.example:80", "localhost"):
            response = await client.get("/api/health", headers={"host": host})
            assert response.status_code == 200, host
        assert (await client.get("/api/health", headers={"host": "x.example"})).status_code == 400
    async with app_factory(allowed_hosts="*") as client:
        response = await client.get("/api/health", headers={"host": "anything.example"})
        assert response.status_code == 200


@pytest.mark.parametrize(
    ("path", "content_type"),
    [
        ("/api/traces", "text/plain"),
        ("/api/traces", "application/x-www-form-urlencoded"),
        ("/api/traces", "multipart/form-data; boundary=x"),
        ("/api/traces", None),
        ("/api/eval-sets/import?name=x", "text/plain"),
        ("/api/eval-sets/import?name=x", "application/json"),
        ("/api/tunix/run", "text/plain"),
    ],
)
async def test_a_body_must_declare_the_type_its_route_reads(
    client: httpx.AsyncClient, path: str, content_type: str | None
) -> None:
    """A browser sends a cross-site form or text/plain body without asking first; none of
    them may reach a route (415), and nothing is stored."""
    body = json.dumps(make_trace()).encode()
    headers = {"content-type": content_type} if content_type else {}
    response = await client.post(path, content=body, headers=headers)
    assert response.status_code == 415, response.text
    assert "content-type must be" in response.json()["detail"]
    assert (await client.get("/api/traces/count")).json()["count"] == 0
    assert (await client.get("/api/eval-sets")).json()["data"] == []


async def test_json_with_a_charset_or_a_json_suffix_is_accepted(client: httpx.AsyncClient) -> None:
    for content_type in ("application/json; charset=utf-8", "application/vnd.api+json"):
        response = await client.post(
            "/api/traces",
            content=json.dumps(make_trace()).encode(),
            headers={"content-type": content_type},
        )
        assert response.status_code == 201, (content_type, response.text)


async def test_every_endpoint_has_a_body_limit(app_factory: ClientFactory) -> None:
    async with app_factory(request_max_bytes=4096) as client:
        big = {"dataset_key": "ds-v1", "model_id": "tunix-rt/tiny-gemma", "pad": "x" * 5000}
        response = await client.post("/api/tunix/run", json=big)
        assert response.status_code == 413
        assert "4096 bytes" in response.json()["detail"]

        async def chunks() -> AsyncIterator[bytes]:
            for _ in range(10):
                yield b" " * 1000

        chunked = await client.post(
            "/api/regression/check",
            content=chunks(),
            headers={"content-type": "application/json"},
        )
        assert chunked.status_code == 413
        # Routes with their own limit keep it (a trace may be bigger than the default).
        trace = make_trace(steps=3, step_len=2000)
        assert (await client.post("/api/traces", json=trace)).status_code == 201


def _send_raw(base_url: str, path: str, body_size: int, *, chunked: bool) -> tuple[int, bytes]:
    """POST ``body_size`` bytes over a real socket (with a Content-Length, or chunked)."""
    host, port = base_url.removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=60)
    try:
        payload = b"x" * body_size
        headers = {"content-type": "application/json", "host": "localhost"}
        if chunked:
            conn.request(
                "POST",
                path,
                body=iter([payload[i : i + 65536] for i in range(0, body_size, 65536)]),
                headers=headers,
                encode_chunked=True,
            )
        else:
            conn.request("POST", path, body=payload, headers=headers)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def test_an_oversized_body_gets_a_413_answer_over_a_real_socket(tmp_path: Path) -> None:
    """With a Content-Length the server used to answer before reading and close, so the
    client saw a connection reset instead of the 413; chunked or not, it now reads it."""
    data_dir = tmp_path / "var"
    upgrade(data_dir)
    with serving(data_dir, "--no-worker") as (url, _log, _proc):
        for chunked in (False, True):
            status, body = _send_raw(url, "/api/tunix/run", 8 * 1_048_576, chunked=chunked)
            assert status == 413, (chunked, body[:200])
            assert b"exceeds the limit" in body
        status, _ = _send_raw(url, "/api/traces/batch", 1000, chunked=False)
        assert status == 422  # under the limit: the route reads it (and refuses the JSON)


async def test_nul_in_any_name_key_or_path_is_422_naming_it(client: httpx.AsyncClient) -> None:
    nul = "a\u0000b"
    cases: list[tuple[str, str, dict[str, Any], list[Any]]] = [
        ("GET", "/api/datasets/a%00b", {}, ["path", "dataset_key"]),
        ("DELETE", "/api/datasets/a%00b", {}, ["path", "dataset_key"]),
        ("GET", "/api/eval-sets/a%00b", {}, ["path", "name"]),
        ("GET", "/api/regression/baselines/a%00b", {}, ["path", "name"]),
        ("GET", "/api/tunix/runs", {"params": {"dataset_key": nul}}, ["query", "dataset_key"]),
        ("GET", "/api/tunix/evaluations", {"params": {"model_id": nul}}, ["query", "model_id"]),
        (
            "POST",
            "/api/tunix/run",
            {"json": {"dataset_key": nul, "model_id": "tunix-rt/tiny-gemma"}},
            ["body", "dataset_key"],
        ),
        (
            "POST",
            "/api/tunix/run",
            {"json": {"dataset_key": "d", "model_id": "tunix-rt/tiny-gemma", "output_dir": nul}},
            ["body", "output_dir"],
        ),
        (
            "POST",
            "/api/regression/check",
            {"json": {"run_id": "00000000-0000-0000-0000-000000000000", "baseline_name": nul}},
            ["body", "baseline_name"],
        ),
    ]
    for method, path, kwargs, loc in cases:
        response = await client.request(method, path, **kwargs)
        assert response.status_code == 422, (method, path, response.text)
        assert loc in [e["loc"] for e in response.json()["detail"]], (path, response.text)
    assert (await client.get("/api/tunix/runs")).json()["data"] == []


@pytest.mark.parametrize("depth", [33, 256, 900])
async def test_meta_nested_too_deep_is_refused_on_every_write_path(
    client: httpx.AsyncClient, depth: int
) -> None:
    meta: dict[str, Any] = {"leaf": True}
    for _ in range(depth - 1):
        meta = {"k": meta}
    single = await client.post("/api/traces", json=make_trace(meta=meta))
    assert single.status_code == 422, single.text
    assert single.json()["detail"][0]["loc"][:2] == ["body", "meta"]
    assert "deeper than 32" in single.text
    batch = await client.post("/api/traces/batch", json=[make_trace(), make_trace(meta=meta)])
    assert batch.status_code == 422, batch.text
    assert batch.json()["detail"][0]["loc"][:3] == ["body", 1, "meta"]
    assert (await client.get("/api/traces/count")).json()["count"] == 0


async def test_meta_at_the_depth_limit_is_stored_and_read_back(client: httpx.AsyncClient) -> None:
    meta: dict[str, Any] = {"leaf": [1, 2]}
    for _ in range(30):
        meta = {"k": meta}
    for path, body in (
        ("/api/traces", make_trace(meta=meta)),
        ("/api/traces/batch", [make_trace(meta=meta)]),
    ):
        created = await client.post(path, json=body)
        assert created.status_code == 201, created.text
    listed = (await client.get("/api/traces")).json()["data"]
    for item in listed:
        got = await client.get(f"/api/traces/{item['id']}")
        assert got.status_code == 200 and got.json()["payload"]["meta"] == meta
