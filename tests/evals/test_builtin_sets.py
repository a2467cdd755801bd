"""Eval sets shipped with the product: correct answers, one-command import (API, CLI)."""

from __future__ import annotations

import re

import httpx
import pytest
from typer.testing import CliRunner

from tunix_rt.cli import app as cli_app
from tunix_rt.config import Settings
from tunix_rt.evals.eval_sets import BUILTIN_SETS, builtin_eval_set

PROBLEM = re.compile(r"^What is (\d+) ([+\-×]) (\d+)\?$")


def test_every_shipped_answer_is_right() -> None:
    for name in BUILTIN_SETS:
        body = builtin_eval_set(name)
        assert len(body.items) >= 25
        assert len({i.id for i in body.items}) == len(body.items)
        categories = {i.category for i in body.items}
        assert categories == {"addition", "subtraction", "multiplication", "high_card_duel"}
        for item in body.items:
            if item.category == "high_card_duel":
                assert item.expected_answer == "reveal"  # the only legal move
                continue
            match = PROBLEM.match(item.prompt)
            assert match, item.prompt
            a, op, b = int(match[1]), match[2], int(match[3])
            value = {"+": a + b, "-": a - b, "×": a * b}[op]
            assert item.expected_answer == str(value), item
        assert any(i.expected_answer.startswith("-") for i in body.items)


async def test_the_api_adds_a_builtin_set_once(client: httpx.AsyncClient) -> None:
    added = await client.post("/api/eval-sets/builtin/starter-v1")
    assert added.status_code == 201, added.text
    assert (added.json()["name"], added.json()["item_count"]) == ("starter-v1", 31)
    again = await client.post("/api/eval-sets/builtin/starter-v1")
    assert again.status_code == 409
    unknown = await client.post("/api/eval-sets/builtin/nope")
    assert unknown.status_code == 404 and "starter-v1" in unknown.json()["detail"]
    listed = (await client.get("/api/eval-sets/starter-v1")).json()
    assert listed["item_count"] == 31


def test_the_cli_adds_a_builtin_set(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DATABASE_URL", settings.resolved_database_url)
    monkeypatch.setenv("TUNIX_RT_DATA_DIR", str(settings.data_dir))
    runner = CliRunner()
    result = runner.invoke(cli_app, ["eval", "sets", "add-builtin"])
    assert result.exit_code == 0, result.output
    assert "starter-v1: 31 items" in result.output
    again = runner.invoke(cli_app, ["eval", "sets", "add-builtin", "starter-v1"])
    assert again.exit_code == 1 and "already exists" in again.output
    unknown = runner.invoke(cli_app, ["eval", "sets", "add-builtin", "nope"])
    assert unknown.exit_code == 1 and "built-in sets" in unknown.output
