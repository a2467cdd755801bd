"""Job kinds: what a run of each kind starts as its child and does after a clean exit.

The runs domain executes kinds it does not know: each is registered by name where the
app, worker or CLI is assembled (``tunix_rt.jobs.register_job_kinds``): "train" (defined
here, with the evaluation domain's auto-evaluation as its completion hook), "evaluate"
(``tunix_rt.evals.jobs``), and next "tune". Nothing here imports those domains.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from tunix_rt.config import Settings
from tunix_rt.kit.errors import Unprocessable
from tunix_rt.kit.jsonl import write_jsonl
from tunix_rt.models.run import Run
from tunix_rt.registry import service as registry
from tunix_rt.training.config import TrainConfig
from tunix_rt.training.params import train_params_of

log = logging.getLogger(__name__)

CHILD_CONFIG = "run_config.json"


@dataclass(frozen=True)
class ChildSpec:
    """How to start a run's child process."""

    argv: list[str]
    cwd: Path
    env: dict[str, str] = field(default_factory=dict)
    # SIGTERM → SIGKILL grace on cancel/timeout; None = TUNIX_RT_RUN_CANCEL_GRACE_SECONDS.
    # A child that must first stop children of its own (the tuning driver) needs longer.
    cancel_grace_seconds: float | None = None


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


def render_prompts(records: Iterator[dict[str, Any]]) -> Iterator[dict[str, str]]:
    """Stored trace records → ``{"id", "prompt", "answer", "reference"}``: what GRPO
    samples from and rewards against (``reference``: the trace's steps, one per line)."""
    from tunix_rt.datasets.formats import render_prompt, step_texts

    for record in records:
        payload = record["payload"]
        yield {
            "id": str(record["id"]),
            "prompt": render_prompt(str(payload["prompt"])),
            "answer": str(payload["final_answer"]),
            "reference": "\n".join(" ".join(s.split()) for s in step_texts(payload)),
        }


def write_training_files(
    settings: Settings, run: Run, init_dir: str | None = None, model_dir: Path | None = None
) -> Path:
    """Write data/train.jsonl, data/eval.jsonl (SFT) and the child config; return its path.
    A GRPO run's train.jsonl holds prompts and expected answers, and ``init_dir`` is the
    directory of the run it starts from. ``model_dir``: the registry directory of a
    registered base model (``run.model_id`` is then its ``name@version``)."""
    from tunix_rt.datasets.service import iter_split  # datasets own their storage

    params = train_params_of(run.config)
    answer_only = params.completion_format == "answer_only"
    output_dir = Path(run.output_dir)
    data_dir = output_dir / "data"
    data_dir.mkdir(parents=True, exist_ok=True)
    key = run.dataset_key or ""
    train_file = data_dir / "train.jsonl"
    records = iter_split(settings, key, "train")
    rows = (
        render_prompts(records)
        if params.algorithm == "grpo"
        else render_examples(records, answer_only=answer_only)
    )
    if write_jsonl(train_file, rows) == 0:
        raise Unprocessable("dataset_key", f"dataset {key!r} has no training examples")
    eval_file: Path | None = None
    if params.algorithm == "sft":
        eval_file = data_dir / "eval.jsonl"
        eval_rows = render_examples(iter_split(settings, key, "eval"), answer_only=answer_only)
        if write_jsonl(eval_file, eval_rows) == 0:
            eval_file.unlink()
            eval_file = None
    child = TrainConfig(
        task="dry_run" if run.mode == "dry-run" else "train",
        run_id=str(run.id),
        model_id=str(model_dir) if model_dir else run.model_id,
        output_dir=str(output_dir),
        train_file=str(train_file),
        eval_file=str(eval_file) if eval_file else None,
        model_dirs=[
            *(str(d) for d in settings.model_directories),
            *([str(model_dir.parent)] if model_dir else []),
        ],
        init_dir=str(Path(init_dir).resolve()) if init_dir else None,
        **params.model_dump(),
    )
    path = output_dir / CHILD_CONFIG
    path.write_text(child.model_dump_json(indent=2) + "\n", encoding="utf-8")
    return path


# Called in the finishing transaction of a completed train run (e.g. auto-evaluation).
CompletionHook = Callable[[AsyncSession, Settings, Run], Awaitable[object]]


class TrainJob:
    """Supervised fine-tuning (or its dry run) with ``python -m tunix_rt.training``."""

    def __init__(self, on_trained: Sequence[CompletionHook] = ()) -> None:
        self.on_trained = list(on_trained)

    async def prepare(self, session: AsyncSession, settings: Settings, run: Run) -> ChildSpec:
        params = train_params_of(run.config)
        init_dir = None
        if params.init_from is not None and params.init_from.model is not None:
            init_dir = str(
                (
                    await registry.resolve(
                        session, settings, params.init_from.model, field=("init_from", "model")
                    )
                ).directory
            )
        elif params.init_from is not None:
            parent = await session.get(Run, params.init_from.run_id)
            if parent is None:
                raise Unprocessable(
                    ("init_from", "run_id"), f"run {params.init_from.run_id} no longer exists"
                )
            init_dir = parent.output_dir
        model_dir = None
        if params.algorithm == "sft" and registry.parse_ref(run.model_id) is not None:
            model_dir = (
                await registry.resolve(session, settings, run.model_id, field="model_id")
            ).directory
        config_path = await asyncio.to_thread(
            write_training_files, settings, run, init_dir, model_dir
        )
        return ChildSpec(argv=training_argv(config_path), cwd=Path(run.output_dir))

    async def finalize(self, session: AsyncSession, settings: Settings, run: Run) -> None:
        if run.mode != "local":
            return
        for hook in self.on_trained:
            await hook(session, settings, run)


_KINDS: dict[str, JobKind] = {}


def register_job_kind(kind: str, job: JobKind) -> None:
    """Make runs of ``kind`` executable (replaces an earlier registration)."""
    _KINDS[kind] = job


def get_job_kind(kind: str) -> JobKind:
    job = _KINDS.get(kind)
    if job is None:
        known = ", ".join(sorted(_KINDS)) or "none (call tunix_rt.jobs.register_job_kinds)"
        raise LookupError(f"no job kind {kind!r} is registered; registered: {known}")
    return job
