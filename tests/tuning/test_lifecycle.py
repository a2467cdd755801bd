"""A tuning job's lifecycle: cancel stops its running trials within seconds; a server
killed mid-job leaves no training child behind and, restarted, the job runs its
remaining trials (nothing stays running)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import time
import urllib.request
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.runs.test_executor import alive
from tests.runs.test_training import child_pids
from tests.server_process import serving
from tests.tuning.conftest import TRIAL_BASE, arithmetic_dataset, wait_for_job
from tunix_rt.generators.arithmetic import generate_arithmetic


async def _running_trial(api: httpx.AsyncClient, job_id: str, limit: float = 120) -> dict[str, Any]:
    """The first trial whose run is training (it has reported a step)."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        job = (await api.get(f"/api/tuning/jobs/{job_id}")).json()
        for trial in job["trials"]:
            if trial["status"] == "running":
                points = (await api.get(f"/api/tunix/runs/{trial['run_id']}/metrics")).json()
                if points["data"]:
                    return dict(trial)
        await asyncio.sleep(0.5)
    raise AssertionError(f"no trial of job {job_id} started training")


async def test_cancel_stops_the_running_trial_within_seconds(api: httpx.AsyncClient) -> None:
    key = await arithmetic_dataset(api)
    created = await api.post(
        "/api/tuning/jobs",
        json={
            "name": "long",
            "dataset_key": key,
            "model_id": "tunix-rt/tiny-gemma",
            "base": {**TRIAL_BASE, "max_steps": 100_000, "eval_every": 50},
            "search_space": {"learning_rate": {"type": "choice", "values": [0.003, 0.01]}},
            "num_trials": 2,
        },
    )
    assert created.status_code == 201, created.text
    job_id = created.json()["job_id"]
    trial = await _running_trial(api, job_id)
    run = (await api.get(f"/api/tunix/runs/{trial['run_id']}")).json()
    config = f"{run['output_dir']}/run_config.json"
    assert child_pids(config), "the trial's training child should be running"

    started = time.monotonic()
    cancelled = await api.post(f"/api/tuning/jobs/{job_id}/cancel")
    assert cancelled.status_code == 200, cancelled.text
    job = await wait_for_job(api, job_id, limit=30)
    assert time.monotonic() - started < 20
    assert job["status"] == "cancelled", job
    assert [t["status"] for t in job["trials"]] == ["cancelled"], json.dumps(job["trials"])
    run = (await api.get(f"/api/tunix/runs/{trial['run_id']}")).json()
    assert run["message"] == "its tuning job was cancelled"
    assert not child_pids(config)
    # The driver waited for its trial's run to end (its own SIGTERM handler, not Ray's).
    driver_log = (await api.get(f"/api/tunix/runs/{job_id}")).json()["stdout"]
    assert "stopping the trials" in driver_log, driver_log[-2000:]
    again = await api.post(f"/api/tuning/jobs/{job_id}/cancel")
    assert again.status_code == 400


def _call(url: str, method: str = "GET", body: Any = None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        url, data=data, method=method, headers={"content-type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def _wait(predicate: Any, limit: float, what: str) -> Any:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.5)
    raise AssertionError(what)


def test_a_killed_server_resumes_the_job_and_leaves_no_orphans(
    clean_db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A short lease, so the restarted server finds the dead attempt within seconds.
    monkeypatch.setenv("TUNIX_RT_QUEUE_LEASE_SECONDS", "4")
    monkeypatch.setenv("TUNIX_RT_QUEUE_HEARTBEAT_SECONDS", "1")
    monkeypatch.setenv("TUNIX_RT_EVAL_MAX_NEW_TOKENS", "24")
    data_dir = tmp_path / "var"
    data_dir.mkdir()
    # Each backend's migrated test database (SQLite file or Postgres), as in the other
    # tests; the server and its restart both use it.
    with serving(data_dir, database_url=clean_db) as (url, _log, proc):
        _call(f"{url}/api/traces/batch", "POST", generate_arithmetic(48, seed=3, digits=1))
        key = _call(
            f"{url}/api/datasets/build",
            "POST",
            {
                "dataset_name": "crash",
                "dataset_version": "v1",
                "limit": 48,
                "eval_fraction": 0.2,
                "selection_strategy": "random",
                "seed": 1,
            },
        )["dataset_key"]
        job_id = _call(
            f"{url}/api/tuning/jobs",
            "POST",
            {
                "name": "crash",
                "dataset_key": key,
                "model_id": "tunix-rt/tiny-gemma",
                "base": {**TRIAL_BASE, "max_steps": 240, "eval_every": 80},
                "search_space": {"learning_rate": {"type": "choice", "values": [0.003]}},
                "num_trials": 2,
            },
        )["job_id"]

        def training() -> dict[str, Any] | None:
            job = _call(f"{url}/api/tuning/jobs/{job_id}")
            for trial in job["trials"]:
                metrics = f"{url}/api/tunix/runs/{trial['run_id']}/metrics"
                if trial["status"] == "running" and _call(metrics)["data"]:
                    return dict(trial)
            return None

        trial = _wait(training, 120, "no trial started training")
        run = _call(f"{url}/api/tunix/runs/{trial['run_id']}")
        child = child_pids(f"{run['output_dir']}/run_config.json")
        driver = child_pids(f"{data_dir.resolve()}/runs/{job_id}/tune_config.json")
        # The server's embedded Ray: its holder and every process of the holder's group
        # (Ray's daemons and workers, the trial's Ray worker among them).
        holder = [p for p in child_pids("tunix_rt.tuning.ray_head") if _parent_arg(p) == proc.pid]
        assert len(holder) == 1, holder
        ray_group = group_members(os.getpgid(holder[0]))
        assert len(ray_group) > 2, ray_group
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()

    # Nothing keeps running on its own: the training child, the Ray driver and the
    # embedded Ray (all in their own sessions) stop themselves.
    survivors = [*child, *driver, *ray_group]
    try:
        _wait(lambda: not any(alive(p) for p in survivors), 30, "")
    except AssertionError:
        left = {p: _describe(p) for p in survivors if alive(p)}
        raise AssertionError(f"outlived the server: {left}") from None

    with serving(data_dir, database_url=clean_db) as (url, _log, _proc):

        def finished() -> dict[str, Any] | None:
            job = _call(f"{url}/api/tuning/jobs/{job_id}")
            return dict(job) if job["status"] in ("completed", "failed", "cancelled") else None

        job = _wait(finished, 300, "the restarted job never finished")
        assert job["status"] == "completed", job
        statuses = [t["status"] for t in job["trials"]]
        assert statuses.count("completed") == 2, job["trials"]
        interrupted = next(t for t in job["trials"] if t["trial_id"] == trial["trial_id"])
        assert interrupted["status"] == "failed"
        run = _call(f"{url}/api/tunix/runs/{interrupted['run_id']}")
        assert run["status"] == "failed" and run["message"], run
        assert "running" not in statuses and "cancel_requested" not in statuses
        assert _call(f"{url}/api/tunix/runs/{job_id}")["attempt"] >= 1


def _parent_arg(pid: int) -> int | None:
    args = Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")
    return int(args[args.index("--parent") + 1]) if "--parent" in args else None


def group_members(pgid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(stat[2]) == pgid and stat[0] != "Z":
                found.append(int(entry.name))
    return found


def _describe(pid: int) -> str:
    stat = Path(f"/proc/{pid}/stat").read_text().split()
    cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    return f"ppid {stat[3]} pgrp {stat[4]}: {cmdline[:200]}"
