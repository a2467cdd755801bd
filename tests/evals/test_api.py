"""Evaluation API without generation: reads, leaderboard, predictions, 400/404 rules."""

from __future__ import annotations

import uuid

import httpx

from tests.evals.conftest import Sessionmaker, add_evaluation, add_run, ago
from tunix_rt.config import Settings


async def test_latest_evaluation_and_404s(
    api: httpx.AsyncClient, sm: Sessionmaker, eval_settings: Settings
) -> None:
    run = await add_run(sm, eval_settings)
    missing = await api.get(f"/api/tunix/runs/{run.id}/evaluation")
    assert missing.status_code == 404
    assert "no evaluation" in missing.json()["detail"]
    unknown = await api.get(f"/api/tunix/runs/{uuid.uuid4()}/evaluation")
    assert unknown.status_code == 404
    assert (await api.get("/api/tunix/runs/not-a-uuid/evaluation")).status_code == 422

    await add_evaluation(sm, run, score=40, metrics={"accuracy": 0.4}, at=ago(10))
    newest = await add_evaluation(sm, run, score=80, metrics={"accuracy": 0.8}, at=ago(1))
    body = (await api.get(f"/api/tunix/runs/{run.id}/evaluation")).json()
    assert body["evaluation_id"] == str(newest.id)
    assert body["run_id"] == str(run.id)
    assert body["score"] == 80
    assert body["verdict"] == "pass"
    assert body["metrics"] == {"score": 80, "accuracy": 0.8}
    assert body["judge"] == {"name": "answer_correctness", "version": "1"}
    assert body["detailed_metrics"][0]["max_score"] == 100
    history = (await api.get(f"/api/tunix/runs/{run.id}/evaluations")).json()["data"]
    assert [e["score"] for e in history] == [80, 40]
    one = await api.get(f"/api/tunix/evaluations/{newest.id}")
    assert one.json()["score"] == 80
    assert (await api.get(f"/api/tunix/evaluations/{uuid.uuid4()}")).status_code == 404


async def test_leaderboard_one_row_per_run_best_first(
    api: httpx.AsyncClient, sm: Sessionmaker, eval_settings: Settings
) -> None:
    a = await add_run(sm, eval_settings, model_id="m-a", dataset_key="arith-v1")
    b = await add_run(sm, eval_settings, model_id="m-b", dataset_key="arith-v1")
    c = await add_run(sm, eval_settings, model_id="m-a", dataset_key="other-v1")
    await add_evaluation(sm, a, score=95, at=ago(30))  # superseded by a's later, worse one
    await add_evaluation(sm, a, score=60, at=ago(5))
    await add_evaluation(sm, b, score=70, at=ago(20))
    await add_evaluation(sm, c, score=10, at=ago(2))
    await add_run(sm, eval_settings)  # never evaluated: not on the board

    page = (await api.get("/api/tunix/evaluations")).json()
    assert [(r["run_id"], r["score"]) for r in page["data"]] == [
        (str(b.id), 70),
        (str(a.id), 60),
        (str(c.id), 10),
    ]
    assert [r["rank"] for r in page["data"]] == [1, 2, 3]
    first = page["data"][0]
    assert first["model_id"] == "m-b" and first["dataset_key"] == "arith-v1"
    assert set(first) >= {"run_id", "model_id", "dataset_key", "score", "verdict", "metrics"}
    assert page["pagination"] == {
        "limit": 50,
        "offset": 0,
        "next_offset": None,
        "next_cursor": None,
    }

    by_model = (await api.get("/api/tunix/evaluations", params={"model_id": "m-a"})).json()
    assert [r["run_id"] for r in by_model["data"]] == [str(a.id), str(c.id)]
    by_data = (await api.get("/api/tunix/evaluations", params={"dataset_key": "other-v1"})).json()
    assert [r["run_id"] for r in by_data["data"]] == [str(c.id)]

    # Date range: the latest evaluation *within* the range represents the run.
    old = (
        await api.get("/api/tunix/evaluations", params={"evaluated_before": ago(15).isoformat()})
    ).json()
    assert [(r["run_id"], r["score"]) for r in old["data"]] == [(str(a.id), 95), (str(b.id), 70)]
    recent = (
        await api.get("/api/tunix/evaluations", params={"evaluated_after": ago(10).isoformat()})
    ).json()
    assert [r["run_id"] for r in recent["data"]] == [str(a.id), str(c.id)]

    first_page = (await api.get("/api/tunix/evaluations", params={"limit": 2})).json()
    assert len(first_page["data"]) == 2 and first_page["pagination"]["next_offset"] == 2
    second = (await api.get("/api/tunix/evaluations", params={"limit": 2, "offset": 2})).json()
    assert [r["run_id"] for r in second["data"]] == [str(c.id)]
    assert second["data"][0]["rank"] == 3
    assert second["pagination"]["next_offset"] is None
    assert (await api.get("/api/tunix/evaluations", params={"limit": 0})).status_code == 422
    assert (await api.get("/api/tunix/evaluations", params={"offset": -1})).status_code == 422


async def test_evaluate_refuses_dry_run_unfinished_and_unknown(
    api: httpx.AsyncClient, sm: Sessionmaker, eval_settings: Settings
) -> None:
    dry = await add_run(sm, eval_settings, mode="dry-run")
    running = await add_run(sm, eval_settings, status="running", completed_at=None)
    failed = await add_run(sm, eval_settings, status="failed")
    for run, words in ((dry, "dry run"), (running, "running"), (failed, "failed")):
        response = await api.post(f"/api/tunix/runs/{run.id}/evaluate", json={})
        assert response.status_code == 400, response.text
        assert words in response.json()["detail"]
    assert (await api.post(f"/api/tunix/runs/{uuid.uuid4()}/evaluate")).status_code == 404

    done = await add_run(sm, eval_settings, dataset_key="nope-v1")
    no_split = await api.post(f"/api/tunix/runs/{done.id}/evaluate", json={})
    assert no_split.status_code == 400
    assert "no eval split" in no_split.json()["detail"]
    no_set = await api.post(f"/api/tunix/runs/{done.id}/evaluate", json={"eval_set": "ghost"})
    assert no_set.status_code == 404
    bad_judge = await api.post(
        f"/api/tunix/runs/{done.id}/evaluate", json={"judge_override": "vibes"}
    )
    assert bad_judge.status_code == 422
    assert "unknown judge 'vibes'" in bad_judge.text
    mock_judge = await api.post(
        f"/api/tunix/runs/{done.id}/evaluate", json={"judge_override": "mock"}
    )
    assert mock_judge.status_code == 422  # tests-only judge: never reaches a leaderboard
    job = await add_run(sm, eval_settings, kind="evaluate", parent_run_id=done.id)
    nested = await api.post(f"/api/tunix/runs/{job.id}/evaluate", json={})
    assert nested.status_code == 400
    # Nothing was queued by the refusals.
    runs = (await api.get("/api/tunix/runs", params={"limit": 100})).json()["data"]
    assert all(r["kind"] == "train" or r["run_id"] == str(job.id) for r in runs)


async def test_predictions_table_and_wrong_filter(
    api: httpx.AsyncClient, sm: Sessionmaker, eval_settings: Settings
) -> None:
    run = await add_run(sm, eval_settings)
    rows = [
        {
            "id": str(i),
            "prompt": f"What is {i} + {i}?",
            "output": f"Reasoning:\n1. {i} + {i} = {2 * i + (i % 2)}\nAnswer: {2 * i + (i % 2)}",
            "extracted_answer": str(2 * i + (i % 2)),
            "expected_answer": str(2 * i),
            "correct": i % 2 == 0,
            "category": "add",
            "judges": {"format": {"ok": True}},
        }
        for i in range(7)
    ]
    evaluation = await add_evaluation(sm, run, score=57.14, predictions=rows)
    page = (await api.get(f"/api/tunix/runs/{run.id}/predictions")).json()
    assert page["evaluation_id"] == str(evaluation.id)
    assert page["total"] == 7 and page["wrong"] == 3
    assert [p["id"] for p in page["data"]] == [str(i) for i in range(7)]
    assert page["data"][1]["expected_answer"] == "2" and page["data"][1]["extracted_answer"] == "3"
    assert page["data"][0]["judges"] == {"format": {"ok": True}}
    wrong = (
        await api.get(
            f"/api/tunix/runs/{run.id}/predictions", params={"wrong_only": True, "limit": 2}
        )
    ).json()
    assert [p["id"] for p in wrong["data"]] == ["1", "3"]
    assert wrong["pagination"]["next_offset"] == 2
    rest = (
        await api.get(
            f"/api/tunix/runs/{run.id}/predictions",
            params={"wrong_only": True, "limit": 2, "offset": 2},
        )
    ).json()
    assert [p["id"] for p in rest["data"]] == ["5"]
    assert rest["pagination"]["next_offset"] is None
    other = await api.get(
        f"/api/tunix/runs/{run.id}/predictions", params={"evaluation_id": str(uuid.uuid4())}
    )
    assert other.status_code == 404
    bare = await add_run(sm, eval_settings)
    assert (await api.get(f"/api/tunix/runs/{bare.id}/predictions")).status_code == 404
