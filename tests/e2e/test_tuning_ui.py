"""Browser test (SPEC §9, UI page *Tuning*): create a two-trial tuning job from the form, follow
it to completion on Ray Tune (the served app's embedded worker runs it for real), read its
trials table and metric-vs-parameter plot, and carry the best trial's parameters into the Runs
launch form; an inverted range is rejected with the server's field error and stores nothing.

data-testid values (``area:element``) of the Tuning pages:

  nav:     nav:tuning
  tuning:  tuning:list  tuning:row (data-job-id, data-status)  tuning:row-link
           tuning:row-name  tuning:row-status (data-status)  tuning:row-trials
           (data-finished, data-total)  tuning:row-best  tuning:empty  tuning:list-error
           tuning:prev  tuning:next
           form: tuning:name  tuning:dataset  tuning:model  tuning:model-path
           tuning:base-learning-rate  tuning:base-num-epochs  tuning:base-batch-size
           tuning:base-max-seq-length  tuning:base-max-steps  tuning:base-eval-every
           tuning:base-warmup-steps  tuning:base-weight-decay  tuning:base-lora-rank
           tuning:base-completion-format  tuning:space  tuning:space-row (data-index,
           data-param)  tuning:space-param  tuning:space-type  tuning:space-min
           tuning:space-max  tuning:space-q  tuning:space-values  tuning:space-remove
           tuning:space-add  tuning:metric  tuning:mode  tuning:num-trials
           tuning:max-concurrent  tuning:seed  tuning:search  tuning:scheduler
           tuning:submit  tuning:field-error  tuning:error
  job:     job:back  job:name  job:id  job:error  job:status (data-status)  job:progress
           (data-finished, data-total)  job:cancel  job:cancel-message  job:cancel-error
           job:message  job:dataset  job:model  job:metric  job:best-metric  job:space
           job:space-param (data-param)  job:request  job:best  job:best-empty
           job:best-trial  job:best-value (data-value)  job:best-run  job:best-param
           (data-param, data-value)  job:use-best  job:plots  job:plots-empty  job:plot
           (data-param, data-scale, data-points)  job:plot-point (data-trial-id, data-x,
           data-y)  job:trials  job:trials-empty  job:trial (data-trial-id, data-run-id,
           data-status, data-best)  job:trial-best  job:trial-status  job:trial-param
           (data-param)  job:trial-metric  job:trial-stopped  job:trial-run
  launch:  launch:prefill (the Runs launch form pre-filled from a tuning job), and the new
           number inputs launch:lora-alpha  launch:weight-decay  launch:warmup-steps
"""

from __future__ import annotations

import math
import re
import uuid

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.test_runs_ui import arithmetic_dataset
from tests.e2e.test_ui import api_request

pytestmark = pytest.mark.e2e

UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
JOB_DONE_MS = 360_000  # Ray start-up and two tiny trials (~10-15 s each; minutes on a busy machine)
LR_MIN, LR_MAX = 1e-3, 1e-2
# A tiny trial: a few steps, an eval point every 4 (held-out eval loss is the metric).
BASE = {
    "max_steps": 12,
    "eval_every": 4,
    "batch_size": 8,
    "max_seq_length": 128,
    "num_epochs": 100,
}


def fill_job_form(page: Page, name: str, dataset_key: str, lr_min: float, lr_max: float) -> None:
    page.get_by_test_id("tuning:name").fill(name)
    page.get_by_test_id("tuning:dataset").select_option(dataset_key)
    page.get_by_test_id("tuning:model").select_option("tunix-rt/tiny-gemma")
    for field, value in BASE.items():
        page.get_by_test_id(f"tuning:base-{field.replace('_', '-')}").fill(str(value))
    row = page.get_by_test_id("tuning:space-row")
    expect(row).to_have_count(1)
    row.get_by_test_id("tuning:space-param").select_option("learning_rate")
    row.get_by_test_id("tuning:space-type").select_option("loguniform")
    row.get_by_test_id("tuning:space-min").fill(str(lr_min))
    row.get_by_test_id("tuning:space-max").fill(str(lr_max))
    page.get_by_test_id("tuning:metric").select_option("eval_loss")
    expect(page.get_by_test_id("tuning:mode")).to_have_value("min")
    page.get_by_test_id("tuning:num-trials").fill("2")
    page.get_by_test_id("tuning:max-concurrent").fill("1")
    page.get_by_test_id("tuning:search").select_option("random")
    page.get_by_test_id("tuning:scheduler").select_option("none")
    page.get_by_test_id("tuning:seed").fill("7")


def test_tuning_job_from_the_form_to_the_launch_form(page: Page, server_url: str) -> None:
    key = arithmetic_dataset(server_url, f"tune-{uuid.uuid4().hex[:8]}", eval_fraction=0.2, seed=3)
    name = f"lr-search-{uuid.uuid4().hex[:6]}"
    page.goto("/")
    page.get_by_test_id("nav:tuning").click()
    expect(page).to_have_url(re.compile(r"/tuning$"))
    fill_job_form(page, name, key, LR_MIN, LR_MAX)
    page.get_by_test_id("tuning:submit").click()

    # Created: the app opens the job's page.
    expect(page).to_have_url(re.compile(rf"/tuning/{UUID}$"))
    job_id = page.url.rsplit("/", 1)[-1]
    expect(page.get_by_test_id("job:name")).to_have_text(name)
    expect(page.get_by_test_id("job:metric")).to_have_text("eval_loss (min)")
    expect(
        page.locator('[data-testid="job:space-param"][data-param="learning_rate"]')
    ).to_contain_text("loguniform [0.001, 0.01]")
    status = page.get_by_test_id("job:status")
    # While it runs, it can be cancelled; the page follows it without a reload.
    expect(status).to_have_attribute("data-status", re.compile("^(pending|running)$"))
    expect(page.get_by_test_id("job:cancel")).to_be_visible()
    expect(status).to_have_attribute("data-status", "completed", timeout=JOB_DONE_MS)
    expect(page.get_by_test_id("job:cancel")).to_have_count(0)
    expect(page.get_by_test_id("job:progress")).to_have_attribute("data-finished", "2")

    code, job = api_request(server_url, "GET", f"/api/tuning/jobs/{job_id}")
    assert code == 200 and job["status"] == "completed", job
    assert len(job["trials"]) == 2 and job["best"] is not None, job

    # The trials table: one row per trial, each linking to its run.
    rows = page.get_by_test_id("job:trial")
    expect(rows).to_have_count(2)
    for trial in job["trials"]:
        row = page.locator(f'[data-testid="job:trial"][data-trial-id="{trial["trial_id"]}"]')
        expect(row).to_have_attribute("data-run-id", trial["run_id"])
        expect(row.get_by_test_id("job:trial-status")).to_have_attribute("data-status", "completed")
        expect(row.get_by_test_id("job:trial-run")).to_have_attribute(
            "href", f"/runs/{trial['run_id']}"
        )
        shown = row.get_by_test_id("job:trial-param").get_attribute("title")
        assert math.isclose(float(shown or "nan"), trial["params"]["learning_rate"], rel_tol=1e-12)
        assert LR_MIN <= trial["params"]["learning_rate"] <= LR_MAX
    best_row = page.locator('[data-testid="job:trial"][data-best="true"]')
    expect(best_row).to_have_attribute("data-trial-id", job["best"]["trial_id"])

    # The plot: metric against learning rate, on a log axis (a loguniform search), both trials.
    plot = page.locator('[data-testid="job:plot"][data-param="learning_rate"]')
    expect(plot).to_be_visible()
    expect(plot).to_have_attribute("data-scale", "log")
    expect(plot).to_have_attribute("data-points", "2")
    expect(plot.get_by_test_id("job:plot-point")).to_have_count(2)

    # A trial's run link opens the run.
    first = job["trials"][0]
    page.locator(f'[data-testid="job:trial"][data-trial-id="{first["trial_id"]}"]').get_by_test_id(
        "job:trial-run"
    ).click()
    expect(page).to_have_url(re.compile(rf"/runs/{first['run_id']}$"))
    expect(page.get_by_test_id("run:status")).to_have_attribute("data-status", "completed")
    page.go_back()

    # The jobs list shows it finished, with its best value.
    page.get_by_test_id("job:back").click()
    listed = page.locator(f'[data-testid="tuning:row"][data-job-id="{job_id}"]')
    expect(listed.get_by_test_id("tuning:row-status")).to_have_attribute("data-status", "completed")
    expect(listed.get_by_test_id("tuning:row-trials")).to_have_text("2 / 2")
    expect(listed.get_by_test_id("tuning:row-best")).not_to_have_text("—")
    listed.get_by_test_id("tuning:row-link").click()

    # The best trial → the Runs launch form, pre-filled with base + best parameters.
    best_lr = job["best"]["params"]["learning_rate"]
    expect(page.get_by_test_id("job:best-trial")).to_have_text(job["best"]["trial_id"])
    page.get_by_test_id("job:use-best").click()
    expect(page).to_have_url(re.compile(r"/runs$"))
    expect(page.get_by_test_id("launch:prefill")).to_contain_text(name)
    lr_input = page.get_by_test_id("launch:learning-rate")
    expect(lr_input).not_to_have_value("")
    assert math.isclose(float(lr_input.input_value()), best_lr, rel_tol=1e-12), best_lr
    expect(page.get_by_test_id("launch:dataset")).to_have_value(key)
    expect(page.get_by_test_id("launch:model")).to_have_value("tunix-rt/tiny-gemma")
    expect(page.get_by_test_id("launch:mode-local")).to_be_checked()
    for field, value in BASE.items():
        expect(page.get_by_test_id(f"launch:{field.replace('_', '-')}")).to_have_value(str(value))

    # Launching it sends exactly those parameters (then it is cancelled: it is not needed).
    page.get_by_test_id("launch:submit").click()
    result = page.get_by_test_id("launch:result")
    expect(result).to_be_visible()
    run_id = result.get_attribute("data-run-id")
    code, run = api_request(server_url, "GET", f"/api/tunix/runs/{run_id}")
    assert code == 200, run
    api_request(server_url, "POST", f"/api/tunix/runs/{run_id}/cancel")
    assert run["dataset_key"] == key and run["model_id"] == "tunix-rt/tiny-gemma", run
    assert run["config"]["learning_rate"] == best_lr, run["config"]
    for field, value in BASE.items():
        assert run["config"][field] == value, (field, run["config"])


def test_an_inverted_range_shows_the_servers_field_error(page: Page, server_url: str) -> None:
    key = arithmetic_dataset(
        server_url, f"tune-bad-{uuid.uuid4().hex[:8]}", count=8, eval_fraction=0.25, seed=4
    )
    name = f"inverted-{uuid.uuid4().hex[:6]}"
    page.goto("/tuning")

    # The form's own checks first: nothing is sent without a name.
    page.get_by_test_id("tuning:submit").click()
    expect(page.get_by_test_id("tuning:field-error").first).to_have_text("enter a name")

    fill_job_form(page, name, key, LR_MAX, LR_MIN)  # min > max
    page.get_by_test_id("tuning:submit").click()
    row_errors = page.get_by_test_id("tuning:space-row").get_by_test_id("tuning:field-error")
    expect(row_errors).to_have_count(1)
    expect(row_errors).to_contain_text("search_space.learning_rate.max")
    expect(row_errors).to_contain_text("must be above min")
    expect(page.get_by_test_id("tuning:error")).to_contain_text("422")
    expect(page).to_have_url(re.compile(r"/tuning$"))

    # Nothing was stored: neither the API nor the list has the job.
    code, page_of_jobs = api_request(server_url, "GET", "/api/tuning/jobs?limit=100")
    assert code == 200
    assert name not in [job["name"] for job in page_of_jobs["data"]]
    page.reload()
    loaded = page.get_by_test_id("tuning:list").or_(
        page.get_by_test_id("tuning:empty").filter(has_text="No tuning jobs yet.")
    )
    expect(loaded).to_be_visible()
    expect(page.get_by_test_id("tuning:row-name").filter(has_text=name)).to_have_count(0)


def test_cancel_a_running_job_from_its_page(page: Page, server_url: str) -> None:
    key = arithmetic_dataset(
        server_url, f"tune-cancel-{uuid.uuid4().hex[:8]}", eval_fraction=0.2, seed=6
    )
    code, job = api_request(
        server_url,
        "POST",
        "/api/tuning/jobs",
        {
            "name": f"cancel-{uuid.uuid4().hex[:6]}",
            "dataset_key": key,
            "model_id": "tunix-rt/tiny-gemma",
            "base": {**BASE, "max_steps": 2000, "eval_every": 50},
            "search_space": {"batch_size": {"type": "choice", "values": [4, 8]}},
            "num_trials": 4,
        },
    )
    assert code == 201, job
    page.goto(f"/tuning/{job['job_id']}")
    # A choice of numbers is plotted on a linear axis.
    expect(page.locator('[data-testid="job:plot"][data-param="batch_size"]')).to_have_attribute(
        "data-scale", "linear"
    )
    # Wait for a trial to start, so cancelling stops a running run.
    expect(page.get_by_test_id("job:trial").first).to_be_visible(timeout=JOB_DONE_MS)
    page.get_by_test_id("job:cancel").click()
    expect(page.get_by_test_id("job:cancel-message")).not_to_be_empty()
    expect(page.get_by_test_id("job:status")).to_have_attribute(
        "data-status", "cancelled", timeout=120_000
    )
    expect(page.get_by_test_id("job:cancel")).to_have_count(0)
    for row in page.get_by_test_id("job:trial").all():
        expect(row.get_by_test_id("job:trial-status")).to_have_attribute(
            "data-status", "cancelled", timeout=60_000
        )
