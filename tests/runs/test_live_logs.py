"""SSE over a real HTTP server while a child writes: a client that drops and reconnects
with Last-Event-ID gets every line exactly once, each within about a second."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import httpx
import pytest
import uvicorn

from tests.runs.conftest import Sessionmaker, add_run
from tests.runs.test_endpoints import parse_sse
from tunix_rt.app import create_app
from tunix_rt.config import Settings, load_settings
from tunix_rt.db import create_engine, create_sessionmaker
from tunix_rt.migrations import upgrade_async
from tunix_rt.models.run import RunLog
from tunix_rt.runs.executor import execute_run
from tunix_rt.runs.logs import event_stream

TICKER = r"""
import time
for i in range(1, 61):
    print(f"line {i} t={time.time():.3f}", flush=True)
    time.sleep(0.05)
"""


@pytest.fixture
async def server_url(run_settings: Settings) -> AsyncIterator[str]:
    config = uvicorn.Config(create_app(run_settings), host="127.0.0.1", port=0, log_level="warning")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110
        await asyncio.sleep(0.05)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await task


async def read_events(
    client: httpx.AsyncClient, url: str, headers: dict[str, str], stop_after: int | None
) -> list[dict[str, object]]:
    """Read SSE events; disconnect after ``stop_after`` log events (None = until the end)."""
    events: list[dict[str, object]] = []
    buffer = ""
    async with client.stream("GET", url, headers=headers) as response:
        assert response.status_code == 200
        async for text in response.aiter_text():
            buffer += text
            while "\n\n" in buffer:
                block, buffer = buffer.split("\n\n", 1)
                for event in parse_sse(block + "\n\n"):
                    event["received"] = time.time()
                    events.append(event)
                logs = [e for e in events if e["event"] == "log"]
                if stop_after is not None and len(logs) >= stop_after:
                    return events
    return events


async def test_reconnecting_with_last_event_id_delivers_every_line_once(
    server_url: str,
    sm: Sessionmaker,
    run_settings: Settings,
    fake_child: Callable[[str], None],
) -> None:
    fake_child(TICKER)
    run = await add_run(sm, run_settings)
    execution = asyncio.create_task(execute_run(sm, run_settings, run.id, worker_id="w1"))
    url = f"{server_url}/api/tunix/runs/{run.id}/logs"
    async with httpx.AsyncClient(timeout=30) as client:
        first = await read_events(client, url, {}, stop_after=15)
        last_id = [e for e in first if e["event"] == "log"][-1]["id"]
        await asyncio.sleep(0.5)  # lines keep arriving while nobody listens
        rest = await read_events(client, url, {"Last-Event-ID": str(last_id)}, stop_after=None)
    await execution
    logs = [e for e in first + rest if e["event"] == "log"]
    seqs = [e["data"]["seq"] for e in logs]  # type: ignore[index]
    assert seqs == list(range(1, len(seqs) + 1)), "a line was lost or repeated"
    chunks = [e["data"]["chunk"] for e in logs]  # type: ignore[index]
    child_lines = [c for c in chunks if isinstance(c, str) and c.startswith("line ")]
    assert [c.split()[1] for c in child_lines] == [str(i) for i in range(1, 61)]
    assert rest[-1]["event"] == "status" and rest[-1]["data"] == {"status": "completed"}
    # Lines read live (the first connection) reached the client within about a second.
    delays = [
        float(e["received"]) - float(str(e["data"]["chunk"]).split("t=")[1])  # type: ignore[index]
        for e in first
        if e["event"] == "log" and str(e["data"]["chunk"]).startswith("line ")  # type: ignore[index]
    ]
    assert delays and max(delays) < 1.5, delays


async def test_a_database_failure_mid_stream_ends_it_with_an_error_event(tmp_path: Path) -> None:
    settings = load_settings(
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'logs.db'}", data_dir=tmp_path
    )
    await upgrade_async(settings.resolved_database_url)
    engine = create_engine(settings)
    sm = create_sessionmaker(engine)
    try:
        run = await add_run(sm, settings, status="running")
        async with sm() as session:
            session.add_all(
                RunLog(run_id=run.id, seq=i, stream="stdout", chunk=f"line {i}") for i in (1, 2, 3)
            )
            await session.commit()
        stream = event_stream(sm, run.id, 0, poll=0.02, heartbeat=30)
        await anext(stream)  # the preamble
        first = [parse_sse(await anext(stream))[0] for _ in range(3)]
        assert [(e["event"], e["data"]["chunk"]) for e in first] == [
            ("log", f"line {i}") for i in (1, 2, 3)
        ]
        # The run is still going, so the stream keeps polling; now the table disappears.
        with sqlite3.connect(tmp_path / "logs.db") as con:
            con.execute("DROP TABLE run_logs")
        error = parse_sse(await asyncio.wait_for(anext(stream), 10))
        assert error[0]["event"] == "error"
        assert "no such table" in error[0]["data"]["message"]
        with pytest.raises(StopAsyncIteration):  # and the stream ends cleanly
            await anext(stream)
    finally:
        await engine.dispose()
