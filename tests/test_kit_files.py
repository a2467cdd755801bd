"""``kit.jsonl``: files written whole through a temporary file renamed into place."""

from __future__ import annotations

import json
from pathlib import Path

from tunix_rt.kit.jsonl import read_jsonl, write_json, write_jsonl


def test_write_json_replaces_the_file_whole_and_leaves_no_temporary(tmp_path: Path) -> None:
    path = tmp_path / "choice.json"
    write_json(path, {"kept": [1, 2]})
    write_json(path, {"kept": [3]})
    assert json.loads(path.read_text(encoding="utf-8")) == {"kept": [3]}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["choice.json"]


def test_write_jsonl_round_trips(tmp_path: Path) -> None:
    path = tmp_path / "rows.jsonl"
    assert write_jsonl(path, [{"a": 1}, {"b": "é"}]) == 2
    assert list(read_jsonl(path)) == [{"a": 1}, {"b": "é"}]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["rows.jsonl"]
