"""Model registry through the API (SPEC §11), on SQLite and Postgres: a real tiny Tunix run
is promoted, downloaded, trained from and evaluated again; bad requests store nothing."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from tests.conftest import serve_in_process
from tests.evals.conftest import Sessionmaker, add_run
from tests.evals.test_end_to_end import build_mixed_dataset
from tunix_rt.app import create_app
from tunix_rt.config import Settings
from tunix_rt.db import create_engine, create_sessionmaker
from tunix_rt.models.registry import ModelVersion, RegisteredModel
from tunix_rt.registry import store
from tunix_rt.runs.service import tunix_status

needs_tunix = pytest.mark.skipif(
    not tunix_status().available, reason="Tunix/JAX not installed: local training impossible"
)

TRAIN = {
    "model_id": "tunix-rt/tiny-gemma",
    "dry_run": False,
    "learning_rate": 0.005,
    "num_epochs": 100,
    "max_steps": 60,
    "warmup_steps": 5,
    "batch_size": 8,
    "max_seq_length": 96,
    "seed": 0,
}
GENERATE = {"judge_override": "answer_correctness,format", "max_new_tokens": 48, "batch_size": 32}


@pytest.fixture
def reg_settings(settings: Settings) -> Settings:
    return settings.model_copy(
        update={"embedded_worker": False, "run_poll_seconds": 0.2, "eval_auto": False}
    )


@pytest.fixture
async def api(reg_settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    async with serve_in_process(create_app(reg_settings)) as client:
        yield client


@pytest.fixture
async def sm(reg_settings: Settings) -> AsyncIterator[Sessionmaker]:
    engine = create_engine(reg_settings)
    try:
        yield create_sessionmaker(engine)
    finally:
        await engine.dispose()


async def _counts(sm: Sessionmaker) -> tuple[int, int]:
    async with sm() as session:
        models = await session.scalar(select(func.count()).select_from(RegisteredModel))
        versions = await session.scalar(select(func.count()).select_from(ModelVersion))
    return int(models or 0), int(versions or 0)


def _store_entries(settings: Settings) -> list[str]:
    root = store.registry_root(settings)
    return (
        sorted(
            str(p.relative_to(root)) for p in root.rglob("*") if p.parent.name in ("blobs", "tmp")
        )
        if root.is_dir()
        else []
    )


async def _outputs(api: httpx.AsyncClient, run_id: str) -> dict[str, str]:
    page = await api.get(f"/api/tunix/runs/{run_id}/predictions", params={"limit": 1000})
    assert page.status_code == 200, page.text
    return {p["id"]: p["output"] for p in page.json()["data"]}


@needs_tunix
async def test_promote_download_train_and_evaluate_from_the_registry(
    api: httpx.AsyncClient, sm: Sessionmaker, reg_settings: Settings, tmp_path: Path
) -> None:
    key = await build_mixed_dataset(api)
    trained = await api.post("/api/tunix/run", json={"dataset_key": key, **TRAIN}, timeout=900)
    assert trained.status_code == 202 and trained.json()["status"] == "completed", trained.text
    run_id = trained.json()["run_id"]
    original = await api.post(f"/api/tunix/runs/{run_id}/evaluate", json=GENERATE, timeout=900)
    assert original.status_code == 201, original.text

    created = await api.post("/api/models", json={"name": "arith", "description": "tiny"})
    assert created.status_code == 201, created.text
    assert created.json()["versions"] == [] and created.json()["latest_version"] is None
    again = await api.post("/api/models", json={"name": "arith"})
    assert again.status_code == 409 and "exists" in again.json()["detail"]

    promoted = await api.post("/api/models/arith/versions", json={"run_id": run_id}, timeout=600)
    assert promoted.status_code == 201, promoted.text
    v1 = promoted.json()
    assert (v1["name"], v1["version"], v1["ref"], v1["run_id"]) == (
        "arith",
        "v1",
        "arith@v1",
        run_id,
    )
    assert len(v1["sha256"]) == 64 and v1["size_bytes"] > 100_000
    assert v1["metrics"]["score"] == original.json()["score"]
    assert v1["metrics"]["accuracy"] == original.json()["metrics"]["accuracy"]
    manifest = (await api.get(f"/api/datasets/{key}")).json()
    assert v1["provenance"]["dataset_key"] == key
    assert v1["provenance"]["dataset_sha256"] == manifest["sha256"]
    assert v1["provenance"]["model_id"] == "tunix-rt/tiny-gemma"
    assert v1["provenance"]["config"]["config"]["learning_rate"] == TRAIN["learning_rate"]
    blob = store.blob_dir(reg_settings, v1["sha256"])
    assert {p.name for p in blob.iterdir()} >= {
        "config.json",
        "model.safetensors",
        "tokenizer.model",
    }
    assert hashlib.sha256((blob / "model.safetensors").read_bytes()).hexdigest() == v1["sha256"]

    # The same weights again: the existing version, 200.
    same = await api.post("/api/models/arith/versions", json={"run_id": run_id}, timeout=600)
    assert same.status_code == 200 and same.json()["version"] == "v1", same.text
    taken = await api.post("/api/models/arith/versions", json={"run_id": run_id, "version": "v1"})
    assert taken.status_code == 409

    alias = await api.put("/api/models/arith/aliases/champion", json={"version": "v1"})
    assert alias.status_code == 200 and alias.json()["version"] == "v1", alias.text
    by_alias = await api.get("/api/models/arith/versions/champion")
    assert by_alias.status_code == 200 and by_alias.json()["aliases"] == ["champion"]
    detail = (await api.get("/api/models/arith")).json()
    assert detail["aliases"] == {"champion": "v1"} and [
        v["version"] for v in detail["versions"]
    ] == ["v1"]
    listed = (await api.get("/api/models")).json()["data"]
    assert [(m["name"], m["version_count"], m["latest_version"]) for m in listed] == [
        ("arith", 1, "v1")
    ]

    # Download: a Hugging Face–layout archive with the registered bytes.
    download = await api.get("/api/models/arith/versions/champion/download", timeout=120)
    assert download.status_code == 200
    assert download.headers["x-model-sha256"] == v1["sha256"]
    assert "arith-v1.tar.gz" in download.headers["content-disposition"]
    models_dir = reg_settings.model_directories[0]
    with tarfile.open(fileobj=io.BytesIO(download.content), mode="r:gz") as archive:
        names = sorted(archive.getnames())
        archive.extractall(models_dir, filter="data")
    assert "arith-v1/config.json" in names and "arith-v1/model.safetensors" in names
    copy = models_dir / "arith-v1"
    assert json.loads((copy / "config.json").read_text())["model_type"] == "gemma"
    assert hashlib.sha256((copy / "model.safetensors").read_bytes()).hexdigest() == v1["sha256"]

    # Evaluated as a registered model (the product's safetensors loader reads the store):
    # the same predictions as the run's own model.
    as_model = await api.post(
        "/api/tunix/evaluations",
        json={"model": "arith@champion", "dataset_key": key, **GENERATE},
        timeout=900,
    )
    assert as_model.status_code == 201, as_model.text
    ev = as_model.json()
    assert ev["score"] == original.json()["score"]
    assert await _outputs(api, ev["run_id"]) == await _outputs(api, run_id)
    job = (await api.get(f"/api/tunix/runs/{ev['run_id']}")).json()
    assert (job["kind"], job["model_id"]) == ("evaluate", "arith@v1")

    # The shipped eval set, added in one request, evaluates the registered model too.
    assert (await api.post("/api/eval-sets/builtin/starter-v1")).status_code == 201
    starter = await api.post(
        "/api/tunix/evaluations",
        json={"model": "arith@v1", "eval_set": "starter-v1", **GENERATE},
        timeout=900,
    )
    assert starter.status_code == 201, starter.text
    assert (starter.json()["eval_set"], starter.json()["item_count"]) == ("starter-v1", 31)
    by_category = starter.json()["detailed_metrics"][0]["details"]["by_category"]
    assert set(by_category) == {"addition", "subtraction", "multiplication", "high_card_duel"}

    # The downloaded copy and the registered name are both bases of new runs.
    for model_id in (str(copy), "arith@champion"):
        base = {**TRAIN, "model_id": model_id, "max_steps": 2, "learning_rate": 1e-4}
        run = await api.post("/api/tunix/run", json={"dataset_key": key, **base}, timeout=900)
        assert run.status_code == 202 and run.json()["status"] == "completed", run.text
        stored = (await api.get(f"/api/tunix/runs/{run.json()['run_id']}")).json()
        assert stored["model_id"] == ("arith@v1" if "@" in model_id else str(copy))

    # GRPO continues from the registered model (pinned to its version when created).
    grpo = {
        "algorithm": "grpo",
        "dry_run": False,
        "dataset_key": key,
        "init_from": {"model": "arith@champion"},
        "batch_size": 2,
        "max_steps": 2,
        "max_seq_length": 96,
        "learning_rate": 1e-4,
        "num_generations": 2,
        "max_new_tokens": 32,
        "temperature": 1.0,
    }
    rl = await api.post("/api/tunix/run", json=grpo, timeout=900)
    assert rl.status_code == 202 and rl.json()["status"] == "completed", rl.text
    stored = (await api.get(f"/api/tunix/runs/{rl.json()['run_id']}")).json()
    assert stored["model_id"] == "arith@v1"
    assert stored["config"]["init_from"] == {"model": "arith@v1"}
    metrics = (await api.get(f"/api/tunix/runs/{rl.json()['run_id']}/metrics")).json()
    assert [m["step"] for m in metrics["data"] if m.get("reward_mean") is not None][-1] == 2

    # Leaderboard: registered names; filter by alias.
    board = (await api.get("/api/tunix/evaluations", params={"model": "arith@champion"})).json()
    assert {(r["run_id"], r["model_id"]) for r in board["data"]} == {
        (ev["run_id"], "arith@v1"),
        (starter.json()["run_id"], "arith@v1"),
    }
    everything = (await api.get("/api/tunix/evaluations", params={"dataset_key": key})).json()
    assert {r["run_id"]: r["registered_as"] for r in everything["data"]}[run_id] == ["arith@v1"]

    # Regression: a baseline from the model, a check against the alias.
    baseline = await api.post(
        "/api/regression/baselines", json={"name": "ship", "model": "arith@champion"}
    )
    assert baseline.status_code == 201, baseline.text
    # A baseline takes the model's latest evaluation (here: on starter-v1) ...
    value = starter.json()["score"]
    assert (baseline.json()["model"], baseline.json()["value"]) == ("arith@v1", value)
    # ... a check compares like with like: the model's evaluation on the run's own split.
    check = await api.post(
        "/api/regression/check", json={"run_id": run_id, "baseline_model": "arith@champion"}
    )
    assert check.status_code == 200, check.text
    assert (check.json()["verdict"], check.json()["baseline_name"]) == ("pass", "arith@v1")
    assert check.json()["baseline_value"] == ev["score"] == check.json()["current_value"]

    # Storage: a second model with the same weights shares the blob; deleting the run keeps it.
    assert (await api.post("/api/models", json={"name": "copy"})).status_code == 201
    shared = await api.post("/api/models/copy/versions", json={"run_id": run_id}, timeout=600)
    assert shared.status_code == 201 and shared.json()["sha256"] == v1["sha256"]
    assert (await api.delete(f"/api/tunix/runs/{run_id}")).status_code == 204
    assert (blob / "model.safetensors").is_file()
    assert (await api.get("/api/models/arith/versions/v1")).status_code == 200
    assert (await api.delete("/api/models/copy/versions/v1")).status_code == 204
    assert blob.is_dir()  # arith@v1 still uses it

    refused = await api.delete("/api/models/arith/versions/v1")
    assert refused.status_code == 409 and "champion" in refused.json()["detail"]
    assert (await api.delete("/api/models/arith/aliases/champion")).status_code == 204
    assert (await api.delete("/api/models/arith/versions/v1")).status_code == 204
    assert not blob.exists()
    assert (await api.get("/api/models/arith/versions/v1")).status_code == 404
    assert (await api.delete("/api/models/arith")).status_code == 204
    assert await _counts(sm) == (1, 0)  # "copy" is left, without versions
    assert _store_entries(reg_settings) == []


async def test_bad_requests_store_nothing(
    api: httpx.AsyncClient, sm: Sessionmaker, reg_settings: Settings
) -> None:
    settings = reg_settings

    async def refused(method: str, url: str, status: int, words: str, **kw: Any) -> None:
        response = await api.request(method, url, **kw)
        assert response.status_code == status, (url, response.text)
        assert words in json.dumps(response.json()["detail"]), response.text

    await refused("POST", "/api/models", 422, "name", json={"name": "bad name"})
    await refused("POST", "/api/models", 422, "name", json={"name": "-x"})
    await refused("POST", "/api/models", 422, "name", json={})
    assert (await api.post("/api/models", json={"name": "m"})).status_code == 201
    ghost = str(uuid.uuid4())
    await refused("POST", "/api/models/nope/versions", 404, "nope", json={"run_id": ghost})
    await refused("POST", "/api/models/m/versions", 404, ghost, json={"run_id": ghost})
    await refused("POST", "/api/models/m/versions", 422, "run_id", json={"run_id": "x"})

    dry = await add_run(sm, settings, mode="dry-run")
    failed = await add_run(sm, settings, status="failed")
    running = await add_run(sm, settings, status="running", completed_at=None)
    evaluate = await add_run(sm, settings, kind="evaluate")
    no_model = await add_run(sm, settings)  # completed, but model/model.json is missing
    lora = await add_run(sm, settings)
    (Path(lora.output_dir) / "model" / "model.json").write_text(
        json.dumps({"arch": {"family": "gemma"}, "lora_rank": 4})
    )
    for run, words in (
        (dry, "dry run"),
        (failed, "is failed"),
        (running, "is running"),
        (evaluate, "not a training run"),
        (no_model, "no final model"),
        (lora, "LoRA"),
    ):
        await refused(
            "POST", "/api/models/m/versions", 400, words, json={"run_id": str(run.id)}, timeout=600
        )

    await refused("GET", "/api/models/nope", 404, "nope")
    await refused("GET", "/api/models/m/versions/v9", 404, "v9")
    await refused("GET", "/api/models/m/versions/v9/download", 404, "v9")
    await refused("DELETE", "/api/models/m/versions/v9", 404, "v9")
    await refused("PUT", "/api/models/m/aliases/champion", 404, "v9", json={"version": "v9"})
    await refused("PUT", "/api/models/m/aliases/v3", 422, "alias", json={"version": "v1"})
    await refused("PUT", "/api/models/m/aliases/bad%20alias", 422, "alias", json={"version": "v1"})
    await refused("DELETE", "/api/models/m/aliases/champion", 404, "champion")

    base = {"dataset_key": "ds-v1", **TRAIN, "dry_run": True}
    await refused("POST", "/api/tunix/run", 404, "nope", json={**base, "model_id": "nope@v1"})
    await refused("POST", "/api/tunix/run", 404, "v7", json={**base, "model_id": "m@v7"})
    await refused(
        "POST", "/api/tunix/evaluations", 404, "nope", json={"model": "nope@x", "dataset_key": "d"}
    )
    await refused("POST", "/api/tunix/evaluations", 422, "model", json={"model": "plain"})
    await refused(
        "POST", "/api/regression/baselines", 404, "nope", json={"name": "b", "model": "nope@x"}
    )
    await refused(
        "POST",
        "/api/regression/baselines",
        422,
        "exactly one",
        json={"name": "b", "model": "m@x", "run_id": ghost},
    )
    await refused(
        "POST",
        "/api/regression/check",
        404,
        "nope",
        json={"run_id": str(dry.id), "baseline_model": "nope@champion"},
    )
    await refused("GET", "/api/tunix/evaluations", 404, "nope", params={"model": "nope@v1"})

    assert await _counts(sm) == (1, 0)
    assert _store_entries(settings) == []
