"""``tunix-rt models`` on SQLite and Postgres: a real tiny Tunix run is registered,
promoted again (same weights, same version), aliased, shown, downloaded and deleted;
unknown names exit 1 and malformed ones exit 2."""

from __future__ import annotations

import asyncio
import hashlib
import json
import tarfile
import uuid
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from tests.conftest import serve_in_process
from tunix_rt.app import create_app
from tunix_rt.cli import app as cli_app
from tunix_rt.config import Settings
from tunix_rt.generators.arithmetic import generate_arithmetic
from tunix_rt.registry import store
from tunix_rt.runs.service import tunix_status

pytestmark = pytest.mark.skipif(
    not tunix_status().available, reason="Tunix/JAX not installed: local training impossible"
)

# A few steps of the tiny preset: the weights only need to exist, not to be good.
TINY_RUN = {
    "model_id": "tunix-rt/tiny-gemma",
    "dry_run": False,
    "learning_rate": 0.003,
    "num_epochs": 10,
    "max_steps": 4,
    "batch_size": 8,
    "max_seq_length": 96,
    "seed": 0,
}


def trained_run(settings: Settings) -> str:
    """A completed local run of the tiny model on a small arithmetic dataset."""

    async def train() -> str:
        app = create_app(settings.model_copy(update={"embedded_worker": False}))
        async with serve_in_process(app) as api:
            traces = generate_arithmetic(24, seed=3, digits=1, ops="+")
            stored = await api.post("/api/traces/batch", json=traces)
            assert stored.status_code == 201, stored.text
            built = await api.post(
                "/api/datasets/build",
                json={
                    "dataset_name": "reg",
                    "dataset_version": "v1",
                    "limit": 24,
                    "eval_fraction": 0.25,  # so an evaluation is queued (no worker runs it)
                },
            )
            assert built.status_code == 201, built.text
            ran = await api.post(
                "/api/tunix/run",
                json={**TINY_RUN, "dataset_key": built.json()["dataset_key"]},
                timeout=600,
            )
            assert ran.status_code == 202, ran.text
            run = ran.json()
            assert run["status"] == "completed", run["stderr"] or run["message"]
            return str(run["run_id"])

    return asyncio.run(train())


@pytest.fixture
def cli(settings: Settings, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> CliRunner:
    monkeypatch.setenv("DATABASE_URL", settings.resolved_database_url)
    monkeypatch.setenv("TUNIX_RT_DATA_DIR", str(settings.data_dir))
    monkeypatch.chdir(tmp_path)  # `models download` writes here by default
    return CliRunner()


def invoke(cli: CliRunner, *args: str, code: int = 0, stdin: str | None = None) -> Result:
    result = cli.invoke(cli_app, ["models", *args], input=stdin)
    assert result.exit_code == code, (args, result.exit_code, result.output)
    return result


def as_json(result: Result) -> Any:
    return json.loads(result.stdout)


def test_models_commands_from_create_to_delete(
    cli: CliRunner, settings: Settings, tmp_path: Path
) -> None:
    run_id = trained_run(settings)

    created = invoke(cli, "create", "arith", "--description", "one-digit sums")
    assert "created model arith" in created.output
    taken = invoke(cli, "create", "arith", code=1)
    assert "exists already" in taken.output

    first = invoke(cli, "promote", "arith", run_id)
    assert "registered arith@v1 (new version)" in first.output, first.output
    again = as_json(invoke(cli, "promote", "arith", run_id, "--json"))
    assert again["created"] is False and again["version"] == "v1"
    assert again["ref"] == "arith@v1" and again["run_id"] == run_id
    sha = again["sha256"]
    assert f"sha256  {sha}" in first.output  # the first promotion printed the same weights
    assert (store.blob_dir(settings, sha) / "model.safetensors").is_file()

    pointed = invoke(cli, "alias", "arith", "champion", "v1")
    assert "arith@champion → arith@v1" in pointed.output
    shown = as_json(invoke(cli, "show", "arith@champion", "--json"))
    assert (shown["version"], shown["aliases"], shown["sha256"]) == ("v1", ["champion"], sha)
    assert shown["provenance"]["dataset_key"] == "reg-v1"
    assert shown["provenance"]["model_id"] == "tunix-rt/tiny-gemma"
    human = invoke(cli, "show", "arith@champion").output
    assert "arith@v1" in human and "champion" in human and sha in human
    model = as_json(invoke(cli, "show", "arith", "--json"))
    assert model["aliases"] == {"champion": "v1"} and model["version_count"] == 1
    assert [v["version"] for v in model["versions"]] == ["v1"]
    assert "champion → v1" in invoke(cli, "show", "arith").output
    listed = [json.loads(line) for line in invoke(cli, "list", "--json").stdout.splitlines()]
    assert [(m["name"], m["latest_version"], m["description"]) for m in listed] == [
        ("arith", "v1", "one-digit sums")
    ]

    downloaded = invoke(cli, "download", "arith@champion")
    archive = tmp_path / "arith-v1.tar.gz"  # NAME-VERSION.tar.gz in the current directory
    assert "arith-v1.tar.gz" in downloaded.output and sha in downloaded.output
    with tarfile.open(archive, "r:gz") as tar:
        names = set(tar.getnames())
        assert {
            "arith-v1/config.json",
            "arith-v1/model.safetensors",
            "arith-v1/tokenizer.model",
        } <= names, names
        config = json.load(tar.extractfile("arith-v1/config.json"))  # type: ignore[arg-type]
        weights = tar.extractfile("arith-v1/model.safetensors").read()  # type: ignore[union-attr]
    assert config["model_type"] == "gemma"
    assert hashlib.sha256(weights).hexdigest() == sha
    elsewhere = tmp_path / "out" / "champion.tar.gz"
    elsewhere.parent.mkdir()
    invoke(cli, "download", "arith@v1", "-o", str(elsewhere))
    assert elsewhere.read_bytes()[:2] == b"\x1f\x8b"  # gzip

    refused = invoke(cli, "delete", "arith@v1", "--yes", code=1)
    assert "alias champion" in refused.output, refused.output
    invoke(cli, "delete", "arith@v1", code=1, stdin="n\n")  # not confirmed
    assert as_json(invoke(cli, "show", "arith", "--json"))["version_count"] == 1

    missing = invoke(cli, "show", "nope", code=1)
    assert "model 'nope' not found" in missing.output
    assert "not found" in invoke(cli, "promote", "nope", run_id, code=1).output
    assert "not found" in invoke(cli, "promote", "arith", str(uuid.uuid4()), code=1).output
    assert "no version or alias" in invoke(cli, "download", "arith@latest", code=1).output
    assert "invalid model" in invoke(cli, "create", "bad name", code=2).output
    assert "invalid model name" in invoke(cli, "show", "bad name", code=2).output
    assert "run_id" in invoke(cli, "promote", "arith", "not-a-run", code=2).output
    evaluation = json.loads(
        cli.invoke(cli_app, ["runs", "list", "--kind", "evaluate", "--json"]).stdout.splitlines()[0]
    )["run_id"]
    not_training = invoke(cli, "promote", "arith", evaluation, code=2).output  # a 400
    assert "not a training run" in not_training, not_training
    invoke(cli, "alias", "arith", "champion", code=2)  # neither a version nor --delete
    invoke(cli, "alias", "arith", "v9", "v1", code=2)  # an alias that looks like a version
    invoke(cli, "download", "arith", code=2)  # no @REF

    invoke(cli, "alias", "arith", "champion", "--delete")
    assert "deleted arith@v1" in invoke(cli, "delete", "arith@v1", "--yes").output
    assert not store.blob_dir(settings, sha).exists()  # no other version used the weights
    assert (Path(settings.data_dir) / "runs" / run_id / "model").is_dir()  # the run keeps its own
    assert "deleted model arith" in invoke(cli, "delete", "arith", "--yes").output
    assert invoke(cli, "list", "--json").stdout == ""
