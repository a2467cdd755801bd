"""Browser tests: the built app works under its Content-Security-Policy (no violation on
any page), and the Dashboard's run analytics show what GET /api/tunix/runs/stats says.

data-testid values:

  stats:  stats:panel  stats:kind  stats:range  stats:csv  stats:error  stats:summary
          stats:runs  stats:success-rate  stats:status-chart (data-bars)
          stats:status-chart-bar (data-label, data-value)  stats:status-empty
          stats:days-chart  stats:days-chart-bar  stats:days-empty
          stats:duration-chart  stats:duration-chart-bar  stats:duration-empty
          stats:by-dataset  stats:by-dataset-row (data-key)  stats:by-model
          stats:by-model-row (data-key)
"""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.test_runs_ui import arithmetic_dataset
from tests.e2e.test_ui import api_request

pytestmark = pytest.mark.e2e

PAGES = [
    "/",
    "/traces",
    "/generators",
    "/datasets",
    "/runs",
    "/tuning",
    "/models",
    "/leaderboard",
    "/regression",
]
# Collects every CSP violation the page reports (init scripts run before the app's own).
WATCH_CSP = """
window.__cspViolations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  const where = `${e.sourceFile}:${e.lineNumber}`;
  window.__cspViolations.push(`${e.violatedDirective} ${e.blockedURI} ${where}`);
});
"""


def _dry_run(server_url: str, dataset_key: str) -> dict[str, Any]:
    status, run = api_request(
        server_url,
        "POST",
        "/api/tunix/run?mode=sync",
        {"dataset_key": dataset_key, "model_id": "tunix-rt/tiny-gemma", "dry_run": True},
    )
    assert status == 202, run
    assert run["status"] == "completed", run
    return dict(run)


def test_every_page_renders_under_the_csp(page: Page, server_url: str) -> None:
    key = arithmetic_dataset(server_url, "csp")
    run = _dry_run(server_url, key)
    page.add_init_script(WATCH_CSP)
    console: list[str] = []
    page.on("console", lambda m: console.append(m.text) if "Content Security" in m.text else None)
    for path in [*PAGES, f"/runs/{run['run_id']}", f"/datasets/{key}"]:
        response = page.goto(path)
        assert response is not None
        assert "script-src 'self'" in response.headers["content-security-policy"]
        expect(page.locator("h1").first).to_be_visible()
        page.wait_for_load_state("networkidle")
        violations = page.evaluate("window.__cspViolations")
        assert violations == [], (path, violations)
    assert console == []


def test_dashboard_run_analytics(page: Page, server_url: str) -> None:
    key = arithmetic_dataset(server_url, "stats")
    for _ in range(2):
        _dry_run(server_url, key)
    status, stats = api_request(server_url, "GET", "/api/tunix/runs/stats")
    assert status == 200
    overall = stats["overall"]
    assert overall["by_status"]["completed"] >= 2

    page.goto("/")
    panel = page.get_by_test_id("stats:panel")
    expect(panel.get_by_test_id("stats:runs")).to_have_text(str(overall["runs"]))
    rate = overall["success_rate"]
    expect(panel.get_by_test_id("stats:success-rate")).to_have_text(f"{rate * 100:.0f}%")
    completed = panel.locator('[data-testid="stats:status-chart-bar"][data-label="completed"]')
    expect(completed).to_have_attribute("data-value", str(overall["by_status"]["completed"]))
    days = panel.get_by_test_id("stats:days-chart-bar")
    expect(days).to_have_count(len(stats["per_day"]))
    durations = panel.get_by_test_id("stats:duration-chart-bar")
    expect(durations).to_have_count(3)
    expect(durations.first).to_have_attribute("data-label", "p50")
    row = panel.locator(f'[data-testid="stats:by-dataset-row"][data-key="{key}"]')
    expect(row).to_contain_text("100%")

    # Evaluation jobs are counted apart from training runs.
    panel.get_by_test_id("stats:kind").select_option("evaluate")
    _, evaluations = api_request(server_url, "GET", "/api/tunix/runs/stats?kind=evaluate")
    expect(panel.get_by_test_id("stats:runs")).to_have_text(str(evaluations["overall"]["runs"]))

    # The CSV download has the same numbers.
    panel.get_by_test_id("stats:kind").select_option("train")
    href = panel.get_by_test_id("stats:csv").get_attribute("href")
    assert href is not None and href.startswith("/api/tunix/runs/stats.csv?")
    download = page.request.get(href)
    assert download.ok and download.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(download.text())))
    assert rows[0]["group"] == "overall" and rows[0]["completed"] != ""
    assert any(r["group"] == "dataset" and r["key"] == key for r in rows)
