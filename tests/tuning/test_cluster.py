"""With ``TUNIX_RT_RAY_ADDRESS`` a tuning job joins that Ray cluster — here a real one
started with ``ray start --head`` beside the test — and its trials run on the cluster's
node (in its Ray workers), not in a Ray of the server's."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.conftest import serve_in_process
from tests.tuning.conftest import TRIAL_BASE, arithmetic_dataset, wait_for_job
from tunix_rt.app import create_app
from tunix_rt.config import Settings
from tunix_rt.training.protocol import parse_event
from tunix_rt.tuning.ray_head import EMBEDDED_RAY

TOKEN = "0123456789abcdef" * 4


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def ray_cluster(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, Path]]:
    """A Ray head started as an operator would (``ray start --head --block``) with token
    auth; (address, its temp dir: session logs name each worker process)."""
    temp = Path(tempfile.mkdtemp(prefix="rtc", dir="/tmp"))  # short: Ray's socket paths
    port = _free_port()
    env = {**os.environ, "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": TOKEN}
    ray_cli = Path(sys.executable).with_name("ray")
    argv = [str(ray_cli), "start", "--head", "--block", f"--port={port}", "--num-cpus=2"]
    argv += ["--include-dashboard=false", "--disable-usage-stats", f"--temp-dir={temp}"]
    proc = subprocess.Popen(
        argv,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    address = f"127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 90
        while not list(temp.glob("session_*/logs/raylet.out")):
            assert proc.poll() is None and time.monotonic() < deadline, "ray start failed"
            time.sleep(0.5)
        # The server's process (and so the job's driver) holds the cluster's token.
        monkeypatch.setenv("RAY_AUTH_MODE", "token")
        monkeypatch.setenv("RAY_AUTH_TOKEN", TOKEN)
        yield address, temp
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:  # `ray start --block` can take long to stop
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        shutil.rmtree(temp, ignore_errors=True)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_a_job_joins_the_configured_cluster_and_its_trials_run_there(
    ray_cluster: tuple[str, Path], tune_settings: Settings
) -> None:
    address, temp = ray_cluster
    embedded_before = EMBEDDED_RAY.pid
    app = create_app(tune_settings.model_copy(update={"ray_address": address}))
    async with serve_in_process(app) as api:
        job = await _one_trial_job(api)
        assert job["status"] == "completed", job
        trial = job["trials"][0]
        assert trial["status"] == "completed" and trial["metric_value"] is not None
        run = (await api.get(f"/api/tunix/runs/{trial['run_id']}")).json()
        log = (await api.get(f"/api/tunix/runs/{job['job_id']}")).json()["stdout"]
    events = [e for e in map(parse_event, log.splitlines()) if e]
    started = next(e for e in events if e["event"] == "ray_started")
    assert started["address"] == address and started["head_seconds"] == 0.0, started
    # The trial's run was executed by one of the cluster's Ray workers (its session logs
    # name each worker's pid), and the server started no Ray of its own for it.
    pid = run["worker_id"].split(":")[2]
    assert list(temp.glob(f"session_*/logs/worker-*-{pid}.out")), run["worker_id"]
    assert EMBEDDED_RAY.pid == embedded_before


async def _one_trial_job(api: httpx.AsyncClient) -> dict[str, object]:
    key = await arithmetic_dataset(api)
    created = await api.post(
        "/api/tuning/jobs",
        json={
            "name": "on-a-cluster",
            "dataset_key": key,
            "model_id": "tunix-rt/tiny-gemma",
            "base": {**TRIAL_BASE, "max_steps": 8},
            "search_space": {"learning_rate": {"type": "choice", "values": [0.003]}},
            "num_trials": 1,
        },
    )
    assert created.status_code == 201, created.text
    return await wait_for_job(api, created.json()["job_id"])
