"""Bad tuning requests: 4xx naming the field, nothing stored, no Ray started."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.tuning.conftest import TRIAL_BASE, arithmetic_dataset

LR = {"learning_rate": {"type": "loguniform", "min": 1e-4, "max": 1e-2}}


@pytest.mark.parametrize(
    ("change", "status", "loc"),
    [
        (
            {"search_space": {"momentum": {"type": "uniform", "min": 0, "max": 1}}},
            422,
            ["body", "search_space", "momentum", "[key]"],
        ),
        ({"search_space": {}}, 422, ["body", "search_space"]),
        (
            {"search_space": {"seed": {"type": "choice", "values": []}}},
            422,
            ["body", "search_space", "seed", "choice", "values"],
        ),
        (
            {"search_space": {"learning_rate": {"type": "uniform", "min": 0.1, "max": 0.01}}},
            422,
            ["body", "search_space", "learning_rate", "max"],
        ),
        (
            {"search_space": {"learning_rate": {"type": "uniform", "min": 0.1, "max": 0.1}}},
            422,
            ["body", "search_space", "learning_rate", "max"],
        ),
        (
            {"search_space": {"learning_rate": {"type": "uniform", "min": 0.5, "max": 2}}},
            422,
            ["body", "search_space", "learning_rate", "max"],
        ),
        (
            {"search_space": {"learning_rate": {"type": "loguniform", "min": 0, "max": 0.1}}},
            422,
            ["body", "search_space", "learning_rate", "min"],
        ),
        (
            {"search_space": {"batch_size": {"type": "randint", "min": 1, "max": 1000}}},
            422,
            ["body", "search_space", "batch_size", "max"],
        ),
        (
            {"search_space": {"batch_size": {"type": "uniform", "min": 1, "max": 8}}},
            422,
            ["body", "search_space", "batch_size", "type"],
        ),
        (
            {"search_space": {"seed": {"type": "choice", "values": [1, -5]}}},
            422,
            ["body", "search_space", "seed", "values", 1],
        ),
        (
            {"search_space": {"completion_format": {"type": "choice", "values": ["poetry"]}}},
            422,
            ["body", "search_space", "completion_format", "values", 0],
        ),
        (
            {"search_space": {"weight_decay": {"type": "quniform", "min": 0, "max": 1}}},
            422,
            ["body", "search_space", "weight_decay", "q"],
        ),
        ({"num_trials": 0}, 422, ["body", "num_trials"]),
        ({"num_trials": 1001}, 422, ["body", "num_trials"]),
        ({"max_concurrent": 0}, 422, ["body", "max_concurrent"]),
        ({"metric": "vibes"}, 422, ["body", "metric"]),
        ({"mode": "sideways"}, 422, ["body", "mode"]),
        ({"search": "grid"}, 422, ["body", "search"]),
        ({"scheduler": "hyperband"}, 422, ["body", "scheduler"]),
        ({"base": {"batch_size": 513}}, 422, ["body", "base", "batch_size"]),
        ({"name": "a b"}, 422, ["body", "name"]),
        ({"model_id": "/etc"}, 422, ["body", "model_id"]),
        ({"dataset_key": "nope-v1"}, 404, None),
    ],
)
async def test_bad_requests_name_the_field_and_store_nothing(
    api: httpx.AsyncClient, change: dict[str, Any], status: int, loc: list[Any] | None
) -> None:
    key = await arithmetic_dataset(api)
    body = {
        "name": "bad",
        "dataset_key": key,
        "model_id": "tunix-rt/tiny-gemma",
        "base": TRIAL_BASE,
        "search_space": LR,
        **change,
    }
    response = await api.post("/api/tuning/jobs", json=body)
    assert response.status_code == status, response.text
    if loc is not None:
        locs = [e["loc"] for e in response.json()["detail"]]
        assert loc in locs, locs
    assert (await api.get("/api/tuning/jobs")).json()["data"] == []
    assert (await api.get("/api/tunix/runs")).json()["data"] == []


async def test_asha_and_eval_loss_need_an_eval_split(api: httpx.AsyncClient) -> None:
    from tunix_rt.generators.arithmetic import generate_arithmetic

    await api.post("/api/traces/batch", json=generate_arithmetic(16, seed=1, digits=1))
    built = await api.post(
        "/api/datasets/build", json={"dataset_name": "nosplit", "dataset_version": "v1"}
    )
    key = built.json()["dataset_key"]
    body = {"name": "j", "dataset_key": key, "model_id": "tunix-rt/tiny-gemma", "search_space": LR}
    for extra, field in (
        ({"scheduler": "asha", "metric": "accuracy"}, "scheduler"),
        ({}, "metric"),
    ):
        response = await api.post("/api/tuning/jobs", json={**body, **extra})
        assert response.status_code == 422, response.text
        assert response.json()["detail"][0]["loc"] == ["body", field]
        assert "no eval split" in response.text
    assert (await api.get("/api/tuning/jobs")).json()["data"] == []


async def test_unknown_jobs_are_404(api: httpx.AsyncClient) -> None:
    missing = "00000000-0000-0000-0000-000000000000"
    assert (await api.get(f"/api/tuning/jobs/{missing}")).status_code == 404
    assert (await api.post(f"/api/tuning/jobs/{missing}/cancel")).status_code == 404
    # A run that is not a tuning job is not one either.
    assert (await api.get("/api/tuning/jobs/not-a-uuid")).status_code == 422
