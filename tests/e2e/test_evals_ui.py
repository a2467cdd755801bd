"""Browser test (issue 6): open a run's evaluation, see the wrong answers, create a
baseline from the run and check a run against it.

data-testid values (``area:element``):

  eval:        eval:panel  eval:run  eval:regression-link  eval:error  eval:none
               eval:score  eval:verdict (data-status)  eval:metrics  eval:metric
               (data-name)  eval:metric-value  eval:item-count  eval:wrong-count
               eval:wrong-only  eval:items  eval:item (data-correct)  eval:item-expected
               eval:item-extracted  eval:items-error  eval:items-empty
  leaderboard: leaderboard:dataset  leaderboard:model  leaderboard:from  leaderboard:to
               leaderboard:apply  leaderboard:clear  leaderboard:error  leaderboard:empty
               leaderboard:list  leaderboard:row (data-run-id)  leaderboard:run-link
               leaderboard:score  leaderboard:verdict  leaderboard:prev  leaderboard:next
               leaderboard:range
  regression:  regression:baseline-name  regression:baseline-run  regression:baseline-metric
               regression:lower-is-better  regression:baseline-submit
               regression:baseline-error  regression:baseline-result  regression:check-run
               regression:check-baseline  regression:check-submit  regression:check-error
               regression:result (data-verdict)  regression:verdict  regression:baseline-value
               regression:current-value  regression:delta  regression:delta-percent
               regression:baselines  regression:baseline-row (data-name)
"""

from __future__ import annotations

import re
import time
import uuid
from datetime import date, timedelta

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.test_runs_ui import arithmetic_dataset
from tests.e2e.test_ui import api_request

pytestmark = pytest.mark.e2e

TRAIN_TIMEOUT_S = 420.0
EVAL_TIMEOUT_MS = 420_000


def trained_run(server_url: str, dataset_key: str) -> str:
    """A short local training through the async API, waited for until it completes."""
    body = {
        "dataset_key": dataset_key,
        "model_id": "tunix-rt/tiny-gemma",
        "dry_run": False,
        "learning_rate": 0.003,
        "num_epochs": 1,
        "batch_size": 8,
        "max_seq_length": 128,
        "max_steps": 30,
    }
    status, run = api_request(server_url, "POST", "/api/tunix/run?mode=async", body)
    assert status == 202, run
    run_id = str(run["run_id"])
    deadline = time.monotonic() + TRAIN_TIMEOUT_S
    while time.monotonic() < deadline:
        _, info = api_request(server_url, "GET", f"/api/tunix/runs/{run_id}/status")
        if info["status"] in ("completed", "failed", "timeout", "cancelled"):
            assert info["status"] == "completed", info
            return run_id
        time.sleep(2)
    pytest.fail(f"run {run_id} did not finish in {TRAIN_TIMEOUT_S:.0f}s")


def evaluation_job_queued(server_url: str, dataset_key: str) -> bool:
    status, page = api_request(server_url, "GET", f"/api/tunix/runs?dataset_key={dataset_key}")
    assert status == 200, page
    return any(run["kind"] == "evaluate" for run in page["data"])


def test_evaluation_wrong_answers_baseline_and_check(page: Page, server_url: str) -> None:
    tag = uuid.uuid4().hex[:8]
    key = arithmetic_dataset(server_url, f"eval-{tag}", count=40, eval_fraction=0.25, seed=9)
    run_id = trained_run(server_url, key)

    # The run's page shows its evaluation (automatic, or started from the button).
    page.goto(f"/runs/{run_id}")
    panel = page.get_by_test_id("eval:panel")
    expect(panel).to_be_visible()
    evaluate = page.get_by_test_id("eval:run")
    expect(page.get_by_test_id("eval:none").or_(page.get_by_test_id("eval:score"))).to_be_visible()
    if page.get_by_test_id("eval:none").is_visible() and not evaluation_job_queued(server_url, key):
        evaluate.click()  # no automatic evaluation (turned off): start one from the UI
    score = page.get_by_test_id("eval:score")
    expect(score).to_have_text(re.compile(r"^\d+(\.\d+)?$"), timeout=EVAL_TIMEOUT_MS)
    expect(page.get_by_test_id("eval:verdict")).to_have_attribute(
        "data-status", re.compile("^(pass|fail|uncertain)$")
    )
    expect(page.get_by_test_id("eval:metric")).not_to_have_count(0)
    expect(page.get_by_test_id("eval:item-count")).to_have_text("10")  # the eval split
    items = page.get_by_test_id("eval:item")
    expect(items).to_have_count(10)
    wrong = int(page.get_by_test_id("eval:wrong-count").inner_text())
    _, evaluation = api_request(server_url, "GET", f"/api/tunix/runs/{run_id}/evaluation")
    assert float(score.inner_text()) == pytest.approx(evaluation["score"], abs=1e-3)

    # Filter to the wrong answers: expected and generated side by side.
    page.get_by_test_id("eval:wrong-only").check()
    expect(items).to_have_count(wrong)
    for row in items.all():
        expect(row).to_have_attribute("data-correct", "false")
        expected = row.get_by_test_id("eval:item-expected").inner_text()
        assert expected != row.get_by_test_id("eval:item-extracted").inner_text()
    page.get_by_test_id("eval:wrong-only").uncheck()
    expect(items).to_have_count(10)

    # The leaderboard has the run and links to it.
    page.get_by_test_id("nav:leaderboard").click()
    page.get_by_test_id("leaderboard:dataset").fill(key)
    page.get_by_test_id("leaderboard:apply").click()
    row = page.locator(f'[data-testid="leaderboard:row"][data-run-id="{run_id}"]')
    expect(row).to_have_count(1)
    expect(page.get_by_test_id("leaderboard:row")).to_have_count(1)
    # The other filters narrow it too, and Clear brings every row back.
    page.get_by_test_id("leaderboard:model").fill("no-such-model")
    page.get_by_test_id("leaderboard:apply").click()
    expect(page.get_by_test_id("leaderboard:empty")).to_be_visible()
    expect(page.get_by_test_id("leaderboard:range")).to_have_text("0")
    page.get_by_test_id("leaderboard:model").fill("tunix-rt/tiny-gemma")
    today = date.today()
    page.get_by_test_id("leaderboard:from").fill((today + timedelta(days=1)).isoformat())
    page.get_by_test_id("leaderboard:apply").click()
    expect(page.get_by_test_id("leaderboard:empty")).to_be_visible()  # evaluated today
    page.get_by_test_id("leaderboard:from").fill(today.isoformat())
    page.get_by_test_id("leaderboard:to").fill(today.isoformat())
    page.get_by_test_id("leaderboard:apply").click()
    expect(row).to_have_count(1)
    expect(page.get_by_test_id("leaderboard:range")).to_have_text("1–1")
    expect(page.get_by_test_id("leaderboard:next")).to_be_disabled()  # one page only
    expect(page.get_by_test_id("leaderboard:prev")).to_be_disabled()
    page.get_by_test_id("leaderboard:clear").click()
    expect(page.get_by_test_id("leaderboard:dataset")).to_have_value("")
    expect(page).to_have_url(re.compile(r"/leaderboard$"))  # no filters left in the URL
    expect(row).to_have_count(1)
    row.get_by_test_id("leaderboard:run-link").click()
    expect(page).to_have_url(re.compile(f"/runs/{run_id}$"))

    # Create a baseline from the run, then check the run against it.
    page.get_by_test_id("eval:regression-link").click()
    expect(page.get_by_test_id("regression:baseline-run")).to_have_value(run_id)
    name = f"e2e-{tag}"
    page.get_by_test_id("regression:baseline-name").fill(name)
    page.get_by_test_id("regression:baseline-metric").fill("score")
    page.get_by_test_id("regression:baseline-submit").click()
    expect(page.get_by_test_id("regression:baseline-result")).to_contain_text(name)
    expect(
        page.locator(f'[data-testid="regression:baseline-row"][data-name="{name}"]')
    ).to_be_visible()

    expect(page.get_by_test_id("regression:check-run")).to_have_value(run_id)
    page.get_by_test_id("regression:check-baseline").fill(name)
    page.get_by_test_id("regression:check-submit").click()
    result = page.get_by_test_id("regression:result")
    expect(result).to_have_attribute("data-verdict", "pass")
    expect(page.get_by_test_id("regression:delta")).to_have_text("0")
    expect(page.get_by_test_id("regression:baseline-value")).to_have_text(
        page.get_by_test_id("regression:current-value").inner_text()
    )

    # The same metric as lower-is-better: stored with its direction, listed as such.
    lower = f"e2e-{tag}-lower"
    page.get_by_test_id("regression:baseline-name").fill(lower)
    page.get_by_test_id("regression:lower-is-better").check()
    page.get_by_test_id("regression:baseline-submit").click()
    expect(page.get_by_test_id("regression:baseline-result")).to_contain_text(lower)
    lower_row = page.locator(f'[data-testid="regression:baseline-row"][data-name="{lower}"]')
    expect(lower_row).to_contain_text("lower is better")
    _, stored = api_request(server_url, "GET", f"/api/regression/baselines/{lower}")
    assert stored["lower_is_better"] is True, stored
    page.get_by_test_id("regression:lower-is-better").uncheck()

    # A baseline on a metric the run does not have is refused, and the refusal shown.
    page.get_by_test_id("regression:baseline-metric").fill("no_such_metric")
    page.get_by_test_id("regression:baseline-submit").click()
    expect(page.get_by_test_id("regression:baseline-error")).to_contain_text("400")
