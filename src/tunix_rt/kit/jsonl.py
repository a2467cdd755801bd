"""JSON and JSON Lines files written whole or not at all."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any


def _temporary(path: Path) -> Path:
    """The sibling a writer fills before renaming it over ``path``."""
    return path.with_name(path.name + ".tmp")


def write_jsonl(path: Path, rows: Iterable[dict[str, Any]]) -> int:
    """Write one JSON object per line through a temporary file renamed into place, so a
    reader never sees half a file; returns the number of rows."""
    count = 0
    tmp = _temporary(path)
    with tmp.open("w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
            count += 1
    tmp.replace(path)
    return count


def write_json(path: Path, document: Any) -> None:
    """Write one JSON document the same way: a temporary file renamed into place."""
    tmp = _temporary(path)
    tmp.write_text(json.dumps(document), encoding="utf-8")
    tmp.replace(path)


def read_jsonl(path: Path) -> Iterator[dict[str, Any]]:
    """The objects of a JSON Lines file (blank lines skipped)."""
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            if line.strip():
                yield json.loads(line)
