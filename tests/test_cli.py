"""``tunix-rt traces`` import/export/list against the test databases."""

from __future__ import annotations

import asyncio
import json
import re
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import create_async_engine
from typer.testing import CliRunner

from tests.conftest import make_trace
from tunix_rt.cli import app as cli_app
from tunix_rt.models import Trace


@pytest.fixture
def cli(clean_db: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> CliRunner:
    monkeypatch.setenv("DATABASE_URL", clean_db)
    monkeypatch.setenv("TUNIX_RT_DATA_DIR", str(tmp_path / "var"))
    return CliRunner()


def stored(url: str) -> int:
    async def count() -> int:
        engine = create_async_engine(url)
        try:
            async with engine.connect() as conn:
                return int(
                    (await conn.execute(select(func.count()).select_from(Trace))).scalar_one()
                )
        finally:
            await engine.dispose()

    return asyncio.run(count())


def write_jsonl(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_import_in_batches(cli: CliRunner, clean_db: str, tmp_path: Path) -> None:
    lines = [json.dumps(make_trace(prompt=f"q{i}", meta={"n": i})) for i in range(7)]
    path = write_jsonl(tmp_path / "in.jsonl", [*lines[:3], "", *lines[3:]])
    result = cli.invoke(cli_app, ["traces", "import", str(path), "--batch-size", "2"])
    assert result.exit_code == 0, result.output
    assert "imported 7 trace(s)" in result.output
    assert re.search(r"importing .*7/7", result.output), result.output  # the progress bar
    assert stored(clean_db) == 7


def test_import_reports_bad_lines_and_imports_nothing(
    cli: CliRunner, clean_db: str, tmp_path: Path
) -> None:
    good = json.dumps(make_trace())
    bad_steps = json.dumps({**make_trace(), "steps": []})
    path = write_jsonl(tmp_path / "in.jsonl", [good, good, "{not json", good, bad_steps])
    result = cli.invoke(cli_app, ["traces", "import", str(path), "--batch-size", "2"])
    assert result.exit_code == 1
    assert "line 3: invalid JSON" in result.output
    assert "line 5: steps:" in result.output
    assert "nothing imported" in result.output
    assert stored(clean_db) == 0

    skipped = cli.invoke(cli_app, ["traces", "import", str(path), "--skip-invalid"])
    assert skipped.exit_code == 0, skipped.output
    assert "imported 3 trace(s)" in skipped.output
    assert "skipped 2 invalid line(s)" in skipped.output
    assert stored(clean_db) == 3


def test_import_missing_file(cli: CliRunner, tmp_path: Path) -> None:
    result = cli.invoke(cli_app, ["traces", "import", str(tmp_path / "nope.jsonl")])
    assert result.exit_code == 2
    assert "no such file" in result.output


def test_export_round_trips_through_import(cli: CliRunner, clean_db: str, tmp_path: Path) -> None:
    traces = [make_trace(prompt=f"q{i}", meta={"source": "a" if i % 2 else "b"}) for i in range(5)]
    path = write_jsonl(tmp_path / "in.jsonl", [json.dumps(t) for t in traces])
    assert cli.invoke(cli_app, ["traces", "import", str(path)]).exit_code == 0

    out = tmp_path / "out.jsonl"
    result = cli.invoke(cli_app, ["traces", "export", "--output", str(out)])
    assert result.exit_code == 0, result.output
    exported = [json.loads(line) for line in out.read_text().splitlines()]
    assert sorted(exported, key=lambda t: t["prompt"]) == traces

    only_a = cli.invoke(cli_app, ["traces", "export", "--meta", "source=a", "--output", str(out)])
    assert only_a.exit_code == 0
    assert {json.loads(x)["prompt"] for x in out.read_text().splitlines()} == {"q1", "q3"}

    assert cli.invoke(cli_app, ["traces", "import", str(out)]).exit_code == 0
    assert stored(clean_db) == 7


def test_export_bad_meta_option(cli: CliRunner) -> None:
    result = cli.invoke(cli_app, ["traces", "export", "--meta", "novalue"])
    assert result.exit_code == 2
    assert "KEY=VALUE" in result.output


def test_list(cli: CliRunner, tmp_path: Path) -> None:
    path = write_jsonl(tmp_path / "in.jsonl", [json.dumps(make_trace(prompt="find me"))])
    cli.invoke(cli_app, ["traces", "import", str(path)])
    table = cli.invoke(cli_app, ["traces", "list"])
    assert table.exit_code == 0
    assert "find me" in table.output
    as_json = cli.invoke(cli_app, ["traces", "list", "--json", "--q", "FIND"])
    assert as_json.exit_code == 0
    assert json.loads(as_json.output)["prompt"] == "find me"
