"""Job kinds: what a run of each kind starts as its child and does after a clean exit.

"train" lives here; "evaluate" belongs to the evaluation domain and is imported lazily
from ``tunix_rt.evals.jobs:EVALUATE_JOB`` so the runs package never depends on it.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import logging
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from tunix_rt.config import Settings
from tunix_rt.kit.errors import Unprocessable
from tunix_rt.models.run import Run

log = logging.getLogger(__name__)

CHILD_CONFIG = "run_config.json"


@dataclass(frozen=True)
class ChildSpec:
    """How to start a run's child process."""

    argv: list[str]
    cwd: Path
    env: dict[str, str] = field(default_factory=dict)


class JobKind(Protocol):
    async def prepare(self, session: AsyncSession, settings: Settings, run: Run) -> ChildSpec: ...

    async def finalize(self, session: AsyncSession, settings: Settings, run: Run) -> None: ...


def training_argv(config_path: Path) -> list[str]:
    return [sys.executable, "-m", "tunix_rt.training", "--config", str(config_path)]


def render_examples(
    records: Iterator[dict[str, Any]], *, answer_only: bool
) -> Iterator[dict[str, str]]:
    """Stored trace records → ``{"id", "prompt", "completion"}`` exactly as trained on."""
    from tunix_rt.datasets.formats import sft_pair

    for record in records:
        prompt, completion = sft_pair(record, answer_only=answer_only)
        yield {"id": str(record["id"]), "prompt": prompt, "completion": completion}


def _write_jsonl(path: Path, rows: Iterator[dict[str, str]]) -> int:
    count = 0
    tmp = path.with_suffix(path.suffix + ".tmp")
    with tmp.open("w", encoding="utf-8") as handle:
        for row in rows:
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
            count += 1
    tmp.replace(path)
    return count


def write_training_files(settings: Settings, run: Run) -> Path:
    """Write data/train.jsonl, data/eval.jsonl and the child config; return its path."""
    from tunix_rt.datasets.service import (  # type: ignore[import-untyped,import-not-found,unused-ignore]
        iter_split,
    )

    config = run.config
    answer_only = config.get("completion_format") == "answer_only"
    output_dir = Path(run.output_dir)
    data_dir = output_dir / "data"
    data_dir.mkdir(parents=True, exist_ok=True)
    key = run.dataset_key or ""
    train_file = data_dir / "train.jsonl"
    train_count = _write_jsonl(
        train_file, render_examples(iter_split(settings, key, "train"), answer_only=answer_only)
    )
    if train_count == 0:
        raise Unprocessable(("body", "dataset_key"), f"dataset {key!r} has no training examples")
    eval_file: Path | None = data_dir / "eval.jsonl"
    assert eval_file is not None
    if (
        _write_jsonl(
            eval_file, render_examples(iter_split(settings, key, "eval"), answer_only=answer_only)
        )
        == 0
    ):
        eval_file.unlink()
        eval_file = None
    child = {
        "task": "dry_run" if run.mode == "dry-run" else "train",
        "run_id": str(run.id),
        "model_id": run.model_id,
        "output_dir": str(output_dir),
        "train_file": str(train_file),
        "eval_file": str(eval_file) if eval_file else None,
        "learning_rate": config.get("learning_rate", 2e-5),
        "num_epochs": config.get("num_epochs", 3),
        "batch_size": config.get("batch_size", 8),
        "max_seq_length": config.get("max_seq_length", 2048),
        "max_steps": config.get("max_steps"),
        "seed": config.get("seed", 0),
        "lora_rank": config.get("lora_rank", 0),
        "eval_every": config.get("eval_every"),
        "checkpoint_every": config.get("checkpoint_every"),
        "warmup_steps": config.get("warmup_steps"),
        "completion_format": config.get("completion_format", "reasoning"),
    }
    path = output_dir / CHILD_CONFIG
    path.write_text(json.dumps(child, indent=2) + "\n", encoding="utf-8")
    return path


class TrainJob:
    """Supervised fine-tuning (or its dry run) with ``python -m tunix_rt.training``."""

    async def prepare(self, session: AsyncSession, settings: Settings, run: Run) -> ChildSpec:
        config_path = await asyncio.to_thread(write_training_files, settings, run)
        return ChildSpec(argv=training_argv(config_path), cwd=Path(run.output_dir))

    async def finalize(self, session: AsyncSession, settings: Settings, run: Run) -> None:
        if run.mode != "local":
            return
        try:
            evals = importlib.import_module("tunix_rt.evals.service")
        except ImportError:
            return
        enqueue = getattr(evals, "enqueue_auto_evaluation", None)
        if enqueue is not None:
            await enqueue(session, settings, run)


TRAIN_JOB = TrainJob()


def get_job_kind(kind: str) -> JobKind:
    if kind == "train":
        return TRAIN_JOB
    if kind == "evaluate":
        module = importlib.import_module("tunix_rt.evals.jobs")
        job: JobKind = module.EVALUATE_JOB
        return job
    raise ValueError(f"unknown run kind {kind!r}")
