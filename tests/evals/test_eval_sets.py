"""Eval sets: register via JSON and JSONL (line-numbered errors), list, read, delete."""

from __future__ import annotations

import json

import httpx

from tunix_rt.evals.eval_sets import parse_jsonl

ITEMS = [
    {"id": "q1", "prompt": "What is 2 + 2?", "expected_answer": "4", "category": "add"},
    {"id": "q2", "prompt": "What is 3 × 3?", "expected_answer": 9},
]

NDJSON = {"content-type": "application/x-ndjson"}


def jsonl(rows: list[object]) -> str:
    return "".join(json.dumps(r) + "\n" for r in rows)


def test_parse_jsonl_reports_line_numbers() -> None:
    text = (
        jsonl(ITEMS[:1])
        + "\n"  # blank lines are skipped but still counted
        + "{not json\n"
        + json.dumps({"id": "q3", "prompt": ""})
        + "\n"
        + json.dumps(ITEMS[0])
        + "\n"
        + "[1, 2]\n"
        + json.dumps({**ITEMS[1], "extra": 1})
        + "\n"
    )
    items, errors = parse_jsonl(text.splitlines())
    assert [i.id for i in items] == ["q1"]
    messages = [str(e) for e in errors]
    assert messages[0].startswith("line 3: invalid JSON")
    assert messages[1].startswith("line 4: ")
    assert "prompt" in messages[1] and "expected_answer" in messages[1]
    assert messages[2] == "line 5: duplicate id 'q1' (first on line 1)"
    assert messages[3] == "line 6: expected a JSON object"
    assert messages[4].startswith("line 7: extra")


async def test_register_list_get_delete(api: httpx.AsyncClient) -> None:
    created = await api.post(
        "/api/eval-sets", json={"name": "arith-hard", "description": "hard", "items": ITEMS}
    )
    assert created.status_code == 201, created.text
    summary = created.json()
    assert summary["name"] == "arith-hard" and summary["item_count"] == 2
    assert len(summary["sha256"]) == 64
    dup = await api.post("/api/eval-sets", json={"name": "arith-hard", "items": ITEMS})
    assert dup.status_code == 409

    imported = await api.post(
        "/api/eval-sets/import",
        params={"name": "from-jsonl"},
        content=jsonl(ITEMS),
        headers=NDJSON,
    )
    assert imported.status_code == 201, imported.text
    assert imported.json()["sha256"] == summary["sha256"]  # same content, same hash

    listed = (await api.get("/api/eval-sets")).json()["data"]
    assert [s["name"] for s in listed] == ["arith-hard", "from-jsonl"]
    detail = (await api.get("/api/eval-sets/arith-hard")).json()
    assert detail["items"][1] == {
        "id": "q2",
        "prompt": "What is 3 × 3?",
        "expected_answer": "9",
        "category": None,
    }
    assert (await api.delete("/api/eval-sets/arith-hard")).status_code == 204
    assert (await api.get("/api/eval-sets/arith-hard")).status_code == 404
    assert (await api.delete("/api/eval-sets/arith-hard")).status_code == 404


async def test_invalid_sets_are_422(api: httpx.AsyncClient) -> None:
    bad_lines = await api.post(
        "/api/eval-sets/import",
        params={"name": "bad"},
        content=jsonl(ITEMS) + "{oops\n" + json.dumps({"id": "x"}) + "\n",
        headers=NDJSON,
    )
    assert bad_lines.status_code == 422
    msg = bad_lines.json()["detail"][0]["msg"]
    assert msg.startswith("2 invalid line(s): line 3: invalid JSON")
    assert "line 4:" in msg
    empty = await api.post(
        "/api/eval-sets/import", params={"name": "empty"}, content="\n\n", headers=NDJSON
    )
    assert empty.status_code == 422
    dup_ids = await api.post("/api/eval-sets", json={"name": "d", "items": [ITEMS[0], ITEMS[0]]})
    assert dup_ids.status_code == 422
    assert dup_ids.json()["detail"][0]["loc"] == ["body", "items", 1, "id"]
    no_items = await api.post("/api/eval-sets", json={"name": "n", "items": []})
    assert no_items.status_code == 422
    bad_name = await api.post("/api/eval-sets", json={"name": "a b", "items": ITEMS})
    assert bad_name.status_code == 422
    nul = [ITEMS[0], {**ITEMS[1], "prompt": "a\u0000b"}]  # Postgres JSONB cannot hold it
    unstorable = await api.post("/api/eval-sets", json={"name": "nul", "items": nul})
    assert unstorable.status_code == 422
    assert unstorable.json()["detail"][0]["loc"] == ["body", "items", 1, "prompt"]
    imported = await api.post(
        "/api/eval-sets/import", params={"name": "nul"}, content=jsonl(nul), headers=NDJSON
    )
    assert imported.status_code == 422
    assert "line 2: prompt" in imported.json()["detail"][0]["msg"]
    assert (await api.get("/api/eval-sets")).json()["data"] == []
