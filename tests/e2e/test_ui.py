"""Browser tests: click through the built web UI served by the real app (SPEC §8).

data-testid values the UI guarantees (``area:element``):

  nav:        nav:dashboard  nav:traces
  dashboard:  dashboard:api-status  dashboard:db-status  dashboard:redi-status
              dashboard:redi-error  dashboard:trace-count  dashboard:recent-traces
  traces:     traces:search  traces:meta-filter  traces:created-after  traces:created-before
              traces:apply  traces:clear  traces:list  traces:row (data-trace-id)
              traces:row-id  traces:empty  traces:error  traces:prev  traces:next
              traces:range  traces:count
  upload:     upload:textarea  upload:load-example  upload:file  upload:submit
              upload:result (data-trace-id when one trace)  upload:created-id
              upload:open  upload:error
  trace:      trace:back  trace:id  trace:version  trace:error  trace:prompt  trace:step
              (data-step-index)  trace:step-type  trace:step-content  trace:answer
              trace:meta  trace:score-button  trace:score  trace:score-details
              trace:score-error  trace:delete  trace:delete-confirm  trace:delete-cancel
              trace:delete-error
  compare:    compare:select (row checkbox)  compare:bar  compare:submit  compare:clear
              compare:base-input  compare:other-input  compare:go  compare:swap
              compare:error  compare:summary  compare:base  compare:other (data-winner)
              compare:base-score  compare:other-score  compare:winner
"""

from __future__ import annotations

import json
import re
import urllib.error
import urllib.request
import uuid
from typing import Any

import pytest
from playwright.sync_api import Page, expect

pytestmark = pytest.mark.e2e

UUID_RE = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"


def make_trace(prompt: str, steps: list[str], answer: str = "42", **meta: Any) -> dict[str, Any]:
    return {
        "trace_version": "1.0",
        "prompt": prompt,
        "final_answer": answer,
        "steps": [{"i": i, "type": "reason", "content": c} for i, c in enumerate(steps)],
        "meta": meta or None,
    }


def upload(page: Page, trace: dict[str, Any]) -> str:
    """Create a trace through the Traces page's upload form; returns its id."""
    page.goto("/traces")
    page.get_by_test_id("upload:textarea").fill(json.dumps(trace))
    page.get_by_test_id("upload:submit").click()
    result = page.get_by_test_id("upload:result")
    expect(result).to_contain_text("Created trace")
    trace_id = result.get_attribute("data-trace-id")
    assert trace_id and re.fullmatch(UUID_RE, trace_id)
    return trace_id


def api_request(base_url: str, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(
        base_url + path, data=data, method=method, headers={"content-type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            raw = response.read()
            return response.status, json.loads(raw) if raw else None
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"null")


def baseline(steps: list[str]) -> float:
    """SPEC §3 baseline score, to check the numbers the UI shows."""
    avg = sum(len(s) for s in steps) / len(steps)
    return round(min(len(steps) / 10, 1) * 50 + min(avg / 500, 1) * 50, 2)


def test_dashboard_shows_api_and_db_healthy(page: Page) -> None:
    page.goto("/")
    expect(page.get_by_test_id("dashboard:api-status")).to_have_text("healthy")
    expect(page.get_by_test_id("dashboard:db-status")).to_have_text("up")
    expect(page.get_by_test_id("dashboard:redi-status")).to_have_text("healthy")  # mock mode
    expect(page.get_by_test_id("dashboard:trace-count")).to_have_text(re.compile(r"^\d+$"))


def test_dashboard_trace_count_follows_uploads(page: Page, server_url: str) -> None:
    page.goto("/")
    count = page.get_by_test_id("dashboard:trace-count")
    expect(count).to_have_text(re.compile(r"^\d+$"))
    before = int(count.inner_text())
    upload(page, make_trace("count me", ["one step"]))
    page.get_by_test_id("nav:dashboard").click()
    expect(count).to_have_text(str(before + 1))


def test_upload_example_then_open_detail(page: Page) -> None:
    page.goto("/")
    page.get_by_test_id("nav:traces").click()
    expect(page).to_have_url(re.compile(r"/traces$"))

    page.get_by_test_id("upload:load-example").click()
    example = json.loads(page.get_by_test_id("upload:textarea").input_value())
    assert example["steps"], "the example must have steps"
    page.get_by_test_id("upload:submit").click()
    expect(page.get_by_test_id("upload:created-id")).to_have_text(re.compile(UUID_RE))
    trace_id = page.get_by_test_id("upload:created-id").inner_text()

    page.get_by_test_id("upload:open").click()
    expect(page).to_have_url(re.compile(f"/traces/{trace_id}$"))
    expect(page.get_by_test_id("trace:id")).to_have_text(trace_id)
    expect(page.get_by_test_id("trace:prompt")).to_have_text(example["prompt"])
    expect(page.get_by_test_id("trace:step-content")).to_have_text(
        [step["content"] for step in example["steps"]]
    )
    expect(page.get_by_test_id("trace:step-type")).to_have_text(
        [step["type"] for step in example["steps"]]
    )
    expect(page.get_by_test_id("trace:answer")).to_have_text(example["final_answer"])


def test_compare_shows_richer_trace_scoring_higher(page: Page) -> None:
    short_steps = ["ok"]
    rich_steps = [f"Step {n}: " + "work through the sub-problem. " * 20 for n in range(10)]
    short_id = upload(page, make_trace("short trace", short_steps))
    rich_id = upload(page, make_trace("rich trace", rich_steps))

    page.goto("/traces")
    for trace_id in (short_id, rich_id):  # ticked first = base
        row = page.locator(f'[data-testid="traces:row"][data-trace-id="{trace_id}"]')
        row.get_by_test_id("compare:select").check()
    page.get_by_test_id("compare:submit").click()
    expect(page).to_have_url(re.compile(f"base={short_id}&other={rich_id}"))

    base_score = page.get_by_test_id("compare:base-score")
    other_score = page.get_by_test_id("compare:other-score")
    expect(base_score).to_have_text(re.compile(r"^\d+\.\d\d$"))
    expect(other_score).to_have_text(re.compile(r"^\d+\.\d\d$"))
    base_value, other_value = float(base_score.inner_text()), float(other_score.inner_text())

    assert other_value > base_value
    assert base_value == pytest.approx(baseline(short_steps))
    assert other_value == pytest.approx(baseline(rich_steps))
    expect(page.get_by_test_id("compare:other")).to_have_attribute("data-winner", "true")
    expect(page.get_by_test_id("compare:base")).to_have_attribute("data-winner", "false")
    expect(page.get_by_test_id("compare:other").get_by_test_id("trace:step")).to_have_count(10)
    expect(page.get_by_test_id("compare:base").get_by_test_id("trace:prompt")).to_have_text(
        "short trace"
    )


def test_upload_shows_server_field_errors(page: Page) -> None:
    page.goto("/traces")
    textarea = page.get_by_test_id("upload:textarea")
    textarea.fill(
        json.dumps(
            {
                "trace_version": "1.0",
                "prompt": "",
                "final_answer": "x",
                "steps": [{"i": 0, "type": "t", "content": ""}],
            }
        )
    )
    page.get_by_test_id("upload:submit").click()
    error = page.get_by_test_id("upload:error")
    expect(error).to_contain_text("422")
    expect(error).to_contain_text("prompt")
    expect(error).to_contain_text("steps[0].content")
    expect(page.get_by_test_id("upload:result")).to_have_count(0)

    textarea.fill("{not json")
    page.get_by_test_id("upload:submit").click()
    expect(error).to_contain_text("Invalid JSON")


def test_upload_too_large_shows_413(page: Page) -> None:
    page.goto("/traces")
    huge = make_trace("big", ["x" * 20_000] * 60)  # ~1.2 MB > TRACE_MAX_BYTES default
    page.get_by_test_id("upload:textarea").fill(json.dumps(huge))
    page.get_by_test_id("upload:submit").click()
    expect(page.get_by_test_id("upload:error")).to_contain_text("413")


def test_score_button_shows_score_and_details(page: Page) -> None:
    steps = ["a" * 250, "b" * 250]
    trace_id = upload(page, make_trace("score me", steps))
    page.goto(f"/traces/{trace_id}")
    page.get_by_test_id("trace:score-button").click()
    score = page.get_by_test_id("trace:score")
    expect(score).to_have_text(f"{baseline(steps):.2f}")
    details = page.get_by_test_id("trace:score-details")
    expect(details).to_contain_text("Steps2")
    expect(details).to_contain_text("Total characters500")


def test_search_and_meta_filters(page: Page) -> None:
    marker = uuid.uuid4().hex[:10]
    wanted = upload(page, make_trace(f"find {marker} here", ["s"], source=f"src-{marker}"))
    upload(page, make_trace("something else", ["s"], source="elsewhere"))

    page.goto("/traces")
    page.get_by_test_id("traces:search").fill(marker)
    page.get_by_test_id("traces:search").press("Enter")
    rows = page.get_by_test_id("traces:row")
    expect(rows).to_have_count(1)
    expect(rows).to_have_attribute("data-trace-id", wanted)
    expect(page).to_have_url(re.compile(f"q={marker}"))

    page.get_by_test_id("traces:clear").click()
    expect(rows).not_to_have_count(1)
    page.get_by_test_id("traces:meta-filter").fill(f"source=src-{marker}")
    page.get_by_test_id("traces:apply").click()
    expect(rows).to_have_count(1)
    expect(rows).to_have_attribute("data-trace-id", wanted)

    page.get_by_test_id("traces:meta-filter").fill("source=no-such-source")
    page.get_by_test_id("traces:apply").click()
    expect(page.get_by_test_id("traces:empty")).to_be_visible()


def test_pagination_next_and_prev(page: Page, server_url: str) -> None:
    marker = uuid.uuid4().hex[:10]
    batch = [make_trace(f"page {marker} #{n}", ["s"]) for n in range(25)]
    status, body = api_request(server_url, "POST", "/api/traces/batch", batch)
    assert status == 201, body

    page.goto(f"/traces?q={marker}")
    rows = page.get_by_test_id("traces:row")
    expect(rows).to_have_count(20)
    expect(page.get_by_test_id("traces:count")).to_have_text("25")
    expect(page.get_by_test_id("traces:prev")).to_be_disabled()
    first_page = rows.evaluate_all("rs => rs.map(r => r.dataset.traceId)")

    page.get_by_test_id("traces:next").click()
    expect(rows).to_have_count(5)
    expect(page.get_by_test_id("traces:next")).to_be_disabled()
    second_page = rows.evaluate_all("rs => rs.map(r => r.dataset.traceId)")
    assert not set(first_page) & set(second_page)
    assert set(first_page) | set(second_page) == {t["id"] for t in body["traces"]}

    page.get_by_test_id("traces:prev").click()
    expect(rows).to_have_count(20)


def test_row_click_opens_detail_and_delete_removes_trace(page: Page, server_url: str) -> None:
    trace_id = upload(page, make_trace("delete me", ["gone soon"]))
    page.goto("/traces")
    page.locator(f'[data-testid="traces:row"][data-trace-id="{trace_id}"] td').nth(2).click()
    expect(page).to_have_url(re.compile(f"/traces/{trace_id}$"))
    expect(page.get_by_test_id("trace:prompt")).to_have_text("delete me")

    page.get_by_test_id("trace:delete").click()
    page.get_by_test_id("trace:delete-confirm").click()
    expect(page).to_have_url(re.compile(r"/traces$"))
    expect(page.locator(f'[data-trace-id="{trace_id}"]')).to_have_count(0)
    assert api_request(server_url, "GET", f"/api/traces/{trace_id}")[0] == 404

    page.goto(f"/traces/{trace_id}")
    expect(page.get_by_test_id("trace:error")).to_contain_text("404")


def test_date_range_filter(page: Page) -> None:
    marker = uuid.uuid4().hex[:10]
    trace_id = upload(page, make_trace(f"dated {marker}", ["s"]))
    # The UI's date boxes are local calendar days; ask the browser which day it is.
    today, tomorrow = page.evaluate(
        """() => [0, 1].map((n) => {
            const d = new Date(); d.setDate(d.getDate() + n);
            const pad = (x) => String(x).padStart(2, "0");
            return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
        })"""
    )
    page.goto(f"/traces?q={marker}")
    rows = page.get_by_test_id("traces:row")
    expect(rows).to_have_count(1)

    page.get_by_test_id("traces:created-after").fill(tomorrow)
    page.get_by_test_id("traces:apply").click()
    expect(page.get_by_test_id("traces:empty")).to_be_visible()

    page.get_by_test_id("traces:created-after").fill(today)
    page.get_by_test_id("traces:created-before").fill(today)
    page.get_by_test_id("traces:apply").click()
    expect(rows).to_have_count(1)
    expect(rows).to_have_attribute("data-trace-id", trace_id)
