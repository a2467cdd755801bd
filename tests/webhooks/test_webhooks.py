"""Webhooks (issue 15 line 11): outbox rows written when a run ends, HMAC-signed POSTs,
retries with back-off, a visible delivery log; SQLite and Postgres."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import httpx
import pytest

from tests.runs.conftest import Sessionmaker, add_run
from tests.runs.test_training import build_arithmetic_dataset
from tunix_rt.config import Settings
from tunix_rt.webhooks import service

SECRET = "s3cret-s3cret-s3cret"


class Receiver:
    """A local HTTP endpoint answering the statuses in ``script`` in turn (then 200)."""

    def __init__(self, script: list[int]) -> None:
        self.script = list(script)
        self.received: list[dict[str, Any]] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.received.append({"headers": dict(self.headers), "body": body})
                code = receiver.script.pop(0) if receiver.script else 200
                self.send_response(code)
                self.end_headers()
                self.wfile.write(b"ok" if code < 300 else b"boom")

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    made = Receiver([500])
    try:
        yield made
    finally:
        made.close()


async def _hook(api: httpx.AsyncClient, url: str, name: str = "ci", **extra: Any) -> None:
    response = await api.post(
        "/api/webhooks", json={"name": name, "url": url, "secret": SECRET, **extra}
    )
    assert response.status_code == 201, response.text
    assert "secret" not in response.json()


async def test_a_cancelled_run_is_delivered_signed_after_a_retry(
    api: httpx.AsyncClient,
    sm: Sessionmaker,
    run_settings: Settings,
    receiver: Receiver,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(service, "FIRST_RETRY_SECONDS", 0.0)
    await _hook(api, receiver.url)
    await _hook(api, receiver.url, name="only-completed", events=["run.completed"])
    run = await add_run(sm, run_settings, status="pending")
    assert (await api.post(f"/api/tunix/runs/{run.id}/cancel")).status_code == 200

    log = (await api.get("/api/webhooks/ci/deliveries")).json()["data"]
    assert [(d["event"], d["status"], d["attempts"]) for d in log] == [
        ("run.cancelled", "pending", 0)
    ]
    assert (await api.get("/api/webhooks/only-completed/deliveries")).json()["data"] == []

    assert await service.deliver_due(sm) == 1  # the receiver answers 500 first
    first = (await api.get("/api/webhooks/ci/deliveries")).json()["data"][0]
    assert (first["status"], first["attempts"], first["last_status_code"]) == ("pending", 1, 500)
    assert "HTTP 500" in first["last_error"]
    assert await service.deliver_due(sm) == 1
    done = (await api.get("/api/webhooks/ci/deliveries")).json()["data"][0]
    assert (done["status"], done["attempts"], done["last_status_code"]) == ("delivered", 2, 200)
    assert done["delivered_at"] is not None and done["last_error"] is None
    assert await service.deliver_due(sm) == 0  # nothing left

    assert len(receiver.received) == 2
    request = receiver.received[-1]
    body, headers = request["body"], request["headers"]
    expected = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    assert headers["X-TunixRT-Signature"] == expected
    assert headers["X-TunixRT-Event"] == "run.cancelled"
    assert headers["X-TunixRT-Delivery"] == done["id"]
    payload = json.loads(body)
    assert payload["event"] == "run.cancelled"
    assert (payload["run"]["run_id"], payload["run"]["status"]) == (str(run.id), "cancelled")


async def test_a_delivery_gives_up_after_the_last_attempt(
    api: httpx.AsyncClient, sm: Sessionmaker, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(service, "FIRST_RETRY_SECONDS", 0.0)
    monkeypatch.setattr(service, "MAX_ATTEMPTS", 2)
    down = Receiver([503, 503, 503])
    try:
        await _hook(api, down.url)
        assert (await api.post("/api/webhooks/ci/ping")).status_code == 202
        assert await service.deliver_due(sm) == 1
        assert await service.deliver_due(sm) == 1
        assert await service.deliver_due(sm) == 0
        log = (await api.get("/api/webhooks/ci/deliveries")).json()["data"]
        assert [(d["event"], d["status"], d["attempts"]) for d in log] == [("ping", "failed", 2)]
        assert log[0]["last_status_code"] == 503
    finally:
        down.close()


async def test_a_run_that_ends_through_the_executor_is_sent_by_the_worker(
    app_factory: Any, receiver: Receiver
) -> None:
    receiver.script = []  # answer 200 at once
    async with app_factory(embedded_worker=True, run_poll_seconds=0.2) as api:
        await _hook(api, receiver.url, events=["run.completed"])
        key = await build_arithmetic_dataset(api)
        run = await api.post(
            "/api/tunix/run",
            json={"dataset_key": key, "model_id": "tunix-rt/tiny-gemma", "dry_run": True},
        )
        assert run.status_code == 202 and run.json()["status"] == "completed", run.text
        for _ in range(100):
            log = (await api.get("/api/webhooks/ci/deliveries")).json()["data"]
            if log and log[0]["status"] == "delivered":
                break
            await asyncio.sleep(0.1)
        assert [(d["event"], d["status"]) for d in log] == [("run.completed", "delivered")]
    payload = json.loads(receiver.received[0]["body"])
    assert payload["run"]["run_id"] == run.json()["run_id"]
    assert payload["run"]["mode"] == "dry-run"


@pytest.mark.parametrize(
    ("body", "status", "field"),
    [
        ({"url": "ftp://x/y"}, 422, "url"),
        ({"url": "not a url"}, 422, "url"),
        ({"secret": "short"}, 422, "secret"),
        ({"events": ["run.exploded"]}, 422, "events"),
        ({"name": "bad name"}, 422, "name"),
    ],
)
async def test_bad_webhooks_name_the_field(
    api: httpx.AsyncClient, body: dict[str, Any], status: int, field: str
) -> None:
    full = {"name": "ci", "url": "http://127.0.0.1:9/x", "secret": SECRET, **body}
    response = await api.post("/api/webhooks", json=full)
    assert response.status_code == status, response.text
    assert field in json.dumps(response.json()["detail"])
    assert (await api.get("/api/webhooks")).json()["data"] == []


async def test_names_are_unique_and_unknown_ones_are_404(api: httpx.AsyncClient) -> None:
    await _hook(api, "http://127.0.0.1:9/x")
    again = await api.post(
        "/api/webhooks", json={"name": "ci", "url": "http://127.0.0.1:9/x", "secret": SECRET}
    )
    assert again.status_code == 409
    assert (await api.get("/api/webhooks/nope/deliveries")).status_code == 404
    assert (await api.post("/api/webhooks/nope/ping")).status_code == 404
    assert (await api.delete("/api/webhooks/nope")).status_code == 404
    assert (await api.delete("/api/webhooks/ci")).status_code == 204
    assert (await api.get("/api/webhooks")).json()["data"] == []


def test_the_cli_adds_lists_pings_and_removes(
    run_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    from typer.testing import CliRunner

    from tunix_rt.cli import app as cli_app

    monkeypatch.setenv("DATABASE_URL", run_settings.resolved_database_url)
    monkeypatch.setenv("TUNIX_RT_DATA_DIR", str(run_settings.data_dir))
    runner = CliRunner()
    added = runner.invoke(
        cli_app,
        [
            "webhooks",
            "add",
            "ci",
            "--url",
            "http://127.0.0.1:9/x",
            "--secret",
            SECRET,
            "--event",
            "run.failed",
        ],
    )
    assert added.exit_code == 0, added.output
    assert "run.failed" in added.output
    bad = runner.invoke(cli_app, ["webhooks", "add", "x", "--url", "ftp://h/", "--secret", SECRET])
    assert bad.exit_code == 2 and "url" in bad.output
    listed = runner.invoke(cli_app, ["webhooks", "list", "--json"])
    assert listed.exit_code == 0 and '"ci"' in listed.output and SECRET not in listed.output
    assert runner.invoke(cli_app, ["webhooks", "ping", "ci"]).exit_code == 0
    log = runner.invoke(cli_app, ["webhooks", "deliveries", "ci"])
    assert log.exit_code == 0 and "ping" in log.output and "pending" in log.output
    assert runner.invoke(cli_app, ["webhooks", "remove", "ci"]).exit_code == 0
    assert runner.invoke(cli_app, ["webhooks", "remove", "ci"]).exit_code == 1
