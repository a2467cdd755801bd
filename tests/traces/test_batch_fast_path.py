"""The batch endpoint's fast path (traces/batch.py) agrees with the reference endpoint."""

from __future__ import annotations

import json
import re
from typing import Any

import httpx
import msgspec
import pytest

from tests.conftest import make_trace
from tunix_rt.traces.batch import NearSizeCap, decode_batch, stored_chunks
from tunix_rt.traces.schemas import ReasoningTrace, ReasoningTraceShape, TraceStepShape
from tunix_rt.traces.service import payload_json


def prepare_batch(body: bytes, cap: int | None) -> list[tuple[str, str]] | None:
    """What the fast path would store for ``body``, or None where it defers to the
    reference endpoint (the same two steps as traces.batch.fast_batch)."""
    items = decode_batch(body)
    if items is None:
        return None
    try:
        return [row for chunk in stored_chunks(items, cap, 128) for row in chunk]
    except NearSizeCap:
        return None


LIMIT_KEYS = ("minLength", "maxLength", "minimum", "maximum", "minItems", "maxItems")


def _limits(schema: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    if "$ref" in schema:
        schema = defs[schema["$ref"].rsplit("/", 1)[1]]
    out: dict[str, Any] = {k: schema[k] for k in LIMIT_KEYS if k in schema}
    if "properties" in schema:
        out["required"] = sorted(schema.get("required", []))
        out["extra"] = schema.get("additionalProperties", True)
        out["fields"] = {k: _limits(v, defs) for k, v in schema["properties"].items()}
    if "items" in schema:
        out["items"] = _limits(schema["items"], defs)
    return out


def test_shape_has_the_models_fields_and_limits() -> None:
    model = ReasoningTrace.model_json_schema()
    (shape,), shape_defs = msgspec.json.schema_components([ReasoningTraceShape])
    ours = _limits(shape, shape_defs)
    theirs = _limits(model, model.get("$defs", {}))
    # meta is an optional object (or null) on both sides; the rest must match exactly.
    ours["fields"].pop("meta")
    theirs["fields"].pop("meta")
    assert ours == theirs
    assert TraceStepShape.__struct_fields__ == ("i", "type", "content")


def reference_texts(items: list[dict[str, Any]]) -> list[str]:
    return [payload_json(ReasoningTrace.model_validate(t).to_payload()) for t in items]


ACCEPTED: list[Any] = [
    [make_trace()],
    [make_trace(prompt='Ünïcödé × ≠ 😀 "quoted" \\ / \n\t', meta={"k": "✓"})],
    [{**make_trace(), "meta": None}],
    [make_trace(meta={"n": None, "deep": {"a": [1, 2.5, -0.0, 1e-300, True, None]}})],
    [make_trace(meta={"big": 10**30, "neg": -(2**70), "f": 1e300})],
    [make_trace(prompt=f"q{i}") for i in range(50)],
]


@pytest.mark.parametrize("items", ACCEPTED)
def test_accepted_batches_store_what_the_reference_stores(items: list[Any]) -> None:
    for body in (json.dumps(items).encode(), json.dumps(items, ensure_ascii=False).encode()):
        prepared = prepare_batch(body, None)
        assert prepared is not None
        assert [text for _, text in prepared] == reference_texts(items)
        assert [v for v, _ in prepared] == [t["trace_version"] for t in items]
        assert [json.loads(text) for _, text in prepared] == [
            ReasoningTrace.model_validate(t).to_payload() for t in items
        ]


def _with(**changes: Any) -> list[Any]:
    return [{**make_trace(), **changes}]


DECLINED: list[bytes] = [
    b"",
    b"{",
    b"[]",
    b"{}",
    json.dumps([make_trace()] * 1001).encode(),
    json.dumps(_with(prompt="a\x00b")).encode(),  # NUL: reference reports it
    json.dumps(_with(meta={"k": "\x00"})).encode(),
    json.dumps(_with(prompt="\ud800")).encode(),  # lone surrogate
    json.dumps(_with(meta={"x": 1})).replace('"x": 1', '"x": 1e999').encode(),
    json.dumps(_with(meta={"x": 1})).replace('"x": 1', '"x": NaN').encode(),
    json.dumps(_with(steps=[{"i": 0, "type": "t", "content": "c"}] * 2)).encode(),
    json.dumps(_with(steps=[{"i": "0", "type": "t", "content": "c"}])).encode(),  # lax
    json.dumps(_with(extra=1)).encode(),
    json.dumps(_with(prompt="")).encode(),
    json.dumps(_with(trace_version="v" * 65)).encode(),
    json.dumps(_with(meta="text")).encode(),
]


@pytest.mark.parametrize("body", DECLINED)
def test_anything_doubtful_goes_to_the_reference(body: bytes) -> None:
    assert prepare_batch(body, None) is None


def test_items_near_the_size_cap_go_to_the_reference() -> None:
    body = json.dumps([make_trace(step_len=2000, steps=3)]).encode()
    assert prepare_batch(body, 1_000_000) is not None
    assert prepare_batch(body, 10_000) is None


CREATED_AT = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$")


async def test_fast_and_reference_paths_answer_and_store_alike(client: httpx.AsyncClient) -> None:
    items = [make_trace(prompt=f"p{i} ×", meta={"i": i, "f": 0.5}) for i in range(5)]
    body = json.dumps(items).encode()
    answers = []
    # application/json takes the fast path; a +json type only the reference accepts.
    for content_type in ("application/json", "application/vnd.tunix+json"):
        response = await client.post(
            "/api/traces/batch", content=body, headers={"content-type": content_type}
        )
        assert response.status_code == 201, response.text
        answers.append(response.json())
    for answer in answers:
        assert set(answer) == {"created_count", "traces"}
        assert answer["created_count"] == 5
        for created in answer["traces"]:
            assert set(created) == {"id", "created_at", "trace_version"}
            assert CREATED_AT.match(created["created_at"]), created["created_at"]
            stored = (await client.get(f"/api/traces/{created['id']}")).json()
            assert stored["created_at"] == created["created_at"]
    payloads = [
        [(await client.get(f"/api/traces/{c['id']}")).json()["payload"] for c in a["traces"]]
        for a in answers
    ]
    assert payloads[0] == payloads[1]
    listed = (await client.get("/api/traces", params={"limit": 10})).json()["data"]
    assert len(listed) == 10
