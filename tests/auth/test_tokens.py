"""API tokens (SPEC §12) on each database: only hashes stored; the CLI prints a token
once, lists and revokes; with auth required every /api route but health answers 401
without a live token and 403 for a read token on a write; the SSE log stream and
downloads take the sign-in cookie; auto mode turns auth on off loopback; tokens never
reach a log."""

from __future__ import annotations

import hashlib
import json
import logging
import re
import subprocess
import urllib.error
import urllib.request
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select, update
from typer.testing import CliRunner

from tests.conftest import make_trace, serve_in_process
from tests.runs.conftest import Sessionmaker, add_run
from tests.runs.test_endpoints import add_lines, parse_sse
from tests.server_process import cli as cli_path
from tests.server_process import server_env, serving
from tunix_rt.app import create_app
from tunix_rt.auth import service
from tunix_rt.cli import app as cli_app
from tunix_rt.config import Settings, SettingsError, load_settings
from tunix_rt.db import create_engine, create_sessionmaker, utcnow
from tunix_rt.models.auth import ApiToken

TOKEN_RE = re.compile(r"trt_[0-9a-f]{12}_[A-Za-z0-9_-]{43}")


@pytest.fixture
def auth_settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"auth": "required"})


@pytest.fixture
async def sm(settings: Settings) -> AsyncIterator[Sessionmaker]:
    engine = create_engine(settings)
    try:
        yield create_sessionmaker(engine)
    finally:
        await engine.dispose()


async def new_token(sm: Sessionmaker, name: str, scope: str, *, revoked: bool = False) -> str:
    async with sm() as session:
        _, token = await service.create_token(session, name, scope)
        if revoked:
            await service.revoke_token(session, name)
        await session.commit()
    return token


@pytest.fixture
async def tokens(sm: Sessionmaker) -> dict[str, str]:
    return {
        "read": await new_token(sm, "reader", "read"),
        "write": await new_token(sm, "writer", "write"),
        "admin": await new_token(sm, "root", "admin"),
        "revoked": await new_token(sm, "old", "admin", revoked=True),
    }


@pytest.fixture
async def api(auth_settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    async with serve_in_process(create_app(auth_settings)) as client:
        yield client


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def assert_401(response: httpx.Response) -> None:
    assert response.status_code == 401, (response.status_code, response.text)
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert isinstance(response.json()["detail"], str)


async def test_only_a_hash_is_stored(sm: Sessionmaker) -> None:
    token = await new_token(sm, "ci", "write")
    assert TOKEN_RE.fullmatch(token)
    async with sm() as session:
        row = (await session.scalars(select(ApiToken))).one()
    stored = [str(getattr(row, c.key)) for c in ApiToken.__table__.columns]
    assert row.token_hash == hashlib.sha256(token.encode()).hexdigest()
    secret = token.split("_", 2)[2]
    assert not any(secret in value for value in stored)
    assert (row.name, row.scope, row.revoked_at, row.last_used_at) == ("ci", "write", None, None)


def test_cli_create_prints_once_list_revoke(
    settings: Settings, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("DATABASE_URL", settings.resolved_database_url)
    monkeypatch.setenv("TUNIX_RT_DATA_DIR", str(settings.data_dir))
    runner = CliRunner()
    caplog.set_level(logging.DEBUG)

    created = runner.invoke(cli_app, ["tokens", "create", "--name", "ci", "--scope", "write"])
    assert created.exit_code == 0, created.output
    token = created.stdout.strip()
    assert TOKEN_RE.fullmatch(token), created.stdout  # the token alone on stdout
    assert "shown once" in created.stderr and token not in created.stderr

    again = runner.invoke(cli_app, ["tokens", "create", "--name", "ci"])
    assert again.exit_code == 1 and "exists" in again.stderr
    bad = runner.invoke(cli_app, ["tokens", "create", "--name", "ci", "--scope", "root"])
    assert bad.exit_code == 2
    assert runner.invoke(cli_app, ["tokens", "create", "--name", "../x"]).exit_code == 2
    admin = runner.invoke(cli_app, ["tokens", "create", "--name", "ops", "--scope", "admin"])
    assert admin.exit_code == 0

    listed = runner.invoke(cli_app, ["tokens", "list"])
    assert listed.exit_code == 0
    for text in ("ci", "write", "ops", "admin", token[:16]):
        assert text in listed.stdout
    assert token not in listed.stdout and token.split("_", 2)[2] not in listed.stdout

    revoked = runner.invoke(cli_app, ["tokens", "revoke", "ci"])
    assert revoked.exit_code == 0 and "revoked" in revoked.stdout
    assert runner.invoke(cli_app, ["tokens", "revoke", "ci"]).exit_code == 1
    rows = runner.invoke(cli_app, ["tokens", "list", "--json"])
    by_name = {row["name"]: row for row in json.loads(rows.stdout)}
    assert by_name["ci"]["revoked_at"] is not None and by_name["ops"]["revoked_at"] is None
    assert by_name["ci"]["last_used_at"] is None
    # A revoked token's name can be given to a new token.
    assert runner.invoke(cli_app, ["tokens", "create", "--name", "ci"]).exit_code == 0
    assert token not in caplog.text


async def test_missing_invalid_and_revoked_tokens_are_401(
    api: httpx.AsyncClient, tokens: dict[str, str]
) -> None:
    assert (await api.get("/api/health")).status_code == 200  # open
    assert_401(await api.get("/api/traces"))
    assert_401(await api.get("/api/traces", headers=bearer("nope")))
    assert_401(await api.get("/api/traces", headers={"Authorization": f"Basic {tokens['read']}"}))
    forged = tokens["admin"][:-4] + "AAAA"  # right lookup id, wrong secret
    assert_401(await api.get("/api/traces", headers=bearer(forged)))
    revoked = await api.get("/api/traces", headers=bearer(tokens["revoked"]))
    assert_401(revoked)
    assert 'error="invalid_token"' in revoked.headers["www-authenticate"]
    # A query parameter is never a token (URLs end up in logs).
    assert_401(await api.get("/api/traces", params={"token": tokens["admin"]}))
    # Refused before the body is read, and nothing is stored.
    assert_401(await api.post("/api/traces", json=make_trace()))
    listed = await api.get("/api/traces", headers=bearer(tokens["read"]))
    assert listed.status_code == 200 and listed.json()["data"] == []
    assert (await api.get("/openapi.json")).status_code == 200


async def test_scopes_read_write_admin(api: httpx.AsyncClient, tokens: dict[str, str]) -> None:
    read, write, admin = (bearer(tokens[s]) for s in ("read", "write", "admin"))
    refused = await api.post("/api/traces", json=make_trace(), headers=read)
    assert refused.status_code == 403 and "needs 'write'" in refused.json()["detail"]
    assert 'error="insufficient_scope"' in refused.headers["www-authenticate"]
    created = await api.post("/api/traces", json=make_trace(), headers=write)
    assert created.status_code == 201
    trace = f"/api/traces/{created.json()['id']}"
    assert (await api.get(trace, headers=read)).status_code == 200
    assert (await api.delete(trace, headers=read)).status_code == 403
    assert (await api.delete(trace, headers=write)).status_code == 204
    bad = await api.post("/api/datasets/build", json={}, headers=write)
    assert bad.status_code == 422  # authorised, then validated as usual

    # Token management is admin only, reading included.
    for headers in (read, write):
        assert (await api.get("/api/tokens", headers=headers)).status_code == 403
        made = await api.post("/api/tokens", json={"name": "x"}, headers=headers)
        assert made.status_code == 403
    listed = await api.get("/api/tokens", headers=admin)
    assert {t["name"] for t in listed.json()["data"]} == {"reader", "writer", "root", "old"}
    assert not any(TOKEN_RE.search(str(t)) for t in listed.json()["data"])
    made = await api.post("/api/tokens", json={"name": "bot", "scope": "write"}, headers=admin)
    assert made.status_code == 201 and TOKEN_RE.fullmatch(made.json()["token"])
    bot = bearer(made.json()["token"])
    assert (await api.post("/api/traces", json=make_trace(), headers=bot)).status_code == 201
    assert (await api.post("/api/tokens", json={"name": "bot"}, headers=admin)).status_code == 409
    revoked = await api.delete("/api/tokens/bot", headers=admin)
    assert revoked.status_code == 200 and revoked.json()["revoked_at"]
    assert_401(await api.get("/api/traces", headers=bot))
    assert (await api.delete("/api/tokens/bot", headers=admin)).status_code == 404


async def test_log_stream_and_downloads_take_the_sign_in_cookie(
    api: httpx.AsyncClient, tokens: dict[str, str], sm: Sessionmaker, auth_settings: Settings
) -> None:
    run = await add_run(sm, auth_settings, status="completed")
    await add_lines(sm, run.id, [("stdout", "hello")])
    (Path(run.output_dir) / "out.txt").write_text("weights")
    logs = f"/api/tunix/runs/{run.id}/logs"
    download = f"/api/tunix/runs/{run.id}/artifacts/out.txt/download"
    for url in (logs, download, "/api/models/m/versions/v1/download"):
        assert_401(await api.get(url))
    assert_401(await api.delete(f"/api/tunix/runs/{run.id}", headers=bearer(tokens["revoked"])))
    streamed = await api.get(logs, headers=bearer(tokens["read"]))
    assert [e["event"] for e in parse_sse(streamed.text)] == ["log", "status"]
    assert (await api.get(download, headers=bearer(tokens["read"]))).content == b"weights"

    # Sign in: any live token; the answer sets an HttpOnly cookie for /api.
    assert_401(await api.post("/api/auth/session"))
    signed = await api.post("/api/auth/session", headers=bearer(tokens["read"]))
    assert signed.json() == {"auth_required": True, "name": "reader", "scope": "read"}
    cookie = signed.headers["set-cookie"]
    for attribute in ("tunix_rt_token=", "HttpOnly", "Path=/api", "SameSite=strict"):
        assert attribute in cookie, cookie
    assert api.cookies.get("tunix_rt_token") == tokens["read"]
    # EventSource and links send only the cookie: accepted on those GET routes only.
    streamed = await api.get(logs)
    assert streamed.status_code == 200 and "hello" in streamed.text
    assert (await api.get(download)).content == b"weights"
    assert_401(await api.get("/api/traces"))
    assert_401(await api.delete(f"/api/tunix/runs/{run.id}"))
    # Sign-out needs no token (it only clears the cookie).
    out = await api.delete("/api/auth/session")
    assert out.status_code == 204 and "tunix_rt_token=" in out.headers["set-cookie"]
    assert api.cookies.get("tunix_rt_token") is None
    assert_401(await api.get(logs))


async def test_metrics_public_unless_configured(
    auth_settings: Settings, tokens: dict[str, str]
) -> None:
    async with serve_in_process(create_app(auth_settings)) as client:
        assert (await client.get("/metrics")).status_code == 200
    private = auth_settings.model_copy(update={"metrics_public": False})
    async with serve_in_process(create_app(private)) as client:
        assert_401(await client.get("/metrics"))
        assert (await client.get("/metrics", headers=bearer(tokens["read"]))).status_code == 200


async def test_last_used_is_noted_at_most_once_a_minute(
    api: httpx.AsyncClient, tokens: dict[str, str], sm: Sessionmaker
) -> None:
    async def last_used() -> Any:
        async with sm() as session:
            return await session.scalar(
                select(ApiToken.last_used_at).where(ApiToken.name == "reader")
            )

    assert await last_used() is None
    await api.get("/api/traces", headers=bearer(tokens["read"]))
    first = await last_used()
    assert first is not None
    await api.get("/api/traces", headers=bearer(tokens["read"]))
    assert await last_used() == first
    async with sm() as session:
        earlier = utcnow() - timedelta(minutes=2)
        await session.execute(
            update(ApiToken).where(ApiToken.name == "reader").values(last_used_at=earlier)
        )
        await session.commit()
    await api.get("/api/traces", headers=bearer(tokens["read"]))
    assert await last_used() > first


def test_auth_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("TUNIX_RT_AUTH", "TUNIX_RT_METRICS_PUBLIC", "TUNIX_RT_HOST"):
        monkeypatch.delenv(name, raising=False)
    defaults = load_settings()
    assert (defaults.auth, defaults.metrics_public, defaults.auth_required) == ("auto", True, False)
    monkeypatch.setenv("TUNIX_RT_HOST", "0.0.0.0")
    monkeypatch.setenv("TUNIX_RT_METRICS_PUBLIC", "false")
    exposed = load_settings()
    assert exposed.auth_required and not exposed.metrics_public
    monkeypatch.setenv("TUNIX_RT_AUTH", "off")
    assert not load_settings().auth_required
    monkeypatch.setenv("TUNIX_RT_AUTH", "maybe")
    with pytest.raises(SettingsError, match="TUNIX_RT_AUTH"):
        load_settings()


@pytest.mark.parametrize(
    ("host", "auth", "required", "warning"),
    [
        ("127.0.0.1", "auto", False, None),
        ("localhost", "auto", False, None),
        ("::1", "auto", False, None),
        ("0.0.0.0", "auto", True, "API tokens are required"),
        ("10.1.2.3", "auto", True, "API tokens are required"),
        ("0.0.0.0", "off", False, "anyone who can reach it"),
        ("127.0.0.1", "required", True, None),
    ],
)
async def test_auth_modes(
    settings: Settings,
    caplog: pytest.LogCaptureFixture,
    host: str,
    auth: str,
    required: bool,
    warning: str | None,
) -> None:
    configured = settings.model_copy(update={"host": host, "auth": auth, "allowed_hosts": "*"})
    assert configured.auth_required is required
    with caplog.at_level(logging.WARNING, logger="tunix_rt.auth"):
        app = create_app(configured)
    warned = [r.getMessage() for r in caplog.records if r.name.startswith("tunix_rt.auth")]
    assert (warning is None and not warned) or (warning and warning in " ".join(warned))
    async with serve_in_process(app) as client:
        status = (await client.get("/api/traces")).status_code
    assert status == (401 if required else 200)


async def test_tokens_never_reach_the_logs(
    api: httpx.AsyncClient,
    tokens: dict[str, str],
    sm: Sessionmaker,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    admin = bearer(tokens["admin"])
    made = await api.post("/api/tokens", json={"name": "bot", "scope": "write"}, headers=admin)
    secrets = [*tokens.values(), made.json()["token"]]
    for token in secrets:
        await api.get("/api/traces", headers=bearer(token))
        await api.post("/api/traces", json=make_trace(), headers=bearer(token))
        await api.post("/api/auth/session", headers=bearer(token))
    await api.get("/api/traces", headers=bearer(tokens["admin"][:-1] + "x"))
    await api.delete("/api/tokens/bot", headers=admin)
    assert caplog.records  # the app did log (SQL echo off, but the logging machinery ran)
    for token in secrets:
        assert token not in caplog.text
        assert token.split("_", 2)[2] not in caplog.text


def test_serve_on_a_non_loopback_address_requires_tokens(tmp_path: Path) -> None:
    """`tunix-rt serve --host 0.0.0.0` with the default TUNIX_RT_AUTH=auto: 401 without a
    token, a warning in the server log, and the token in no line of that log (uvicorn's
    access log included)."""
    env = server_env(tmp_path)
    subprocess.run([cli_path(), "db", "upgrade"], env=env, check=True, capture_output=True)
    # Without a live admin token, serve says how to make one.
    with serving(tmp_path, "--host", "0.0.0.0") as (_, locked_log, _):
        pass
    assert "no live admin token exists" in locked_log.read_text()
    made = subprocess.run(
        [cli_path(), "tokens", "create", "--name", "ops", "--scope", "admin"],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    token = made.stdout.strip()
    with serving(tmp_path, "--host", "0.0.0.0") as (url, log, _):
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(f"{url}/api/traces", timeout=10)
        assert refused.value.code == 401
        assert refused.value.headers["WWW-Authenticate"].startswith("Bearer")
        request = urllib.request.Request(f"{url}/api/traces", headers=bearer(token))
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.status == 200
        request = urllib.request.Request(
            f"{url}/api/tunix/runs/00000000-0000-0000-0000-000000000000/logs",
            headers={"Cookie": f"tunix_rt_token={token}"},
        )
        with pytest.raises(urllib.error.HTTPError) as missing:
            urllib.request.urlopen(request, timeout=10)
        assert missing.value.code == 404  # past auth: the run does not exist
    text = log.read_text()
    assert "API tokens are required" in text and "no live admin token" not in text
    assert "/api/traces" in text  # the access log is on
    assert token not in text and token.split("_", 2)[2] not in text
