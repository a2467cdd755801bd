"""A 100k-trace export streams in constant memory (SPEC §5)."""

from __future__ import annotations

import json
import tracemalloc
from pathlib import Path

import pytest

from tunix_rt.config import load_settings
from tunix_rt.datasets import exports, formats

N = 100_000
PEAK_BYTES = 4 * 1024 * 1024  # the export is ~50 MB; the stream holds a chunk or two


def materialize(root: Path, key: str, n: int) -> Path:
    """Write a dataset directory the way a build does (traces.jsonl + manifest.json)."""
    directory = root / "datasets" / key
    directory.mkdir(parents=True)
    eval_ids = []
    with (directory / "traces.jsonl").open("w", encoding="utf-8") as handle:
        for i in range(n):
            trace_id = f"00000000-0000-4000-8000-{i:012d}"
            if i % 10 == 0:
                eval_ids.append(trace_id)
            record = {
                "created_at": "2026-11-23T12:00:00+00:00",
                "id": trace_id,
                "payload": {
                    "final_answer": str(i + 1),
                    "prompt": f"What is {i} + 1?",
                    "steps": [
                        {"content": f"ones: {i % 10} + 1 = {i % 10 + 1}", "i": 0, "type": "digit"},
                        {"content": f"{i} + 1 = {i + 1}", "i": 1, "type": "result"},
                    ],
                    "trace_version": "1.0",
                },
                "trace_version": "1.0",
            }
            handle.write(json.dumps(record, sort_keys=True) + "\n")
    manifest = {"trace_count": n, "splits": {"train": [], "eval": eval_ids}}
    (directory / "manifest.json").write_text(json.dumps(manifest))
    return directory


@pytest.fixture(scope="module")
def big_dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("big")
    materialize(root, "big-v1", N)
    return root


def test_streaming_export_of_100k_traces_has_bounded_peak_memory(big_dataset: Path) -> None:
    """tracemalloc slows allocation down several times: about 6 s on an idle 2-core box."""
    settings = load_settings(data_dir=big_dataset)
    tracemalloc.start()
    try:
        lines = exports.export_lines(settings, "big-v1", "tunix_sft", "all")
        count = 0
        size = 0
        for chunk in formats.chunked(lines):
            size += len(chunk)
            count += chunk.count(b"\n")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert count == N
    assert size > 10 * PEAK_BYTES
    assert peak < PEAK_BYTES, f"peak {peak / 1e6:.1f} MB while streaming {size / 1e6:.1f} MB"


def test_the_eval_split_of_a_large_dataset_streams_too(big_dataset: Path) -> None:
    settings = load_settings(data_dir=big_dataset)
    lines = exports.export_lines(settings, "big-v1", "trace", "eval")
    ids = [json.loads(line)["id"] for line in lines]
    assert len(ids) == N // 10
    assert ids[1] == "00000000-0000-4000-8000-000000000010"
