"""SPEC §3 trace endpoints, on every configured database."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from tests.conftest import make_trace


async def create(client: httpx.AsyncClient, **kwargs: object) -> dict[str, object]:
    response = await client.post("/api/traces", json=make_trace(**kwargs))  # type: ignore[arg-type]
    assert response.status_code == 201, response.text
    return response.json()


async def count(client: httpx.AsyncClient) -> int:
    return (await client.get("/api/traces/count")).json()["count"]


# --- create -----------------------------------------------------------------------------


async def test_create_returns_id_time_and_version(client: httpx.AsyncClient) -> None:
    body = await create(client)
    assert set(body) == {"id", "created_at", "trace_version"}
    uuid.UUID(body["id"])  # type: ignore[arg-type]
    assert body["trace_version"] == "1.0"
    created = datetime.fromisoformat(str(body["created_at"]))
    assert created.tzinfo is not None
    assert abs(datetime.now(UTC) - created) < timedelta(minutes=1)


@pytest.mark.parametrize(
    ("mutate", "loc"),
    [
        (lambda t: t.pop("prompt"), ["body", "prompt"]),
        (lambda t: t.update(prompt=""), ["body", "prompt"]),
        (lambda t: t.update(prompt="p" * 50_001), ["body", "prompt"]),
        (lambda t: t.update(final_answer="a" * 50_001), ["body", "final_answer"]),
        (
            lambda t: t.update(steps=[{"i": i, "type": "c", "content": "x"} for i in range(1001)]),
            ["body", "steps"],
        ),
        (lambda t: t["steps"][1].update(content="c" * 20_001), ["body", "steps", 1, "content"]),
        (lambda t: t.update(trace_version="v" * 65), ["body", "trace_version"]),
        (lambda t: t.update(steps=[]), ["body", "steps"]),
        (lambda t: t["steps"][1].update(content=""), ["body", "steps", 1, "content"]),
        (lambda t: t["steps"][0].update(i=-1), ["body", "steps", 0, "i"]),
        (lambda t: t["steps"][0].update(type="t" * 65), ["body", "steps", 0, "type"]),
        (lambda t: t["steps"][1].update(i=0), ["body", "steps"]),
        (lambda t: t.update(meta="not an object"), ["body", "meta"]),
        (lambda t: t.update(unexpected=1), ["body", "unexpected"]),
    ],
)
async def test_create_rejects_invalid_fields_by_name(
    client: httpx.AsyncClient, mutate: object, loc: list[object]
) -> None:
    trace = make_trace(steps=2)
    mutate(trace)  # type: ignore[operator]
    response = await client.post("/api/traces", json=trace)
    assert response.status_code == 422
    errors = response.json()["detail"]
    assert any(e["loc"] == loc for e in errors), errors
    assert all(e["msg"] for e in errors)
    assert await count(client) == 0


def _trace_at_every_upper_limit() -> dict[str, object]:
    steps = [{"i": i, "type": "t", "content": "x"} for i in range(1000)]
    steps[0] = {"i": 0, "type": "t" * 64, "content": "c" * 20_000}
    return {
        "trace_version": "v" * 64,
        "prompt": "p" * 50_000,
        "final_answer": "a" * 50_000,
        "steps": steps,
    }


async def test_values_at_the_upper_limits_are_stored_whole(client: httpx.AsyncClient) -> None:
    trace = _trace_at_every_upper_limit()
    one = await client.post("/api/traces", json=trace)
    assert one.status_code == 201, one.text[:500]
    batch = await client.post("/api/traces/batch", json=[trace, trace])
    assert batch.status_code == 201, batch.text[:500]
    ids = [one.json()["id"], *(t["id"] for t in batch.json()["traces"])]
    for trace_id in ids:
        stored = (await client.get(f"/api/traces/{trace_id}")).json()["payload"]
        assert {k: stored[k] for k in trace} == trace


async def test_duplicate_step_index_message_names_the_index(client: httpx.AsyncClient) -> None:
    trace = make_trace(steps=3)
    trace["steps"][2]["i"] = 1  # type: ignore[index]
    response = await client.post("/api/traces", json=trace)
    assert response.status_code == 422
    assert "i=1" in response.json()["detail"][0]["msg"]


@pytest.mark.parametrize("body", [b"", b"{", b"[]", b"null", b'"x"', b"\xff\xfe", b"1e999"])
async def test_malformed_bodies_are_422_not_500(client: httpx.AsyncClient, body: bytes) -> None:
    response = await client.post(
        "/api/traces", content=body, headers={"content-type": "application/json"}
    )
    assert response.status_code == 422, response.text


async def test_body_over_trace_max_bytes_is_413(client: httpx.AsyncClient) -> None:
    big = make_trace(steps=1, step_len=10)
    big["steps"] = [{"i": i, "type": "t", "content": "z" * 20_000} for i in range(60)]
    response = await client.post("/api/traces", json=big)
    assert response.status_code == 413
    assert "1048576" in response.json()["detail"]
    assert await count(client) == 0


async def test_chunked_body_without_content_length_is_measured(
    client: httpx.AsyncClient,
) -> None:
    chunk = b" " * 65_536

    async def body() -> object:
        yield b'{"trace_version": "1", '
        for _ in range(20):  # 1.3 MB of whitespace: valid JSON, too many bytes
            yield chunk
        yield b'"prompt": "p", "final_answer": "a", "steps": [{"i":0,"type":"t","content":"c"}]}'

    response = await client.post(
        "/api/traces", content=body(), headers={"content-type": "application/json"}
    )
    assert "content-length" not in response.request.headers
    assert response.request.headers.get("transfer-encoding") == "chunked"
    assert response.status_code == 413
    assert await count(client) == 0


async def test_chunked_body_under_limit_is_accepted(client: httpx.AsyncClient) -> None:
    async def body() -> object:
        yield b'{"trace_version": "1", "prompt": "p", '
        yield b'"final_answer": "a", "steps": [{"i":0,"type":"t","content":"c"}]}'

    response = await client.post(
        "/api/traces", content=body(), headers={"content-type": "application/json"}
    )
    assert response.status_code == 201


async def test_trace_max_bytes_setting_is_applied(app_factory: object) -> None:
    client_cm = app_factory(trace_max_bytes=2048)  # type: ignore[operator]
    async with client_cm as client:
        ok = await client.post("/api/traces", json=make_trace(steps=1, step_len=100))
        assert ok.status_code == 201
        too_big = await client.post("/api/traces", json=make_trace(steps=3, step_len=1000))
        assert too_big.status_code == 413


# --- batch ------------------------------------------------------------------------------


async def test_batch_creates_all(client: httpx.AsyncClient) -> None:
    traces = [make_trace(prompt=f"q{i}") for i in range(25)]
    response = await client.post("/api/traces/batch", json=traces)
    assert response.status_code == 201
    body = response.json()
    assert body["created_count"] == 25
    assert len({t["id"] for t in body["traces"]}) == 25
    assert await count(client) == 25


async def test_batch_is_all_or_nothing_and_names_the_item(client: httpx.AsyncClient) -> None:
    traces = [make_trace(prompt=f"q{i}") for i in range(10)]
    traces[7]["steps"] = []
    response = await client.post("/api/traces/batch", json=traces)
    assert response.status_code == 422
    locs = [e["loc"] for e in response.json()["detail"]]
    assert ["body", 7, "steps"] in locs
    assert await count(client) == 0


@pytest.mark.parametrize(
    ("field", "value", "loc"),
    [
        ("prompt", "p" * 50_001, ["prompt"]),
        ("final_answer", "a" * 50_001, ["final_answer"]),
        ("steps", [{"i": i, "type": "c", "content": "x"} for i in range(1001)], ["steps"]),
        ("steps", [{"i": 0, "type": "c", "content": "c" * 20_001}], ["steps", 0, "content"]),
    ],
)
async def test_batch_item_over_an_upper_limit_is_422_naming_it(
    client: httpx.AsyncClient, field: str, value: object, loc: list[object]
) -> None:
    traces = [make_trace(prompt=f"q{i}") for i in range(5)]
    traces[3][field] = value
    response = await client.post("/api/traces/batch", json=traces)
    assert response.status_code == 422
    assert ["body", 3, *loc] in [e["loc"] for e in response.json()["detail"]]
    assert await count(client) == 0


@pytest.mark.parametrize("size", [0, 1001])
async def test_batch_size_bounds(client: httpx.AsyncClient, size: int) -> None:
    response = await client.post("/api/traces/batch", json=[make_trace()] * size)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body"]


async def test_batch_item_over_trace_max_bytes_is_413_naming_it(
    client: httpx.AsyncClient,
) -> None:
    traces = [make_trace() for _ in range(3)]
    traces[2]["final_answer"] = "a" * 50_000
    traces[2]["steps"] = [{"i": i, "type": "t", "content": "c" * 20_000} for i in range(60)]
    response = await client.post("/api/traces/batch", json=traces)
    assert response.status_code == 413
    assert "item 2" in response.json()["detail"]
    assert await count(client) == 0


# --- get / delete -----------------------------------------------------------------------


async def test_get_returns_payload(client: httpx.AsyncClient) -> None:
    created = await create(client, meta={"source": "unit", "n": 3})
    response = await client.get(f"/api/traces/{created['id']}")
    assert response.status_code == 200
    body = response.json()
    assert body["id"] == created["id"]
    assert body["created_at"] == created["created_at"]
    assert body["payload"]["prompt"] == "What is 2 + 3?"
    assert body["payload"]["meta"] == {"source": "unit", "n": 3}
    assert [s["i"] for s in body["payload"]["steps"]] == [0, 1]


async def test_get_unknown_is_404_and_bad_uuid_is_422(client: httpx.AsyncClient) -> None:
    missing = uuid.uuid4()
    response = await client.get(f"/api/traces/{missing}")
    assert response.status_code == 404
    assert str(missing) in response.json()["detail"]
    assert (await client.get("/api/traces/not-a-uuid")).status_code == 422


async def test_delete(client: httpx.AsyncClient) -> None:
    created = await create(client)
    await client.post(f"/api/traces/{created['id']}/score", json={"criteria": "baseline"})
    response = await client.delete(f"/api/traces/{created['id']}")
    assert response.status_code == 204
    assert response.content == b""
    assert (await client.get(f"/api/traces/{created['id']}")).status_code == 404
    assert (await client.delete(f"/api/traces/{created['id']}")).status_code == 404


# --- list -------------------------------------------------------------------------------


async def test_list_is_newest_first_with_seed_offset_pagination(
    client: httpx.AsyncClient,
) -> None:
    ids = []
    for i in range(5):
        ids.append((await create(client, prompt=f"q{i}"))["id"])
    newest_first = list(reversed(ids))

    page1 = (await client.get("/api/traces?limit=2")).json()
    assert [t["id"] for t in page1["data"]] == newest_first[:2]
    assert set(page1["data"][0]) == {"id", "created_at", "trace_version", "prompt_preview"}
    assert page1["data"][0]["prompt_preview"] == "q4"
    assert page1["pagination"]["limit"] == 2
    assert page1["pagination"]["offset"] == 0
    assert page1["pagination"]["next_offset"] == 2

    page3 = (await client.get("/api/traces?limit=2&offset=4")).json()
    assert [t["id"] for t in page3["data"]] == newest_first[4:]
    assert page3["pagination"]["next_offset"] is None
    assert page3["pagination"]["next_cursor"] is None

    exact = (await client.get("/api/traces?limit=5")).json()
    assert exact["pagination"]["next_offset"] is None
    default = (await client.get("/api/traces")).json()
    assert default["pagination"]["limit"] == 20


@pytest.mark.parametrize(
    "query",
    [
        "limit=0",
        "limit=101",
        "offset=-1",
        "offset=263866634119322140672",
        "limit=abc",
        "created_after=yesterday",
    ],
)
async def test_list_rejects_bad_parameters(client: httpx.AsyncClient, query: str) -> None:
    response = await client.get(f"/api/traces?{query}")
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"][0] == "query"


async def test_keyset_cursor_walks_every_row_once(client: httpx.AsyncClient) -> None:
    batch = [make_trace(prompt=f"q{i}") for i in range(23)]  # one created_at for all
    await client.post("/api/traces/batch", json=batch)
    await create(client, prompt="later")
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        url = "/api/traces?limit=5" + (f"&cursor={cursor}" if cursor else "")
        body = (await client.get(url)).json()
        seen += [t["id"] for t in body["data"]]
        pages += 1
        cursor = body["pagination"]["next_cursor"]
        assert body["pagination"]["next_offset"] is None or pages == 1
        if cursor is None:
            break
    assert pages == 5
    assert len(seen) == 24 == len(set(seen))
    offset_ids = []
    for offset in range(0, 24, 5):
        page = (await client.get(f"/api/traces?limit=5&offset={offset}")).json()
        offset_ids += [t["id"] for t in page["data"]]
    assert seen == offset_ids


@pytest.mark.parametrize("cursor", ["garbage", "eyJ0IjoxfQ", "", "%00"])
async def test_bad_cursor_is_422(client: httpx.AsyncClient, cursor: str) -> None:
    await create(client)
    response = await client.get(f"/api/traces?cursor={cursor}")
    if cursor == "":
        assert response.status_code == 200  # an empty cursor means "first page"
    else:
        assert response.status_code == 422
        assert response.json()["detail"][0]["loc"] == ["query", "cursor"]


async def test_cursor_and_offset_together_is_422(client: httpx.AsyncClient) -> None:
    await client.post("/api/traces/batch", json=[make_trace()] * 3)
    first = (await client.get("/api/traces?limit=1")).json()
    cursor = first["pagination"]["next_cursor"]
    response = await client.get(f"/api/traces?limit=1&offset=1&cursor={cursor}")
    assert response.status_code == 422


async def test_meta_filters(client: httpx.AsyncClient) -> None:
    a = await create(client, meta={"source": "ungar", "episode_index": 3})
    b = await create(client, meta={"source": "ungar", "episode_index": 4})
    await create(client, meta={"source": "arithmetic"})
    await create(client)

    def ids(body: dict[str, object]) -> set[str]:
        return {t["id"] for t in body["data"]}  # type: ignore[attr-defined]

    ungar = (await client.get("/api/traces?meta.source=ungar")).json()
    assert ids(ungar) == {a["id"], b["id"]}
    both = (await client.get("/api/traces?meta.source=ungar&meta.episode_index=3")).json()
    assert ids(both) == {a["id"]}
    none = (await client.get("/api/traces?meta.source=nothing")).json()
    assert none["data"] == []
    counted = (await client.get("/api/traces/count?meta.source=ungar")).json()
    assert counted == {"count": 2}


async def test_meta_filter_key_is_validated(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/traces?meta.bad%20key=1")
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["query", "meta.bad key"]


async def test_text_search_is_case_insensitive_and_literal(client: httpx.AsyncClient) -> None:
    a = await create(client, prompt="What is 27 × 19?", answer="513")
    b = await create(client, prompt="Compute 100% of 4", answer="four")
    await create(client, prompt="Unrelated", answer="x")
    found = (await client.get("/api/traces", params={"q": "WHAT IS"})).json()
    assert [t["id"] for t in found["data"]] == [a["id"]]
    by_answer = (await client.get("/api/traces", params={"q": "FOUR"})).json()
    assert [t["id"] for t in by_answer["data"]] == [b["id"]]
    percent = (await client.get("/api/traces", params={"q": "100%"})).json()
    assert [t["id"] for t in percent["data"]] == [b["id"]]
    wildcard = (await client.get("/api/traces", params={"q": "%"})).json()
    assert [t["id"] for t in wildcard["data"]] == [b["id"]]
    underscore = (await client.get("/api/traces", params={"q": "_"})).json()
    assert underscore["data"] == []


async def test_date_range(client: httpx.AsyncClient) -> None:
    first = await create(client)
    middle = await create(client)
    last = await create(client)
    params = {"created_after": middle["created_at"], "created_before": last["created_at"]}
    body = (await client.get("/api/traces", params=params)).json()
    assert [t["id"] for t in body["data"]] == [middle["id"]]
    after_first = (
        await client.get("/api/traces", params={"created_after": first["created_at"]})
    ).json()
    assert len(after_first["data"]) == 3


# --- score / compare --------------------------------------------------------------------


async def test_score_uses_baseline_formula_and_is_stored(
    client: httpx.AsyncClient, app: object
) -> None:
    created = await create(client, steps=4, step_len=250)
    response = await client.post(
        f"/api/traces/{created['id']}/score", json={"criteria": "baseline"}
    )
    assert response.status_code == 201
    body = response.json()
    assert body["trace_id"] == created["id"]
    details = body["details"]
    assert details["step_count"] == 4
    assert details["total_chars"] == 1000
    assert details["avg_step_length"] == 250
    assert details["step_score"] == 20.0  # min(4/10,1)*50
    assert details["length_score"] == 25.0  # min(250/500,1)*50
    assert body["score"] == 45.0
    assert details["criteria"] == "baseline"
    datetime.fromisoformat(details["scored_at"])

    from sqlalchemy import select

    from tunix_rt.models import TraceScore

    async with app.state.sessionmaker() as session:  # type: ignore[attr-defined]
        stored = (await session.scalars(select(TraceScore))).all()
    assert [(str(s.trace_id), s.score, s.criteria) for s in stored] == [
        (created["id"], 45.0, "baseline")
    ]


async def test_score_without_body_defaults_to_baseline(client: httpx.AsyncClient) -> None:
    created = await create(client)
    response = await client.post(f"/api/traces/{created['id']}/score")
    assert response.status_code == 201
    assert response.json()["details"]["criteria"] == "baseline"


async def test_score_errors(client: httpx.AsyncClient) -> None:
    created = await create(client)
    unknown = await client.post(f"/api/traces/{uuid.uuid4()}/score", json={"criteria": "baseline"})
    assert unknown.status_code == 404
    bad = await client.post(f"/api/traces/{created['id']}/score", json={"criteria": "vibes"})
    assert bad.status_code == 422
    assert bad.json()["detail"][0]["loc"] == ["body", "criteria"]


async def test_compare_scores_both_sides(client: httpx.AsyncClient) -> None:
    poor = await create(client, steps=1, step_len=10)
    rich = await create(client, steps=8, step_len=400)
    response = await client.get(f"/api/traces/compare?base={poor['id']}&other={rich['id']}")
    assert response.status_code == 200
    body = response.json()
    assert body["base"]["id"] == poor["id"]
    assert body["other"]["id"] == rich["id"]
    assert set(body["base"]) == {"id", "created_at", "score", "trace_version", "payload"}
    assert body["other"]["score"] > body["base"]["score"]
    assert body["other"]["score"] == 40.0 + 40.0
    assert len(body["other"]["payload"]["steps"]) == 8


async def test_compare_404_names_the_missing_side(client: httpx.AsyncClient) -> None:
    present = await create(client)
    missing = str(uuid.uuid4())
    r = await client.get(f"/api/traces/compare?base={present['id']}&other={missing}")
    assert r.status_code == 404
    assert "other" in r.json()["detail"] and "base" not in r.json()["detail"]
    r = await client.get(f"/api/traces/compare?base={missing}&other={present['id']}")
    assert r.status_code == 404
    assert r.json()["detail"].startswith("base")
    r = await client.get("/api/traces/compare?base=nope&other=nope")
    assert r.status_code == 422
    r = await client.get(f"/api/traces/compare?base={present['id']}")
    assert r.status_code == 422


async def test_non_finite_meta_numbers_are_rejected(client: httpx.AsyncClient) -> None:
    body = (
        b'{"trace_version":"1","prompt":"p","final_answer":"a",'
        b'"steps":[{"i":0,"type":"t","content":"c"}],"meta":{"x":{"y":[1e999]}}}'
    )
    response = await client.post(
        "/api/traces", content=body, headers={"content-type": "application/json"}
    )
    assert response.status_code == 422
    assert "meta.x.y[0]" in response.json()["detail"][0]["msg"]


@pytest.mark.parametrize(
    ("field", "value"),
    [("prompt", "a\x00b"), ("trace_version", "\x00"), ("final_answer", "\ud8b9")],
)
async def test_text_no_database_can_store_is_422(
    client: httpx.AsyncClient, field: str, value: str
) -> None:
    body = json.dumps({**make_trace(), field: value})  # keeps \\u escapes, as a client sends
    response = await client.post(
        "/api/traces", content=body, headers={"content-type": "application/json"}
    )
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", field]
    assert await count(client) == 0


async def test_nul_in_meta_and_in_query_is_422(client: httpx.AsyncClient) -> None:
    body = json.dumps({**make_trace(), "meta": {"k": ["ok", "bad\x00"]}})
    response = await client.post(
        "/api/traces", content=body, headers={"content-type": "application/json"}
    )
    assert response.status_code == 422
    assert "meta.k[1]" in response.json()["detail"][0]["msg"]
    assert (await client.get("/api/traces", params={"q": "a\x00"})).status_code == 422
    bad_meta = await client.get("/api/traces", params={"meta.source": "\x00"})
    assert bad_meta.status_code == 422
    assert bad_meta.json()["detail"][0]["loc"] == ["query", "meta.source"]


async def test_unknown_field_with_a_lone_surrogate_name_is_422(client: httpx.AsyncClient) -> None:
    body = json.dumps({**make_trace(), "\ud800x": 1})
    response = await client.post(
        "/api/traces", content=body, headers={"content-type": "application/json"}
    )
    assert response.status_code == 422
    assert response.json()["detail"][0]["input"] == "\\ud800x"


async def test_date_filters_accept_naive_and_reject_unrepresentable(
    client: httpx.AsyncClient,
) -> None:
    created = await create(client)
    naive = datetime.fromisoformat(str(created["created_at"])).replace(tzinfo=None).isoformat()
    body = (await client.get("/api/traces", params={"created_after": naive})).json()
    assert [t["id"] for t in body["data"]] == [created["id"]]
    response = await client.get(
        "/api/traces", params={"created_after": "0001-01-01T00:00:00+05:05"}
    )
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["query", "created_after"]


async def test_list_items_carry_a_prompt_preview(client: httpx.AsyncClient) -> None:
    await create(client, prompt="é" * 300)
    item = (await client.get("/api/traces")).json()["data"][0]
    assert item["prompt_preview"] == "é" * 120
