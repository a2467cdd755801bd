"""Browser test (issue 3): generate arithmetic traces → build a dataset → preview → export.

data-testid values (``area:element``) of the Generators and Datasets pages:

  generators: generators:arith-count  generators:arith-seed  generators:arith-digits
              generators:arith-terms  generators:arith-style  generators:arith-op (data-op)
              generators:arith-submit  generators:arith-result (data-count)
              generators:arith-error  generators:count  generators:preview
              generators:trace-link  generators:hcd-count  generators:hcd-seed
              generators:hcd-submit  generators:hcd-result  generators:hcd-error
              generators:hcd-export  generators:ungar-status
  datasets:   datasets:name  datasets:version  datasets:filters  datasets:strategy
              datasets:seed  datasets:limit  datasets:eval-fraction  datasets:build
              datasets:build-error  datasets:build-result (data-dataset-key)  datasets:open
              datasets:list  datasets:row (data-dataset-key)  datasets:row-link
              datasets:row-count  datasets:row-splits  datasets:empty  datasets:error
  dataset:    dataset:back  dataset:key  dataset:train  dataset:error  dataset:manifest
              dataset:trace-count  dataset:splits  dataset:sha256  dataset:stats
              dataset:avg-steps  dataset:export  dataset:export-split
              dataset:export-link (data-format)  dataset:preview  dataset:preview-split
              dataset:preview-max-len  dataset:preview-prev  dataset:preview-next
              dataset:preview-index  dataset:preview-error  dataset:preview-body
              (data-truncated)  dataset:preview-trace  dataset:preview-chars
              dataset:preview-tokens-count  dataset:preview-split-counts
              dataset:preview-loss-count  dataset:preview-truncation
              dataset:preview-tokenizer  dataset:preview-rendered  dataset:preview-prompt
              dataset:preview-completion  dataset:preview-cut  dataset:preview-token-list
              dataset:token (data-loss, data-truncated)  dataset:delete
              dataset:delete-confirm  dataset:delete-error
"""

from __future__ import annotations

import json
import re
import uuid

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.test_ui import api_request

pytestmark = pytest.mark.e2e

START = "<start_of_turn>user\n"
MODEL_TURN = "<end_of_turn>\n<start_of_turn>model\n"


def test_generate_build_preview_export(page: Page, server_url: str) -> None:
    tag = uuid.uuid4().hex[:8]

    # 1. Generate arithmetic traces on the Generators page.
    page.goto("/")
    page.get_by_test_id("nav:generators").click()
    page.get_by_test_id("generators:arith-count").fill("12")
    page.get_by_test_id("generators:arith-seed").fill("7")
    page.get_by_test_id("generators:arith-submit").click()
    result = page.get_by_test_id("generators:arith-result")
    expect(result).to_have_attribute("data-count", "12")
    expect(page.get_by_test_id("generators:trace-link")).to_have_count(12)
    # Generated traces are linked to their detail page.
    page.get_by_test_id("generators:trace-link").first.click()
    expect(page).to_have_url(re.compile(r"/traces/[0-9a-f-]{36}$"))
    expect(page.get_by_test_id("trace:prompt")).not_to_be_empty()

    # 2. Build a dataset of them with an eval split.
    page.get_by_test_id("nav:datasets").click()
    name = f"arith-{tag}"
    page.get_by_test_id("datasets:name").fill(name)
    page.get_by_test_id("datasets:version").fill("v1")
    page.get_by_test_id("datasets:filters").fill("source=arithmetic")
    page.get_by_test_id("datasets:strategy").select_option("random")
    page.get_by_test_id("datasets:seed").fill("3")
    page.get_by_test_id("datasets:limit").fill("10")
    page.get_by_test_id("datasets:eval-fraction").fill("0.2")
    page.get_by_test_id("datasets:build").click()
    key = f"{name}-v1"
    expect(page.get_by_test_id("datasets:build-result")).to_have_attribute("data-dataset-key", key)
    row = page.locator(f'[data-testid="datasets:row"][data-dataset-key="{key}"]')
    expect(row.get_by_test_id("datasets:row-count")).to_have_text("10")
    expect(row.get_by_test_id("datasets:row-splits")).to_have_text("8 / 2")

    # Rebuilding the same key is refused and the refusal is shown.
    page.get_by_test_id("datasets:build").click()
    expect(page.get_by_test_id("datasets:build-error")).to_contain_text("409")

    # 3. Manifest with stats.
    row.get_by_test_id("datasets:row-link").click()
    expect(page).to_have_url(re.compile(f"/datasets/{key}$"))
    expect(page.get_by_test_id("dataset:trace-count")).to_have_text("10")
    expect(page.get_by_test_id("dataset:splits")).to_have_text("8 / 2")
    expect(page.get_by_test_id("dataset:sha256")).to_have_text(re.compile(r"^[0-9a-f]{64}$"))
    expect(page.get_by_test_id("dataset:avg-steps")).to_have_text(re.compile(r"^\d+(\.\d+)?$"))
    status, manifest = api_request(server_url, "GET", f"/api/datasets/{key}")
    assert status == 200
    assert page.get_by_test_id("dataset:sha256").inner_text() == manifest["sha256"]

    # 4. Preview: the rendered template, its counts, the loss mask and truncation.
    body = page.get_by_test_id("dataset:preview-body")
    expect(body).to_be_visible(timeout=60_000)  # the first preview fits the tokenizer
    expect(page.get_by_test_id("dataset:preview-index")).to_have_text("Example 1 of 8")
    page.get_by_test_id("dataset:preview-max-len").fill("2048")
    expect(page.get_by_test_id("dataset:preview-truncation")).to_have_text("fits")
    prompt = page.get_by_test_id("dataset:preview-prompt").inner_text()
    completion = page.get_by_test_id("dataset:preview-completion").inner_text()
    assert prompt.startswith(START) and prompt.endswith(MODEL_TURN)
    assert completion.startswith("Reasoning:\n1. ")
    assert "\nAnswer: " in completion and completion.endswith("<end_of_turn>")
    chars = int(page.get_by_test_id("dataset:preview-chars").inner_text())
    assert chars == len(prompt) + len(completion)

    tokens = page.get_by_test_id("dataset:token")
    token_count = int(page.get_by_test_id("dataset:preview-tokens-count").inner_text())
    expect(tokens).to_have_count(token_count)
    loss_flags = [t.get_attribute("data-loss") for t in tokens.all()]
    # The prompt tokens come first and carry no loss; the completion tokens all do.
    first_loss = loss_flags.index("true")
    assert set(loss_flags[:first_loss]) == {"false"}
    assert set(loss_flags[first_loss:]) == {"true"}
    loss_count = int(page.get_by_test_id("dataset:preview-loss-count").inner_text())
    assert loss_count == token_count - first_loss

    # Shrinking max_seq_length below the example's length shows where it is cut.
    page.get_by_test_id("dataset:preview-max-len").fill("32")
    expect(body).to_have_attribute("data-truncated", "true")
    expect(page.get_by_test_id("dataset:preview-truncation")).to_contain_text(
        f"truncated at token 32: {token_count - 32} tokens dropped"
    )
    cut = page.locator('[data-testid="dataset:token"][data-truncated="true"]')
    expect(cut).to_have_count(token_count - 32)
    expect(page.get_by_test_id("dataset:preview-cut")).not_to_be_empty()
    page.get_by_test_id("dataset:preview-max-len").fill("2048")
    expect(body).to_have_attribute("data-truncated", "false")
    expect(page.get_by_test_id("dataset:preview-truncation")).to_have_text("fits")

    page.get_by_test_id("dataset:preview-next").click()
    expect(page.get_by_test_id("dataset:preview-index")).to_have_text("Example 2 of 8")

    # 5. Export: one link per format; download tunix_sft of the train split.
    links = page.get_by_test_id("dataset:export-link")
    expect(links).to_have_count(4)
    assert [link.get_attribute("data-format") for link in links.all()] == [
        "trace",
        "tunix_sft",
        "training_example",
        "messages",
    ]
    page.get_by_test_id("dataset:export-split").select_option("train")
    with page.expect_download() as info:
        page.locator('[data-testid="dataset:export-link"][data-format="tunix_sft"]').click()
    download = info.value
    # The server names the file (content-disposition): key, format and split.
    filename = download.suggested_filename
    assert filename.startswith(key) and "tunix_sft" in filename and "train" in filename
    path = download.path()
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    assert len(rows) == 8
    assert set(row["id"] for row in rows) == set(manifest["splits"]["train"])
    for row in rows:
        assert row["prompts"] == row["prompt"] + row["completion"]
        assert row["prompt"].startswith(START) and row["prompt"].endswith(MODEL_TURN)
    # The previewed first example is the first train row, rendered the same way.
    assert rows[0]["prompt"] == prompt and rows[0]["completion"] == completion

    # From the dataset to the launch form, with the dataset chosen.
    page.get_by_test_id("dataset:train").click()
    expect(page.get_by_test_id("launch:dataset")).to_have_value(key)


def test_high_card_duel_generator(page: Page) -> None:
    page.goto("/generators")
    expect(page.get_by_test_id("generators:ungar-status")).to_have_text(re.compile(r"^available"))
    page.get_by_test_id("generators:hcd-count").fill("3")
    page.get_by_test_id("generators:hcd-seed").fill("11")
    page.get_by_test_id("generators:hcd-submit").click()
    expect(page.get_by_test_id("generators:hcd-result")).to_have_attribute("data-count", "3")
    expect(page.get_by_test_id("generators:preview")).to_contain_text("high_card_duel")
    expect(page.get_by_test_id("generators:trace-link")).to_have_count(3)


def test_arithmetic_controls_shape_the_generated_traces(page: Page, server_url: str) -> None:
    page.goto("/generators")
    page.get_by_test_id("generators:arith-count").fill("6")
    page.get_by_test_id("generators:arith-seed").fill("3")
    page.get_by_test_id("generators:arith-digits").fill("1")
    page.get_by_test_id("generators:arith-terms").fill("3")
    page.get_by_test_id("generators:arith-style").select_option("word")
    for op in ("+", "-", "×"):
        box = page.locator(f'[data-testid="generators:arith-op"][data-op="{op}"]')
        box.set_checked(op == "+")
    page.get_by_test_id("generators:arith-submit").click()
    expect(page.get_by_test_id("generators:arith-result")).to_have_attribute("data-count", "6")
    links = page.get_by_test_id("generators:trace-link")
    expect(links).to_have_count(6)
    for href in links.evaluate_all("els => els.map(e => e.getAttribute('href'))"):
        status, trace = api_request(server_url, "GET", "/api" + href)
        assert status == 200, trace
        meta = trace["payload"]["meta"]
        assert (meta["digits"], meta["terms"], meta["ops"], meta["style"], meta["seed"]) == (
            1,
            3,
            "+",
            "word",
            3,
        ), meta
