"""``tunix-rt generate`` and ``tunix-rt datasets`` against the test databases."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from tunix_rt.cli import app as cli_app
from tunix_rt.generators.arithmetic import generate_arithmetic


@pytest.fixture
def cli(clean_db: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> CliRunner:
    monkeypatch.setenv("DATABASE_URL", clean_db)
    monkeypatch.setenv("TUNIX_RT_DATA_DIR", str(tmp_path / "var"))
    return CliRunner()


def ok(cli: CliRunner, *args: str) -> str:
    result = cli.invoke(cli_app, list(args))
    assert result.exit_code == 0, result.output
    return result.output


def test_generate_to_a_file_matches_the_generator(cli: CliRunner, tmp_path: Path) -> None:
    out = tmp_path / "arith.jsonl"
    ok(cli, "generate", "arithmetic", "--count", "4", "--seed", "3", "--digits", "3",
       "--ops", "+", "--ops", "×", "-o", str(out))  # fmt: skip
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert lines == generate_arithmetic(4, 3, 3, "+×")


def test_generate_rejects_impossible_options(cli: CliRunner) -> None:
    result = cli.invoke(cli_app, ["generate", "arithmetic", "--ops", "/"])
    assert result.exit_code == 2
    assert "unknown operation" in result.output
    result = cli.invoke(cli_app, ["generate", "arithmetic", "--digits", "9"])
    assert result.exit_code == 2


def test_generate_build_show_export_delete(cli: CliRunner, tmp_path: Path) -> None:
    out = ok(cli, "generate", "arithmetic", "--count", "20", "--seed", "1", "--ops", "+-")
    assert "stored 20 arithmetic trace(s)" in out
    ok(cli, "generate", "high-card-duel", "--count", "5", "--seed", "2")

    out = ok(cli, "datasets", "build", "--name", "arith", "--version", "v1",
             "--meta", "source=arithmetic", "--strategy", "random", "--seed", "4",
             "--limit", "15", "--eval-fraction", "0.2")  # fmt: skip
    assert "built arith-v1: 15 trace(s) (train 12, eval 3)" in out
    sha = out.split("sha256", 1)[1].split()[0]

    listed = [json.loads(line) for line in ok(cli, "datasets", "list", "--json").splitlines()]
    assert [(d["dataset_key"], d["sha256"]) for d in listed] == [("arith-v1", sha)]
    assert "arith-v1" in ok(cli, "datasets", "list")

    manifest = json.loads(ok(cli, "datasets", "show", "arith-v1", "--ids"))
    assert manifest["sha256"] == sha and len(manifest["splits"]["eval"]) == 3
    assert json.loads(ok(cli, "datasets", "show", "arith-v1"))["trace_count"] == 15

    target = tmp_path / "train.jsonl"
    ok(cli, "datasets", "export", "arith-v1", "--format", "tunix_sft", "--split", "train",
       "-o", str(target))  # fmt: skip
    train = [json.loads(line) for line in target.read_text().splitlines()]
    assert [t["id"] for t in train] == manifest["splits"]["train"]
    assert all(t["completion"].endswith("<end_of_turn>") for t in train)

    result = cli.invoke(
        cli_app, ["datasets", "export", "arith-v1", "-f", "messages", "--limit", "2"]
    )
    assert result.exit_code == 0
    stdout_lines = [line for line in result.stdout.splitlines() if line.startswith("{")]
    assert len(stdout_lines) == 2 and "messages" in json.loads(stdout_lines[0])

    # Same inputs, same content hash.
    out = ok(cli, "datasets", "build", "--name", "arith", "--version", "v2",
             "--meta", "source=arithmetic", "--strategy", "random", "--seed", "4",
             "--limit", "15", "--eval-fraction", "0.2")  # fmt: skip
    assert out.split("sha256", 1)[1].split()[0] == sha

    ok(cli, "datasets", "delete", "arith-v1", "--yes")
    result = cli.invoke(cli_app, ["datasets", "show", "arith-v1"])
    assert result.exit_code == 1 and "not found" in result.output


def test_datasets_errors(cli: CliRunner) -> None:
    ok(cli, "generate", "high-card-duel", "--count", "3", "--seed", "2")
    ok(cli, "datasets", "build", "--name", "hcd", "--version", "v1")
    again = cli.invoke(cli_app, ["datasets", "build", "--name", "hcd", "--version", "v1"])
    assert again.exit_code == 1 and "already exists" in again.output
    random = cli.invoke(
        cli_app, ["datasets", "build", "--name", "hcd", "--version", "v2", "--strategy", "random"]
    )
    assert random.exit_code == 2 and "seed" in random.output
    bad = cli.invoke(cli_app, ["datasets", "export", "hcd-v1", "--format", "csv"])
    assert bad.exit_code == 2 and "unknown format" in bad.output
    missing = cli.invoke(cli_app, ["datasets", "export", "nope-v1"])
    assert missing.exit_code == 1 and "not found" in missing.output
    refused = cli.invoke(cli_app, ["datasets", "delete", "hcd-v1"], input="n\n")
    assert refused.exit_code == 1
    ok(cli, "datasets", "show", "hcd-v1")
