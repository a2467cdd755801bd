"""The run contract (``training.params.TrainParams``) is the only definition of a run's
parameters: every consumer accepts exactly the values it accepts.

Probe values are derived from the contract's own JSON schema (each bound, just inside
and just outside; each enum value and one that is not), then sent through every
consumer: the API, the CLI, the training child's config reader, the web form's schema
(the committed OpenAPI document) and the SFT manifest.
"""

from __future__ import annotations

import inspect
import json
import uuid
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import ValidationError
from typer.testing import CliRunner

from tunix_rt.cli import app as cli_app
from tunix_rt.cli import runs as cli_runs
from tunix_rt.config import Settings
from tunix_rt.datasets.schemas import SFTManifestRequest
from tunix_rt.evals.schemas import EvaluateRequest
from tunix_rt.runs.schemas import RunRequest
from tunix_rt.training.config import ConfigError, GenerateConfig, parse_config
from tunix_rt.training.params import GRPO_FIELDS, TrainParams

ROOT = Path(__file__).resolve().parents[1]
CONTRACT = TrainParams.model_json_schema()["properties"]
# CLI option names that differ from the request field they set.
CLI_RENAMED = {"timeout": "timeout_seconds", "queue_name": "queue", "reward": "rewards"}
CLI_ONLY = {"config", "queue", "quiet"}  # --config FILE, --async, --quiet


def _concrete(prop: dict[str, Any]) -> dict[str, Any]:
    return next((p for p in prop.get("anyOf", [prop]) if p.get("type") != "null"), prop)


def probes(prop: dict[str, Any]) -> list[tuple[Any, bool]]:
    """(value, accepted) pairs at the edges of one property's schema."""
    schema = _concrete(prop)
    values: list[tuple[Any, bool]] = []
    if schema.get("$ref", "").endswith("/InitFrom"):  # a run reference
        return [({"run_id": str(uuid.UUID(int=1))}, True), ({"run_id": "run-1"}, False)]
    if schema.get("type") == "object":  # weights by name: each bound of a named weight
        name = schema["propertyNames"]["enum"][0]
        weight = schema["additionalProperties"]
        return [
            ({name: value}, ok) for value, ok in probes(weight) if not isinstance(value, str)
        ] + [({"not-a-name": 1.0}, False)]
    choices = schema.get("enum") or ([schema["const"]] if "const" in schema else None)
    if choices:
        return [(c, True) for c in choices] + [("not-a-choice", False)]
    kind = schema.get("type")
    step = 1 if kind == "integer" else None
    if "minimum" in schema:
        lo = schema["minimum"]
        values += [(lo, True), (lo - (step or max(abs(lo) * 0.5, 1e-9)), False)]
    if "exclusiveMinimum" in schema:
        lo = schema["exclusiveMinimum"]
        values += [(lo, False), (lo + (step or 1e-9), True)]
    if "maximum" in schema:
        hi = schema["maximum"]
        values += [(hi, True), (hi + (step or max(abs(hi), 1.0)), False)]
    if kind == "boolean":
        values += [(True, True), (False, True)]
    return values


CASES = [
    pytest.param(name, value, ok, id=f"{name}={value}")
    for name, prop in CONTRACT.items()
    for value, ok in probes(prop)
]


def test_every_field_is_probed() -> None:
    probed = {case.values[0] for case in CASES}
    assert probed == set(CONTRACT), set(CONTRACT) - probed


def _contract_accepts(name: str, value: Any) -> bool:
    try:
        TrainParams.model_validate({name: value})
    except ValidationError:
        return False
    return True


def _child_accepts(name: str, value: Any) -> bool:
    config = {
        "task": "train",
        "model_id": "tunix-rt/tiny-gemma",
        "output_dir": "/tmp/run",
        "train_file": "/tmp/run/data/train.jsonl",
        name: value,
    }
    try:
        parse_config(json.dumps(config))
    except ConfigError as exc:
        assert str(exc).startswith((f"{name}:", f"{name}.")), exc  # the error names the field
        return False
    return True


def _cli_accepts(name: str, value: Any, monkeypatch: pytest.MonkeyPatch) -> bool:
    """``tunix-rt runs submit --NAME VALUE`` (typer's parsing included); submitting is
    replaced by a stand-in that records the request instead of running it."""
    submitted: list[RunRequest] = []

    async def fake_submit(_settings: Any, request: RunRequest, **_: Any) -> str:
        submitted.append(request)
        return "completed"

    monkeypatch.setattr(cli_runs, "_submit", fake_submit)
    option = "--" + next((o for o, f in CLI_RENAMED.items() if f == name), name).replace("_", "-")
    # A boolean field is a --name/--no-name flag pair.
    given = ([option] if value else ["--no-" + option[2:]]) if isinstance(value, bool) else []
    if name == "init_from":  # --init-from RUN_ID
        given = [option, value["run_id"]]
    elif name == "rewards":  # --reward NAME=WEIGHT, repeatable
        given = [part for k, v in value.items() for part in (option, f"{k}={v}")]
    given = given or [option, str(value)]
    result = CliRunner().invoke(
        cli_app, ["runs", "submit", "--dataset-key", "d", "--model-id", "m", *given]
    )
    if result.exit_code == 0:
        got = getattr(submitted[0], name)
        assert (
            got.model_dump(mode="json", exclude_none=True) if name == "init_from" else got
        ) == value
        return True
    assert result.exit_code == 2 and name in result.output, result.output
    return False


@pytest.mark.parametrize(("name", "value", "ok"), CASES)
def test_the_contract_the_child_and_the_cli_agree(
    name: str, value: Any, ok: bool, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("TUNIX_RT_DATA_DIR", str(tmp_path / "var"))
    assert _contract_accepts(name, value) is ok
    assert _child_accepts(name, value) is ok
    assert _cli_accepts(name, value, monkeypatch) is ok


async def test_the_api_refuses_exactly_what_the_contract_refuses(
    client: httpx.AsyncClient,
) -> None:
    """Valid parameters get past validation to the dataset lookup (404); invalid ones are
    422 naming the field."""
    for case in CASES:
        name, value, ok = case.values
        body = {"dataset_key": "nope-v1", "model_id": "tunix-rt/tiny-gemma", name: value}
        if name in GRPO_FIELDS or value == "grpo":
            # GRPO's fields belong with algorithm grpo, which needs a run to start from
            # (an unknown one: 404 once the fields are valid) and room for new tokens.
            body = {
                "dataset_key": "nope-v1",
                "algorithm": "grpo",
                "init_from": {"run_id": str(uuid.uuid4())},
                "max_seq_length": 32768,
                name: value,
            }
        response = await client.post("/api/tunix/run", json=body)
        if ok:
            assert response.status_code == 404, (name, value, response.text)
        else:
            assert response.status_code == 422, (name, value, response.text)
            assert ["body", name] == response.json()["detail"][0]["loc"][:2], response.text


def test_the_web_form_reads_the_contract_from_the_committed_openapi() -> None:
    """The launch form takes bounds and defaults from frontend/openapi.json: it must hold
    the contract's schema for every parameter."""
    document = json.loads((ROOT / "frontend" / "openapi.json").read_text())
    published = document["components"]["schemas"]["RunRequest"]["properties"]
    for name, prop in CONTRACT.items():
        # FastAPI leaves out a null default (the property is simply optional).
        expected = {k: v for k, v in prop.items() if not (k == "default" and v is None)}
        # Nested models are referenced from the document's components, not local $defs.
        expected = json.loads(json.dumps(expected).replace('"#/$defs/', '"#/components/schemas/'))
        assert published[name] == expected, name


def test_the_sft_manifest_and_evaluation_share_the_contracts_types() -> None:
    manifest = SFTManifestRequest.model_json_schema()["properties"]
    for name in ("learning_rate", "num_epochs", "batch_size", "max_seq_length"):
        assert {k: v for k, v in manifest[name].items() if k != "description"} == {
            k: v for k, v in CONTRACT[name].items() if k != "description"
        }, name
    evaluate = EvaluateRequest.model_json_schema()["properties"]
    generate = GenerateConfig.model_json_schema()["properties"]
    for name in ("batch_size", "max_new_tokens", "temperature", "top_p", "seed"):
        assert _concrete(evaluate[name]) | {"title": ""} == _concrete(generate[name]) | {
            "title": ""
        } or {k: _concrete(evaluate[name]).get(k) for k in ("minimum", "maximum")} == {
            k: _concrete(generate[name]).get(k) for k in ("minimum", "maximum")
        }, name


def test_every_run_request_field_is_a_cli_option_and_back() -> None:
    params = set(inspect.signature(cli_runs.submit).parameters)
    fields = {CLI_RENAMED.get(p, p) for p in params - CLI_ONLY}
    assert fields == set(RunRequest.model_fields) | {"dry_run"}


def test_an_out_of_contract_cli_value_is_refused_before_anything_runs(
    settings: Settings, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DATABASE_URL", settings.resolved_database_url)
    monkeypatch.setenv("TUNIX_RT_DATA_DIR", str(tmp_path / "var"))
    result = CliRunner().invoke(
        cli_app,
        ["runs", "submit", "--dataset-key", "d", "--model-id", "m", "--batch-size", "513"],
    )
    assert result.exit_code == 2
    assert "batch_size" in result.output and "512" in result.output
