"""No request a client can send gets a 5xx: every operation in the OpenAPI schema, fed
bodies, query strings, headers and path values generated from that schema (schemathesis,
valid and invalid alike), on each database.

Generation is derandomized, so a failure here reproduces exactly; the report lists each
failing request. Training is never started: runs are submitted in ``async`` mode to an
app without a worker, so they only queue.
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Callable
from typing import Any

import schemathesis
from hypothesis import HealthCheck, Phase, given
from hypothesis import settings as hypothesis_settings

from tests.conftest import serve_in_process
from tunix_rt.app import create_app
from tunix_rt.auth import service as auth_service
from tunix_rt.config import Settings
from tunix_rt.db import create_engine, create_sessionmaker

# A deeper sweep: TUNIX_RT_FUZZ_EXAMPLES=200 make pytest (or pytest tests/test_api_fuzz.py).
EXAMPLES_PER_OPERATION = int(os.environ.get("TUNIX_RT_FUZZ_EXAMPLES", "20"))
# Every this-many generated requests, the case is also sent with hostile values.
HOSTILE_EVERY = 4
# The sweep with auth required (a valid admin token on every request) goes less deep: the
# routes' inputs are swept above; this one is about the auth middleware in front of them.
AUTH_EXAMPLES_PER_OPERATION = max(1, EXAMPLES_PER_OPERATION // 4)


@schemathesis.serializer("application/x-ndjson")
def _ndjson(_ctx: Any, value: Any) -> bytes:
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode("utf-8", "surrogatepass")
    rows = value if isinstance(value, list) else [value]
    return "\n".join(json.dumps(row) for row in rows).encode()


# Values that once reached a query or an encoder and came back as a 500: a NUL (Postgres
# text cannot hold it), and JSON nested far deeper than any real metadata.
NUL_TEXT = "a\u0000b"
DEEP_LEVELS = 1000


def _deep() -> dict[str, Any]:
    value: dict[str, Any] = {"leaf": 1}
    for _ in range(DEEP_LEVELS):
        value = {"k": value}
    return value


def _with(case: Any, **changes: Any) -> Any:
    """A new case of the same operation, with some parts replaced."""
    parts = {
        "path_parameters": dict(case.path_parameters or {}),
        "query": dict(case.query or {}),
        "headers": dict(case.headers or {}),
        "body": case.body,
        "media_type": case.media_type,
    }
    return case.operation.Case(**{**parts, **changes})


def _is_text(schema: dict[str, Any]) -> bool:
    """A free string (not an enum, uuid or date), alone or in an anyOf with null."""
    if schema.get("type") == "string":
        return "enum" not in schema and "const" not in schema and "format" not in schema
    return any(_is_text(option) for option in schema.get("anyOf", []))


def text_slots(openapi: dict[str, Any]) -> dict[str, dict[str, list[str]]]:
    """Per operation, every string query parameter and top-level JSON body property its
    schema declares, optional ones included: a generated case often leaves those out,
    and a NUL must be refused there too (issue 15: baseline_name of a regression check
    reached Postgres)."""
    components = openapi.get("components", {}).get("schemas", {})
    slots: dict[str, dict[str, list[str]]] = {}
    for path, operations in openapi["paths"].items():
        for method, op in operations.items():
            query = [
                p["name"]
                for p in op.get("parameters", [])
                if p["in"] == "query" and _is_text(p.get("schema", {}))
            ]
            body = op.get("requestBody", {}).get("content", {}).get("application/json", {})
            schema = body.get("schema", {})
            if "$ref" in schema:
                schema = components[schema["$ref"].rsplit("/", 1)[-1]]
            fields = [n for n, s in schema.get("properties", {}).items() if _is_text(s)]
            slots[f"{method.upper()} {path}"] = {"query": query, "body": fields}
    return slots


def _hostile_variants(case: Any, slots: dict[str, list[str]]) -> list[tuple[str, Any]]:
    """Copies of ``case`` with one string path/query parameter or body field made to hold a
    NUL (declared optional ones that the case left out too), or one object body field
    nested ``DEEP_LEVELS`` deep."""
    variants: list[tuple[str, Any]] = []
    for attr in ("path_parameters", "query"):
        values = dict(getattr(case, attr) or {})
        absent = slots["query"] if attr == "query" else []
        names = [n for n, v in values.items() if isinstance(v, str)]
        for name in names + [n for n in absent if n not in values]:
            changed = {**values, name: NUL_TEXT}
            variants.append((f"{attr}.{name}=NUL", _with(case, **{attr: changed})))
    if isinstance(case.body, dict):
        for name in slots["body"]:
            if name not in case.body:
                body = {**case.body, name: NUL_TEXT}
                variants.append((f"body.{name}=NUL (absent)", _with(case, body=body)))
        for name, value in case.body.items():
            if isinstance(value, str):
                body = {**case.body, name: NUL_TEXT}
                variants.append((f"body.{name}=NUL", _with(case, body=body)))
            elif isinstance(value, dict) or name == "meta":
                body = {**case.body, name: _deep()}
                variants.append((f"body.{name}={DEEP_LEVELS} levels", _with(case, body=body)))
    return variants


def _sweep(
    operation: Any,
    slots: dict[str, list[str]],
    failures: list[str],
    calls: list[int],
    examples: int = EXAMPLES_PER_OPERATION,
) -> Callable[[], None]:
    """A hypothesis test sending generated requests to ``operation``, noting 5xx."""

    @hypothesis_settings(
        max_examples=examples,
        derandomize=True,
        database=None,
        deadline=None,
        phases=[Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy())
    def call(case: Any) -> None:
        if operation.label == "POST /api/tunix/run":
            case.query = {**(case.query or {}), "mode": "async"}  # queue, never train
        calls.append(1)
        request = (
            f"  path={case.path_parameters} query={case.query} "
            f"headers={case.headers} body={str(case.body)[:300]!r}"
        )
        try:
            response = case.call()
        except Exception as exc:  # the app raised: the client would have seen a 500
            failures.append(f"{operation.label} -> {type(exc).__name__}: {exc!s:.300}\n{request}")
            return
        if response.status_code >= 500:
            failures.append(
                f"{operation.label} -> {response.status_code} {response.text[:300]!r}\n{request}"
            )
        if len(calls) % HOSTILE_EVERY:
            return
        for what, hostile in _hostile_variants(case, slots):
            calls.append(1)
            try:
                answer = hostile.call()
            except Exception as exc:
                failures.append(f"{operation.label} [{what}] -> {type(exc).__name__}: {exc!s:.300}")
                continue
            # Refused (4xx), never stored (2xx) and never a server error (5xx).
            if not 400 <= answer.status_code < 500:
                failures.append(
                    f"{operation.label} [{what}] -> {answer.status_code} {answer.text[:300]!r}"
                )

    return call


FUZZ_SETTINGS: dict[str, Any] = {
    "embedded_worker": False,
    "allowed_hosts": "testserver",
    "rate_limit_writes_per_minute": 0,
}


def test_no_generated_request_gets_a_server_error(settings: Settings) -> None:
    # schemathesis's ASGI client sends Host: testserver; the Host check stays on. The write
    # rate limit is off: a 429 would stop the sweep's requests before they reach the app.
    app = create_app(settings.model_copy(update=FUZZ_SETTINGS))
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    expected = {f"{m.upper()} {p}" for p, ops in app.openapi()["paths"].items() for m in ops}
    slots = text_slots(app.openapi())
    failures: list[str] = []
    seen: set[str] = set()
    calls: list[int] = []
    for result in schema.get_all_operations():
        operation = result.ok()
        seen.add(operation.label)
        _sweep(operation, slots[operation.label], failures, calls)()

    assert seen == expected  # every operation, the NDJSON upload included
    # The optional string the issue found is among those made hostile.
    assert "baseline_name" in slots["POST /api/regression/check"]["body"]
    assert len(calls) >= EXAMPLES_PER_OPERATION * len(expected) // 2, len(calls)
    assert not failures, f"{len(failures)} failing request(s):\n" + "\n".join(failures)


async def _admin_token(settings: Settings) -> str:
    engine = create_engine(settings)
    try:
        async with create_sessionmaker(engine)() as session:
            _, token = await auth_service.create_token(session, "fuzz-admin", "admin")
            await session.commit()
    finally:
        await engine.dispose()
    return token


async def _status_without_token(app: Any) -> int:
    async with serve_in_process(app) as client:
        return (await client.get("/api/traces")).status_code


class _Bearer:
    """Adds ``Authorization: Bearer <token>`` to every HTTP request that has none, and
    notes each 401 (the token must be accepted everywhere)."""

    def __init__(self, app: Any, token: str) -> None:
        self.app = app
        self.header = (b"authorization", f"Bearer {token}".encode())
        self.refused: list[str] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = list(scope.get("headers", []))
        if not any(name == b"authorization" for name, _ in headers):
            scope = {**scope, "headers": [*headers, self.header]}

        async def noting(message: Any) -> None:
            if message["type"] == "http.response.start" and message["status"] == 401:
                self.refused.append(f"{scope['method']} {scope['path']}")
            await send(message)

        await self.app(scope, receive, noting)


def test_no_generated_request_gets_a_server_error_with_auth_required(settings: Settings) -> None:
    """The same sweep, shallower, with TUNIX_RT_AUTH=required and a valid admin token."""
    token = asyncio.run(_admin_token(settings))
    app = create_app(settings.model_copy(update={**FUZZ_SETTINGS, "auth": "required"}))
    bearer = _Bearer(app, token)
    schema = schemathesis.openapi.from_asgi("/openapi.json", bearer)
    slots = text_slots(app.openapi())
    failures: list[str] = []
    calls: list[int] = []
    for result in schema.get_all_operations():
        operation = result.ok()
        examples = AUTH_EXAMPLES_PER_OPERATION
        _sweep(operation, slots[operation.label], failures, calls, examples)()

    assert len(calls) >= len(slots), len(calls)
    assert not failures, f"{len(failures)} failing request(s):\n" + "\n".join(failures)
    assert not bearer.refused, bearer.refused  # the token was accepted everywhere
    assert asyncio.run(_status_without_token(app)) == 401  # and auth was on
