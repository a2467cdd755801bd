"""The child's wire protocol: what ``emit`` prints, ``parse_event`` reads back."""

from __future__ import annotations

import math
from typing import Any

import pytest

from tunix_rt.training.protocol import PREFIX, emit, parse_event


@pytest.mark.parametrize(
    "fields",
    [
        {"step": 3, "loss": 1.25, "eval_loss": None, "total_steps": 10},
        {"dry_run": True, "checks": [{"name": "tokenizer", "ok": True}], "note": "ünïcode ✓"},
        {"message": 'quotes " and \\ backslashes\nand a newline'},
        {},
    ],
)
def test_every_emitted_event_parses_back(
    fields: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    sent = emit("metric", **fields)
    line = capsys.readouterr().out
    assert line.endswith("\n") and line.count("\n") == 1  # one line, whatever the fields
    assert parse_event(line.rstrip("\n")) == sent == {"event": "metric", **fields}


def test_non_finite_numbers_travel_as_null(capsys: pytest.CaptureFixture[str]) -> None:
    emit("metric", step=1, loss=math.nan, grad=[math.inf, 1.0])
    event = parse_event(capsys.readouterr().out.strip())
    assert event == {"event": "metric", "step": 1, "loss": None, "grad": [None, 1.0]}


@pytest.mark.parametrize(
    "line",
    [
        "step 3 loss 1.2",  # a human line
        PREFIX + "{not json",
        PREFIX + "[1, 2]",
        PREFIX + '{"step": 1}',  # no event name
        " " + PREFIX + '{"event": "metric"}',
    ],
)
def test_other_lines_are_not_events(line: str) -> None:
    assert parse_event(line) is None
