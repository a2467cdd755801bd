"""Browser-test fixtures: the real built app in a subprocess, and headless Chromium.

The server is started the way a user starts it, ``tunix-rt db upgrade`` then
``tunix-rt serve``, on a free port with a fresh SQLite data directory.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

import tunix_rt

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
STARTUP_TIMEOUT_S = 60.0
UI_TIMEOUT_MS = 15_000


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _server_env(data_dir: Path) -> dict[str, str]:
    env = dict(os.environ)
    # A fresh embedded SQLite database, whatever the caller's environment points at.
    for name in ("DATABASE_URL", "TUNIX_RT_DATABASE_URL", "BACKEND_PORT"):
        env.pop(name, None)
    env.update(TUNIX_RT_DATA_DIR=str(data_dir), REDIAI_MODE="mock", PYTHONUNBUFFERED="1")
    return env


def _cli() -> str:
    # Prefer the CLI of the interpreter running the tests (the project's venv).
    venv_bin = str(Path(sys.executable).parent)
    cli = shutil.which("tunix-rt", path=venv_bin) or shutil.which("tunix-rt")
    if not cli:
        pytest.fail("the tunix-rt command is not installed: run `pip install -e '.[dev]'`")
    return cli


def _wait_healthy(url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"server exited with {proc.returncode} during start-up:\n{log.read_text()}")
        try:
            with urllib.request.urlopen(f"{url}/api/health", timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.2)
    pytest.fail(f"server not healthy after {STARTUP_TIMEOUT_S:.0f}s:\n{log.read_text()}")


@pytest.fixture(scope="session")
def built_frontend() -> Path:
    if not WEB_INDEX.is_file():
        pytest.fail(
            f"the frontend is not built ({WEB_INDEX} is missing): build the frontend first "
            "with `make web` (or `cd frontend && npm ci && npm run build`)"
        )
    return WEB_INDEX


@pytest.fixture(scope="session")
def server_url(built_frontend: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Base URL of a freshly started app with an empty database."""
    data_dir = tmp_path_factory.mktemp("e2e-var")
    env = _server_env(data_dir)
    port = _free_port()
    cli = _cli()
    done = subprocess.run(
        [cli, "db", "upgrade"], env=env, capture_output=True, text=True, timeout=120
    )
    if done.returncode != 0:
        pytest.fail(f"database upgrade failed:\n{done.stdout}\n{done.stderr}")

    log = data_dir / "server.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [cli, "serve", "--host", "127.0.0.1", "--port", str(port)],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(url, proc, log)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


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
