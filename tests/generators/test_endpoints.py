"""SPEC §4 generator endpoints, on every configured database."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from tunix_rt.generators.high_card_duel import DECK, duel_result, generate_high_card_duel


async def hcd(client: httpx.AsyncClient, **body: Any) -> httpx.Response:
    return await client.post("/api/ungar/high-card-duel/generate", json=body)


async def test_ungar_status_is_always_available(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/ungar/status")
    assert response.status_code == 200
    body = response.json()
    assert body["available"] is True
    assert body["games"] == ["high_card_duel"]
    assert body["version"]


async def test_generate_stores_traces_and_previews_the_first_three(
    client: httpx.AsyncClient,
) -> None:
    response = await hcd(client, count=5, seed=42)
    assert response.status_code == 201, response.text
    body = response.json()
    assert len(body["trace_ids"]) == 5
    assert body["seed"] == 42
    assert len(body["preview"]) == 3
    assert [p["trace_id"] for p in body["preview"]] == body["trace_ids"][:3]
    expected = generate_high_card_duel(5, 42)
    for item, trace in zip(body["preview"], expected, strict=False):
        assert item["game"] == "high_card_duel"
        assert item["my_card"] == trace["meta"]["my_card"]
        assert item["result"] == trace["meta"]["result"]

    stored = (await client.get(f"/api/traces/{body['trace_ids'][0]}")).json()["payload"]
    assert stored["prompt"] == "High Card Duel: You have 1 hidden card. Action: reveal."
    assert stored["final_answer"] == "reveal"
    assert [s["type"] for s in stored["steps"]] == [
        "legal_moves",
        "observation",
        "unseen",
        "decision",
    ]
    meta = stored["meta"]
    assert stored["steps"][1]["content"] == f"My hand: {meta['my_card']}"
    assert stored["steps"][2]["content"] == "Unseen cards: 51"
    assert set(meta) == {
        "source",
        "game",
        "episode_index",
        "my_card",
        "opponent_card",
        "result",
        "seed",
    }
    assert meta["source"] == "ungar" and meta["seed"] == 42 and meta["episode_index"] == 0
    assert meta["my_card"] != meta["opponent_card"]
    assert {meta["my_card"], meta["opponent_card"]} <= set(DECK)
    assert meta["result"] == duel_result(meta["my_card"], meta["opponent_card"])


async def test_same_seed_same_episodes(client: httpx.AsyncClient) -> None:
    first = (await hcd(client, count=20, seed=7, persist=False)).json()["traces"]
    second = (await hcd(client, count=20, seed=7, persist=False)).json()["traces"]
    other = (await hcd(client, count=20, seed=8, persist=False)).json()["traces"]
    assert first == second
    assert first != other


async def test_no_seed_picks_one_and_reports_it(client: httpx.AsyncClient) -> None:
    body = (await hcd(client, count=3, persist=False)).json()
    again = (await hcd(client, count=3, seed=body["seed"], persist=False)).json()
    assert again["traces"] == body["traces"]


async def test_persist_false_stores_nothing(client: httpx.AsyncClient) -> None:
    body = (await hcd(client, count=4, seed=1, persist=False)).json()
    assert body["trace_ids"] == []
    assert len(body["traces"]) == 4
    assert all(p["trace_id"] is None for p in body["preview"])
    assert (await client.get("/api/traces/count")).json()["count"] == 0


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        ({"count": 0}, ["body", "count"]),
        ({"count": 101}, ["body", "count"]),
        ({"count": "many"}, ["body", "count"]),
        ({"seed": -1}, ["body", "seed"]),
        ({"persist": "maybe"}, ["body", "persist"]),
        ({"extra": 1}, ["body", "extra"]),
    ],
)
async def test_generate_rejects_bad_input(
    client: httpx.AsyncClient, body: dict[str, Any], loc: list[Any]
) -> None:
    response = await hcd(client, **body)
    assert response.status_code == 422
    assert any(e["loc"] == loc for e in response.json()["detail"])


async def test_results_cover_win_loss_and_tie() -> None:
    results = {t["meta"]["result"] for t in generate_high_card_duel(300, 3)}
    assert results == {"win", "loss", "tie"}


async def test_export_is_ndjson_in_trace_format_newest_first(client: httpx.AsyncClient) -> None:
    ids = (await hcd(client, count=5, seed=9)).json()["trace_ids"]
    await client.post("/api/traces", json={**_other_trace()})
    response = await client.get("/api/ungar/high-card-duel/export.jsonl", params={"limit": 3})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/x-ndjson")
    lines = [json.loads(line) for line in response.text.splitlines()]
    assert len(lines) == 3
    assert {line["id"] for line in lines} <= set(ids)
    first = lines[0]
    assert set(first) == {"id", "prompts", "trace_steps", "final_answer", "metadata"}
    assert first["prompts"].startswith("High Card Duel")
    assert first["trace_steps"][2] == "Unseen cards: 51"
    assert first["metadata"]["game"] == "high_card_duel"
    assert {"created_at", "trace_version"} <= set(first["metadata"])
    everything = await client.get("/api/ungar/high-card-duel/export.jsonl")
    assert len(everything.text.splitlines()) == 5


async def test_export_limit_is_validated(client: httpx.AsyncClient) -> None:
    for limit in (0, 10_001, "x"):
        response = await client.get(
            "/api/ungar/high-card-duel/export.jsonl", params={"limit": limit}
        )
        assert response.status_code == 422


def _other_trace() -> dict[str, Any]:
    return {
        "trace_version": "1.0",
        "prompt": "Not a game",
        "final_answer": "x",
        "steps": [{"i": 0, "type": "t", "content": "c"}],
        "meta": {"source": "other"},
    }


# --- arithmetic ------------------------------------------------------------------------------


async def arith(client: httpx.AsyncClient, **body: Any) -> httpx.Response:
    return await client.post("/api/generators/arithmetic/generate", json=body)


async def test_arithmetic_generate_stores_verifiable_traces(client: httpx.AsyncClient) -> None:
    response = await arith(client, count=12, seed=3, digits=2, ops=["+", "×"])
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["count"] == 12 and len(body["trace_ids"]) == 12 and body["seed"] == 3
    assert len(body["preview"]) == 3
    stored = (await client.get(f"/api/traces/{body['trace_ids'][0]}")).json()["payload"]
    assert stored["prompt"] == body["preview"][0]["prompt"]
    meta = stored["meta"]
    assert meta["source"] == "arithmetic"
    assert meta["expected_answer"] == stored["final_answer"]
    assert {"task", "difficulty"} <= set(meta)
    # The answer is right: evaluate the prompt's expression.
    expression = stored["prompt"].removeprefix("What is ").removesuffix("?").replace("×", "*")
    assert str(eval(expression)) == stored["final_answer"]


async def test_arithmetic_is_deterministic_by_seed(client: httpx.AsyncClient) -> None:
    first = (await arith(client, count=5, seed=11, persist=False)).json()
    second = (await arith(client, count=5, seed=11, persist=False)).json()
    assert first["traces"] == second["traces"]
    assert first["trace_ids"] == [] and (await client.get("/api/traces/count")).json()["count"] == 0


@pytest.mark.parametrize(
    ("body", "loc"),
    [
        ({"count": 0}, ["body", "count"]),
        ({"count": 10_001}, ["body", "count"]),
        ({"digits": 7}, ["body", "digits"]),
        ({"terms": 1}, ["body", "terms"]),
        ({"ops": []}, ["body", "ops"]),
        ({"ops": ["/"]}, ["body", "ops"]),
        ({"style": "poem"}, ["body", "style"]),
        ({"count": 200, "digits": 1, "ops": ["+"]}, ["body", "count"]),  # only 100 distinct
    ],
)
async def test_arithmetic_rejects_bad_input(
    client: httpx.AsyncClient, body: dict[str, Any], loc: list[Any]
) -> None:
    response = await arith(client, **body)
    assert response.status_code == 422, response.text
    assert any(e["loc"] == loc for e in response.json()["detail"]), response.json()


def test_high_card_duel_deals_are_pinned_for_a_seed() -> None:
    """Seeding hashes a string, so the deal is the same on every platform and run."""
    deals = [
        (t["meta"]["my_card"], t["meta"]["opponent_card"], t["meta"]["result"])
        for t in generate_high_card_duel(4, 42)
    ]
    assert deals == [
        ("8C", "9C", "loss"),
        ("8S", "QH", "loss"),
        ("8C", "3H", "win"),
        ("7C", "3H", "win"),
    ]
    assert [t["meta"]["episode_index"] for t in generate_high_card_duel(4, 42)] == [0, 1, 2, 3]
