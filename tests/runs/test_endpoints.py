"""Runs API: every status serializes, cancel/delete rules, artifacts (403 on escapes), SSE."""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from tests.runs.conftest import Sessionmaker, add_run, get_row
from tunix_rt.config import Settings
from tunix_rt.db import utcnow
from tunix_rt.models.run import RUN_STATUSES, Run, RunLog, RunMetric

pytestmark = pytest.mark.filterwarnings("ignore::ResourceWarning")


async def add_lines(sm: Sessionmaker, run_id: uuid.UUID, lines: list[tuple[str, str]]) -> None:
    async with sm() as session:
        for seq, (stream, chunk) in enumerate(lines, start=1):
            session.add(
                RunLog(run_id=run_id, seq=seq, stream=stream, chunk=chunk, created_at=utcnow())
            )
        await session.commit()


def parse_sse(body: str) -> list[dict[str, Any]]:
    events = []
    for block in body.split("\n\n"):
        fields: dict[str, Any] = {}
        for line in block.splitlines():
            if line.startswith(":") or ": " not in line:
                continue
            name, value = line.split(": ", 1)
            fields[name] = value
        if "event" in fields:
            fields["data"] = json.loads(fields["data"])
            events.append(fields)
    return events


async def test_every_status_serializes_in_list_detail_status_and_metrics(
    api: httpx.AsyncClient, sm: Sessionmaker, run_settings: Settings
) -> None:
    ids = {}
    for status in RUN_STATUSES:
        run = await add_run(sm, run_settings, status=status, exit_code=None)
        ids[status] = run.id
    listed = await api.get("/api/tunix/runs", params={"limit": 100})
    assert listed.status_code == 200
    assert sorted(r["status"] for r in listed.json()["data"]) == sorted(RUN_STATUSES)
    for status, run_id in ids.items():
        for suffix in ("", "/status", "/metrics", "/artifacts"):
            response = await api.get(f"/api/tunix/runs/{run_id}{suffix}")
            assert response.status_code == 200, (status, suffix, response.text)
        assert (await api.get(f"/api/tunix/runs/{run_id}")).json()["status"] == status
    filtered = await api.get(
        "/api/tunix/runs", params=[("status", "cancelled"), ("status", "timeout")]
    )
    assert {r["status"] for r in filtered.json()["data"]} == {"cancelled", "timeout"}
    assert (await api.get("/api/tunix/runs", params={"status": "bogus"})).status_code == 422


async def test_list_filters_and_paginates(
    api: httpx.AsyncClient, sm: Sessionmaker, run_settings: Settings
) -> None:
    for i in range(5):
        await add_run(
            sm, run_settings, dataset_key=f"ds-{i % 2}", mode="dry-run" if i < 2 else "local"
        )
    page = (await api.get("/api/tunix/runs", params={"limit": 2})).json()
    assert len(page["data"]) == 2 and page["pagination"]["next_offset"] == 2
    last = (await api.get("/api/tunix/runs", params={"limit": 2, "offset": 4})).json()
    assert len(last["data"]) == 1 and last["pagination"]["next_offset"] is None
    ds = (await api.get("/api/tunix/runs", params={"dataset_key": "ds-1"})).json()
    assert {r["dataset_key"] for r in ds["data"]} == {"ds-1"} and len(ds["data"]) == 2
    dry = (await api.get("/api/tunix/runs", params={"mode": "dry-run"})).json()
    assert len(dry["data"]) == 2


async def test_detail_has_capped_tails_output_dir_and_metrics(
    api: httpx.AsyncClient, sm: Sessionmaker, run_settings: Settings
) -> None:
    run = await add_run(sm, run_settings, status="completed", exit_code=0)
    big = "x" * 1000
    await add_lines(sm, run.id, [("stdout", f"{i} {big}") for i in range(30)] + [("stderr", "e")])
    async with sm() as session:
        session.add(RunMetric(run_id=run.id, step=1, loss=2.0, total_steps=10, created_at=utcnow()))
        await session.commit()
    detail = (await api.get(f"/api/tunix/runs/{run.id}")).json()
    assert len(detail["stdout"].encode()) <= 10 * 1024
    assert detail["stdout"].rstrip("\n").endswith(f"29 {big}")
    assert detail["stderr"] == "e\n"
    assert detail["output_dir"] == run.output_dir
    metrics = (await api.get(f"/api/tunix/runs/{run.id}/metrics")).json()
    assert metrics["total_steps"] == 10 and metrics["data"][0]["loss"] == 2.0


async def test_unknown_run_is_404_everywhere(api: httpx.AsyncClient) -> None:
    missing = uuid.uuid4()
    for method, suffix in [
        ("GET", ""),
        ("GET", "/status"),
        ("GET", "/metrics"),
        ("GET", "/logs"),
        ("GET", "/artifacts"),
        ("GET", "/artifacts/a.txt/download"),
        ("POST", "/cancel"),
        ("DELETE", ""),
    ]:
        response = await api.request(method, f"/api/tunix/runs/{missing}{suffix}")
        assert response.status_code == 404, (method, suffix)


async def test_cancel_rules(
    api: httpx.AsyncClient, sm: Sessionmaker, run_settings: Settings
) -> None:
    pending = await add_run(sm, run_settings)
    response = await api.post(f"/api/tunix/runs/{pending.id}/cancel")
    assert response.status_code == 200 and "message" in response.json()
    assert (await get_row(sm, Run, pending.id)).status == "cancelled"

    running = await add_run(sm, run_settings, status="running")
    assert (await api.post(f"/api/tunix/runs/{running.id}/cancel")).status_code == 200
    assert (await get_row(sm, Run, running.id)).status == "cancel_requested"
    again = await api.post(f"/api/tunix/runs/{running.id}/cancel")
    assert again.status_code == 200 and "already" in again.json()["message"]

    for status in ("completed", "failed", "timeout", "cancelled"):
        done = await add_run(sm, run_settings, status=status)
        response = await api.post(f"/api/tunix/runs/{done.id}/cancel")
        assert response.status_code == 400, status
        assert status in response.json()["detail"]


async def test_delete_only_finished_runs_and_their_files(
    api: httpx.AsyncClient, sm: Sessionmaker, run_settings: Settings
) -> None:
    running = await add_run(sm, run_settings, status="running")
    assert (await api.delete(f"/api/tunix/runs/{running.id}")).status_code == 409
    done = await add_run(sm, run_settings, status="completed")
    (Path(done.output_dir) / "model").mkdir()
    (Path(done.output_dir) / "model" / "w.bin").write_bytes(b"123")
    await add_lines(sm, done.id, [("stdout", "hi")])
    assert (await api.delete(f"/api/tunix/runs/{done.id}")).status_code == 204
    assert not os.path.exists(done.output_dir)  # noqa: ASYNC240
    assert (await api.get(f"/api/tunix/runs/{done.id}")).status_code == 404


async def raw_get(app: FastAPI, path: str) -> int:
    """Send a path exactly as given (httpx would normalise '..' away before sending)."""
    status: dict[str, int] = {}

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            status["code"] = message["status"]

    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "root_path": "",
        "headers": [(b"host", b"localhost")],
        "client": ("127.0.0.1", 1),
        "server": ("test", 80),
        "state": {},
    }
    await app(scope, receive, send)
    return status["code"]


async def test_artifacts_list_download_and_every_escape_is_403(
    api: httpx.AsyncClient,
    run_app: FastAPI,
    sm: Sessionmaker,
    run_settings: Settings,
    tmp_path: Path,
) -> None:
    run = await add_run(sm, run_settings, status="completed")
    root = Path(run.output_dir)
    (root / "checkpoints" / "5").mkdir(parents=True)
    (root / "checkpoints" / "5" / "params.bin").write_bytes(b"\x00" * 10)
    (root / "resolved_config.json").write_text("{}")
    secret = tmp_path / "secret.txt"
    secret.write_text("top secret")
    os.symlink(secret, root / "escape.txt")
    os.symlink(tmp_path, root / "escape_dir")
    os.symlink(root / "resolved_config.json", root / "inside_link.json")

    listed = (await api.get(f"/api/tunix/runs/{run.id}/artifacts")).json()["artifacts"]
    paths = {a["path"]: a for a in listed}
    assert set(paths) == {"checkpoints/5/params.bin", "resolved_config.json", "inside_link.json"}
    assert paths["checkpoints/5/params.bin"] == {
        "name": "params.bin",
        "size": 10,
        "path": "checkpoints/5/params.bin",
    }

    base = f"/api/tunix/runs/{run.id}/artifacts"
    ok = await api.get(f"{base}/checkpoints/5/params.bin/download")
    assert ok.status_code == 200 and ok.content == b"\x00" * 10
    assert (await api.get(f"{base}/inside_link.json/download")).status_code == 200
    assert (await api.get(f"{base}/nope.txt/download")).status_code == 404

    escapes = [
        f"{base}/escape.txt/download",
        f"{base}/escape_dir/secret.txt/download",
        f"{base}/%2e%2e/%2e%2e/secret.txt/download",
        f"{base}/%252e%252e/secret.txt/download",
        f"{base}/%2Fetc%2Fpasswd/download",
        f"{base}/..%2F..%2Fsecret.txt/download",
        f"{base}/checkpoints%5C..%5C..%5Csecret.txt/download",
    ]
    for url in escapes:
        response = await api.get(url)
        assert response.status_code == 403, (url, response.status_code)
        assert b"top secret" not in response.content
    for raw in (
        f"{base}/../../../secret.txt/download",
        f"{base}/checkpoints/../../x/download",
        f"{base}//etc/passwd/download",
    ):
        assert await raw_get(run_app, raw) == 403, raw


async def test_logs_sse_from_a_finished_run_and_resume_points(
    api: httpx.AsyncClient, sm: Sessionmaker, run_settings: Settings
) -> None:
    run = await add_run(sm, run_settings, status="completed")
    await add_lines(sm, run.id, [("stdout", f"line {i}") for i in range(1, 6)])
    url = f"/api/tunix/runs/{run.id}/logs"
    response = await api.get(url)
    assert response.headers["content-type"].startswith("text/event-stream")
    events = parse_sse(response.text)
    assert [e["event"] for e in events] == ["log"] * 5 + ["status"]
    assert [e["id"] for e in events[:5]] == ["1", "2", "3", "4", "5"]
    assert events[0]["data"]["chunk"] == "line 1" and events[0]["data"]["stream"] == "stdout"
    assert events[-1]["data"] == {"status": "completed"}
    after = parse_sse((await api.get(url, params={"since_seq": 3})).text)
    assert [e["data"].get("seq") for e in after] == [4, 5, None]
    resumed = parse_sse((await api.get(url, headers={"Last-Event-ID": "4"})).text)
    assert [e["data"].get("seq") for e in resumed] == [5, None]


async def test_tunix_status_reports_real_versions(api: httpx.AsyncClient) -> None:
    body = (await api.get("/api/tunix/status")).json()
    assert body["available"] is True
    assert body["version"] and body["version"][0].isdigit()
    assert body["jax_version"] and body["jax_version"][0].isdigit()


async def test_sse_sends_heartbeats_while_idle_then_the_final_status(
    sm: Sessionmaker, run_settings: Settings
) -> None:
    from tunix_rt.runs.logs import event_stream

    run = await add_run(sm, run_settings, status="running")
    stream = event_stream(sm, run.id, 0, poll=0.05, heartbeat=0.2)
    assert (await anext(stream)).startswith("retry: ")
    beat = parse_sse(await anext(stream))
    assert beat == [{"id": "0", "event": "heartbeat", "data": {"seq": 0}}]
    await add_lines(sm, run.id, [("stdout", "first")])
    line = parse_sse(await anext(stream))
    assert line[0]["event"] == "log" and line[0]["data"]["chunk"] == "first"
    async with sm() as session:
        row = await session.get(Run, run.id)
        assert row is not None
        row.status = "failed"
        await session.commit()
    rest = []
    async for chunk in stream:
        rest.extend(parse_sse(chunk))
    assert rest[-1] == {"event": "status", "data": {"status": "failed"}}
    assert all(e["event"] == "heartbeat" for e in rest[:-1])
