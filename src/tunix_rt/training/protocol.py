"""The child's wire protocol, both ends: the child prints human lines plus
``@tunix_rt {json}`` machine lines (``emit``); the parent reads them back (``parse_event``).
jax-free, so the server imports it too."""

from __future__ import annotations

import contextlib
import json
import math
import os
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

PREFIX = "@tunix_rt "
_START = time.monotonic()


def exit_when_orphaned(parent: int, stop: Callable[[], None], what: str = "stopping") -> None:
    """Call ``stop`` (which must end the process) when the supervising process dies
    (e.g. ``kill -9``): a child runs in its own session, so nothing else would stop it."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(1.0)
        with contextlib.suppress(OSError):  # the reader of our pipes may have died with it
            sys.stderr.write(f"error: the supervising process exited; {what}\n")
            sys.stderr.flush()
        stop()

    threading.Thread(target=watch, name="orphan-watch", daemon=True).start()


def elapsed() -> float:
    return time.monotonic() - _START


def say(message: str) -> None:
    """A human-readable progress line, flushed at once (the parent streams lines)."""
    sys.stdout.write(message.rstrip("\n") + "\n")
    sys.stdout.flush()


def _clean(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: _clean(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_clean(v) for v in value]
    return value


def emit(event: str, **fields: Any) -> dict[str, Any]:
    """Print ``@tunix_rt {"event": ..., ...}`` on one line and flush."""
    payload: dict[str, Any] = _clean({"event": event, **fields})
    sys.stdout.write(PREFIX + json.dumps(payload, sort_keys=True) + "\n")
    sys.stdout.flush()
    return payload


def parse_event(line: str) -> dict[str, Any] | None:
    """The event of a machine line, or None for a human (or garbled) line."""
    if not line.startswith(PREFIX):
        return None
    try:
        value = json.loads(line[len(PREFIX) :])
    except json.JSONDecodeError:
        return None
    return value if isinstance(value, dict) and "event" in value else None


class MetricsFile:
    """Appends each metric event as one JSON line to ``output_dir/metrics.jsonl`` (kept
    open; every line is flushed, so a killed child leaves every line it reported)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._handle: Any = None

    def write(self, payload: dict[str, Any]) -> None:
        if self._handle is None:
            self._handle = self.path.open("a", encoding="utf-8")
        self._handle.write(json.dumps(payload, sort_keys=True) + "\n")
        self._handle.flush()

    def close(self) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None
