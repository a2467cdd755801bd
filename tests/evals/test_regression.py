"""Regression baselines (upsert, lower_is_better) and checks in both directions."""

from __future__ import annotations

import uuid

import httpx
import pytest

from tests.evals.conftest import Sessionmaker, add_evaluation, add_run, ago
from tunix_rt.config import Settings
from tunix_rt.evals.regression import compare


@pytest.mark.parametrize(
    ("baseline", "current", "lower", "verdict"),
    [
        (0.9, 0.9, False, "pass"),
        (0.9, 0.95, False, "pass"),  # better
        (0.9, 0.855, False, "pass"),  # exactly 5% worse: not *more* than 5%
        (0.9, 0.85, False, "fail"),  # 5.6% worse
        (0.9, 0.0, False, "fail"),
        (2.0, 2.1, True, "pass"),  # loss up 5%
        (2.0, 2.11, True, "fail"),  # loss up 5.5%
        (2.0, 1.0, True, "pass"),  # loss halved
        (2.0, 1.0, False, "fail"),  # same numbers, other direction
        (-1.0, -1.04, False, "pass"),  # negative baselines compare by magnitude
        (-1.0, -1.06, False, "fail"),
        (0.0, 0.04, True, "pass"),  # zero baseline: the tolerance is absolute
        (0.0, 0.06, True, "fail"),
        (0.0, -0.5, True, "pass"),
    ],
)
def test_compare(baseline: float, current: float, lower: bool, verdict: str) -> None:
    assert compare(baseline, current, lower_is_better=lower).verdict == verdict


def test_compare_deltas() -> None:
    result = compare(80.0, 72.0, lower_is_better=False)
    assert result.delta == -8.0
    assert result.delta_percent == -10.0
    assert result.regression == 0.1
    zero = compare(0.0, 1.0, lower_is_better=False)
    assert zero.delta_percent is None and zero.verdict == "pass"
    assert compare(1.0, 0.8, lower_is_better=False, tolerance=0.25).verdict == "pass"


async def test_baselines_and_checks(
    api: httpx.AsyncClient, sm: Sessionmaker, eval_settings: Settings
) -> None:
    base_run = await add_run(sm, eval_settings)
    await add_evaluation(sm, base_run, score=80, metrics={"accuracy": 0.8, "loss": 2.0})

    created = await api.post(
        "/api/regression/baselines",
        json={"name": "main", "run_id": str(base_run.id), "metric": "accuracy"},
    )
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["name"] == "main" and body["value"] == 0.8
    assert body["metric"] == "accuracy" and body["lower_is_better"] is False
    assert body["run_id"] == str(base_run.id)

    better = await add_run(sm, eval_settings)
    await add_evaluation(sm, better, score=90, metrics={"accuracy": 0.9, "loss": 1.5})
    worse = await add_run(sm, eval_settings)
    await add_evaluation(sm, worse, score=60, metrics={"accuracy": 0.6, "loss": 2.5})

    ok = (
        await api.post(
            "/api/regression/check", json={"run_id": str(better.id), "baseline_name": "main"}
        )
    ).json()
    assert ok["verdict"] == "pass"
    assert ok["baseline_run_id"] == str(base_run.id)
    assert ok["metric_name"] == "accuracy"
    assert ok["baseline_value"] == 0.8 and ok["current_value"] == 0.9
    assert ok["delta"] == pytest.approx(0.1)
    assert ok["delta_percent"] == pytest.approx(12.5)
    assert ok["details"]["tolerance"] == 0.05
    bad = (
        await api.post(
            "/api/regression/check", json={"run_id": str(worse.id), "baseline_name": "main"}
        )
    ).json()
    assert bad["verdict"] == "fail"
    assert bad["delta_percent"] == pytest.approx(-25.0)
    assert "over the 5% tolerance" in bad["details"]["message"]

    # Upsert by name: same name, now a lower-is-better loss baseline.
    replaced = await api.post(
        "/api/regression/baselines",
        json={
            "name": "main",
            "run_id": str(base_run.id),
            "metric": "loss",
            "lower_is_better": True,
        },
    )
    assert replaced.status_code == 201
    assert replaced.json()["created_at"] == body["created_at"]
    assert replaced.json()["value"] == 2.0
    listed = (await api.get("/api/regression/baselines")).json()["data"]
    assert [(b["name"], b["metric"], b["lower_is_better"]) for b in listed] == [
        ("main", "loss", True)
    ]
    lower = await api.post(
        "/api/regression/check", json={"run_id": str(better.id), "baseline_name": "main"}
    )
    assert lower.json()["verdict"] == "pass"  # loss 1.5 < 2.0
    higher = await api.post(
        "/api/regression/check", json={"run_id": str(worse.id), "baseline_name": "main"}
    )
    assert higher.json()["verdict"] == "fail"  # loss 2.5 is 25% worse

    # A newer evaluation of the checked run is what counts.
    await add_evaluation(sm, worse, score=95, metrics={"accuracy": 0.95, "loss": 1.0})
    again = await api.post(
        "/api/regression/check", json={"run_id": str(worse.id), "baseline_name": "main"}
    )
    assert again.json()["verdict"] == "pass"

    assert (await api.get("/api/regression/baselines/main")).status_code == 200
    assert (await api.delete("/api/regression/baselines/main")).status_code == 204
    assert (await api.get("/api/regression/baselines/main")).status_code == 404


async def test_baseline_and_check_errors(
    api: httpx.AsyncClient, sm: Sessionmaker, eval_settings: Settings
) -> None:
    fresh = await add_run(sm, eval_settings)
    none_yet = await api.post(
        "/api/regression/baselines", json={"name": "b1", "run_id": str(fresh.id)}
    )
    assert none_yet.status_code == 400
    assert "no evaluation" in none_yet.json()["detail"]
    await add_evaluation(sm, fresh, score=50, metrics={"accuracy": 0.5}, at=ago(1))
    no_metric = await api.post(
        "/api/regression/baselines",
        json={"name": "b1", "run_id": str(fresh.id), "metric": "bleu"},
    )
    assert no_metric.status_code == 400
    assert "no metric 'bleu'" in no_metric.json()["detail"]
    assert "accuracy" in no_metric.json()["detail"]
    unknown_run = await api.post(
        "/api/regression/baselines", json={"name": "b1", "run_id": str(uuid.uuid4())}
    )
    assert unknown_run.status_code == 404
    bad_name = await api.post(
        "/api/regression/baselines", json={"name": "../x", "run_id": str(fresh.id)}
    )
    assert bad_name.status_code == 422

    ok = await api.post("/api/regression/baselines", json={"name": "b1", "run_id": str(fresh.id)})
    assert ok.status_code == 201 and ok.json()["metric"] == "score"
    no_baseline = await api.post(
        "/api/regression/check", json={"run_id": str(fresh.id), "baseline_name": "nope"}
    )
    assert no_baseline.status_code == 404
    unevaluated = await add_run(sm, eval_settings)
    not_evaluated = await api.post(
        "/api/regression/check", json={"run_id": str(unevaluated.id), "baseline_name": "b1"}
    )
    assert not_evaluated.status_code == 400
    assert (
        await api.post(
            "/api/regression/check", json={"run_id": str(uuid.uuid4()), "baseline_name": "b1"}
        )
    ).status_code == 404
