"""Streaming exports of built datasets and the Tunix SFT export/manifest (SPEC §5)."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import yaml  # type: ignore[import-untyped,unused-ignore]
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from tunix_rt.config import Settings
from tunix_rt.datasets import formats, service
from tunix_rt.datasets.service import SplitName
from tunix_rt.kit.errors import NotFound
from tunix_rt.models import Trace

EXPORTS_DIR = "exports"


def export_lines(
    settings: Settings, key: str, fmt: str, split: SplitName, *, limit: int | None = None
) -> Iterator[str]:
    """NDJSON lines of one split in one format, rendered lazily from traces.jsonl."""
    return formats.iter_ndjson(service.iter_split(settings, key, split), fmt, limit=limit)


def record_of(trace: Trace) -> dict[str, Any]:
    """A live trace in the stored-record shape the renderers take."""
    return {
        "id": str(trace.id),
        "created_at": trace.created_at.isoformat(),
        "trace_version": trace.trace_version,
        "payload": trace.payload,
    }


async def sft_lines_for_traces(
    session: AsyncSession, trace_ids: Sequence[uuid.UUID], limit: int
) -> list[str]:
    """tunix_sft lines for the named traces, in the order given (404 names missing ones)."""
    wanted = list(dict.fromkeys(trace_ids))[:limit]
    found: dict[uuid.UUID, Trace] = {}
    for start in range(0, len(wanted), service.FETCH_CHUNK):
        chunk = wanted[start : start + service.FETCH_CHUNK]
        for trace in await session.scalars(select(Trace).where(Trace.id.in_(chunk))):
            found[trace.id] = trace
    missing = [str(t) for t in wanted if t not in found]
    if missing:
        shown = ", ".join(missing[:5]) + (
            f" and {len(missing) - 5} more" if len(missing) > 5 else ""
        )
        raise NotFound(f"trace(s) not found: {shown}")
    return [formats.ndjson_line(formats.to_tunix_sft(record_of(found[t]))) for t in wanted]


def sft_train_file(settings: Settings, key: str) -> Path:
    """The train split in tunix_sft format, written once next to the dataset (immutable)."""
    target = service.dataset_dir(settings, key) / EXPORTS_DIR / "tunix_sft.train.jsonl"
    if target.is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.{uuid.uuid4().hex}")
    try:
        with partial.open("w", encoding="utf-8", newline="\n") as handle:
            handle.writelines(export_lines(settings, key, "tunix_sft", "train"))
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)
    return target


def run_request_yaml(fields: dict[str, Any], data_path: Path) -> str:
    """A run request (SPEC §6) as YAML, with the exported data file it trains on."""
    body = {**fields, "dry_run": False, "data_path": str(data_path)}
    header = (
        "# Tunix RT run request (tunix_sft). Submit with:\n"
        "#   tunix-rt runs submit --config THIS_FILE\n"
    )
    text: str = yaml.safe_dump(body, sort_keys=False, allow_unicode=True)
    return header + text


def manifest_message(key: str, data_path: Path) -> str:
    with data_path.open(encoding="utf-8") as handle:
        lines = sum(1 for _ in handle)
    return (
        f"{lines} training example(s) of {key} exported to {data_path}; "
        "save the YAML and run `tunix-rt runs submit --config FILE`"
    )
