"""GRPO runs (SPEC §10) through the API: real Tunix GRPO from a real tiny SFT run.

Nothing here fakes Tunix: the SFT run and the GRPO run each start ``python -m
tunix_rt.training`` as a child; GRPO samples through the product's decoder as Tunix's rollout
engine (tests/training/test_generate.py checks it against Tunix's own) and trains with
``tunix.rl.grpo``'s learner.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from tests.conftest import serve_in_process
from tests.runs.conftest import Sessionmaker, add_run
from tests.runs.test_training import TINY, build_arithmetic_dataset, child_pids, run_count
from tunix_rt.app import create_app
from tunix_rt.cli import app as cli_app
from tunix_rt.config import Settings
from tunix_rt.models.run import Run

GRPO = {
    "algorithm": "grpo",
    "dry_run": False,
    "batch_size": 2,
    "max_seq_length": 128,
    "learning_rate": 1e-4,
    "num_generations": 2,
    "max_new_tokens": 64,
    "temperature": 1.0,
    "beta": 0.04,
    "rewards": {"answer_correctness": 1.0, "format": 0.2, "step_validity": 0.3},
}


async def sft_run(api: httpx.AsyncClient, key: str, steps: int = 60) -> dict[str, Any]:
    response = await api.post(
        "/api/tunix/run", json={**TINY, "dataset_key": key, "dry_run": False, "max_steps": steps}
    )
    assert response.status_code == 202, response.text
    run: dict[str, Any] = response.json()
    assert run["status"] == "completed", (run["message"], run["stderr"])
    return run


async def test_a_grpo_run_continues_an_sft_run_logs_rewards_and_is_evaluated(
    api: httpx.AsyncClient, sm: Sessionmaker
) -> None:
    key = await build_arithmetic_dataset(api)
    parent = await sft_run(api, key)

    response = await api.post(
        "/api/tunix/run",
        json={
            **GRPO,
            "dataset_key": key,
            "init_from": {"run_id": parent["run_id"]},
            "max_steps": 3,
            "checkpoint_every": 2,
            "filter_samples": 3,
        },
        timeout=600,
    )
    assert response.status_code == 202, response.text
    run = response.json()
    assert run["status"] == "completed", (run["message"], run["stderr"])
    assert run["model_id"] == parent["model_id"] == TINY["model_id"]
    assert run["config"]["algorithm"] == "grpo"
    assert run["config"]["init_from"] == {"run_id": parent["run_id"]}
    assert "GRPO 3 steps: 2 prompts × 2 completions" in run["stdout"]
    assert "rollouts by the decoder" in run["stdout"]
    # Screened first: 3 samples of each prompt, kept where their rewards differ, until the
    # 6 prompts the steps need are found or every prompt was screened; the choice is saved
    # for a resumed attempt.
    screened = json.loads((Path(run["output_dir"]) / "grpo_prompts.json").read_text())
    n_train = json.loads((Path(run["output_dir"]) / "resolved_config.json").read_text())["n_train"]
    assert screened["samples"] == 3, screened
    if not screened["kept"]:  # the tiny parent sampled alike everywhere: the documented fallback
        assert "training on every prompt" in run["stdout"]
    assert len(screened["kept"]) >= 6 or screened["screened"] == n_train, screened
    assert len(set(screened["kept"])) == len(screened["kept"])
    assert all(0 <= i < n_train for i in screened["kept"])
    assert f"kept {len(screened['kept'])} whose samples' rewards differ" in run["stdout"]

    # Reward mean/std, KL and accuracy per step, besides the loss and learning rate.
    metrics = (await api.get(f"/api/tunix/runs/{run['run_id']}/metrics")).json()
    assert metrics["total_steps"] == 3
    points = metrics["data"]
    assert [p["step"] for p in points] == [1, 2, 3]
    for point in points:
        assert point["reward_mean"] is not None and point["reward_std"] is not None, point
        assert point["kl"] is not None and point["loss"] is not None, point
        assert point["accuracy"] is not None and 0.0 <= point["accuracy"] <= 1.0, point
        # The summed reward is bounded by the weights' sum.
        assert 0.0 <= point["reward_mean"] <= 1.5 + 1e-6, point
    # The SFT run's points carry no GRPO values.
    sft_points = (await api.get(f"/api/tunix/runs/{parent['run_id']}/metrics")).json()["data"]
    assert all(p["reward_mean"] is None and p["kl"] is None for p in sft_points)

    # Its directory has the SFT layout: final model, the start model's tokenizer, checkpoints.
    out = Path(run["output_dir"])
    paths = {
        a["path"]
        for a in (await api.get(f"/api/tunix/runs/{run['run_id']}/artifacts")).json()["artifacts"]
    }
    assert "model/model.json" in paths and "tokenizer/tokenizer.model" in paths
    assert any(p.startswith("checkpoints/actor/2/") for p in paths), sorted(paths)
    assert (out / "tokenizer/tokenizer.model").read_bytes() == (
        Path(parent["output_dir"]) / "tokenizer/tokenizer.model"
    ).read_bytes()
    meta = json.loads((out / "model/model.json").read_text())
    assert meta["algorithm"] == "grpo" and meta["final_step"] == 3
    resolved = json.loads((out / "resolved_config.json").read_text())
    assert resolved["grpo"]["num_generations"] == 2
    assert Path(resolved["init_dir"]) == Path(parent["output_dir"])  # already absolute

    # Evaluated like any run: auto-evaluation was queued, and an evaluation runs on it.
    async with sm() as session:
        queued = (
            await session.scalars(select(Run).where(Run.parent_run_id == uuid.UUID(run["run_id"])))
        ).all()
    assert [(j.kind, j.status) for j in queued] == [("evaluate", "pending")]
    assert (await api.post(f"/api/tunix/runs/{queued[0].id}/cancel")).status_code == 200
    evaluated = await api.post(
        f"/api/tunix/runs/{run['run_id']}/evaluate",
        json={"judge_override": "answer_correctness", "max_new_tokens": 96},
        timeout=600,
    )
    assert evaluated.status_code == 201, evaluated.text
    assert 0.0 <= evaluated.json()["metrics"]["accuracy"] <= 1.0

    # A further GRPO run may start from this one.
    dry = await api.post(
        "/api/tunix/run",
        json={**GRPO, "dataset_key": key, "dry_run": True, "init_from": {"run_id": run["run_id"]}},
    )
    assert dry.status_code == 202, dry.text
    report = dry.json()["report"]
    assert dry.json()["status"] == "completed", dry.json()["stderr"]
    assert report["algorithm"] == "grpo" and report["completions_per_step"] == 4


async def test_cancel_stops_a_running_grpo_child(
    api: httpx.AsyncClient, run_settings: Settings
) -> None:
    key = await build_arithmetic_dataset(api)
    parent = await sft_run(api, key, steps=20)
    submit = asyncio.create_task(
        api.post(
            "/api/tunix/run",
            json={
                **GRPO,
                "dataset_key": key,
                "init_from": {"run_id": parent["run_id"]},
                "max_steps": 100_000,
            },
            timeout=600,
        )
    )
    run_id = None
    deadline = time.monotonic() + 60
    while run_id is None:
        assert time.monotonic() < deadline
        data = (await api.get("/api/tunix/runs", params={"status": "running"})).json()["data"]
        run_id = data[0]["run_id"] if data else None
        await asyncio.sleep(0.1)
    deadline = time.monotonic() + 180
    while not (await api.get(f"/api/tunix/runs/{run_id}/metrics")).json()["data"]:
        assert time.monotonic() < deadline, "no GRPO step within 180 s"
        await asyncio.sleep(0.5)
    config_path = str(run_settings.data_dir.resolve() / "runs" / run_id / "run_config.json")
    assert child_pids(config_path), "the GRPO child should be running"
    cancelled_at = time.monotonic()
    assert (await api.post(f"/api/tunix/runs/{run_id}/cancel")).status_code == 200
    final = (await asyncio.wait_for(submit, 60)).json()
    assert final["status"] == "cancelled"
    assert time.monotonic() - cancelled_at < run_settings.run_cancel_grace_seconds + 2
    assert child_pids(config_path) == []


@pytest.mark.parametrize(
    ("change", "status", "loc"),
    [
        ({"init_from": None}, 422, "init_from"),
        ({"num_generations": 1}, 422, "num_generations"),
        ({"filter_samples": 1}, 422, "filter_samples"),  # one sample cannot differ
        ({"beta": -0.1}, 422, "beta"),
        ({"temperature": 0}, 422, "temperature"),
        ({"max_new_tokens": 0}, 422, "max_new_tokens"),
        ({"max_new_tokens": 128}, 422, "max_new_tokens"),  # no room for the prompt
        ({"rewards": {"bogus": 1.0}}, 422, "rewards"),
        ({"rewards": {"format": -1.0}}, 422, "rewards"),
        (
            {"rewards": {"answer_correctness": 0.0, "format": 0.0, "step_validity": 0.0}},
            422,
            "rewards",
        ),
        ({"lora_rank": 4}, 422, "lora_rank"),
        ({"completion_format": "answer_only"}, 422, "completion_format"),
        ({"packing": True}, 422, "packing"),
        ({"model_id": "tunix-rt/small-gemma"}, 422, "model_id"),
        ({"init_from": {"run_id": "not-a-uuid"}}, 422, "init_from"),
        ({"init_from": {"run_id": str(uuid.UUID(int=7))}}, 404, "init_from"),
        ({"init_from": "DRY"}, 422, "init_from"),  # a dry run has no model
        (
            {"algorithm": "sft", "init_from": None, "model_id": TINY["model_id"]},
            422,
            "num_generations",
        ),
    ],
)
async def test_bad_grpo_requests_name_the_field_and_store_nothing(
    api: httpx.AsyncClient,
    sm: Sessionmaker,
    run_settings: Settings,
    change: dict[str, Any],
    status: int,
    loc: str,
) -> None:
    key = await build_arithmetic_dataset(api)
    # Start runs as the checks see them (a row and a final model's file; nothing trains).
    parent = await add_run(sm, run_settings, status="completed", dataset_key=key)
    model_file = Path(parent.output_dir) / "model" / "model.json"
    model_file.parent.mkdir(parents=True)
    model_file.write_text("{}")
    dry = await add_run(sm, run_settings, status="completed", mode="dry-run", dataset_key=key)
    before = await run_count(api)
    body: dict[str, Any] = {**GRPO, "dataset_key": key, "init_from": {"run_id": str(parent.id)}}
    body.update(change)
    if body.get("init_from") == "DRY":
        body["init_from"] = {"run_id": str(dry.id)}
    elif "init_from" in change and change["init_from"] is None:
        body.pop("init_from")
    response = await api.post("/api/tunix/run", json=body)
    assert response.status_code == status, (change, response.text)
    detail = response.json()["detail"]
    assert loc in json.dumps(detail), (change, detail)
    assert await run_count(api) == before


async def test_a_valid_grpo_request_passes_the_same_checks(
    api: httpx.AsyncClient, sm: Sessionmaker, run_settings: Settings
) -> None:
    """The bad requests above differ from this one by one field: a dry run of it is created
    (and fails in the child, whose start model is not a real one — a stored row suffices
    for the API's checks)."""
    key = await build_arithmetic_dataset(api)
    parent = await add_run(sm, run_settings, status="completed", dataset_key=key)
    model_file = Path(parent.output_dir) / "model" / "model.json"
    model_file.parent.mkdir(parents=True)
    model_file.write_text("{}")
    response = await api.post(
        "/api/tunix/run",
        json={**GRPO, "dataset_key": key, "dry_run": True, "init_from": {"run_id": str(parent.id)}},
    )
    assert response.status_code == 202, response.text
    assert response.json()["model_id"] == parent.model_id


def test_cli_submits_a_grpo_run_from_an_sft_run(
    run_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABASE_URL", run_settings.resolved_database_url)
    monkeypatch.setenv("TUNIX_RT_DATA_DIR", str(run_settings.data_dir))
    monkeypatch.setenv("TUNIX_RT_EMBEDDED_WORKER", "false")

    async def dataset() -> str:
        async with serve_in_process(create_app(run_settings)) as client:
            return await build_arithmetic_dataset(client)

    key = asyncio.run(dataset())
    runner = CliRunner()
    common = ["runs", "submit", "--dataset-key", key, "--local", "--batch-size", "2"]
    sft = runner.invoke(
        cli_app,
        [*common, "--model-id", TINY["model_id"], "--max-steps", "6", "--max-seq-length", "128"],
    )
    assert sft.exit_code == 0, sft.output
    listed = runner.invoke(cli_app, ["runs", "list", "--kind", "train", "--json"])
    sft_id = json.loads(listed.output.splitlines()[0])["run_id"]

    bad = runner.invoke(cli_app, [*common, "--algorithm", "grpo", "--init-from", sft_id,
                                  "--reward", "answer_correctness"])  # fmt: skip
    assert bad.exit_code == 2 and "NAME=WEIGHT" in bad.output
    unknown = runner.invoke(cli_app, [*common, "--algorithm", "grpo", "--init-from", sft_id,
                                      "--reward", "bogus=1"])  # fmt: skip
    assert unknown.exit_code != 0 and "rewards" in unknown.output

    grpo = runner.invoke(
        cli_app,
        [
            *common,
            "--algorithm", "grpo", "--init-from", sft_id, "--max-steps", "2",
            "--max-seq-length", "128", "--num-generations", "2", "--max-new-tokens", "48",
            "--temperature", "1.0", "--beta", "0.1", "--learning-rate", "0.0001",
            "--reward", "answer_correctness=1", "--reward", "format=0.5",
        ],
    )  # fmt: skip
    assert grpo.exit_code == 0, grpo.output
    assert "completed" in grpo.output and "GRPO 2 steps" in grpo.output
    newest = runner.invoke(cli_app, ["runs", "list", "--kind", "train", "--json"]).output
    newest = newest.splitlines()[0]
    shown = json.loads(
        runner.invoke(cli_app, ["runs", "show", json.loads(newest)["run_id"]]).output
    )
    config = shown["config"]
    assert config["algorithm"] == "grpo" and config["init_from"] == {"run_id": sft_id}
    assert config["rewards"] == {"answer_correctness": 1.0, "format": 0.5}
    assert (config["num_generations"], config["beta"], config["temperature"]) == (2, 0.1, 1.0)
