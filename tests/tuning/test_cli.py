"""``tunix-rt tune``: a real one-trial job run inline by the CLI, then list/show/cancel."""

from __future__ import annotations

import asyncio
import json

import pytest
from typer.testing import CliRunner

from tests.conftest import serve_in_process
from tests.tuning.conftest import TRIAL_BASE, arithmetic_dataset
from tunix_rt.app import create_app
from tunix_rt.cli import app as cli_app
from tunix_rt.config import Settings


# The CLI calls the same services the API tests drive on both databases.
@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_start_runs_a_job_here_then_list_and_show_it(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def prepare() -> str:
        async with serve_in_process(create_app(settings)) as client:
            return await arithmetic_dataset(client)

    key = asyncio.run(prepare())
    monkeypatch.setenv("DATABASE_URL", settings.resolved_database_url)
    monkeypatch.setenv("TUNIX_RT_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("TUNIX_RT_EVAL_MAX_NEW_TOKENS", "24")
    runner = CliRunner()
    space = json.dumps({"learning_rate": {"type": "choice", "values": [0.01]}})
    base = json.dumps({**TRIAL_BASE, "max_steps": 8})
    bad = runner.invoke(
        cli_app,
        ["tune", "start", "--name", "cli", "--dataset-key", key, "--space", "{}"],
    )
    assert bad.exit_code == 2 and "search_space" in bad.output, bad.output

    started = runner.invoke(
        cli_app,
        [
            "tune",
            "start",
            "--name",
            "cli",
            "--dataset-key",
            key,
            "--space",
            space,
            "--base",
            base,
            "--trials",
            "1",
        ],
    )
    assert started.exit_code == 0, started.output
    assert "trials" in started.output and "1/1" in started.output  # the progress bar
    assert "best eval_loss" in started.output and "learning_rate=0.01" in started.output

    listed = runner.invoke(cli_app, ["tune", "list", "--json"])
    assert listed.exit_code == 0, listed.output
    job = json.loads(listed.output.splitlines()[0])
    assert job["status"] == "completed" and job["trials_finished"] == 1
    shown = runner.invoke(cli_app, ["tune", "show", job["job_id"], "--json"])
    detail = json.loads(shown.output)
    assert detail["best"]["params"] == {"learning_rate": 0.01}
    assert detail["trials"][0]["status"] == "completed"
    cancelled = runner.invoke(cli_app, ["tune", "cancel", job["job_id"]])
    assert cancelled.exit_code == 1 and "completed" in cancelled.output
