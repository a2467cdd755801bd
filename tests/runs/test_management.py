"""Run management on SQLite and Postgres: retry a failed or cancelled run (training or
evaluate job) as a new queued run; bulk delete by ids and by filter, with a dry-run count,
unfinished runs kept with the reason; the raw log download; the CLI twins."""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner, Result

from tests.runs.conftest import Sessionmaker, add_run, get_row
from tests.runs.test_training import build_arithmetic_dataset
from tunix_rt.cli import app as cli_app
from tunix_rt.config import Settings
from tunix_rt.db import utcnow
from tunix_rt.models.run import Run, RunLog


def on_disk(path: str, *parts: str) -> bool:
    return Path(path, *parts).exists()


def run_path(settings: Settings, name: str) -> Path:
    return (settings.data_dir / "runs" / name).resolve()


async def train_run(sm: Sessionmaker, settings: Settings, status: str, **fields: object) -> Run:
    run_id = uuid.uuid4()
    output_dir = run_path(settings, str(run_id))
    config = {"dataset_key": fields.get("dataset_key", "ds-v1"), "output_dir": str(output_dir)}
    config["learning_rate"] = 0.003
    run = await add_run(
        sm, settings, id=run_id, status=status, config=config, output_dir=str(output_dir), **fields
    )
    (output_dir / "weights.bin").write_bytes(b"x" * 1000)
    return run


# --- retry -----------------------------------------------------------------------------


@pytest.mark.parametrize("status", ["failed", "cancelled", "timeout"])
async def test_retry_queues_a_new_run_with_the_same_config(
    api: httpx.AsyncClient, sm: Sessionmaker, run_settings: Settings, status: str
) -> None:
    key = await build_arithmetic_dataset(api, "retry", count=16)
    original = await train_run(
        sm, run_settings, status, dataset_key=key, priority=5, queue="gpu", max_attempts=2
    )

    answer = await api.post(f"/api/tunix/runs/{original.id}/retry")

    assert answer.status_code == 201, answer.text
    retry = answer.json()
    assert retry["run_id"] != str(original.id)
    assert retry["status"] == "pending"
    assert (retry["kind"], retry["mode"], retry["dataset_key"]) == ("train", "local", key)
    assert (retry["priority"], retry["queue"], retry["max_attempts"]) == (5, "gpu", 2)
    assert retry["output_dir"] == str(run_path(run_settings, retry["run_id"]))
    assert retry["config"]["output_dir"] == retry["output_dir"]
    assert retry["config"]["retry_of"] == str(original.id)
    assert retry["config"]["learning_rate"] == 0.003
    assert retry["message"] == f"retry of run {original.id}"
    assert retry["parent_run_id"] is None  # deleting the original keeps the retry
    # The original is untouched and the queue sees the new run.
    kept = await get_row(sm, Run, original.id)
    assert kept.status == status
    pending = await api.get("/api/tunix/runs", params={"status": "pending"})
    assert [r["run_id"] for r in pending.json()["data"]] == [retry["run_id"]]
    # Deleting the original leaves the retry.
    assert (await api.delete(f"/api/tunix/runs/{original.id}")).status_code == 204
    assert (await api.get(f"/api/tunix/runs/{retry['run_id']}")).status_code == 200


async def test_retry_of_an_evaluate_job_evaluates_the_same_run_again(
    api: httpx.AsyncClient, sm: Sessionmaker, run_settings: Settings
) -> None:
    trained = await train_run(sm, run_settings, "completed")
    job_id = uuid.uuid4()
    job_dir = Path(trained.output_dir) / "evaluations" / str(job_id)
    await add_run(
        sm,
        run_settings,
        id=job_id,
        kind="evaluate",
        status="cancelled",
        parent_run_id=trained.id,
        config={"judges": ["answer_correctness"], "limit": 4},
        output_dir=str(job_dir),
    )

    answer = await api.post(f"/api/tunix/runs/{job_id}/retry")

    assert answer.status_code == 201, answer.text
    retry = answer.json()
    assert retry["kind"] == "evaluate" and retry["parent_run_id"] == str(trained.id)
    assert retry["output_dir"] == str(Path(trained.output_dir) / "evaluations" / retry["run_id"])
    assert retry["config"] == {
        "judges": ["answer_correctness"],
        "limit": 4,
        "retry_of": str(job_id),
    }
    listed = await api.get("/api/tunix/runs", params={"kind": "evaluate", "status": "pending"})
    assert [r["run_id"] for r in listed.json()["data"]] == [retry["run_id"]]


@pytest.mark.parametrize("status", ["pending", "running", "cancel_requested", "completed"])
async def test_retry_of_a_run_that_did_not_fail_is_409(
    api: httpx.AsyncClient, sm: Sessionmaker, run_settings: Settings, status: str
) -> None:
    run = await train_run(sm, run_settings, status)

    answer = await api.post(f"/api/tunix/runs/{run.id}/retry")

    assert answer.status_code == 409
    assert status in answer.json()["detail"]
    listed = await api.get("/api/tunix/runs", params={"limit": 100})
    assert [r["run_id"] for r in listed.json()["data"]] == [str(run.id)]


async def test_retry_unknown_run_is_404_and_lost_dataset_is_409(
    api: httpx.AsyncClient, sm: Sessionmaker, run_settings: Settings
) -> None:
    assert (await api.post(f"/api/tunix/runs/{uuid.uuid4()}/retry")).status_code == 404
    assert (await api.post("/api/tunix/runs/not-a-uuid/retry")).status_code == 422
    orphan = await train_run(sm, run_settings, "failed", dataset_key="gone-v1")
    answer = await api.post(f"/api/tunix/runs/{orphan.id}/retry")
    assert answer.status_code == 409
    assert "gone-v1" in answer.json()["detail"]


# --- bulk delete -------------------------------------------------------------------------


async def test_bulk_delete_by_ids_deletes_finished_runs_and_keeps_running_ones(
    api: httpx.AsyncClient, sm: Sessionmaker, run_settings: Settings
) -> None:
    failed = await train_run(sm, run_settings, "failed")
    cancelled = await train_run(sm, run_settings, "cancelled")
    running = await train_run(sm, run_settings, "running")
    unknown = uuid.uuid4()
    ids = [str(failed.id), str(cancelled.id), str(running.id), str(unknown)]

    answer = await api.post("/api/tunix/runs/bulk-delete", json={"ids": ids})

    assert answer.status_code == 200, answer.text
    result = answer.json()
    assert result["dry_run"] is False
    assert (result["matched"], result["count"]) == (4, 2)
    assert set(result["run_ids"]) == {str(failed.id), str(cancelled.id)}
    assert result["bytes"] == 2000
    reasons = {s["run_id"]: s["reason"] for s in result["skipped"]}
    assert "running" in reasons[str(running.id)]
    assert "not found" in reasons[str(unknown)]
    for gone in (failed, cancelled):
        assert await get_row(sm, Run, gone.id) is None
        assert not on_disk(gone.output_dir)
    assert (await get_row(sm, Run, running.id)).status == "running"
    assert on_disk(running.output_dir, "weights.bin")


async def test_bulk_delete_by_filter_with_a_dry_run_count(
    api: httpx.AsyncClient, sm: Sessionmaker, run_settings: Settings
) -> None:
    old = utcnow() - timedelta(days=10)
    match_a = await train_run(sm, run_settings, "failed", created_at=old)
    match_b = await train_run(sm, run_settings, "timeout", created_at=old)
    other_dataset = await train_run(sm, run_settings, "failed", dataset_key="other-v1")
    recent = await train_run(sm, run_settings, "failed")
    running = await train_run(sm, run_settings, "running", created_at=old)
    spec = {
        "status": ["failed", "timeout", "running"],
        "dataset_key": "ds-v1",
        "created_before": (utcnow() - timedelta(days=1)).isoformat(),
    }

    dry = await api.post("/api/tunix/runs/bulk-delete", json={"filter": spec, "dry_run": True})

    assert dry.status_code == 200, dry.text
    counted = dry.json()
    assert counted["dry_run"] is True
    assert (counted["matched"], counted["count"], counted["bytes"]) == (3, 2, 2000)
    assert set(counted["run_ids"]) == {str(match_a.id), str(match_b.id)}
    assert [s["run_id"] for s in counted["skipped"]] == [str(running.id)]
    listed = await api.get("/api/tunix/runs", params={"limit": 100})
    assert len(listed.json()["data"]) == 5  # nothing deleted
    assert on_disk(match_a.output_dir)

    done = await api.post("/api/tunix/runs/bulk-delete", json={"filter": spec})

    assert done.json()["count"] == 2
    left = {r["run_id"] for r in (await api.get("/api/tunix/runs")).json()["data"]}
    assert left == {str(other_dataset.id), str(recent.id), str(running.id)}
    assert not on_disk(match_a.output_dir) and not on_disk(match_b.output_dir)

    by_model = {"filter": {"model_id": "tunix-rt/tiny-gemma", "kind": "train"}, "dry_run": True}
    assert (await api.post("/api/tunix/runs/bulk-delete", json=by_model)).json()["count"] == 2


async def test_bulk_delete_takes_a_parent_with_its_evaluations(
    api: httpx.AsyncClient, sm: Sessionmaker, run_settings: Settings
) -> None:
    trained = await train_run(sm, run_settings, "completed")
    job_dir = Path(trained.output_dir) / "evaluations" / "job"
    job = await add_run(
        sm,
        run_settings,
        kind="evaluate",
        status="completed",
        parent_run_id=trained.id,
        output_dir=str(job_dir),
    )
    (job_dir / "predictions.jsonl").write_bytes(b"y" * 500)

    answer = await api.post(
        "/api/tunix/runs/bulk-delete", json={"ids": [str(job.id), str(trained.id)]}
    )

    assert answer.json()["count"] == 2
    assert answer.json()["bytes"] == 1500  # the job's directory counted once, in its parent's
    assert await get_row(sm, Run, job.id) is None
    assert not on_disk(trained.output_dir)


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"ids": []},
        {"filter": {}},
        {"ids": [str(uuid.uuid4())], "filter": {"status": ["failed"]}},
        {"filter": {"status": ["exploded"]}},
        {"filter": {"kind": "train", "colour": "red"}},
        {"filter": {"dataset_key": "a\u0000b"}},
    ],
)
async def test_bulk_delete_bad_requests_are_422(
    api: httpx.AsyncClient, sm: Sessionmaker, run_settings: Settings, body: dict[str, object]
) -> None:
    run = await train_run(sm, run_settings, "failed")
    answer = await api.post("/api/tunix/runs/bulk-delete", json=body)
    assert answer.status_code == 422, answer.text
    assert await get_row(sm, Run, run.id) is not None


# --- raw log ---------------------------------------------------------------------------


async def test_raw_log_download_keeps_every_line(
    api: httpx.AsyncClient, sm: Sessionmaker, run_settings: Settings
) -> None:
    run = await train_run(sm, run_settings, "completed")
    chunks = ["step 1", '@tunix_rt {"event": "metric", "loss": 1.5, "step": 1}', "done"]
    async with sm() as session:
        for seq, chunk in enumerate(chunks, start=1):
            session.add(RunLog(run_id=run.id, seq=seq, stream="stdout", chunk=chunk))
        await session.commit()

    answer = await api.get(f"/api/tunix/runs/{run.id}/logs/download")

    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/plain")
    assert "attachment" in answer.headers["content-disposition"]
    assert answer.text == "\n".join(chunks) + "\n"
    assert (await api.get(f"/api/tunix/runs/{uuid.uuid4()}/logs/download")).status_code == 404


# --- CLI -------------------------------------------------------------------------------


@pytest.fixture
def cli(run_settings: Settings, monkeypatch: pytest.MonkeyPatch) -> CliRunner:
    monkeypatch.setenv("DATABASE_URL", run_settings.resolved_database_url)
    monkeypatch.setenv("TUNIX_RT_DATA_DIR", str(run_settings.data_dir))
    return CliRunner()


async def invoke(cli: CliRunner, *args: str) -> Result:
    """The CLI runs its own event loop: call it from a thread."""
    return await asyncio.to_thread(cli.invoke, cli_app, list(args))


async def test_cli_retry_and_delete(
    cli: CliRunner, sm: Sessionmaker, run_settings: Settings
) -> None:
    failed = await train_run(sm, run_settings, "failed", dataset_key=None)
    running = await train_run(sm, run_settings, "running")

    retried = await invoke(cli, "runs", "retry", str(failed.id))
    assert retried.exit_code == 0, retried.output
    new_id = uuid.UUID(retried.stdout.strip().splitlines()[-1])
    assert (await get_row(sm, Run, new_id)).config["retry_of"] == str(failed.id)
    refused = await invoke(cli, "runs", "retry", str(running.id))
    assert refused.exit_code == 1 and "running" in refused.output

    dry = await invoke(cli, "runs", "delete", "--status", "failed", "--dry-run", "--json")
    assert dry.exit_code == 0, dry.output
    assert json.loads(dry.stdout)["run_ids"] == [str(failed.id)]
    assert await get_row(sm, Run, failed.id) is not None

    kept = await invoke(cli, "runs", "delete", str(running.id), "--yes")
    assert kept.exit_code == 0 and "cancel it or wait" in kept.output
    done = await invoke(cli, "runs", "delete", "--status", "failed", "--yes")
    assert done.exit_code == 0, done.output
    assert "deleted 1 run(s), 1000 bytes" in done.stdout
    assert await get_row(sm, Run, failed.id) is None
    bad = await invoke(cli, "runs", "delete", "--created-before", "yesterday")
    assert bad.exit_code == 2
    nothing = await invoke(cli, "runs", "delete")
    assert nothing.exit_code == 2
