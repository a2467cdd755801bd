"""Browser test (issue 15, lines 2 and 8): retry a failed run from its page, delete
selected runs from the list (the confirmation counts them and names the running one it
keeps), the loss chart's log/linear axis, the log without the trainer's metric lines
(``show raw`` brings them back, the raw log downloads whole), and evaluation jobs labelled
and filterable in the runs list and on the Dashboard.

The runs are rows written into the served app's database (no training needed).

data-testid values added here:

  run:        run:retry  run:retry-error  run:retry-of  run:chart (data-scale)
              run:chart-scale-log  run:chart-scale-linear  run:chart-tick  run:log-raw
              run:log-download  run:log-line (data-metric)  run:log-count
              (data-metric-lines)
  runs:       runs:filter-kind  runs:row (data-kind)  runs:row-kind  runs:row-select
              runs:select-all  runs:delete-selected  runs:delete-confirm-box
              (data-count)  runs:delete-count  runs:delete-skipped  runs:delete-confirm
              runs:delete-cancel  runs:delete-result (data-count)  runs:delete-error
  dashboard:  dashboard:recent-run (data-kind)  dashboard:run-kind
"""

from __future__ import annotations

import json
import math
import re
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import create_engine
from sqlalchemy.orm import Session

from tests.e2e.test_ui import api_request
from tunix_rt.models.run import Run, RunLog, RunMetric

pytestmark = pytest.mark.e2e

STEPS = 200


@pytest.fixture(scope="module")
def db(server_url: str, server_data_dir: Path) -> Iterator[Session]:
    """A session on the served app's SQLite database."""
    engine = create_engine(f"sqlite:///{server_data_dir / 'tunix_rt.db'}")
    try:
        with Session(engine) as session:
            yield session
    finally:
        engine.dispose()


def add(db: Session, data_dir: Path, **fields: Any) -> uuid.UUID:
    """A run row (and its directory with a file in it); fields override the defaults."""
    run_id = uuid.uuid4()
    now = datetime.now(UTC)
    output_dir = (data_dir / "runs" / str(run_id)).resolve()
    values: dict[str, Any] = {
        "id": run_id,
        "kind": "train",
        "mode": "dry-run",
        "status": "failed",
        "dataset_key": None,
        "model_id": "tunix-rt/tiny-gemma",
        "config": {"model_id": "tunix-rt/tiny-gemma", "output_dir": str(output_dir)},
        "output_dir": str(output_dir),
        "queue": "default",
        "attempt": 0,
        "max_attempts": 1,
        "queued_at": now,
        "created_at": now,
        "completed_at": now,
        "message": "child exited with 1",
    }
    values.update(fields)
    db.add(Run(**values))
    db.commit()
    Path(values["output_dir"]).mkdir(parents=True, exist_ok=True)
    (Path(values["output_dir"]) / "resolved_config.json").write_text("{}")
    return run_id


def trained_run(db: Session, data_dir: Path) -> uuid.UUID:
    """A completed local run whose loss falls from 10 to 0.0035 over STEPS steps, with a log
    that interleaves human lines and the trainer's ``@tunix_rt`` metric lines."""
    run_id = add(db, data_dir, mode="local", status="completed", message=None)
    seq = 0
    for step in range(1, STEPS + 1):
        loss = 10 * step**-1.5  # a fast fall, then a long slow tail
        db.add(RunMetric(run_id=run_id, step=step, loss=loss, total_steps=STEPS))
        event = {"event": "metric", "step": step, "loss": round(loss, 5)}
        for chunk in (f"step {step}: loss {loss:.4f}", "@tunix_rt " + json.dumps(event)):
            seq += 1
            db.add(RunLog(run_id=run_id, seq=seq, stream="stdout", chunk=chunk))
    db.commit()
    return run_id


def visible_log(page: Page) -> list[str]:
    return page.locator('[data-testid="run:log-line"]:visible').all_inner_texts()


def test_retry_a_failed_run_from_its_page(
    page: Page, db: Session, server_data_dir: Path, server_url: str
) -> None:
    failed = add(db, server_data_dir)
    completed = add(db, server_data_dir, status="completed", message=None)

    page.goto(f"/runs/{completed}")
    expect(page.get_by_test_id("run:status")).to_have_attribute("data-status", "completed")
    expect(page.get_by_test_id("run:retry")).to_have_count(0)

    page.goto(f"/runs/{failed}")
    expect(page.get_by_test_id("run:message")).to_have_text("child exited with 1")
    page.get_by_test_id("run:retry").click()

    page.wait_for_url(re.compile(r"/runs/(?!" + str(failed) + r")[0-9a-f-]{36}$"))
    new_id = page.url.rsplit("/", 1)[1]
    expect(page.get_by_test_id("run:id")).to_have_text(new_id)
    expect(page.get_by_test_id("run:retry-of")).to_have_text(str(failed))
    status, detail = api_request(server_url, "GET", f"/api/tunix/runs/{new_id}")
    assert status == 200 and detail["config"]["retry_of"] == str(failed)
    assert detail["output_dir"] != str((server_data_dir / "runs" / str(failed)).resolve())


def test_delete_selected_runs_with_a_counted_confirmation(
    page: Page, db: Session, server_data_dir: Path
) -> None:
    tag = f"bulk-{uuid.uuid4().hex[:6]}"
    old = datetime.now(UTC) - timedelta(days=3650)  # at the end of the newest-first list
    first = add(db, server_data_dir, dataset_key=tag, created_at=old)
    second = add(db, server_data_dir, dataset_key=tag, status="cancelled", created_at=old)
    running = add(
        db,
        server_data_dir,
        dataset_key=tag,
        status="running",
        completed_at=None,
        worker_id="elsewhere",
        lease_expires_at=datetime.now(UTC) + timedelta(days=1),
        created_at=old,
    )

    page.goto(f"/runs?dataset_key={tag}")
    rows = page.get_by_test_id("runs:row")
    expect(rows).to_have_count(3)
    expect(page.get_by_test_id("runs:delete-selected")).to_be_disabled()
    for run_id in (first, second, running):
        page.locator(f'[data-testid="runs:row"][data-run-id="{run_id}"]').get_by_test_id(
            "runs:row-select"
        ).check()
    expect(page.get_by_test_id("runs:delete-selected")).to_have_text("Delete selected (3)")
    page.get_by_test_id("runs:delete-selected").click()

    box = page.get_by_test_id("runs:delete-confirm-box")
    expect(box).to_have_attribute("data-count", "2")
    expect(page.get_by_test_id("runs:delete-count")).to_have_text("Delete 2 runs and their files?")
    skipped = page.get_by_test_id("runs:delete-skipped").locator("li")
    expect(skipped).to_have_count(1)
    expect(skipped).to_have_attribute("data-run-id", str(running))
    expect(skipped).to_contain_text("running; cancel it or wait until it finishes")
    expect(rows).to_have_count(3)  # nothing deleted before the confirmation
    page.get_by_test_id("runs:delete-confirm").click()

    expect(page.get_by_test_id("runs:delete-result")).to_have_attribute("data-count", "2")
    expect(rows).to_have_count(1)
    expect(rows).to_have_attribute("data-run-id", str(running))
    assert not (server_data_dir / "runs" / str(first)).exists()
    assert not (server_data_dir / "runs" / str(second)).exists()
    assert (server_data_dir / "runs" / str(running) / "resolved_config.json").is_file()


def test_loss_chart_axis_and_log_without_metric_lines(
    page: Page, db: Session, server_data_dir: Path
) -> None:
    run_id = trained_run(db, server_data_dir)

    page.goto(f"/runs/{run_id}")
    chart = page.get_by_test_id("run:chart")
    expect(chart).to_have_attribute("data-train-points", str(STEPS))
    # Log by default for loss: a tick at each power of ten inside the range (1, 0.1, 0.01).
    expect(chart).to_have_attribute("data-scale", "log")
    expect(page.get_by_test_id("run:chart-scale-log")).to_have_attribute("aria-pressed", "true")
    expect(page.get_by_test_id("run:chart-tick")).to_have_count(3)
    log_shape = line_shape(page)
    page.get_by_test_id("run:chart-scale-linear").click()
    expect(chart).to_have_attribute("data-scale", "linear")
    expect(page.get_by_test_id("run:chart-tick")).to_have_count(0)
    linear_shape = line_shape(page)
    # Linear: everything after the first tenth hugs the bottom; log: it keeps falling.
    assert linear_shape < 0.1 < log_shape
    page.get_by_test_id("run:chart-scale-log").click()
    expect(chart).to_have_attribute("data-scale", "log")

    # The log shows the human lines; the metric lines are the chart.
    expect(page.get_by_test_id("run:log-state")).to_have_attribute("data-state", "ended")
    expect(page.get_by_test_id("run:log-count")).to_have_attribute("data-metric-lines", str(STEPS))
    shown = visible_log(page)
    assert len(shown) == STEPS and all(line.startswith("step ") for line in shown)
    assert not any("@tunix_rt" in line for line in shown)
    page.get_by_test_id("run:log-raw").check()
    shown = visible_log(page)
    assert len(shown) == 2 * STEPS
    assert shown[1].startswith('@tunix_rt {"event": "metric"')
    page.get_by_test_id("run:log-raw").uncheck()
    assert len(visible_log(page)) == STEPS

    # The raw log, metric lines included, downloads whole.
    with page.expect_download() as info:
        page.get_by_test_id("run:log-download").click()
    text = Path(info.value.path()).read_text()
    lines = text.splitlines()
    assert len(lines) == 2 * STEPS and lines[0] == "step 1: loss 10.0000"
    assert lines[-1].startswith("@tunix_rt ") and json.loads(lines[-1][10:])["step"] == STEPS


def line_shape(page: Page) -> float:
    """Where the train loss line is, as a share of the plot's height above its lowest
    point, at a tenth of the steps (0: already at the bottom, 1: still at the top)."""
    points = page.locator('[data-testid="run:chart-line-train"] polyline').get_attribute("points")
    assert points
    ys = [float(p.split(",")[1]) for p in points.split()]
    top, bottom = min(ys), max(ys)
    return (bottom - ys[len(ys) // 10]) / (bottom - top) if not math.isclose(top, bottom) else 0


def test_evaluation_jobs_are_labelled_and_filterable(
    page: Page, db: Session, server_data_dir: Path
) -> None:
    tag = f"kinds-{uuid.uuid4().hex[:6]}"
    trained = add(db, server_data_dir, dataset_key=tag, status="completed", mode="local")
    job = add(
        db,
        server_data_dir,
        kind="evaluate",
        mode="local",
        status="completed",
        dataset_key=tag,
        parent_run_id=trained,
        config={"judges": ["answer_correctness"]},
    )

    page.goto(f"/runs?dataset_key={tag}")
    job_row = page.locator(f'[data-testid="runs:row"][data-run-id="{job}"]')
    train_row = page.locator(f'[data-testid="runs:row"][data-run-id="{trained}"]')
    expect(job_row.get_by_test_id("runs:row-kind")).to_have_text("evaluation")
    expect(train_row.get_by_test_id("runs:row-kind")).to_have_text("training")
    page.get_by_test_id("runs:filter-kind").select_option("evaluate")
    expect(page).to_have_url(re.compile(r"kind=evaluate"))
    expect(page.get_by_test_id("runs:row")).to_have_count(1)
    expect(page.get_by_test_id("runs:row")).to_have_attribute("data-run-id", str(job))
    page.get_by_test_id("runs:filter-kind").select_option("train")
    expect(page.get_by_test_id("runs:row")).to_have_attribute("data-run-id", str(trained))

    page.goto("/")
    recent = page.locator(f'[data-testid="dashboard:recent-run"][data-run-id="{job}"]')
    expect(recent.get_by_test_id("dashboard:run-kind")).to_have_text("evaluation")
    expect(recent).to_have_attribute("data-kind", "evaluate")
