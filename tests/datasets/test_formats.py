"""Golden files pin every export format byte for byte (SPEC §5).

Regenerate after an intended format change with
``TUNIX_RT_UPDATE_GOLDEN=1 .venv/bin/pytest tests/datasets/test_formats.py`` and review
the diff."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from tunix_rt.datasets import formats

GOLDEN = Path(__file__).parent / "golden"

RECORDS: list[dict[str, Any]] = [
    {
        "id": "3f2c8a52-0d7e-4d55-9a1e-6b7c1e0f4a10",
        "created_at": "2026-11-23T12:00:00+00:00",
        "trace_version": "1.0",
        "payload": {
            "trace_version": "1.0",
            "prompt": "What is 27 × 19?",
            "final_answer": "513",
            # Out of order on purpose: renderers follow the step index.
            "steps": [
                {"i": 1, "type": "compute", "content": "27 × 20 = 540"},
                {"i": 0, "type": "plan", "content": "27 × 19 = 27 × 20 - 27"},
                {"i": 2, "type": "compute", "content": "540 - 27 = 513"},
            ],
            "meta": {"source": "arithmetic", "difficulty": "2-digit", "seed": 7},
        },
    },
    {
        "id": "9b1d0c3e-5f4a-4c2b-8e7d-2a3b4c5d6e7f",
        "created_at": "2026-11-23T12:00:01.250000+00:00",
        "trace_version": "1.0",
        "payload": {
            "trace_version": "1.0",
            "prompt": 'Say "héllo"\nthen stop.',
            "final_answer": "héllo",
            "steps": [{"i": 0, "type": "parse", "content": "Quote the word."}],
        },
    },
]


@pytest.mark.parametrize("fmt", formats.EXPORT_FORMATS)
def test_export_format_matches_golden_file(fmt: str) -> None:
    rendered = "".join(formats.iter_ndjson(RECORDS, fmt)).encode("utf-8")
    path = GOLDEN / f"{fmt}.jsonl"
    if os.environ.get("TUNIX_RT_UPDATE_GOLDEN"):
        path.write_bytes(rendered)
    assert rendered == path.read_bytes()


def test_render_prompt_and_completion_exactly() -> None:
    assert formats.render_prompt("Hi?") == (
        "<start_of_turn>user\nHi?<end_of_turn>\n<start_of_turn>model\n"
    )
    assert formats.render_completion(["a", "b"], "c") == (
        "Reasoning:\n1. a\n2. b\nAnswer: c<end_of_turn>"
    )
    assert formats.render_completion(["a"], "c", answer_only=True) == "Answer: c<end_of_turn>"
    assert formats.END_OF_TURN == "<end_of_turn>"


def test_tunix_sft_prompt_plus_completion_is_the_gemma_template() -> None:
    line = formats.to_tunix_sft(RECORDS[0])
    assert line["prompts"] == (
        "<start_of_turn>user\nWhat is 27 × 19?<end_of_turn>\n<start_of_turn>model\n"
        "Reasoning:\n1. 27 × 19 = 27 × 20 - 27\n2. 27 × 20 = 540\n3. 540 - 27 = 513\n"
        "Answer: 513<end_of_turn>"
    )
    assert line["prompt"].endswith("<start_of_turn>model\n")
    assert line["prompt"] + line["completion"] == line["prompts"]


def test_training_example_ids_are_stable_and_distinct() -> None:
    first = formats.to_training_example(RECORDS[0])["id"]
    assert first == formats.to_training_example(RECORDS[0])["id"]
    assert first == formats.training_example_id(RECORDS[0]["id"])
    assert first != RECORDS[0]["id"]
    assert first != formats.to_training_example(RECORDS[1])["id"]


def test_iter_ndjson_honours_limit() -> None:
    assert len(list(formats.iter_ndjson(RECORDS, "trace", limit=1))) == 1


def test_chunked_regroups_lines_without_changing_bytes() -> None:
    lines = [f"{n}\n" for n in range(1000)]
    chunks = list(formats.chunked(lines, size=100))
    assert b"".join(chunks) == "".join(lines).encode()
    assert len(chunks) > 1


def test_materialized_record_line_is_canonical() -> None:
    """traces.jsonl lines sort keys, so Postgres (JSONB) and SQLite give the same bytes."""
    import uuid
    from datetime import UTC, datetime

    from tunix_rt.datasets.service import record_line
    from tunix_rt.models import Trace

    payload = {"prompt": "p", "steps": [{"type": "t", "i": 0, "content": "é"}], "final_answer": "a"}
    trace = Trace(
        id=uuid.UUID(RECORDS[0]["id"]),
        created_at=datetime(2026, 11, 23, 12, 0, tzinfo=UTC),
        trace_version="1.0",
        payload={**payload, "trace_version": "1.0"},
    )
    assert record_line(trace) == (
        '{"created_at": "2026-11-23T12:00:00+00:00", "id": "3f2c8a52-0d7e-4d55-9a1e-6b7c1e0f4a10", '
        '"payload": {"final_answer": "a", "prompt": "p", "steps": [{"content": "é", "i": 0, '
        '"type": "t"}], "trace_version": "1.0"}, "trace_version": "1.0"}\n'
    )
