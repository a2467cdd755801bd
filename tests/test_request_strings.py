"""Every string a request carries into the app — path and query parameters, headers,
JSON body fields at any depth — is refused with a 4xx when it holds a NUL, on both
databases. A NUL reaching a Postgres query is a 500 (asyncpg: invalid byte sequence for
encoding "UTF8": 0x00); SQLite stores it and hands back something else.

Two layers: a structural sweep of every route's declared parameters (so a new endpoint
with a bare ``str`` fails here without needing a database state that reaches its query),
and requests that reproduce the reported cases against real rows.
"""

from __future__ import annotations

import enum
import types
import typing
import uuid
from collections.abc import Iterator
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import httpx
from fastapi import FastAPI
from fastapi.routing import APIRoute
from pydantic import BaseModel, TypeAdapter, ValidationError

from tunix_rt.app import create_app

NUL = "a\x00b"

# Parameters whose type takes any string because a later check (a model validator, a
# decoder or the service) refuses a NUL with a 422 naming the field; each has a request
# below proving it. Anything new must use the constrained types of tunix_rt.kit.text.
CHECKED_LATER = {
    "POST /api/traces body:trace.meta": "check_json in the model validator",
    "POST /api/traces/batch body:traces.meta": "check_json in the model validator",
    "GET /api/traces query:cursor": "decoded as a cursor; anything else is a 422",
    "POST /api/generators/arithmetic/generate body:body.ops": "known operators only",
    "POST /api/datasets/build body:body.filters": "the service checks keys and values",
    "GET /api/tunix/runs/{run_id}/logs header:last-event-id": "digits only, else ignored",
    "GET /{path:path} path:path": "the frontend route answers 404 for a NUL",
}


def _probes(tp: Any) -> Iterator[Any]:
    """Values of type ``tp`` that carry a NUL somewhere (none when it holds no text)."""
    origin = get_origin(tp)
    if origin is Annotated:
        yield from _probes(get_args(tp)[0])
    elif tp is str or tp is Any:
        yield NUL
    elif origin is Literal or (isinstance(tp, type) and issubclass(tp, enum.Enum)):
        return
    elif origin in (Union, types.UnionType):
        for arg in get_args(tp):
            yield from _probes(arg)
    elif origin in (list, set, frozenset, tuple, typing.Sequence):
        for probe in _probes(get_args(tp)[0]):
            yield [probe]
    elif origin is dict:
        key, value = get_args(tp)
        yield from ({probe: 1} for probe in _probes(key))
        yield from ({"k": probe} for probe in _probes(value))


def _accepting(tp: Any, metadata: list[Any], where: str, seen: frozenset[type]) -> Iterator[str]:
    """Where under ``tp`` (with its constraints) a NUL-carrying value validates."""
    if get_origin(tp) is Annotated:
        base, *extra = get_args(tp)
        yield from _accepting(base, [*extra, *metadata], where, seen)
        return
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        if tp not in seen:
            for name, field in tp.model_fields.items():
                yield from _accepting(
                    field.annotation, field.metadata, f"{where}.{field.alias or name}", seen | {tp}
                )
        return
    for arg in get_args(tp):  # models inside unions, lists and dicts
        if isinstance(arg, type) and issubclass(arg, BaseModel):
            yield from _accepting(arg, [], where, seen)
    adapter = TypeAdapter(Annotated[tp, *metadata] if metadata else tp)
    for probe in _probes(tp):
        try:
            adapter.validate_python(probe)
        except ValidationError:
            continue
        yield where
        return


def _routes(routes: list[Any]) -> Iterator[APIRoute]:
    for route in routes:
        if isinstance(route, APIRoute):
            yield route
        elif hasattr(route, "original_router"):  # an included router (FastAPI ≥ 0.120)
            yield from _routes(route.original_router.routes)


def _nul_accepting_parameters(app: FastAPI) -> set[str]:
    found: set[str] = set()
    kinds = {"path_params": "path", "query_params": "query", "header_params": "header"}
    kinds |= {"cookie_params": "cookie", "body_params": "body"}

    def walk(dependant: Any, label: str) -> None:
        for attr, kind in kinds.items():
            for param in getattr(dependant, attr):
                info = param.field_info
                where = f"{label} {kind}:{param.alias}"
                found.update(_accepting(info.annotation, info.metadata, where, frozenset()))
        for sub in dependant.dependencies:
            walk(sub, label)

    for route in _routes(app.routes):
        for method in sorted(route.methods):
            walk(route.dependant, f"{method} {route.path}")
    return found


def test_every_request_string_type_refuses_nul() -> None:
    app = create_app(check_schema=False)
    accepting = _nul_accepting_parameters(app)
    unexpected = sorted(accepting - set(CHECKED_LATER))
    assert not unexpected, "parameters that take a NUL to the app: " + ", ".join(unexpected)
    assert len(list(_routes(app.routes))) > 50  # the sweep really saw the routes


async def test_reported_nul_requests_are_refused(client: httpx.AsyncClient) -> None:
    # The reported case: a NUL in baseline_name of a regression check (500 on Postgres).
    run_id = str(uuid.uuid4())
    check = await client.post(
        "/api/regression/check", json={"run_id": run_id, "baseline_name": "b\u0000"}
    )
    assert check.status_code == 422, check.text
    assert check.json()["detail"][0]["loc"] == ["body", "baseline_name"]
    baseline = await client.get("/api/regression/baselines/a%00b")
    assert baseline.status_code == 422, baseline.text

    # A NUL alias of a model that exists reached its query (500 on Postgres).
    assert (await client.post("/api/models", json={"name": "m"})).status_code == 201
    for method, body in (("PUT", {"version": "v1"}), ("DELETE", None)):
        answer = await client.request(method, "/api/models/m/aliases/a%00b", json=body)
        assert answer.status_code == 422, answer.text
        assert answer.json()["detail"][0]["loc"] == ["path", "alias"]

    # The frontend's catch-all opened a file named with a NUL (ValueError: a 500 anywhere).
    for path in ("/a%00b", "/assets/a%00b"):
        assert (await client.get(path)).status_code == 404


async def test_strings_checked_later_refuse_nul(client: httpx.AsyncClient) -> None:
    step = {"i": 0, "type": "compute", "content": "x"}
    trace = {"trace_version": "1.0", "prompt": "p", "final_answer": "a", "steps": [step]}
    refused = [
        await client.post("/api/traces", json={**trace, "meta": {NUL: 1}}),
        await client.post("/api/traces", json={**trace, "meta": {"k": [NUL]}}),
        await client.post("/api/traces/batch", json=[{**trace, "meta": {"k": NUL}}]),
        await client.get("/api/traces", params={"cursor": NUL}),
        await client.post("/api/generators/arithmetic/generate", json={"ops": [NUL], "count": 1}),
        await client.post(
            "/api/datasets/build",
            json={"dataset_name": "d", "dataset_version": "v1", "filters": {NUL: "x"}},
        ),
        await client.post(
            "/api/datasets/build",
            json={"dataset_name": "d", "dataset_version": "v1", "filters": {"source": NUL}},
        ),
    ]
    for answer in refused:
        assert answer.status_code == 422, (answer.request.url, answer.text)
    # A Last-Event-ID that is not a number is ignored (the stream starts at since_seq).
    logs = await client.get(f"/api/tunix/runs/{uuid.uuid4()}/logs", headers={"last-event-id": "1x"})
    assert logs.status_code == 404
