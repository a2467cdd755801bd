"""Evaluation test helpers: run and evaluation rows, a sessionmaker, an app without worker."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tests.conftest import serve_in_process
from tunix_rt.app import create_app
from tunix_rt.config import Settings
from tunix_rt.db import create_engine, create_sessionmaker, utcnow
from tunix_rt.models.evaluation import Evaluation
from tunix_rt.models.run import Run

Sessionmaker = async_sessionmaker[AsyncSession]


@pytest.fixture
def eval_settings(settings: Settings) -> Settings:
    return settings.model_copy(update={"embedded_worker": False, "run_poll_seconds": 0.2})


@pytest.fixture
async def sm(eval_settings: Settings) -> AsyncIterator[Sessionmaker]:
    engine = create_engine(eval_settings)
    try:
        yield create_sessionmaker(engine)
    finally:
        await engine.dispose()


@pytest.fixture
async def api(eval_settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    async with serve_in_process(create_app(eval_settings)) as client:
        yield client


async def add_run(sm: Sessionmaker, settings: Settings, **fields: Any) -> Run:
    """A run row (default: a completed local training run with a model directory)."""
    run_id = fields.pop("id", uuid.uuid4())
    now = utcnow()
    values: dict[str, Any] = {
        "id": run_id,
        "kind": "train",
        "mode": "local",
        "status": "completed",
        "dataset_key": "ds-v1",
        "model_id": "tunix-rt/tiny-gemma",
        "config": {},
        "output_dir": str((settings.data_dir / "runs" / str(run_id)).resolve()),
        "queued_at": now,
        "created_at": now,
        "completed_at": now,
    }
    values.update(fields)
    async with sm() as session:
        run = Run(**values)
        session.add(run)
        await session.commit()
    (Path(values["output_dir"]) / "model").mkdir(parents=True, exist_ok=True)
    return run


async def add_evaluation(
    sm: Sessionmaker,
    run: Run,
    *,
    score: float,
    metrics: dict[str, float] | None = None,
    at: datetime | None = None,
    predictions: list[dict[str, Any]] | None = None,
) -> Evaluation:
    when = at or utcnow()
    path = None
    if predictions is not None:
        rel = Path("evaluations") / str(uuid.uuid4()) / "predictions.jsonl"
        target = Path(run.output_dir) / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text("".join(json.dumps(p) + "\n" for p in predictions))
        path = str(rel)
    row = Evaluation(
        run_id=run.id,
        score=score,
        verdict="pass" if score >= 50 else "fail",
        metrics={"score": score, **(metrics or {})},
        detailed_metrics=[
            {"name": "answer_correctness", "score": score, "max_score": 100.0, "details": {}}
        ],
        judge_name="answer_correctness",
        judge_version="1",
        item_count=len(predictions or []),
        predictions_path=path,
        created_at=when,
        evaluated_at=when,
    )
    async with sm() as session:
        session.add(row)
        await session.commit()
    return row


def ago(minutes: float) -> datetime:
    return utcnow() - timedelta(minutes=minutes)
