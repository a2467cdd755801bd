"""Browser-test fixtures: the real built app in a subprocess, and headless Chromium.

The server is started the way a user starts it, ``tunix-rt db upgrade`` then
``tunix-rt serve``, on a free port with a fresh SQLite data directory.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

import tunix_rt
from tests.server_process import serving, upgrade

WEB_INDEX = Path(tunix_rt.__file__).parent / "web" / "index.html"
CHROMIUM = os.environ.get("TUNIX_RT_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
UI_TIMEOUT_MS = 15_000


@pytest.fixture(scope="session")
def built_frontend() -> Path:
    if not WEB_INDEX.is_file():
        pytest.fail(
            f"the frontend is not built ({WEB_INDEX} is missing): build the frontend first "
            "with `make web` (or `cd frontend && npm ci && npm run build`)"
        )
    return WEB_INDEX


@pytest.fixture(scope="session")
def server_data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The served app's data directory (its default model directory is ``models/``)."""
    return tmp_path_factory.mktemp("e2e-var")


@pytest.fixture(scope="session")
def server_url(built_frontend: Path, server_data_dir: Path) -> Iterator[str]:
    """Base URL of a freshly started app with an empty database."""
    data_dir = server_data_dir
    upgrade(data_dir)
    with serving(data_dir) as (url, _, _):
        yield url


# Module scope, not session: while Playwright's sync API is active it holds an asyncio
# loop on this thread, which would break the async tests collected after this package.
@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).is_file():
        message = f"Chromium not found at {CHROMIUM} (apt-get install chromium)"
        if os.environ.get("TUNIX_RT_REQUIRE_BROWSER") == "1":
            pytest.fail(message + "; TUNIX_RT_REQUIRE_BROWSER=1 requires it")
        pytest.skip(message)
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture
def page(browser: Browser, server_url: str) -> Iterator[Page]:
    """A fresh browser page on the app; uncaught JavaScript errors fail the test."""
    context = browser.new_context(base_url=server_url, viewport={"width": 1400, "height": 900})
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
