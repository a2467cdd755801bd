"""``tunix-rt eval`` and ``tunix-rt regression`` commands."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from tests.evals.conftest import add_evaluation, add_run
from tunix_rt.cli import app
from tunix_rt.config import Settings
from tunix_rt.db import create_engine, create_sessionmaker
from tunix_rt.evals import jobs as eval_jobs
from tunix_rt.models.run import Run


@pytest.fixture
def cli(settings: Settings, monkeypatch: pytest.MonkeyPatch) -> Iterator[CliRunner]:
    monkeypatch.setenv("DATABASE_URL", settings.resolved_database_url)
    monkeypatch.setenv("TUNIX_RT_DATA_DIR", str(settings.data_dir))
    yield CliRunner()


def seed(
    settings: Settings, runs: list[tuple[dict[str, Any], list[dict[str, float]]]]
) -> list[Run]:
    """Insert runs and, for each, evaluations with the given metrics (oldest first)."""

    async def go() -> list[Run]:
        engine = create_engine(settings)
        sm = create_sessionmaker(engine)
        out = []
        try:
            for fields, evaluations in runs:
                run = await add_run(sm, settings, **fields)
                for metrics in evaluations:
                    await add_evaluation(sm, run, score=metrics["score"], metrics=metrics)
                out.append(run)
        finally:
            await engine.dispose()
        return out

    return asyncio.run(go())


def test_show_and_leaderboard(cli: CliRunner, settings: Settings) -> None:
    a, b = seed(
        settings,
        [
            ({"model_id": "m-a"}, [{"score": 40.0, "accuracy": 0.4}]),
            ({"model_id": "m-b"}, [{"score": 90.0, "accuracy": 0.9}]),
        ],
    )
    shown = cli.invoke(app, ["eval", "show", str(a.id)])
    assert shown.exit_code == 0, shown.output
    assert "score 40" in shown.output and "answer_correctness@1" in shown.output
    as_json = cli.invoke(app, ["eval", "show", str(b.id), "--json"])
    assert json.loads(as_json.stdout)["score"] == 90.0
    board = cli.invoke(app, ["eval", "leaderboard", "--json"])
    assert [r["model_id"] for r in json.loads(board.stdout)] == ["m-b", "m-a"]
    table = cli.invoke(app, ["eval", "leaderboard", "--model-id", "m-a"])
    assert "m-a" in table.output and "m-b" not in table.output
    missing = cli.invoke(app, ["eval", "show", "00000000-0000-0000-0000-000000000001"])
    assert missing.exit_code == 1 and "not found" in missing.output
    assert cli.invoke(app, ["eval", "show", "nope"]).exit_code == 2


def test_regression_gate_exit_codes(cli: CliRunner, settings: Settings) -> None:
    base, good, bad = seed(
        settings,
        [
            ({}, [{"score": 80.0, "accuracy": 0.8}]),
            ({}, [{"score": 79.0, "accuracy": 0.79}]),
            ({}, [{"score": 70.0, "accuracy": 0.7}]),
        ],
    )
    made = cli.invoke(
        app, ["regression", "baseline", "gate", "--run", str(base.id), "--metric", "accuracy"]
    )
    assert made.exit_code == 0, made.output
    assert "accuracy = 0.8" in made.output
    listed = cli.invoke(app, ["regression", "baselines", "--json"])
    assert json.loads(listed.stdout)[0]["name"] == "gate"
    passed = cli.invoke(app, ["regression", "check", "--run", str(good.id), "--baseline", "gate"])
    assert passed.exit_code == 0, passed.output
    assert "PASS" in passed.output
    failed = cli.invoke(
        app, ["regression", "check", "--run", str(bad.id), "--baseline", "gate", "--json"]
    )
    assert failed.exit_code == 1
    assert json.loads(failed.stdout)["verdict"] == "fail"
    unknown = cli.invoke(app, ["regression", "check", "--run", str(bad.id), "--baseline", "x"])
    assert unknown.exit_code == 2 and "not found" in unknown.output
    no_metric = cli.invoke(
        app, ["regression", "baseline", "g2", "--run", str(base.id), "--metric", "bleu"]
    )
    assert no_metric.exit_code == 1 and "no metric 'bleu'" in no_metric.output


def test_eval_sets_and_run(
    cli: CliRunner, settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    good = tmp_path / "set.jsonl"
    good.write_text(
        json.dumps({"id": "1", "prompt": "What is 2 + 2?", "expected_answer": "4"})
        + "\n"
        + json.dumps({"id": "2", "prompt": "What is 2 + 3?", "expected_answer": "5"})
        + "\n"
    )
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "1", "prompt": "p", "expected_answer": "4"}\n{"id": "1"}\n')
    refused = cli.invoke(app, ["eval", "sets", "add", "broken", str(bad)])
    assert refused.exit_code == 2
    assert "bad.jsonl:line 2:" in refused.output
    added = cli.invoke(app, ["eval", "sets", "add", "two", str(good)])
    assert added.exit_code == 0, added.output
    assert "2 items" in added.output
    assert (
        json.loads(cli.invoke(app, ["eval", "sets", "list", "--json"]).stdout)[0]["name"] == "two"
    )

    child = (
        "import json, sys\n"
        "cfg = json.load(open(sys.argv[1]))\n"
        "rows = [json.loads(l) for l in open(cfg['input_file'])]\n"
        "open(cfg['output_file'], 'w').write(''.join("
        "json.dumps({'id': r['id'], 'output': 'Answer: 4'}) + '\\n' for r in rows))\n"
    )
    monkeypatch.setattr(
        eval_jobs, "training_argv", lambda path: [sys.executable, "-c", child, str(path)]
    )
    (run,) = seed(settings, [({}, [])])
    result = cli.invoke(
        app, ["eval", "run", str(run.id), "--eval-set", "two", "-j", "answer_correctness", "--json"]
    )
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert body["score"] == 50.0 and body["metrics"]["accuracy"] == 0.5
    queued = cli.invoke(app, ["eval", "run", str(run.id), "--eval-set", "two", "--async"])
    assert queued.exit_code == 0, queued.output
    assert "queued" in queued.output
    dry = seed(settings, [({"mode": "dry-run"}, [])])[0]
    refused_run = cli.invoke(app, ["eval", "run", str(dry.id), "--eval-set", "two"])
    assert refused_run.exit_code == 1 and "dry run" in refused_run.output
    assert cli.invoke(app, ["eval", "sets", "delete", "two"]).exit_code == 0
