"""Browser test (model registry, SPEC §11): train a tiny run, register its model from the
run page as a new model, find it on the Models page with its SHA-256 and metrics, point
the alias ``champion`` at it, download the archive, and see deleting the aliased version
refused with the server's message.

data-testid values (``area:element``):

  nav:       nav:models
  register:  register:panel  register:model  register:new-name  register:version
             register:submit  register:error  register:models-error
             register:result (data-ref, data-created)  register:open
  models:    models:list  models:row (data-name)  models:row-link  models:row-versions
             models:row-latest  models:row-aliases  models:empty  models:error
             models:create-name  models:create-description  models:create-submit
             models:field-error  models:create-error  models:create-result (data-name)
             models:open
  model:     model:back  model:name  model:description  model:version-count  model:error
             model:versions  model:versions-empty  model:version (data-version)
             model:version-name  model:version-ref  model:version-aliases
             model:version-alias  model:version-metrics  model:version-score
             model:metric (data-name)  model:version-no-metrics
             model:version-sha256 (data-sha256, title)  model:version-size (data-bytes)
             model:version-run  model:version-run-deleted  model:version-dataset
             model:version-base-model  model:version-config  model:version-download
             model:version-delete  model:version-delete-confirm  model:version-delete-cancel
             model:version-delete-error  model:aliases-panel  model:aliases
             model:aliases-empty  model:alias (data-alias, data-version)
             model:alias-version  model:alias-remove  model:alias-remove-error
             model:alias-name  model:alias-target  model:alias-submit  model:alias-error
             model:alias-result  model:delete  model:delete-confirm  model:delete-error
"""

from __future__ import annotations

import io
import re
import tarfile
import time
import urllib.request
import uuid
from collections.abc import Callable
from typing import Any, TypeVar

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.test_runs_ui import arithmetic_dataset
from tests.e2e.test_ui import api_request

pytestmark = pytest.mark.e2e

TRAIN_TIMEOUT_S = 420.0
EVAL_TIMEOUT_S = 420.0
EXPORT_MS = 240_000  # the export child imports JAX: slow on a busy 2-core machine

T = TypeVar("T")


def wait_for(what: str, timeout_s: float, probe: Callable[[], T | None]) -> T:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = probe()
        if found is not None:
            return found
        time.sleep(1)
    pytest.fail(f"{what} did not happen in {timeout_s:.0f}s")


def tiny_trained_run(server_url: str, dataset_key: str) -> str:
    """A real local training of a few steps, waited for until it completes."""
    body = {
        "dataset_key": dataset_key,
        "model_id": "tunix-rt/tiny-gemma",
        "dry_run": False,
        "learning_rate": 0.003,
        "num_epochs": 1,
        "batch_size": 4,
        "max_seq_length": 128,
        "max_steps": 3,
    }
    status, run = api_request(server_url, "POST", "/api/tunix/run?mode=async", body)
    assert status == 202, run
    run_id = str(run["run_id"])

    def finished() -> str | None:
        _, info = api_request(server_url, "GET", f"/api/tunix/runs/{run_id}/status")
        if info["status"] in ("completed", "failed", "timeout", "cancelled"):
            return str(info["status"])
        return None

    assert wait_for(f"run {run_id}", TRAIN_TIMEOUT_S, finished) == "completed"
    return run_id


def evaluated(server_url: str, run_id: str, dataset_key: str) -> dict[str, Any]:
    """The run's evaluation: the automatic one (its dataset has an eval split), or one asked
    for now when automatic evaluation is off."""
    _, page = api_request(server_url, "GET", f"/api/tunix/runs?dataset_key={dataset_key}")
    if not any(r["kind"] == "evaluate" for r in page["data"]):
        # A synchronous evaluation: longer than api_request's 10 s timeout.
        request = urllib.request.Request(
            f"{server_url}/api/tunix/runs/{run_id}/evaluate",
            data=b"{}",
            method="POST",
            headers={"content-type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=EVAL_TIMEOUT_S) as response:
            assert response.status == 201

    def latest() -> dict[str, Any] | None:
        status, evaluation = api_request(server_url, "GET", f"/api/tunix/runs/{run_id}/evaluation")
        return evaluation if status == 200 else None

    return wait_for(f"evaluation of {run_id}", EVAL_TIMEOUT_S, latest)


def test_register_alias_download_and_refused_delete(page: Page, server_url: str) -> None:
    tag = uuid.uuid4().hex[:8]
    key = arithmetic_dataset(server_url, f"reg-{tag}", count=12, eval_fraction=0.25, seed=11)
    run_id = tiny_trained_run(server_url, key)
    evaluation = evaluated(server_url, run_id, key)
    name = f"arith-{tag}"

    # The run page offers registration; a new model is created on the way.
    page.goto(f"/runs/{run_id}")
    panel = page.get_by_test_id("register:panel")
    expect(panel).to_be_visible()
    expect(page.get_by_test_id("register:model")).to_have_value("")  # "New model…"
    page.get_by_test_id("register:new-name").fill(name)
    page.get_by_test_id("register:submit").click()
    result = page.get_by_test_id("register:result")
    expect(result).to_have_text(re.compile(f"Registered as {name}@v1"), timeout=EXPORT_MS)
    expect(result).to_have_attribute("data-created", "true")

    # A second registration into the now existing model, as a version name it has: the
    # server's 409 is shown (refused before any export).
    page.get_by_test_id("register:model").select_option(name)
    expect(page.get_by_test_id("register:new-name")).to_have_count(0)
    page.get_by_test_id("register:version").fill("v1")
    page.get_by_test_id("register:submit").click()
    expect(page.get_by_test_id("register:error")).to_contain_text("has a version 'v1' already")
    expect(page.get_by_test_id("register:error")).to_contain_text("409")

    _, model = api_request(server_url, "GET", f"/api/models/{name}")
    assert model["version_count"] == 1, model
    version = model["versions"][0]
    assert version["run_id"] == run_id and version["ref"] == f"{name}@v1", version
    assert version["metrics"]["score"] == pytest.approx(evaluation["score"]), version

    # The Models page lists it; its page shows the version.
    page.get_by_test_id("nav:models").click()
    row = page.locator(f'[data-testid="models:row"][data-name="{name}"]')
    expect(row.get_by_test_id("models:row-versions")).to_have_text("1")
    expect(row.get_by_test_id("models:row-latest")).to_have_text("v1")
    expect(row.get_by_test_id("models:row-aliases")).to_have_text("—")

    # The create form shows the server's refusal of a taken name under the field.
    page.get_by_test_id("models:create-name").fill(name)
    page.get_by_test_id("models:create-submit").click()
    expect(page.get_by_test_id("models:field-error")).to_contain_text("exists already")

    row.get_by_test_id("models:row-link").click()
    expect(page).to_have_url(re.compile(f"/models/{name}$"))
    v1 = page.locator('[data-testid="model:version"][data-version="v1"]')
    sha = v1.get_by_test_id("model:version-sha256")
    expect(sha).to_have_attribute("data-sha256", version["sha256"])
    expect(sha).to_have_attribute("title", version["sha256"])
    expect(sha).to_have_text(f"{version['sha256'][:12]}…")
    expect(v1.get_by_test_id("model:version-ref")).to_have_text(f"{name}@v1")
    score = v1.get_by_test_id("model:version-score")
    assert float(score.inner_text()) == pytest.approx(evaluation["score"], rel=1e-3, abs=1e-3)
    numeric = [
        k for k, val in version["metrics"].items() if k != "score" and type(val) in (int, float)
    ]
    expect(v1.get_by_test_id("model:metric")).to_have_count(len(numeric))
    expect(v1.get_by_test_id("model:version-run")).to_have_attribute("href", f"/runs/{run_id}")
    expect(v1.get_by_test_id("model:version-dataset")).to_have_text(key)
    expect(v1.get_by_test_id("model:version-base-model")).to_have_text("tunix-rt/tiny-gemma")
    expect(v1.get_by_test_id("model:version-size")).to_have_attribute(
        "data-bytes", str(version["size_bytes"])
    )

    # Point the alias champion at v1 through the form.
    page.get_by_test_id("model:alias-name").fill("champion")
    page.get_by_test_id("model:alias-target").select_option("v1")
    page.get_by_test_id("model:alias-submit").click()
    expect(page.get_by_test_id("model:alias-result")).to_contain_text(f"{name}@champion")
    alias = page.locator('[data-testid="model:alias"][data-alias="champion"]')
    expect(alias).to_have_attribute("data-version", "v1")
    expect(v1.get_by_test_id("model:version-alias")).to_have_text(["champion"])
    _, by_alias = api_request(server_url, "GET", f"/api/models/{name}/versions/champion")
    assert by_alias["version"] == "v1", by_alias

    # The download link gives the Hugging Face-layout archive of exactly these weights.
    href = v1.get_by_test_id("model:version-download").get_attribute("href")
    assert href == f"/api/models/{name}/versions/v1/download"
    with urllib.request.urlopen(server_url + href, timeout=60) as response:
        assert response.status == 200
        assert response.headers["X-Model-SHA256"] == version["sha256"]
        archive = response.read()
    assert archive[:2] == b"\x1f\x8b"  # gzip
    with tarfile.open(fileobj=io.BytesIO(archive), mode="r:gz") as tar:
        names = {member.name for member in tar.getmembers()}
    assert {f"{name}-v1/config.json", f"{name}-v1/model.safetensors"} <= names, names

    # Deleting the aliased version is refused; the server's message says why.
    v1.get_by_test_id("model:version-delete").click()
    v1.get_by_test_id("model:version-delete-confirm").click()
    refused = page.get_by_test_id("model:version-delete-error")
    expect(refused).to_contain_text("target of alias champion")
    expect(refused).to_contain_text("409")
    expect(v1).to_be_visible()
    _, model = api_request(server_url, "GET", f"/api/models/{name}")
    assert model["version_count"] == 1 and model["aliases"] == {"champion": "v1"}, model
