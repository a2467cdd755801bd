"""Real end to end, nothing faked: a tiny Tunix training run, then an evaluation that
generates answers with the trained model, judges them, and ranks the run.

The dataset mixes High Card Duel episodes (the answer is always ``reveal``: a tiny model
learns it, and the numbered-steps format, in ~150 steps) with one-digit additions (which
need far longer training; examples/arithmetic_demo shows that). So the accuracy is well
above zero, and the per-category breakdown shows which part the model learned.
"""

from __future__ import annotations

import uuid

import httpx
import pytest
from sqlalchemy import select

from tests.evals.conftest import Sessionmaker
from tunix_rt.models.run import Run
from tunix_rt.runs.service import tunix_status

pytestmark = pytest.mark.skipif(
    not tunix_status().available, reason="Tunix/JAX not installed: local training impossible"
)

TRAIN = {
    "model_id": "tunix-rt/tiny-gemma",
    "dry_run": False,
    "learning_rate": 0.005,
    "num_epochs": 100,
    "max_steps": 150,
    "warmup_steps": 5,
    "batch_size": 8,
    "max_seq_length": 96,
    "seed": 0,
}


async def build_mixed_dataset(api: httpx.AsyncClient) -> str:
    games = await api.post("/api/ungar/high-card-duel/generate", json={"count": 40, "seed": 1})
    assert games.status_code == 201, games.text
    sums = await api.post(
        "/api/generators/arithmetic/generate",
        json={"count": 60, "seed": 3, "digits": 1, "ops": ["+"]},
    )
    assert sums.status_code == 201, sums.text
    built = await api.post(
        "/api/datasets/build",
        json={
            "dataset_name": "mixed",
            "dataset_version": "v1",
            "limit": 100,
            "eval_fraction": 0.2,
            "selection_strategy": "random",
            "seed": 5,
        },
    )
    assert built.status_code == 201, built.text
    key: str = built.json()["dataset_key"]
    return key


async def test_train_evaluate_rank(api: httpx.AsyncClient, sm: Sessionmaker) -> None:
    key = await build_mixed_dataset(api)
    trained = await api.post("/api/tunix/run", json={"dataset_key": key, **TRAIN}, timeout=900)
    assert trained.status_code == 202, trained.text
    run = trained.json()
    assert run["status"] == "completed", run["stderr"] or run["message"]
    run_id = run["run_id"]

    # Training finished: an evaluation with the default judges was queued for a worker.
    async with sm() as session:
        queued = (
            await session.scalars(select(Run).where(Run.parent_run_id == uuid.UUID(run_id)))
        ).all()
    assert [(j.kind, j.status) for j in queued] == [("evaluate", "pending")]
    assert queued[0].config["judges"] == ["answer_correctness@1", "format@1"]
    assert (await api.post(f"/api/tunix/runs/{queued[0].id}/cancel")).status_code == 200

    evaluated = await api.post(
        f"/api/tunix/runs/{run_id}/evaluate",
        json={
            "judge_override": "answer_correctness,format,baseline,llm_judge",
            "batch_size": 32,
            "max_new_tokens": 64,
        },
        timeout=900,
    )
    assert evaluated.status_code == 201, evaluated.text
    ev = evaluated.json()
    manifest = (await api.get(f"/api/datasets/{key}")).json()
    assert ev["item_count"] == len(manifest["splits"]["eval"]) > 0
    by_category = ev["detailed_metrics"][0]["details"]["by_category"]
    print(f"evaluation of run {run_id}: metrics {ev['metrics']}, by category {by_category}")
    # Which traces land in the eval split depends on their (random) ids; 40 of the 100
    # are games, so some always do. The model must get (nearly) all of those right.
    games_share = by_category["high_card_duel"]["total"] / ev["item_count"]
    assert by_category["high_card_duel"]["accuracy"] >= 0.75, by_category
    assert ev["metrics"]["accuracy"] >= 0.75 * games_share > 0, ev["metrics"]
    assert ev["score"] == pytest.approx(100 * ev["metrics"]["accuracy"], abs=0.01)
    # At 60 steps one run in ten still merged two steps of the game (numbering 1, 2, 4):
    # right answer, wrong format. 150 steps learns both in every run tried.
    assert ev["metrics"]["format_rate"] >= 0.75 * games_share, ev["metrics"]
    assert ev["metrics"]["llm_judge_score"] == pytest.approx(ev["metrics"]["accuracy"], abs=1e-3)

    page = (await api.get(f"/api/tunix/runs/{run_id}/predictions", params={"limit": 1000})).json()
    assert page["total"] == ev["item_count"]
    assert (
        sum(p["correct"] for p in page["data"]) == ev["detailed_metrics"][0]["details"]["correct"]
    )
    games = [p for p in page["data"] if p["category"] == "high_card_duel"]
    assert any(p["output"].rstrip().endswith("Answer: reveal") for p in games)

    board = (await api.get("/api/tunix/evaluations", params={"dataset_key": key})).json()
    assert [(r["run_id"], r["score"]) for r in board["data"]] == [(run_id, ev["score"])]
    artifacts = (await api.get(f"/api/tunix/runs/{run_id}/artifacts")).json()["artifacts"]
    assert "predictions.jsonl" in {a["path"] for a in artifacts}
