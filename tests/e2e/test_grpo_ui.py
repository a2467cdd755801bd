"""Browser test: launch a GRPO run from the launch form, starting from a completed SFT run,
and follow its rewards on the run page.

data-testid values added for GRPO:
  launch:     launch:algorithm  launch:init-from  launch:num-generations  launch:beta
              launch:temperature  launch:max-new-tokens  launch:reward-answer-correctness
              launch:reward-format  launch:reward-step-validity
  run:        run:kind  run:init-from  run:grpo-stats  run:reward  run:accuracy  run:reward-chart
              (data-train-points = reward points, data-eval-points = accuracy points)
"""

from __future__ import annotations

import re
import time
import uuid

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.test_runs_ui import RUN_DONE_MS, arithmetic_dataset
from tests.e2e.test_ui import api_request

pytestmark = pytest.mark.e2e


def test_grpo_from_the_launch_form(page: Page, server_url: str) -> None:
    key = arithmetic_dataset(server_url, f"grpo-{uuid.uuid4().hex[:8]}", count=24, seed=3)
    status, sft = api_request(
        server_url,
        "POST",
        "/api/tunix/run?mode=async",
        {
            "dataset_key": key,
            "model_id": "tunix-rt/tiny-gemma",
            "dry_run": False,
            "max_steps": 6,
            "batch_size": 4,
            "learning_rate": 0.003,
            "max_seq_length": 128,
        },
    )
    assert status == 202, sft
    deadline = time.monotonic() + RUN_DONE_MS / 1000
    while sft["status"] not in ("completed", "failed", "cancelled", "timeout"):
        assert time.monotonic() < deadline, "the SFT run did not finish"
        time.sleep(1)
        sft = api_request(server_url, "GET", f"/api/tunix/runs/{sft['run_id']}")[1]
    assert sft["status"] == "completed", sft

    page.goto("/runs")
    page.get_by_test_id("launch:dataset").select_option(key)
    page.get_by_test_id("launch:algorithm").select_option("grpo")
    # GRPO takes its model from the run it starts from: no model choice, no SFT-only fields.
    expect(page.get_by_test_id("launch:model")).to_have_count(0)
    expect(page.get_by_test_id("launch:lora-rank")).to_have_count(0)
    expect(page.get_by_test_id("launch:completion-format")).to_have_count(0)

    # Without a start run, the form says so before sending anything.
    page.get_by_test_id("launch:submit").click()
    expect(page.get_by_test_id("launch:field-error").first).to_contain_text("completed run")
    page.get_by_test_id("launch:init-from").select_option(sft["run_id"])

    # A weight outside the contract's bounds is caught in the form.
    page.get_by_test_id("launch:reward-format").fill("-1")
    page.get_by_test_id("launch:submit").click()
    expect(page.get_by_test_id("launch:field-error")).to_have_count(1)
    page.get_by_test_id("launch:reward-format").fill("0.5")

    page.get_by_test_id("launch:mode-local").check()
    page.get_by_test_id("launch:async").check()
    for name, value in {
        "max-steps": 2,
        "batch-size": 2,
        "max-seq-length": 128,
        "num-generations": 2,
        "temperature": 1.0,
    }.items():
        page.get_by_test_id(f"launch:{name}").fill(str(value))
    # The server's rule (room for the prompt) comes back as its 422, naming the field.
    page.get_by_test_id("launch:max-new-tokens").fill("128")
    page.get_by_test_id("launch:submit").click()
    expect(page.get_by_test_id("launch:error")).to_contain_text("max_new_tokens")
    page.get_by_test_id("launch:max-new-tokens").fill("48")
    page.get_by_test_id("launch:submit").click()
    result = page.get_by_test_id("launch:result")
    expect(result).to_be_visible()
    run_id = result.get_attribute("data-run-id")
    assert run_id

    page.goto(f"/runs/{run_id}")
    expect(page.get_by_test_id("run:status")).to_have_attribute(
        "data-status", "completed", timeout=RUN_DONE_MS
    )
    expect(page.get_by_test_id("run:step")).to_have_text("2")
    expect(page.get_by_test_id("run:kind")).to_contain_text("GRPO")
    expect(page.get_by_test_id("run:init-from")).to_have_text(sft["run_id"])
    expect(page.get_by_test_id("run:accuracy")).to_have_text(re.compile(r"^\d+(\.\d)?%$"))
    expect(page.get_by_test_id("run:reward")).to_have_text(re.compile(r"^-?\d"))
    expect(page.get_by_test_id("run:reward-chart")).to_have_attribute("data-train-points", "2")
    page.get_by_test_id("run:config").evaluate("el => el.parentElement.open = true")
    config = page.get_by_test_id("run:config")
    expect(config).to_contain_text('"algorithm": "grpo"')
    expect(config).to_contain_text(sft["run_id"])
    expect(config).to_contain_text('"format": 0.5')
