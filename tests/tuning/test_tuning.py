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
        assert evaluation.status_code == 200, (trial["message"], evaluation.text)
        assert trial["message"] is None
    best = min(job["trials"], key=lambda t: t["metric_value"])
    assert job["best"]["trial_id"] == best["trial_id"]
    assert job["best"]["metric_value"] == best["metric_value"]
    board = (await api.get("/api/tunix/evaluations")).json()["data"]
    assert {t["run_id"] for t in job["trials"]} <= {row["run_id"] for row in board}
    listed = (await api.get("/api/tuning/jobs")).json()["data"]
    assert listed[0]["job_id"] == job_id and listed[0]["trials_finished"] == 3


async def test_asha_stops_the_clearly_worse_trials_and_their_runs_end_cancelled(
    api: httpx.AsyncClient,
) -> None:
    """Learning rate 1e-6 among 0.01s, run one at a time: a 1e-6 trial that runs after a
    0.01 trial is behind it at its first eval point, and ASHA stops it there."""
    key = await arithmetic_dataset(api)
    created = await api.post(
        "/api/tuning/jobs",
        json={
            "name": "asha",
            "dataset_key": key,
            "model_id": "tunix-rt/tiny-gemma",
            "base": {**TRIAL_BASE, "max_steps": 60, "eval_every": 4},
            "search_space": {"learning_rate": {"type": "choice", "values": [0.01, 1e-6]}},
            "metric": "eval_loss",
            "num_trials": 3,
            "max_concurrent": 1,
            "scheduler": "asha",
            "seed": 1,
        },
    )
    assert created.status_code == 201, created.text
    job = await wait_for_job(api, created.json()["job_id"])
    assert job["status"] == "completed", job
    trials = job["trials"]
    assert len(trials) == 3
    rates = [t["params"]["learning_rate"] for t in trials]
    assert 0.01 in rates[:2] and 1e-6 in rates[1:], rates  # seed 1: a bad one after a good one
    stopped = [t for t in trials if t["stopped_early"]]
    assert stopped, trials
    for trial in trials:
        if trial["params"]["learning_rate"] == 0.01:
            assert trial["status"] == "completed" and not trial["stopped_early"], trial
    first_good = rates.index(0.01)
    for trial in trials[first_good + 1 :]:
        if trial["params"]["learning_rate"] == 1e-6:
            assert trial in stopped, trials
    for trial in stopped:
        assert trial["status"] == "cancelled", trial
        assert trial["metric_value"] is not None  # its last held-out loss, for the plots
        run = (await api.get(f"/api/tunix/runs/{trial['run_id']}")).json()
        assert run["message"].startswith("stopped early by ASHA: eval_loss"), run["message"]
        metrics = (await api.get(f"/api/tunix/runs/{trial['run_id']}/metrics")).json()
        assert max(p["step"] for p in metrics["data"]) < 60  # stopped before the end
    assert job["best"]["params"]["learning_rate"] == 0.01
