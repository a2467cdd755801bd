"""SPEC §5 dataset endpoints, on every configured database."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import make_trace
from tests.datasets.helpers import add_run_for, dataset_files, row_count
from tunix_rt.config import Settings


async def add_traces(client: httpx.AsyncClient, traces: list[dict[str, Any]]) -> list[str]:
    response = await client.post("/api/traces/batch", json=traces)
    assert response.status_code == 201, response.text
    return [t["id"] for t in response.json()["traces"]]


async def build(client: httpx.AsyncClient, **body: Any) -> httpx.Response:
    body.setdefault("dataset_name", "ds")
    body.setdefault("dataset_version", "v1")
    return await client.post("/api/datasets/build", json=body)


async def built(client: httpx.AsyncClient, **body: Any) -> dict[str, Any]:
    response = await build(client, **body)
    assert response.status_code == 201, response.text
    result: dict[str, Any] = response.json()
    return result


async def manifest_of(client: httpx.AsyncClient, key: str) -> dict[str, Any]:
    response = await client.get(f"/api/datasets/{key}")
    assert response.status_code == 200, response.text
    result: dict[str, Any] = response.json()
    return result


def numbered(n: int, start: int = 0, **meta: Any) -> list[dict[str, Any]]:
    return [
        make_trace(prompt=f"What is {i} + 1?", answer=str(i + 1), meta={"n": i, **meta})
        for i in range(start, start + n)
    ]


async def export(client: httpx.AsyncClient, key: str, **params: Any) -> list[dict[str, Any]]:
    response = await client.get(f"/api/datasets/{key}/export.jsonl", params=params)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/x-ndjson")
    return [json.loads(line) for line in response.text.splitlines()]


# --- build ----------------------------------------------------------------------------------


async def test_build_latest_and_get_manifest(client: httpx.AsyncClient, settings: Settings) -> None:
    await add_traces(client, numbered(5, source="a"))
    ids_b = await add_traces(client, numbered(3, source="b"))
    body = await built(client, filters={"source": "b"}, limit=10)
    assert body["dataset_key"] == "ds-v1"
    assert body["trace_count"] == 3
    assert body["train_count"] == 3 and body["eval_count"] == 0
    files = dataset_files(settings, "ds-v1")
    assert str(files["manifest.json"]) == body["manifest_path"]

    manifest = await manifest_of(client, "ds-v1")
    assert sorted(manifest["trace_ids"]) == sorted(ids_b)
    assert manifest["build_id"] == body["build_id"]
    assert manifest["filters"] == {"source": "b"}
    assert manifest["selection_strategy"] == "latest" and manifest["seed"] is None
    assert manifest["dataset_schema_version"]
    assert manifest["stats"] == {
        "trace_count": 3,
        "avg_step_count": 2.0,
        "min_step_count": 2,
        "max_step_count": 2,
        "avg_total_chars": 40.0,
    }
    assert manifest["splits"] == {"train": manifest["trace_ids"], "eval": []}
    assert manifest["sha256"] == body["sha256"]
    for name in ("session_id", "parent_dataset_id", "training_run_id"):
        assert manifest[name] is None
    assert files["sha256"] == manifest["sha256"]


async def test_filters_run_in_the_database_over_all_traces(client: httpx.AsyncClient) -> None:
    # The matching traces are the oldest of 2,000: a scan of recent rows would miss them.
    wanted = await add_traces(client, numbered(4, source="rare"))
    for start in range(0, 2000, 1000):
        await add_traces(client, numbered(1000, start=start, source="common"))
    body = await built(client, filters={"source": "rare"}, limit=100)
    assert body["trace_count"] == 4
    assert sorted((await manifest_of(client, "ds-v1"))["trace_ids"]) == sorted(wanted)
    # Numbers compare as text, and every filter must match.
    body = await built(client, dataset_version="v2", filters={"source": "common", "n": 1500})
    assert body["trace_count"] == 1


async def test_latest_takes_the_newest(client: httpx.AsyncClient) -> None:
    batches = [await add_traces(client, numbered(2, start=10 * b)) for b in range(4)]
    await built(client, limit=4)
    manifest = await manifest_of(client, "ds-v1")
    assert sorted(manifest["trace_ids"]) == sorted(batches[2] + batches[3])
    # Stored oldest first.
    assert set(manifest["trace_ids"][:2]) == set(batches[2])


async def test_random_needs_a_seed(client: httpx.AsyncClient) -> None:
    response = await build(client, selection_strategy="random")
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", "seed"]
    assert await row_count(client) == 0


async def test_random_is_deterministic_and_draws_from_all_matching(
    client: httpx.AsyncClient,
) -> None:
    await add_traces(client, numbered(60))
    first = await built(client, selection_strategy="random", seed=5, limit=10)
    second = await built(
        client, dataset_version="v2", selection_strategy="random", seed=5, limit=10
    )
    other = await built(client, dataset_version="v3", selection_strategy="random", seed=6, limit=10)
    ids = [(await manifest_of(client, k))["trace_ids"] for k in ("ds-v1", "ds-v2", "ds-v3")]
    assert ids[0] == ids[1]
    assert first["sha256"] == second["sha256"]
    assert ids[0] != ids[2] and first["sha256"] != other["sha256"]
    assert len(set(ids[0])) == 10
    # More than the limit asked: all matching rows (seeded RNG, same result every time).
    everything = await built(
        client, dataset_version="v4", selection_strategy="random", seed=5, limit=100
    )
    assert everything["trace_count"] == 60


async def test_eval_fraction_gives_a_deterministic_disjoint_split(
    client: httpx.AsyncClient,
) -> None:
    await add_traces(client, numbered(20))
    body = await built(client, eval_fraction=0.25, limit=20)
    assert (body["train_count"], body["eval_count"]) == (15, 5)
    manifest = await manifest_of(client, "ds-v1")
    train, held_out = manifest["splits"]["train"], manifest["splits"]["eval"]
    assert not set(train) & set(held_out)
    assert sorted(train + held_out) == sorted(manifest["trace_ids"])
    again = await built(client, dataset_version="v2", eval_fraction=0.25, limit=20)
    assert (await manifest_of(client, "ds-v2"))["splits"] == manifest["splits"]
    assert again["sha256"] == body["sha256"]
    assert [r["id"] for r in await export(client, "ds-v1", split="eval")] == held_out
    assert [r["id"] for r in await export(client, "ds-v1", split="train")] == train
    assert len(await export(client, "ds-v1", split="all")) == 20


async def test_optional_fields_are_recorded(client: httpx.AsyncClient) -> None:
    await add_traces(client, numbered(2))
    await built(client, session_id="s1", parent_dataset_id="ds-v0", training_run_id="r9")
    manifest = await manifest_of(client, "ds-v1")
    assert (manifest["session_id"], manifest["parent_dataset_id"], manifest["training_run_id"]) == (
        "s1",
        "ds-v0",
        "r9",
    )


async def test_an_empty_selection_builds_an_empty_dataset(client: httpx.AsyncClient) -> None:
    body = await built(client, filters={"source": "nothing"})
    assert body["trace_count"] == 0
    assert await export(client, "ds-v1") == []


async def test_rebuilding_a_key_is_409_and_changes_nothing(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    await add_traces(client, numbered(3))
    first = await built(client)
    before = dataset_files(settings, "ds-v1")
    await add_traces(client, numbered(3, start=3))
    response = await build(client, limit=50)
    assert response.status_code == 409
    assert "ds-v1" in response.json()["detail"]
    assert dataset_files(settings, "ds-v1") == before
    assert (await manifest_of(client, "ds-v1"))["build_id"] == first["build_id"]


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        ({"dataset_name": ""}, ["body", "dataset_name"]),
        ({"dataset_name": "n" * 129}, ["body", "dataset_name"]),
        ({"dataset_name": "../etc"}, ["body", "dataset_name"]),
        ({"dataset_name": "a/b"}, ["body", "dataset_name"]),
        ({"dataset_version": "v" * 65}, ["body", "dataset_version"]),
        ({"dataset_version": ".hidden"}, ["body", "dataset_version"]),
        ({"limit": 0}, ["body", "limit"]),
        ({"limit": 10_001}, ["body", "limit"]),
        ({"eval_fraction": 0.51}, ["body", "eval_fraction"]),
        ({"eval_fraction": -0.1}, ["body", "eval_fraction"]),
        ({"selection_strategy": "oldest"}, ["body", "selection_strategy"]),
        ({"seed": -1}, ["body", "seed"]),
        ({"filters": {"bad key": "x"}}, ["body", "filters", "bad key"]),
        ({"filters": {"k": [1]}}, ["body", "filters", "k", "str"]),
        ({"surprise": True}, ["body", "surprise"]),
    ],
)
async def test_build_rejects_bad_input_by_field(
    client: httpx.AsyncClient, settings: Settings, body: dict[str, Any], loc: list[Any]
) -> None:
    response = await build(client, **body)
    assert response.status_code == 422, response.text
    locs = [e["loc"] for e in response.json()["detail"]]
    assert loc in locs, locs
    assert await row_count(client) == 0


async def test_build_is_immutable_against_later_trace_changes(client: httpx.AsyncClient) -> None:
    ids = await add_traces(client, numbered(3))
    body = await built(client)
    exported = await export(client, "ds-v1", format="trace")
    assert (await client.delete(f"/api/traces/{ids[0]}")).status_code == 204
    await add_traces(client, numbered(3, start=10))
    assert await export(client, "ds-v1", format="trace") == exported
    assert (await manifest_of(client, "ds-v1"))["sha256"] == body["sha256"]


# --- list / get / delete ---------------------------------------------------------------------


async def test_list_newest_first_with_pagination(client: httpx.AsyncClient) -> None:
    await add_traces(client, numbered(2))
    for version in ("v1", "v2", "v3"):
        await built(client, dataset_version=version)
    page = (await client.get("/api/datasets", params={"limit": 2})).json()
    assert [d["dataset_key"] for d in page["data"]] == ["ds-v3", "ds-v2"]
    assert page["pagination"]["next_offset"] == 2
    item = page["data"][0]
    assert item["trace_count"] == 2 and item["train_count"] == 2 and item["eval_count"] == 0
    assert len(item["sha256"]) == 64 and item["selection_strategy"] == "latest"
    rest = (await client.get("/api/datasets", params={"limit": 2, "offset": 2})).json()
    assert [d["dataset_key"] for d in rest["data"]] == ["ds-v1"]
    assert rest["pagination"]["next_offset"] is None
    assert (await client.get("/api/datasets", params={"limit": 101})).status_code == 422


@pytest.mark.parametrize("key", ["nope-v1", "..hidden", "a..b", "x" * 200])
async def test_unknown_dataset_is_404_everywhere(client: httpx.AsyncClient, key: str) -> None:
    for response in (
        await client.get(f"/api/datasets/{key}"),
        await client.delete(f"/api/datasets/{key}"),
        await client.get(f"/api/datasets/{key}/export.jsonl"),
        await client.get(f"/api/datasets/{key}/preview"),
    ):
        assert response.status_code == 404, (response.request.url, response.text)


@pytest.mark.parametrize("key", ["x" * 201, "a%00b"])
async def test_a_key_no_dataset_can_have_is_422_naming_it(
    client: httpx.AsyncClient, key: str
) -> None:
    for response in (
        await client.get(f"/api/datasets/{key}"),
        await client.delete(f"/api/datasets/{key}"),
        await client.get(f"/api/datasets/{key}/export.jsonl"),
        await client.get(f"/api/datasets/{key}/preview"),
    ):
        assert response.status_code == 422, (response.request.url, response.text)
        assert response.json()["detail"][0]["loc"] == ["path", "dataset_key"]


async def test_delete_removes_row_and_files_and_frees_the_key(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    await add_traces(client, numbered(2))
    await built(client)
    directory = Path(dataset_files(settings, "ds-v1")["dir"])
    response = await client.delete("/api/datasets/ds-v1")
    assert response.status_code == 204
    assert not directory.exists()  # noqa: ASYNC240
    assert (await client.get("/api/datasets/ds-v1")).status_code == 404
    assert [p.name for p in directory.parent.iterdir()] == []
    await built(client)  # the key can be built again


async def test_delete_is_refused_while_a_run_uses_the_dataset(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    await add_traces(client, numbered(2))
    await built(client)
    await add_run_for(settings, "ds-v1")
    response = await client.delete("/api/datasets/ds-v1")
    assert response.status_code == 409
    assert "run" in response.json()["detail"]
    assert (await client.get("/api/datasets/ds-v1")).status_code == 200
    assert dataset_files(settings, "ds-v1")["traces.jsonl"].is_file()


# --- exports ---------------------------------------------------------------------------------


async def test_export_formats_over_http(client: httpx.AsyncClient) -> None:
    (trace_id,) = await add_traces(client, [make_trace(prompt="Q?", answer="A", meta={"k": 1})])
    await built(client)
    (trace,) = await export(client, "ds-v1")
    assert trace["id"] == trace_id and trace["prompts"] == "Q?"
    (sft,) = await export(client, "ds-v1", format="tunix_sft")
    assert sft["prompt"] == "<start_of_turn>user\nQ?<end_of_turn>\n<start_of_turn>model\n"
    assert sft["prompts"] == sft["prompt"] + sft["completion"]
    assert sft["completion"].endswith("Answer: A<end_of_turn>")
    assert sft["metadata"]["format"] == "tunix_sft" and sft["metadata"]["k"] == 1
    (example,) = await export(client, "ds-v1", format="training_example")
    assert example["metadata"]["source_trace_id"] == trace_id and example["id"] != trace_id
    (again,) = await export(client, "ds-v1", format="training_example")
    assert again["id"] == example["id"]
    (chat,) = await export(client, "ds-v1", format="messages")
    assert [m["role"] for m in chat["messages"]] == ["user", "assistant"]


@pytest.mark.parametrize(
    ("params", "loc"),
    [({"format": "csv"}, ["query", "format"]), ({"split": "test"}, ["query", "split"])],
)
async def test_export_rejects_unknown_format_or_split(
    client: httpx.AsyncClient, params: dict[str, str], loc: list[str]
) -> None:
    await add_traces(client, numbered(1))
    await built(client)
    response = await client.get("/api/datasets/ds-v1/export.jsonl", params=params)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == loc


async def test_export_of_unknown_dataset_is_404_before_format_errors_matter(
    client: httpx.AsyncClient,
) -> None:
    response = await client.get("/api/datasets/none-v1/export.jsonl", params={"format": "trace"})
    assert response.status_code == 404


async def test_sft_export_by_dataset_honours_limit(client: httpx.AsyncClient) -> None:
    await add_traces(client, numbered(7))
    await built(client)
    response = await client.post("/api/tunix/sft/export", json={"dataset_key": "ds-v1", "limit": 5})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/x-ndjson")
    lines = [json.loads(line) for line in response.text.splitlines()]
    assert len(lines) == 5
    assert all(line["metadata"]["format"] == "tunix_sft" for line in lines)
    assert lines == (await export(client, "ds-v1", format="tunix_sft"))[:5]


async def test_sft_export_by_trace_ids(client: httpx.AsyncClient) -> None:
    ids = await add_traces(client, numbered(4))
    response = await client.post(
        "/api/tunix/sft/export", json={"trace_ids": [ids[2], ids[0], ids[1]], "limit": 2}
    )
    assert response.status_code == 200
    assert [json.loads(line)["id"] for line in response.text.splitlines()] == [ids[2], ids[0]]


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({}, 400),
        ({"limit": 5}, 400),
        ({"dataset_key": "missing-v1"}, 404),
        ({"trace_ids": ["00000000-0000-0000-0000-000000000000"]}, 404),
        ({"trace_ids": []}, 422),
        ({"trace_ids": ["not-a-uuid"]}, 422),
        ({"dataset_key": "x", "limit": 0}, 422),
        ({"dataset_key": "x", "limit": 10_001}, 422),
    ],
)
async def test_sft_export_errors(
    client: httpx.AsyncClient, body: dict[str, Any], status: int
) -> None:
    response = await client.post("/api/tunix/sft/export", json=body)
    assert response.status_code == status, response.text


async def test_sft_manifest_is_a_run_request_over_an_existing_file(
    client: httpx.AsyncClient, tmp_path: Path
) -> None:
    import yaml  # type: ignore[import-untyped,unused-ignore]

    await add_traces(client, numbered(10))
    await built(client, eval_fraction=0.2, limit=10)
    request = {
        "dataset_key": "ds-v1",
        "model_id": "tunix-rt/tiny-gemma",
        "output_dir": "run",
        "learning_rate": 0.001,
        "num_epochs": 2,
        "batch_size": 4,
        "max_seq_length": 256,
    }
    response = await client.post("/api/tunix/sft/manifest", json=request)
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["format"] == "tunix_sft" and body["dataset_key"] == "ds-v1"
    assert body["model_id"] == "tunix-rt/tiny-gemma" and body["message"]
    config = yaml.safe_load(body["manifest_yaml"])
    assert {k: config[k] for k in request} == request
    data_path = Path(config["data_path"])
    assert data_path == Path(body["data_path"])
    text = data_path.read_text()  # noqa: ASYNC240
    lines = [json.loads(line) for line in text.splitlines()]
    assert lines == await export(client, "ds-v1", format="tunix_sft", split="train")
    assert len(lines) == 8

    # What `tunix-rt runs submit --config FILE` reads is a valid run request.
    from tunix_rt.cli.runs import load_run_config
    from tunix_rt.runs.schemas import RunRequest

    path = tmp_path / "run.yaml"
    path.write_text(body["manifest_yaml"])
    run = RunRequest.model_validate(load_run_config(path))
    assert (run.dataset_key, run.model_id, run.max_seq_length) == (
        "ds-v1",
        "tunix-rt/tiny-gemma",
        256,
    )

    again = await client.post("/api/tunix/sft/manifest", json=request)
    assert again.json()["manifest_yaml"] == body["manifest_yaml"]


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"dataset_key": "missing-v1"}, 404),
        ({"max_seq_length": 15}, 422),
        ({"learning_rate": 0}, 422),
        ({"num_epochs": 101}, 422),
        ({"batch_size": 0}, 422),
        ({"model_id": ""}, 422),
        ({"output_dir": None}, 422),
        ({"output_dir": "/tmp/out"}, 422),
        ({"output_dir": "../out"}, 422),
    ],
)
async def test_sft_manifest_errors(
    client: httpx.AsyncClient, body: dict[str, Any], status: int
) -> None:
    await add_traces(client, numbered(1))
    await built(client)
    request = {"dataset_key": "ds-v1", "model_id": "m", "output_dir": "out", **body}
    response = await client.post("/api/tunix/sft/manifest", json=request)
    assert response.status_code == status, response.text


# --- preview ---------------------------------------------------------------------------------


async def test_preview_shows_the_trainers_view(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    await add_traces(client, numbered(6))
    await built(client, eval_fraction=0.34, limit=6)
    response = await client.get("/api/datasets/ds-v1/preview", params={"index": 1})
    assert response.status_code == 200, response.text
    body = response.json()
    manifest = await manifest_of(client, "ds-v1")
    assert body["trace_id"] == manifest["splits"]["train"][1]
    assert body["split_size"] == len(manifest["splits"]["train"])
    assert body["prompt"].startswith("<start_of_turn>user\n")
    assert body["text"] == body["prompt"] + body["completion"]
    assert body["char_count"] == len(body["text"])
    tokens = body["tokens"]
    assert body["token_count"] == len(tokens)
    assert body["prompt_token_count"] + body["completion_token_count"] == len(tokens)
    # BOS + prompt carry no loss; completion + EOS do.
    assert [t["loss"] for t in tokens] == [False] * body["prompt_token_count"] + [True] * body[
        "completion_token_count"
    ]
    assert tokens[0]["id"] == 2 and tokens[-1]["id"] == 1
    assert "<end_of_turn>" in [t["piece"] for t in tokens]
    assert body["truncated"] is False and body["truncate_at_token"] is None
    assert body["loss_token_count"] == body["completion_token_count"]
    assert body["vocab_size"] > 0
    assert (
        Path(dataset_files(settings, "ds-v1")["dir"]) / "tokenizer" / "tokenizer.model"
    ).is_file()

    cut = body["prompt_token_count"] + 2
    short = (
        await client.get("/api/datasets/ds-v1/preview", params={"index": 1, "max_seq_length": 16})
    ).json()
    if short["token_count"] > 16:
        assert short["truncated"] is True and short["truncate_at_token"] == 16
        assert [t["truncated"] for t in short["tokens"]] == [n >= 16 for n in range(len(tokens))]
        assert short["loss_token_count"] == max(0, 16 - short["prompt_token_count"])
    assert cut > 0

    answer_only = (
        await client.get(
            "/api/datasets/ds-v1/preview", params={"index": 1, "completion_format": "answer_only"}
        )
    ).json()
    assert answer_only["completion"].startswith("Answer: ")
    assert answer_only["token_count"] < body["token_count"]

    held_out = (await client.get("/api/datasets/ds-v1/preview", params={"split": "eval"})).json()
    assert held_out["trace_id"] == manifest["splits"]["eval"][0]


@pytest.mark.parametrize(
    ("params", "loc"),
    [
        ({"index": 99}, ["query", "index"]),
        ({"index": -1}, ["query", "index"]),
        ({"max_seq_length": 8}, ["query", "max_seq_length"]),
        ({"split": "test"}, ["query", "split"]),
        ({"completion_format": "poem"}, ["query", "completion_format"]),
    ],
)
async def test_preview_rejects_bad_parameters(
    client: httpx.AsyncClient, params: dict[str, Any], loc: list[str]
) -> None:
    await add_traces(client, numbered(2))
    await built(client)
    response = await client.get("/api/datasets/ds-v1/preview", params=params)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == loc


async def test_preview_tokens_and_loss_mask_match_the_trainer_encoding(
    client: httpx.AsyncClient, settings: Settings
) -> None:
    """The preview and tunix_rt.training.data.encode_examples agree token for token."""
    from tunix_rt.training.data import Example, encode_examples
    from tunix_rt.training.tokenizer import load_tokenizer

    await add_traces(client, numbered(4))
    await built(client)
    body = (
        await client.get("/api/datasets/ds-v1/preview", params={"index": 2, "max_seq_length": 24})
    ).json()
    sp = load_tokenizer(dataset_files(settings, "ds-v1")["dir"] / "tokenizer")
    encoded = encode_examples(
        [Example(id=body["trace_id"], prompt=body["prompt"], completion=body["completion"])],
        sp,
        max_seq_length=24,
        multiple=1,
    )
    kept = [t for t in body["tokens"] if not t["truncated"]]
    assert [t["id"] for t in kept] == encoded.tokens[0][: len(kept)].tolist()
    assert [int(t["loss"]) for t in kept] == encoded.loss_mask[0][: len(kept)].tolist()
    assert body["truncated"] == bool(encoded.truncated)


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        ({"session_id": "a\x00b"}, ["body", "session_id"]),
        ({"training_run_id": "\ud800"}, ["body", "training_run_id"]),
        ({"filters": {"source": "x\x00"}}, ["body", "filters", "source"]),
    ],
)
async def test_text_no_database_can_store_is_422_not_500(
    client: httpx.AsyncClient, body: dict[str, Any], loc: list[Any]
) -> None:
    content = json.dumps({"dataset_name": "ds", "dataset_version": "v1", **body})
    response = await client.post(
        "/api/datasets/build", content=content, headers={"content-type": "application/json"}
    )
    assert response.status_code == 422, response.text
    assert loc in [e["loc"] for e in response.json()["detail"]]
