"""The evaluate job's plumbing: prepare → child → finalize → evaluation row and files.

The child here is a stand-in that answers "4" to everything, so the judging, files and
API shapes can be checked exactly; tests/evals/test_end_to_end.py runs the real model.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from tests.conftest import make_trace
from tests.evals.conftest import Sessionmaker, add_run
from tunix_rt.config import Settings
from tunix_rt.db import utcnow
from tunix_rt.evals import jobs as eval_jobs
from tunix_rt.evals.service import enqueue_auto_evaluation
from tunix_rt.models.run import Run

FAKE_CHILD = """
import json, sys
cfg = json.load(open(sys.argv[1]))
assert cfg["task"] == "generate", cfg
print("@tunix_rt " + json.dumps({"event": "progress", "done": 0}), flush=True)
with open(cfg["input_file"]) as src, open(cfg["output_file"], "w") as out:
    for line in src:
        row = json.loads(line)
        answer = "Reasoning:\\n1. think\\nAnswer: 4"
        out.write(json.dumps({"id": row["id"], "output": answer}) + "\\n")
print("generated all", flush=True)
"""

FAILING_CHILD = """
import sys
print("error: the model exploded", file=sys.stderr)
sys.exit(2)
"""

SLOW_CHILD = """
import json, os, sys, time
cfg = json.load(open(sys.argv[1]))
with open(cfg["output_file"] + ".pid", "w") as f:
    f.write(str(os.getpid()))
print("generating", flush=True)
time.sleep(600)
"""

ITEMS = [
    {"id": "a", "prompt": "What is 2 + 2?", "expected_answer": "4", "category": "add"},
    {"id": "b", "prompt": "What is 1 + 3?", "expected_answer": "4.0", "category": "add"},
    {"id": "c", "prompt": "What is 2 + 3?", "expected_answer": "5", "category": "add"},
]


def use_child(monkeypatch: pytest.MonkeyPatch, script: str) -> None:
    monkeypatch.setattr(
        eval_jobs, "training_argv", lambda path: [sys.executable, "-c", script, str(path)]
    )


async def register_set(api: httpx.AsyncClient) -> None:
    response = await api.post("/api/eval-sets", json={"name": "tiny", "items": ITEMS})
    assert response.status_code == 201, response.text


async def test_evaluate_with_eval_set(
    api: httpx.AsyncClient,
    sm: Sessionmaker,
    eval_settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    use_child(monkeypatch, FAKE_CHILD)
    await register_set(api)
    run = await add_run(sm, eval_settings)
    response = await api.post(
        f"/api/tunix/runs/{run.id}/evaluate",
        json={"eval_set": "tiny", "judge_override": "answer_correctness,format,baseline,llm_judge"},
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["run_id"] == str(run.id)
    assert body["score"] == 66.67
    assert body["verdict"] == "pass"
    assert body["judge"] == {"name": "answer_correctness", "version": "1"}
    assert body["eval_set"] == "tiny" and body["item_count"] == 3
    assert body["metrics"]["accuracy"] == 0.6667
    assert body["metrics"]["format_rate"] == 1.0
    assert body["metrics"]["llm_judge_score"] == 0.6667  # mock mode follows correctness
    assert 0 < body["metrics"]["baseline_score"] < 100
    assert [d["name"] for d in body["detailed_metrics"]] == [
        "answer_correctness",
        "format",
        "baseline",
        "llm_judge",
    ]
    assert body["detailed_metrics"][0]["details"]["correct"] == 2

    job_id = body["job_run_id"]
    job = (await api.get(f"/api/tunix/runs/{job_id}")).json()
    assert job["kind"] == "evaluate" and job["status"] == "completed"
    assert job["parent_run_id"] == str(run.id)
    out = Path(run.output_dir) / "evaluations" / job_id
    rendered = [json.loads(line) for line in (out / "input.jsonl").read_text().splitlines()]
    assert rendered[0] == {
        "id": "a",
        "prompt": "<start_of_turn>user\nWhat is 2 + 2?<end_of_turn>\n<start_of_turn>model\n",
    }
    child_cfg = json.loads((out / "generate_config.json").read_text())
    assert child_cfg["task"] == "generate"
    assert child_cfg["run_dir"] == run.output_dir  # already absolute
    assert child_cfg["temperature"] == 0.0
    predictions = [
        json.loads(line) for line in (out / "predictions.jsonl").read_text().splitlines()
    ]
    assert predictions[2] == {
        "id": "c",
        "prompt": "What is 2 + 3?",
        "output": "Reasoning:\n1. think\nAnswer: 4",
        "extracted_answer": "4",
        "expected_answer": "5",
        "correct": False,
        "category": "add",
        "judges": predictions[2]["judges"],
    }
    assert set(predictions[2]["judges"]) == {
        "answer_correctness",
        "format",
        "baseline",
        "llm_judge",
    }
    latest_copy = Path(run.output_dir) / "predictions.jsonl"
    assert latest_copy.read_text() == (out / "predictions.jsonl").read_text()
    assert body["predictions_artifact"] == f"evaluations/{job_id}/predictions.jsonl"

    wrong = (
        await api.get(f"/api/tunix/runs/{run.id}/predictions", params={"wrong_only": True})
    ).json()
    assert [p["id"] for p in wrong["data"]] == ["c"]
    assert (await api.get(f"/api/tunix/runs/{run.id}/evaluation")).json() == body
    board = (await api.get("/api/tunix/evaluations")).json()["data"]
    assert [(r["run_id"], r["score"]) for r in board] == [(str(run.id), 66.67)]
    logs = (await api.get(f"/api/tunix/runs/{job_id}")).json()["stdout"]
    assert "generated all" in logs


async def test_limit_and_default_judges(
    api: httpx.AsyncClient,
    sm: Sessionmaker,
    eval_settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    use_child(monkeypatch, FAKE_CHILD)
    await register_set(api)
    run = await add_run(sm, eval_settings)
    response = await api.post(
        f"/api/tunix/runs/{run.id}/evaluate", json={"eval_set": "tiny", "limit": 2}
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["item_count"] == 2 and body["score"] == 100.0
    assert [d["name"] for d in body["detailed_metrics"]] == ["answer_correctness", "format"]


async def test_failed_generation_is_reported(
    api: httpx.AsyncClient,
    sm: Sessionmaker,
    eval_settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    use_child(monkeypatch, FAILING_CHILD)
    await register_set(api)
    run = await add_run(sm, eval_settings)
    response = await api.post(f"/api/tunix/runs/{run.id}/evaluate", json={"eval_set": "tiny"})
    assert response.status_code == 500
    assert "the model exploded" in response.json()["detail"]
    assert (await api.get(f"/api/tunix/runs/{run.id}/evaluation")).status_code == 404
    async with sm() as session:
        job = await session.scalar(select(Run).where(Run.parent_run_id == run.id))
    assert job is not None and job.status == "failed"


async def test_cancelling_a_running_evaluation_stops_its_child(
    api: httpx.AsyncClient,
    sm: Sessionmaker,
    eval_settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    use_child(monkeypatch, SLOW_CHILD)
    await register_set(api)
    run = await add_run(sm, eval_settings)
    url = f"/api/tunix/runs/{run.id}/evaluate"
    pending = asyncio.create_task(api.post(url, json={"eval_set": "tiny"}, timeout=120))
    pid_files: list[Path] = []
    for _ in range(600):  # until the generation child is up
        pid_files = list(Path(run.output_dir).glob("evaluations/*/*.pid"))  # noqa: ASYNC240
        if pid_files and pid_files[0].read_text():
            break
        await asyncio.sleep(0.05)
    pid = int(pid_files[0].read_text())
    async with sm() as session:
        job = await session.scalar(select(Run).where(Run.parent_run_id == run.id))
    assert job is not None and job.status == "running"

    cancel = await api.post(f"/api/tunix/runs/{job.id}/cancel")
    assert cancel.status_code == 200, cancel.text
    response = await asyncio.wait_for(pending, 60)
    assert response.status_code == 409, response.text
    assert f"evaluation job {job.id} was cancelled" in response.json()["detail"]
    assert (await api.get(f"/api/tunix/runs/{job.id}")).json()["status"] == "cancelled"
    with pytest.raises(ProcessLookupError):  # the child was stopped (and reaped)
        os.kill(pid, 0)
    assert (await api.get(f"/api/tunix/runs/{run.id}/evaluation")).status_code == 404


async def build_dataset(api: httpx.AsyncClient, name: str, eval_fraction: float) -> str:
    traces: list[dict[str, Any]] = [
        make_trace(prompt=f"What is {i} + 1?", answer=str(i + 1), meta={"task": "add"})
        for i in range(10)
    ]
    assert (await api.post("/api/traces/batch", json=traces)).status_code == 201
    built = await api.post(
        "/api/datasets/build",
        json={
            "dataset_name": name,
            "dataset_version": "v1",
            "limit": 10,
            "eval_fraction": eval_fraction,
            "selection_strategy": "random",
            "seed": 1,
        },
    )
    assert built.status_code == 201, built.text
    key: str = built.json()["dataset_key"]
    return key


async def test_evaluate_on_the_dataset_eval_split(
    api: httpx.AsyncClient,
    sm: Sessionmaker,
    eval_settings: Settings,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    use_child(monkeypatch, FAKE_CHILD)
    key = await build_dataset(api, "split", 0.3)
    manifest = (await api.get(f"/api/datasets/{key}")).json()
    held_out = manifest["splits"]["eval"]
    run = await add_run(sm, eval_settings, dataset_key=key)
    response = await api.post(f"/api/tunix/runs/{run.id}/evaluate", json={})
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["eval_set"] is None
    assert body["item_count"] == len(held_out) > 0
    page = (await api.get(f"/api/tunix/runs/{run.id}/predictions")).json()
    assert sorted(p["id"] for p in page["data"]) == sorted(held_out)
    assert all(p["category"] == "add" for p in page["data"])
    expected = {p["id"]: p["expected_answer"] for p in page["data"]}
    assert body["metrics"]["accuracy"] == round(
        sum(v == "4" for v in expected.values()) / len(expected), 4
    )


async def test_auto_evaluation_is_queued(
    api: httpx.AsyncClient, sm: Sessionmaker, eval_settings: Settings
) -> None:
    with_split = await build_dataset(api, "auto", 0.3)
    trained = await add_run(sm, eval_settings, dataset_key=with_split, status="running")
    async with sm() as session:
        run = await session.get(Run, trained.id)
        assert run is not None
        job = await enqueue_auto_evaluation(session, eval_settings, run)
        await session.commit()
    assert job is not None
    assert (job.kind, job.status, job.parent_run_id) == ("evaluate", "pending", trained.id)
    assert job.config["judges"] == ["answer_correctness@1", "format@1"]

    async with sm() as session:
        dry = await add_run(sm, eval_settings, dataset_key=with_split, mode="dry-run")
        dry_row = await session.get(Run, dry.id)
        assert dry_row is not None
        assert await enqueue_auto_evaluation(session, eval_settings, dry_row) is None
        off = eval_settings.model_copy(update={"eval_auto": False})
        assert await enqueue_auto_evaluation(session, off, run) is None
        no_split = await build_dataset(api, "nosplit", 0.0)
        plain = await add_run(sm, eval_settings, dataset_key=no_split)
        plain_row = await session.get(Run, plain.id)
        assert plain_row is not None
        assert await enqueue_auto_evaluation(session, eval_settings, plain_row) is None
        custom = eval_settings.model_copy(update={"eval_default_judges": "llm_judge"})
        other = await enqueue_auto_evaluation(session, custom, run)
        assert other is not None and other.config["judges"] == ["llm_judge@1"]


async def test_lease_is_kept_while_judging_remotely(
    sm: Sessionmaker, eval_settings: Settings
) -> None:
    settings = eval_settings.model_copy(
        update={"queue_heartbeat_seconds": 0.05, "queue_lease_seconds": 600}
    )
    parent = await add_run(sm, settings)
    job = await add_run(
        sm,
        settings,
        kind="evaluate",
        status="running",
        parent_run_id=parent.id,
        worker_id="w-1",
        lease_expires_at=utcnow(),
    )
    async with sm() as session:
        row = await session.get(Run, job.id)
        assert row is not None
        async with eval_jobs.keep_lease(session, settings, row, enabled=True):
            await asyncio.sleep(0.3)
        async with eval_jobs.keep_lease(session, settings, row, enabled=False):
            pass
    async with sm() as session:
        renewed = await session.get(Run, job.id)
    assert renewed is not None and renewed.lease_expires_at is not None
    assert renewed.lease_expires_at > utcnow() + timedelta(seconds=500)
