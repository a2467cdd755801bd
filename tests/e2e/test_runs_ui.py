"""Browser test (issue 5): launch a tiny async run from the UI, follow its log and loss
chart, reload mid-run and see the log continue without gaps, cancel another run.

data-testid values (``area:element``) of the Runs pages:

  nav:        nav:generators  nav:datasets  nav:runs  nav:leaderboard  nav:regression
  runs:       runs:filter-status  runs:filter-mode  runs:filter-dataset  runs:list
              runs:row (data-run-id, data-status)  runs:row-link  runs:row-status
              (data-status)  runs:empty  runs:error  runs:prev  runs:next
  launch:     launch:dataset  launch:model  launch:model-path  launch:mode-dry-run
              launch:mode-local  launch:async  launch:learning-rate  launch:num-epochs
              launch:batch-size  launch:max-seq-length  launch:max-steps  launch:seed
              launch:lora-rank  launch:eval-every  launch:checkpoint-every
              launch:timeout-seconds  launch:priority  launch:completion-format
              launch:group-by-length
              launch:field-error  launch:submit  launch:error
              launch:result (data-run-id)  launch:open  launch:status (data-status)
  run:        run:back  run:id  run:error  run:status (data-status)  run:model
              run:attempt  run:worker  run:duration  run:exit-code  run:message
              run:config  run:report  run:training  run:progress (data-step,
              data-total)  run:step  run:total-steps  run:eta  run:progress-empty
              run:chart (data-train-points, data-eval-points, data-last-step)
              run:chart-empty  run:chart-line-train  run:chart-line-eval
              run:log-state (data-state)  run:log-count  run:log  run:log-line
              (data-seq)  run:log-error  run:artifacts  run:artifact (data-path)
              run:artifact-download  run:artifacts-empty  run:cancel
              run:cancel-message  run:cancel-error  run:delete  run:delete-confirm
              run:delete-error
  dashboard:  dashboard:dataset-count  dashboard:run-count  dashboard:recent-runs
              dashboard:recent-run (data-run-id)  dashboard:run-status
"""

from __future__ import annotations

import json
import re
import uuid
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.test_ui import api_request
from tests.training.helpers import training_texts, write_arithmetic
from tests.training.hf_checkpoint import write_tiny_gemma2

pytestmark = pytest.mark.e2e

RUN_START_MS = 180_000  # JAX start-up and compilation on a busy 2-core machine
RUN_DONE_MS = 420_000


def arithmetic_dataset(
    server_url: str, name: str, count: int = 48, eval_fraction: float = 0.0, seed: int = 1
) -> str:
    """Generate arithmetic traces and build a dataset of exactly them through the API."""
    status, generated = api_request(
        server_url, "POST", "/api/generators/arithmetic/generate", {"count": count, "seed": seed}
    )
    assert status == 201, generated
    status, built = api_request(
        server_url,
        "POST",
        "/api/datasets/build",
        {
            "dataset_name": name,
            "dataset_version": "v1",
            "filters": {"source": "arithmetic"},
            "limit": count,
            "eval_fraction": eval_fraction,
        },
    )
    assert status == 201, built
    return str(built["dataset_key"])


def launch(page: Page, dataset_key: str, **fields: Any) -> str:
    """Fill the launch form (local, async) and submit it; returns the run id."""
    page.goto("/runs")
    page.get_by_test_id("launch:dataset").select_option(dataset_key)
    page.get_by_test_id("launch:model").select_option("tunix-rt/tiny-gemma")
    page.get_by_test_id("launch:mode-local").check()
    page.get_by_test_id("launch:async").check()
    for name, value in fields.items():
        field = page.get_by_test_id(f"launch:{name.replace('_', '-')}")
        if isinstance(value, bool):
            field.set_checked(value)
        else:
            field.fill(str(value))
    page.get_by_test_id("launch:submit").click()
    result = page.get_by_test_id("launch:result")
    expect(result).to_be_visible()
    run_id = result.get_attribute("data-run-id")
    assert run_id and re.fullmatch(r"[0-9a-f-]{36}", run_id)
    return run_id


def log_seqs(page: Page) -> list[int]:
    return [
        int(s)
        for s in page.get_by_test_id("run:log-line").evaluate_all(
            "els => els.map(e => e.dataset.seq)"
        )
    ]


def chart_points(page: Page) -> int:
    chart = page.get_by_test_id("run:chart")
    return int(chart.get_attribute("data-train-points") or 0) if chart.count() else 0


def test_form_validates_before_submitting(page: Page, server_url: str) -> None:
    key = arithmetic_dataset(server_url, f"val-{uuid.uuid4().hex[:8]}", count=4, seed=5)
    page.goto("/runs")
    page.get_by_test_id("launch:submit").click()
    expect(page.get_by_test_id("launch:field-error").first).to_have_text("pick a dataset")
    page.get_by_test_id("launch:dataset").select_option(key)
    page.get_by_test_id("launch:learning-rate").fill("3")
    page.get_by_test_id("launch:batch-size").fill("0")
    page.get_by_test_id("launch:submit").click()
    errors = page.get_by_test_id("launch:field-error")
    expect(errors).to_have_text(["must be in (0, 1]", "must be between 1 and 512"])
    expect(page.get_by_test_id("launch:result")).to_have_count(0)

    # A dry-run, sync, goes straight through and completes.
    page.get_by_test_id("launch:learning-rate").fill("0.003")
    page.get_by_test_id("launch:batch-size").fill("4")
    page.get_by_test_id("launch:mode-dry-run").check()
    page.get_by_test_id("launch:async").uncheck()
    page.get_by_test_id("launch:submit").click()
    expect(page.get_by_test_id("launch:status")).to_have_attribute(
        "data-status", "completed", timeout=RUN_START_MS
    )
    page.get_by_test_id("launch:open").click()
    expect(page.get_by_test_id("run:status")).to_have_attribute("data-status", "completed")
    expect(page.get_by_test_id("run:report")).to_be_visible()


def test_launch_from_a_local_checkpoint_directory(
    page: Page, server_url: str, server_data_dir: Path, tmp_path: Path
) -> None:
    key = arithmetic_dataset(server_url, f"local-{uuid.uuid4().hex[:8]}", count=8, seed=2)
    write_arithmetic(tmp_path / "texts.jsonl", 64, seed=5)
    # Hugging Face layout, as a user would download it into a model directory.
    checkpoint = server_data_dir / "models" / f"tiny-gemma2-{uuid.uuid4().hex[:8]}"
    write_tiny_gemma2(checkpoint, training_texts(tmp_path / "texts.jsonl"))

    page.goto("/runs")
    page.get_by_test_id("launch:dataset").select_option(key)
    page.get_by_test_id("launch:model").select_option("local")
    page.get_by_test_id("launch:mode-dry-run").check()
    page.get_by_test_id("launch:async").uncheck()
    page.get_by_test_id("launch:submit").click()
    expect(page.get_by_test_id("launch:field-error")).to_have_text(
        "enter a local checkpoint directory"
    )
    page.get_by_test_id("launch:model-path").fill(str(checkpoint))
    page.get_by_test_id("launch:submit").click()
    expect(page.get_by_test_id("launch:status")).to_have_attribute(
        "data-status", "completed", timeout=RUN_START_MS
    )
    run_id = page.get_by_test_id("launch:result").get_attribute("data-run-id")
    page.get_by_test_id("launch:open").click()
    expect(page.get_by_test_id("run:model")).to_have_text(str(checkpoint))
    expect(page.get_by_test_id("run:report")).to_be_visible()
    _, run = api_request(server_url, "GET", f"/api/tunix/runs/{run_id}")
    assert run["model_id"] == str(checkpoint) and run["status"] == "completed", run


def test_async_run_live_logs_chart_reload_and_cancel(page: Page, server_url: str) -> None:
    key = arithmetic_dataset(server_url, f"runs-{uuid.uuid4().hex[:8]}", eval_fraction=0.25)
    run_id = launch(
        page,
        key,
        learning_rate=0.003,
        batch_size=8,
        max_seq_length=128,
        max_steps=240,
        eval_every=40,
        group_by_length=True,
    )
    status, run = api_request(server_url, "GET", f"/api/tunix/runs/{run_id}")
    assert status == 200 and run["config"]["group_by_length"] is True, run
    # A second run queues behind it (or starts beside it); it is the one we cancel.
    other_id = launch(page, key, max_steps=400, priority=-1, packing=True)
    status, other = api_request(server_url, "GET", f"/api/tunix/runs/{other_id}")
    assert status == 200 and other["config"]["packing"] is True, other

    # The history lists both, and its status badges follow the runs without a reload.
    page.goto("/runs")
    for rid in (run_id, other_id):
        expect(page.locator(f'[data-testid="runs:row"][data-run-id="{rid}"]')).to_be_visible()
    first_row = page.locator(f'[data-testid="runs:row"][data-run-id="{run_id}"]')
    expect(first_row.get_by_test_id("runs:row-status")).to_have_attribute(
        "data-status", "running", timeout=RUN_START_MS
    )

    # Cancel the second run from its page.
    page.goto(f"/runs/{other_id}")
    page.get_by_test_id("run:cancel").click()
    expect(page.get_by_test_id("run:status")).to_have_attribute(
        "data-status", "cancelled", timeout=60_000
    )
    expect(page.get_by_test_id("run:cancel")).to_have_count(0)
    expect(page.get_by_test_id("run:delete")).to_be_visible()

    # Follow the first run live.
    page.goto(f"/runs/{run_id}")
    status = page.get_by_test_id("run:status")
    expect(status).to_have_attribute("data-status", "running", timeout=RUN_START_MS)
    expect(page.get_by_test_id("run:worker")).not_to_have_text("—")
    expect(page.get_by_test_id("run:log-state")).to_have_attribute("data-state", "live")
    expect(page.get_by_test_id("run:chart")).to_be_visible(timeout=RUN_START_MS)
    page.wait_for_function(
        "() => +document.querySelector('[data-testid=\"run:chart\"]')?.dataset.trainPoints >= 2",
        timeout=RUN_START_MS,
    )
    expect(page.get_by_test_id("run:total-steps")).to_have_text("240")
    expect(page.get_by_test_id("run:eta")).to_have_text(re.compile(r"^ETA \S"))
    expect(page.get_by_test_id("run:attempt")).to_have_attribute("data-attempt", "0")
    expect(page.get_by_test_id("run:attempt")).to_have_text(re.compile(r"^1 of \d+$"))
    first_points = chart_points(page)
    # The chart grows while it trains, without a reload.
    page.wait_for_function(
        f"() => +document.querySelector('[data-testid=\"run:chart\"]')"
        f"?.dataset.trainPoints > {first_points}",
        timeout=RUN_START_MS,
    )

    # Reload mid-run: the log re-attaches and continues, every line exactly once.
    before = log_seqs(page)
    assert before, "the log shows lines before the reload"
    assert status.get_attribute("data-status") == "running", "reload must happen mid-run"
    page.reload()
    expect(page.get_by_test_id("run:log-line")).not_to_have_count(0)
    page.wait_for_function(
        f"() => document.querySelectorAll('[data-testid=\"run:log-line\"]').length > {len(before)}",
        timeout=RUN_START_MS,
    )
    after = log_seqs(page)
    assert after[: len(before)] == before
    assert after == sorted(set(after)), "no duplicates, in order"
    assert after == list(range(after[0], after[0] + len(after))), "no gaps"

    # It completes: progress at the end, eval loss on the chart, artifacts to download.
    expect(status).to_have_attribute("data-status", "completed", timeout=RUN_DONE_MS)
    expect(page.get_by_test_id("run:step")).to_have_text("240")
    expect(page.get_by_test_id("run:log-state")).to_have_attribute("data-state", "ended")
    final = log_seqs(page)
    assert final == list(range(final[0], final[0] + len(final)))
    chart = page.get_by_test_id("run:chart")
    assert int(chart.get_attribute("data-eval-points") or 0) >= 1
    artifact = page.locator('[data-testid="run:artifact"][data-path="resolved_config.json"]')
    expect(artifact).to_be_visible()
    with page.expect_download() as info:
        artifact.get_by_test_id("run:artifact-download").click()
    resolved = json.loads(info.value.path().read_text())
    assert resolved["config"]["max_steps"] == 240 and resolved["total_steps"] == 240

    # The status filter finds the cancelled run; a finished run can be deleted.
    page.goto("/runs")
    page.get_by_test_id("runs:filter-status").select_option("cancelled")
    cancelled_row = page.locator(f'[data-testid="runs:row"][data-run-id="{other_id}"]')
    expect(cancelled_row.get_by_test_id("runs:row-status")).to_have_attribute(
        "data-status", "cancelled"
    )
    expect(page.locator(f'[data-testid="runs:row"][data-run-id="{run_id}"]')).to_have_count(0)
    cancelled_row.get_by_test_id("runs:row-link").click()
    page.get_by_test_id("run:delete").click()
    page.get_by_test_id("run:delete-confirm").click()
    expect(page).to_have_url(re.compile(r"/runs$"))
    status_code, _ = api_request(server_url, "GET", f"/api/tunix/runs/{other_id}")
    assert status_code == 404

    # The dashboard lists recent runs.
    page.get_by_test_id("nav:dashboard").click()
    expect(
        page.locator(f'[data-testid="dashboard:recent-run"][data-run-id="{run_id}"]')
    ).to_be_visible()
