"""Real Tunix runs through the API and the CLI (tiny model, generated arithmetic data).

Nothing here fakes Tunix: each run starts ``python -m tunix_rt.training`` as a child.
"""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from typer.testing import CliRunner

from tests.conftest import serve_in_process
from tests.runs.conftest import Sessionmaker, add_run
from tunix_rt.app import create_app
from tunix_rt.cli import app as cli_app
from tunix_rt.config import Settings
from tunix_rt.generators.arithmetic import generate_arithmetic

TINY = {
    "model_id": "tunix-rt/tiny-gemma",
    "learning_rate": 0.003,
    "num_epochs": 5,
    "batch_size": 8,
    "max_seq_length": 128,
    "seed": 0,
}


async def build_arithmetic_dataset(
    api: httpx.AsyncClient, name: str = "arith", count: int = 64
) -> str:
    traces = generate_arithmetic(count, seed=7, digits=2, ops="+")
    stored = await api.post("/api/traces/batch", json=traces)
    assert stored.status_code == 201, stored.text
    built = await api.post(
        "/api/datasets/build",
        json={
            "dataset_name": name,
            "dataset_version": "v1",
            "limit": count,
            "eval_fraction": 0.125,
            "selection_strategy": "random",
            "seed": 1,
        },
    )
    assert built.status_code == 201, built.text
    key: str = built.json()["dataset_key"]
    return key


async def run_count(api: httpx.AsyncClient) -> int:
    return len((await api.get("/api/tunix/runs", params={"limit": 100})).json()["data"])


def child_pids(config_path: str) -> list[int]:
    """Processes whose command line names this run's config (the training child)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            cmdline = (entry / "cmdline").read_bytes().split(b"\0")
            state = (entry / "stat").read_text().split()[2]
        except OSError:
            continue
        if config_path.encode() in cmdline and state != "Z":
            found.append(int(entry.name))
    return found


async def test_tiny_local_run_trains_and_loss_goes_down(
    api: httpx.AsyncClient, run_settings: Settings
) -> None:
    key = await build_arithmetic_dataset(api)
    response = await api.post(
        "/api/tunix/run",
        json={
            **TINY,
            "dataset_key": key,
            "dry_run": False,
            "max_steps": 60,
            "eval_every": 30,
            "checkpoint_every": 30,
        },
    )
    assert response.status_code == 202, response.text
    run = response.json()
    assert run["status"] == "completed", (run["message"], run["stderr"])
    assert run["mode"] == "local" and run["exit_code"] == 0
    assert run["output_dir"] == str(run_settings.data_dir.resolve() / "runs" / run["run_id"])
    assert run["duration_seconds"] > 0 and run["stdout"]

    metrics = (await api.get(f"/api/tunix/runs/{run['run_id']}/metrics")).json()
    losses = [p["loss"] for p in metrics["data"] if p["loss"] is not None]
    assert len(losses) >= 10
    assert losses[-1] < 0.7 * losses[0], losses
    assert metrics["total_steps"] == 60
    assert any(p["eval_loss"] is not None for p in metrics["data"])
    # Step 1 includes compilation, so throughput is reported from step 2 on.
    train_points = [p for p in metrics["data"] if p["loss"] is not None and p["step"] > 1]
    assert all(p["tokens_per_second"] and p["learning_rate"] is not None for p in train_points)

    listed = (await api.get(f"/api/tunix/runs/{run['run_id']}/artifacts")).json()["artifacts"]
    paths = {a["path"] for a in listed}
    assert "resolved_config.json" in paths and "tokenizer/tokenizer.model" in paths
    assert any(p.startswith("checkpoints/") for p in paths)
    assert any(p.startswith("model/") for p in paths)
    assert {"data/train.jsonl", "data/eval.jsonl"} <= paths
    download = await api.get(
        f"/api/tunix/runs/{run['run_id']}/artifacts/tokenizer/tokenizer.model/download"
    )
    assert download.status_code == 200
    assert download.content == (Path(run["output_dir"]) / "tokenizer/tokenizer.model").read_bytes()


async def test_dry_run_reports_in_seconds(api: httpx.AsyncClient) -> None:
    key = await build_arithmetic_dataset(api)
    started = time.monotonic()
    response = await api.post("/api/tunix/run", json={**TINY, "dataset_key": key})
    assert response.status_code == 202
    run = response.json()
    assert run["status"] == "completed", (run["message"], run["stderr"])
    assert run["mode"] == "dry-run"
    assert run["report"] is not None and run["report"]["event"] == "dry_run"
    assert time.monotonic() - started < 60
    assert not any(
        a["path"].startswith("checkpoints/")
        for a in (await api.get(f"/api/tunix/runs/{run['run_id']}/artifacts")).json()["artifacts"]
    )


async def test_bad_requests_create_nothing(
    api: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = await build_arithmetic_dataset(api)
    unknown = await api.post("/api/tunix/run", json={**TINY, "dataset_key": "nope-v1"})
    assert unknown.status_code == 404 and "nope-v1" in unknown.json()["detail"]
    bad: list[dict[str, Any]] = [
        {"learning_rate": 0},
        {"learning_rate": 2},
        {"num_epochs": 0},
        {"batch_size": 513},
        {"max_seq_length": 40000},
        {"lora_rank": -1},
        {"completion_format": "json"},
        {"method": "grpo"},
        {"surprise": 1},
        {"model_id": "tunix-rt/nope"},
        {"model_id": "google/not-in-any-cache"},
    ]
    for change in bad:
        response = await api.post("/api/tunix/run", json={**TINY, "dataset_key": key, **change})
        assert response.status_code == 422, (change, response.text)
    both = await api.post(
        "/api/tunix/run",
        json={**TINY, "dataset_key": key, "packing": True, "group_by_length": True},
    )
    assert both.status_code == 422 and "packing" in both.text, both.text
    missing_model = await api.post(
        "/api/tunix/run",
        json={**TINY, "dataset_key": key, "model_id": "google/not-in-any-cache"},
    )
    assert "cache" in str(missing_model.json()["detail"]).lower()

    import tunix_rt.training as training

    monkeypatch.setattr(training, "available", lambda: (False, "", "google-tunix is not installed"))
    no_tunix = await api.post("/api/tunix/run", json={**TINY, "dataset_key": key, "dry_run": False})
    assert no_tunix.status_code == 501 and "not installed" in no_tunix.json()["detail"]
    status = (await api.get("/api/tunix/status")).json()
    assert status["available"] is False
    assert await run_count(api) == 0


async def test_output_dir_is_a_name_under_the_runs_folder_never_shared(
    api: httpx.AsyncClient, run_settings: Settings, sm: Sessionmaker, tmp_path: Path
) -> None:
    key = await build_arithmetic_dataset(api)
    first = await api.post(
        "/api/tunix/run", json={**TINY, "dataset_key": key, "output_dir": "my-run"}
    )
    assert first.status_code == 202, first.text
    runs_root = (run_settings.data_dir / "runs").resolve()
    assert first.json()["output_dir"] == str(runs_root / "my-run")
    again = await api.post(
        "/api/tunix/run", json={**TINY, "dataset_key": key, "output_dir": "my-run"}
    )
    assert again.status_code == 409
    dataset_dir = run_settings.data_dir / "datasets" / key
    for bad in (str(tmp_path / "elsewhere"), str(dataset_dir), "../datasets", "a/b", ".hidden"):
        response = await api.post(
            "/api/tunix/run", json={**TINY, "dataset_key": key, "output_dir": bad}
        )
        assert response.status_code == 422, (bad, response.text)
        assert response.json()["detail"][0]["loc"] == ["body", "output_dir"]
    assert await run_count(api) == 1

    # A row from an older version may name any directory: deleting the run leaves it alone.
    legacy = await add_run(sm, run_settings, status="cancelled", output_dir=str(dataset_dir))
    files = sorted(p.name for p in dataset_dir.iterdir())
    listed = await api.get(f"/api/tunix/runs/{legacy.id}/artifacts")
    assert listed.status_code == 404, listed.text
    assert (await api.delete(f"/api/tunix/runs/{legacy.id}")).status_code == 204
    assert sorted(p.name for p in dataset_dir.iterdir()) == files
    assert (await api.get(f"/api/datasets/{key}")).status_code == 200


async def _wait_for(api: httpx.AsyncClient, run_id: str, predicate: Any, limit: float) -> None:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        metrics = (await api.get(f"/api/tunix/runs/{run_id}/metrics")).json()
        if predicate(metrics):
            return
        await asyncio.sleep(0.2)
    raise AssertionError(f"run {run_id} never reached the expected state")


async def test_cancel_a_running_training_ends_the_child_within_the_grace(
    api: httpx.AsyncClient, run_settings: Settings
) -> None:
    key = await build_arithmetic_dataset(api)
    submit = asyncio.create_task(
        api.post(
            "/api/tunix/run",
            json={**TINY, "dataset_key": key, "dry_run": False, "max_steps": 100_000},
        )
    )
    run_id = None
    deadline = time.monotonic() + 60
    while run_id is None:
        assert time.monotonic() < deadline
        data = (await api.get("/api/tunix/runs")).json()["data"]
        run_id = data[0]["run_id"] if data else None
        await asyncio.sleep(0.1)
    await _wait_for(api, run_id, lambda m: len(m["data"]) >= 1, 120)
    config_path = str(run_settings.data_dir.resolve() / "runs" / run_id / "run_config.json")
    assert child_pids(config_path), "the training child should be running"

    cancelled_at = time.monotonic()
    response = await api.post(f"/api/tunix/runs/{run_id}/cancel")
    assert response.status_code == 200
    final = (await asyncio.wait_for(submit, 60)).json()
    took = time.monotonic() - cancelled_at
    assert final["status"] == "cancelled"
    assert took < run_settings.run_cancel_grace_seconds + 2
    assert child_pids(config_path) == []
    detail = (await api.get(f"/api/tunix/runs/{run_id}")).json()
    assert detail["status"] == "cancelled" and "SIGTERM" in detail["stdout"] + str(
        (await api.get(f"/api/tunix/runs/{run_id}/logs")).text
    )
    assert (await api.post(f"/api/tunix/runs/{run_id}/cancel")).status_code == 400
    listed = (await api.get("/api/tunix/runs", params={"status": "cancelled"})).json()
    assert [r["run_id"] for r in listed["data"]] == [run_id]


async def test_timeout_stops_a_real_training(
    api: httpx.AsyncClient, run_settings: Settings
) -> None:
    key = await build_arithmetic_dataset(api)
    response = await api.post(
        "/api/tunix/run",
        json={
            **TINY,
            "dataset_key": key,
            "dry_run": False,
            "max_steps": 100_000,
            "timeout_seconds": 8,
        },
    )
    run = response.json()
    assert run["status"] == "timeout", run["message"]
    assert run["duration_seconds"] < 8 + run_settings.run_cancel_grace_seconds + 5
    config_path = str(Path(run["output_dir"]) / "run_config.json")
    assert child_pids(config_path) == []


def test_cli_submits_the_sft_manifest_yaml_and_shows_the_run(
    run_settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def prepare() -> str:
        async with serve_in_process(create_app(run_settings)) as client:
            key = await build_arithmetic_dataset(client)
            manifest = await client.post(
                "/api/tunix/sft/manifest",
                json={
                    "dataset_key": key,
                    "model_id": "tunix-rt/tiny-gemma",
                    "output_dir": "cli-run",
                    "learning_rate": 0.003,
                    "num_epochs": 1,
                    "batch_size": 8,
                    "max_seq_length": 128,
                },
            )
            assert manifest.status_code == 201, manifest.text
            text: str = manifest.json()["manifest_yaml"]
            return text

    yaml_text = asyncio.run(prepare())
    config = tmp_path / "run.yaml"
    config.write_text(yaml_text)
    monkeypatch.setenv("DATABASE_URL", run_settings.resolved_database_url)
    monkeypatch.setenv("TUNIX_RT_DATA_DIR", str(run_settings.data_dir))
    monkeypatch.setenv("TUNIX_RT_EMBEDDED_WORKER", "false")
    runner = CliRunner()
    submitted = runner.invoke(
        cli_app, ["runs", "submit", "--config", str(config), "--max-steps", "6"]
    )
    assert submitted.exit_code == 0, submitted.output
    assert "completed" in submitted.output
    assert "step" in submitted.output  # the live log was printed

    listed = runner.invoke(cli_app, ["runs", "list", "--kind", "train", "--json"])
    assert listed.exit_code == 0
    run_id = listed.output.split('"run_id": "')[1].split('"')[0]
    uuid.UUID(run_id)
    shown = runner.invoke(cli_app, ["runs", "show", run_id])
    assert shown.exit_code == 0 and '"status": "completed"' in shown.output
    cli_run_dir = (run_settings.data_dir / "runs" / "cli-run").resolve()
    assert str(cli_run_dir) in shown.output
    logs = runner.invoke(cli_app, ["runs", "logs", run_id])
    assert logs.exit_code == 0 and "child exited with code 0" in logs.output
    files = runner.invoke(cli_app, ["runs", "artifacts", run_id])
    assert files.exit_code == 0 and "tokenizer.model" in files.output
    out = tmp_path / "tok.model"
    got = runner.invoke(
        cli_app,
        ["runs", "artifacts", run_id, "--download", "tokenizer/tokenizer.model", "-o", str(out)],
    )
    assert got.exit_code == 0 and out.stat().st_size > 0
    escaped = runner.invoke(cli_app, ["runs", "artifacts", run_id, "--download", "../x"])
    assert escaped.exit_code == 1
    cancel = runner.invoke(cli_app, ["runs", "cancel", run_id])
    assert cancel.exit_code == 1 and "completed" in cancel.output
    assert os.path.isdir(cli_run_dir / "model")
