"""Browser test of signing in (issue 15 line 1), on a server started with
``TUNIX_RT_AUTH=required``: the UI asks for a token when the API says 401, refuses a wrong
or revoked one, keeps a good one in sessionStorage for the tab (reload included), follows a
run's log over SSE and downloads an artifact with the HttpOnly cookie the sign-in sets,
shows a read token's 403 on a write, and signs out.

data-testid values: auth:dialog  auth:token  auth:submit  auth:error  auth:who
auth:sign-out
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.conftest import make_trace
from tests.e2e.conftest import UI_TIMEOUT_MS
from tests.runs.conftest import add_run
from tests.runs.test_endpoints import add_lines
from tests.server_process import cli, server_env, serving, upgrade
from tunix_rt.config import load_settings
from tunix_rt.db import create_engine, create_sessionmaker

pytestmark = pytest.mark.e2e

TOKEN_KEY = "tunix-rt:token"


def create_token(data_dir: Path, name: str, scope: str) -> str:
    done = subprocess.run(
        [cli(), "tokens", "create", "--name", name, "--scope", scope],
        env=server_env(data_dir),
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return done.stdout.strip()


def call(url: str, method: str, path: str, token: str, body: Any = None) -> tuple[int, Any]:
    request = urllib.request.Request(
        url + path,
        data=json.dumps(body).encode() if body is not None else None,
        method=method,
        headers={"content-type": "application/json", "authorization": f"Bearer {token}"},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            raw = response.read()
            return response.status, json.loads(raw) if raw else None
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"null")


async def add_finished_run(data_dir: Path) -> str:
    settings = load_settings(data_dir=data_dir, database_url="")
    engine = create_engine(settings)
    try:
        sm = create_sessionmaker(engine)
        run = await add_run(sm, settings, status="completed")
        await add_lines(sm, run.id, [("stdout", "hello from the run"), ("stdout", "done")])
    finally:
        await engine.dispose()
    (Path(run.output_dir) / "notes.txt").write_text("artifact body")
    return str(run.id)


@pytest.fixture(scope="module")
def auth_server(
    built_frontend: Path, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, str]]:
    data_dir = tmp_path_factory.mktemp("e2e-auth")
    upgrade(data_dir)
    tokens = {
        "admin": create_token(data_dir, "ui-admin", "admin"),
        "read": create_token(data_dir, "ui-reader", "read"),
        "revoked": create_token(data_dir, "ui-old", "write"),
    }
    subprocess.run(
        [cli(), "tokens", "revoke", "ui-old"], env=server_env(data_dir), check=True, timeout=120
    )
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("TUNIX_RT_AUTH", "required")
        patch.setenv("TUNIX_RT_EMBEDDED_WORKER", "false")
        with serving(data_dir) as (url, _, _):
            for i in range(3):
                status, _ = call(url, "POST", "/api/traces", tokens["admin"], make_trace(f"q{i}"))
                assert status == 201
            # Playwright's sync API may hold this thread's event loop: run it in another.
            with ThreadPoolExecutor(1) as pool:
                run_id = pool.submit(asyncio.run, add_finished_run(data_dir)).result()
            yield {"url": url, "run_id": run_id, **tokens}


@pytest.fixture
def auth_page(browser: Browser, auth_server: dict[str, str]) -> Iterator[Page]:
    context = browser.new_context(
        base_url=auth_server["url"], viewport={"width": 1400, "height": 900}
    )
    context.set_default_timeout(UI_TIMEOUT_MS)
    expect.set_options(timeout=UI_TIMEOUT_MS)
    tab = context.new_page()
    js_errors: list[str] = []
    tab.on("pageerror", lambda exc: js_errors.append(str(exc)))
    try:
        yield tab
    finally:
        context.close()
    assert not js_errors, f"uncaught JavaScript errors: {js_errors}"


def sign_in(page: Page, token: str) -> None:
    page.get_by_test_id("auth:token").fill(token)
    page.get_by_test_id("auth:submit").click()


def test_sign_in_use_and_sign_out(auth_page: Page, auth_server: dict[str, str]) -> None:
    page = auth_page
    page.goto("/")
    dialog = page.get_by_test_id("auth:dialog")
    expect(dialog).to_be_visible()  # the API said 401
    expect(page.get_by_test_id("dashboard:api-status")).to_have_text("healthy")  # health is open

    sign_in(page, "trt_not_a_token")
    expect(page.get_by_test_id("auth:error")).to_contain_text("not valid")
    sign_in(page, auth_server["revoked"])
    expect(page.get_by_test_id("auth:error")).to_contain_text("not valid")
    expect(dialog).to_be_visible()

    sign_in(page, auth_server["read"])
    expect(dialog).to_be_hidden()
    expect(page.get_by_test_id("auth:who")).to_have_text("ui-reader (read)")
    expect(page.get_by_test_id("dashboard:trace-count")).to_have_text("3")
    assert page.evaluate(f"sessionStorage.getItem('{TOKEN_KEY}')") == auth_server["read"]
    cookies = {c["name"]: c for c in page.context.cookies()}
    assert cookies["tunix_rt_token"]["httpOnly"] is True
    assert "tunix_rt_token" not in page.evaluate("document.cookie")  # scripts cannot read it

    # A reload keeps the sign-in (this tab's sessionStorage).
    page.reload()
    expect(page.get_by_test_id("dashboard:trace-count")).to_have_text("3")
    expect(dialog).to_be_hidden()

    # The run's log streams over SSE and its artifact downloads: both by the cookie.
    page.goto(f"/runs/{auth_server['run_id']}")
    lines = page.get_by_test_id("run:log-line")
    expect(lines.first).to_contain_text("hello from the run")
    expect(lines).to_have_count(2)
    with page.expect_download() as info:
        page.get_by_test_id("run:artifact-download").first.click()
    assert Path(info.value.path()).read_text() == "artifact body"

    # A read token may look, not change: the delete is refused with the server's words.
    page.get_by_test_id("run:delete").click()
    page.get_by_test_id("run:delete-confirm").click()
    expect(page.get_by_test_id("run:delete-error")).to_contain_text("needs 'write'")
    expect(dialog).to_be_hidden()

    page.get_by_test_id("auth:sign-out").click()
    expect(dialog).to_be_visible()
    assert page.evaluate(f"sessionStorage.getItem('{TOKEN_KEY}')") is None
    assert "tunix_rt_token" not in {c["name"] for c in page.context.cookies()}
    expect(page.get_by_test_id("auth:sign-out")).to_have_count(0)

    sign_in(page, auth_server["admin"])
    expect(dialog).to_be_hidden()
    expect(page.get_by_test_id("auth:who")).to_have_text("ui-admin (admin)")


def test_no_token_in_the_page_or_its_links(auth_page: Page, auth_server: dict[str, str]) -> None:
    """Links and the log stream carry no token in their URLs (URLs reach logs)."""
    page = auth_page
    page.goto(f"/runs/{auth_server['run_id']}")
    sign_in(page, auth_server["read"])
    expect(page.get_by_test_id("run:log-line").first).to_contain_text("hello")
    html = page.content()
    assert auth_server["read"] not in html
