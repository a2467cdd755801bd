"""Real tuning jobs through the API: Ray Tune drives trials that are ordinary runs of the
tiny preset (nothing here fakes Ray or Tunix)."""

from __future__ import annotations

import httpx

from tests.tuning.conftest import TRIAL_BASE, arithmetic_dataset, wait_for_job


async def test_a_three_trial_random_search_runs_each_trial_as_a_run(
    api: httpx.AsyncClient,
) -> None:
    key = await arithmetic_dataset(api)
    created = await api.post(
        "/api/tuning/jobs",
        json={
            "name": "lr-search",
            "dataset_key": key,
            "model_id": "tunix-rt/tiny-gemma",
            "base": TRIAL_BASE,
            "search_space": {"learning_rate": {"type": "loguniform", "min": 1e-3, "max": 1e-2}},
            "metric": "eval_loss",
            "mode": "min",
            "num_trials": 3,
            "search": "random",
            "seed": 7,
        },
    )
    assert created.status_code == 201, created.text
    job_id = created.json()["job_id"]
    assert created.json()["status"] == "pending"
    job = await wait_for_job(api, job_id)
    assert job["status"] == "completed", job
    assert len(job["trials"]) == 3
    for trial in job["trials"]:
        assert trial["status"] == "completed" and trial["metric_value"] is not None
        assert 1e-3 <= trial["params"]["learning_rate"] <= 1e-2
        run = (await api.get(f"/api/tunix/runs/{trial['run_id']}")).json()
        assert run["config"]["learning_rate"] == trial["params"]["learning_rate"]
        assert run["config"]["tuning"] == {"job_id": job_id, "trial_id": trial["trial_id"]}
        metrics = (await api.get(f"/api/tunix/runs/{trial['run_id']}/metrics")).json()
        evals = [p["eval_loss"] for p in metrics["data"] if p["eval_loss"] is not None]
        assert evals[-1] == trial["metric_value"]
        evaluation = await api.get(f"/api/tunix/runs/{trial['run_id']}/evaluation")
        assert evaluation.status_code == 200, evaluation.text
    best = min(job["trials"], key=lambda t: t["metric_value"])
    assert job["best"]["trial_id"] == best["trial_id"]
    assert job["best"]["metric_value"] == best["metric_value"]
    board = (await api.get("/api/tunix/evaluations")).json()["data"]
    assert {t["run_id"] for t in job["trials"]} <= {row["run_id"] for row in board}
    listed = (await api.get("/api/tuning/jobs")).json()["data"]
    assert listed[0]["job_id"] == job_id and listed[0]["trials_finished"] == 3
