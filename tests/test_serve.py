"""``tunix-rt serve`` flags, on real server processes: ``--reload`` and ``--no-worker``."""

from __future__ import annotations

import json
import time
import urllib.request
from pathlib import Path
from typing import Any

from tests.server_process import serving, upgrade, wait_healthy


def call(url: str, method: str = "GET", body: Any = None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        url, data=data, method=method, headers={"content-type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def run_status(url: str, run_id: str) -> str:
    status: str = call(f"{url}/api/tunix/runs/{run_id}/status")["status"]
    return status


def test_reload_restarts_on_a_change_and_no_worker_leaves_runs_queued(tmp_path: Path) -> None:
    upgrade(tmp_path)

    # --reload watches the working directory: here, the test's own folder.
    with serving(tmp_path, "--no-worker", "--reload", cwd=tmp_path) as (url, log, proc):
        assert "Started reloader process" in log.read_text()  # uvicorn's reloader is on
        (tmp_path / "changed.py").write_text("X = 1\n")
        deadline = time.monotonic() + 30
        while log.read_text().count("Started server process") < 2:  # a new app process
            assert time.monotonic() < deadline, log.read_text()[-3000:]
            time.sleep(0.2)
        wait_healthy(url, proc, log)
        call(f"{url}/api/generators/arithmetic/generate", "POST", {"count": 12, "seed": 1})
        call(f"{url}/api/datasets/build", "POST", {"dataset_name": "d", "dataset_version": "v1"})
        run = call(
            f"{url}/api/tunix/run?mode=async",
            "POST",
            {"dataset_key": "d-v1", "model_id": "tunix-rt/tiny-gemma", "dry_run": True},
        )
        time.sleep(3)  # a worker would claim it within a poll (it is woken at once)
        assert run_status(url, run["run_id"]) == "pending"

    # The same database served with the default embedded worker: the run is taken.
    with serving(tmp_path) as (url, log, _):
        assert "Started reloader process" not in log.read_text()
        deadline = time.monotonic() + 120
        while run_status(url, run["run_id"]) not in {"completed", "failed"}:
            assert time.monotonic() < deadline, log.read_text()[-3000:]
            time.sleep(0.5)
        assert run_status(url, run["run_id"]) == "completed", log.read_text()[-3000:]
