"""Helpers for dataset tests: look at the files on disk, add a run row directly."""

from __future__ import annotations

import hashlib
import uuid
from typing import Any

import httpx
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import create_async_engine

from tunix_rt.config import Settings
from tunix_rt.db import utcnow
from tunix_rt.models.run import Run


def dataset_files(settings: Settings, key: str) -> dict[str, Any]:
    """Paths, bytes and the content hash of a built dataset's directory."""
    directory = (settings.data_dir / "datasets" / key).resolve()
    traces = directory / "traces.jsonl"
    manifest = directory / "manifest.json"
    return {
        "dir": directory,
        "traces.jsonl": traces,
        "manifest.json": manifest,
        "bytes": {p.name: p.read_bytes() for p in (traces, manifest) if p.is_file()},
        "sha256": hashlib.sha256(traces.read_bytes()).hexdigest() if traces.is_file() else None,
    }


async def row_count(client: httpx.AsyncClient) -> int:
    return len((await client.get("/api/datasets", params={"limit": 100})).json()["data"])


async def add_run_for(settings: Settings, key: str) -> None:
    """A finished run row that references the dataset (what the runs API would store)."""
    engine = create_async_engine(settings.resolved_database_url)
    try:
        async with engine.begin() as conn:
            await conn.execute(
                insert(Run).values(
                    id=uuid.uuid4(),
                    kind="train",
                    mode="dry-run",
                    status="completed",
                    dataset_key=key,
                    model_id="tunix-rt/tiny-gemma",
                    config={},
                    output_dir="/tmp/unused",
                    priority=0,
                    attempt=0,
                    max_attempts=1,
                    queued_at=utcnow(),
                    created_at=utcnow(),
                )
            )
    finally:
        await engine.dispose()
