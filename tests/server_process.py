"""A real ``tunix-rt serve`` process for tests: started the way a user starts it, on a
free port with its own SQLite data directory, stopped afterwards."""

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
from contextlib import contextmanager
from pathlib import Path

import pytest

STARTUP_TIMEOUT_S = 60.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def server_env(data_dir: Path, database_url: str | None = None) -> dict[str, str]:
    env = dict(os.environ)
    # A fresh embedded SQLite database, whatever the caller's environment points at —
    # unless the caller names the database.
    for name in ("DATABASE_URL", "TUNIX_RT_DATABASE_URL", "BACKEND_PORT"):
        env.pop(name, None)
    env.update(TUNIX_RT_DATA_DIR=str(data_dir), REDIAI_MODE="mock", PYTHONUNBUFFERED="1")
    if database_url:
        env["DATABASE_URL"] = database_url
    return env


def cli() -> str:
    # Prefer the CLI of the interpreter running the tests (the project's venv).
    venv_bin = str(Path(sys.executable).parent)
    found = shutil.which("tunix-rt", path=venv_bin) or shutil.which("tunix-rt")
    if not found:
        pytest.fail("the tunix-rt command is not installed: run `pip install -e '.[dev]'`")
    return found


def wait_healthy(url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
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


def upgrade(data_dir: Path) -> None:
    """``tunix-rt db upgrade`` on the data directory's database."""
    done = subprocess.run(
        [cli(), "db", "upgrade"],
        env=server_env(data_dir),
        capture_output=True,
        text=True,
        timeout=120,
    )
    if done.returncode != 0:
        pytest.fail(f"database upgrade failed:\n{done.stdout}\n{done.stderr}")


@contextmanager
def serving(
    data_dir: Path, *flags: str, cwd: Path | None = None, database_url: str | None = None
) -> Iterator[tuple[str, Path, subprocess.Popen[bytes]]]:
    """``tunix-rt serve FLAGS`` on a free port: yields (base URL, log file, process)."""
    port = free_port()
    log = data_dir / f"server-{port}.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [cli(), "serve", "--host", "127.0.0.1", "--port", str(port), *flags],
            env=server_env(data_dir, database_url),
            cwd=cwd,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(url, proc, log)
        yield url, log, proc
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
