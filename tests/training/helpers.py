"""Helpers for the training tests: arithmetic data files and running the child exactly as
the parent does (``python -m tunix_rt.training --config FILE`` with cwd = output_dir)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tunix_rt.datasets.formats import reasoning_text, render_completion, render_prompt
from tunix_rt.generators.arithmetic import generate_arithmetic
from tunix_rt.training.protocol import parse_event


@dataclass
class ChildResult:
    returncode: int
    stdout: str
    stderr: str
    events: list[dict[str, Any]] = field(default_factory=list)

    def of(self, kind: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e["event"] == kind]


def write_arithmetic(
    path: Path, count: int, seed: int, *, with_completion: bool = True
) -> list[dict[str, Any]]:
    traces = generate_arithmetic(count, seed=seed, digits=2)
    rows: list[dict[str, Any]] = []
    for index, trace in enumerate(traces):
        row: dict[str, Any] = {"id": f"ex-{index}", "prompt": render_prompt(trace["prompt"])}
        if with_completion:
            row["completion"] = render_completion(
                [s["content"] for s in trace["steps"]], trace["final_answer"]
            )
        rows.append(row)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return traces


def write_mixed_lengths(path: Path) -> Path:
    """64 1-digit additions (short) and 64 2-digit multiplications (long) with their steps."""
    rows = []
    for digits, ops in ((1, "+"), (2, "×")):
        for t in generate_arithmetic(64, seed=digits, digits=digits, ops=ops):
            steps = [s["content"] for s in t["steps"]]
            rows.append(
                {
                    "id": f"{ops}{t['meta']['index']}",
                    "prompt": t["prompt"],
                    "completion": reasoning_text(steps, t["final_answer"]),
                }
            )
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def training_texts(path: Path) -> list[str]:
    """Prompt + completion of every row ``write_arithmetic`` wrote (tokenizer text)."""
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    return [row["prompt"] + row["completion"] for row in rows]


def child_argv(config_file: Path) -> list[str]:
    return [sys.executable, "-m", "tunix_rt.training", "--config", str(config_file)]


def run_child(
    config: dict[str, Any],
    config_file: Path,
    timeout: float = 300,
    env: dict[str, str] | None = None,
) -> ChildResult:
    config_file.write_text(json.dumps(config), encoding="utf-8")
    cwd = Path(str(config.get("output_dir") or config.get("run_dir") or config_file.parent))
    cwd.mkdir(parents=True, exist_ok=True)
    proc = subprocess.run(
        child_argv(config_file),
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **env} if env else None,
    )
    events = [e for line in proc.stdout.splitlines() if (e := parse_event(line)) is not None]
    return ChildResult(proc.returncode, proc.stdout, proc.stderr, events)


def generate_config(
    run_dir: Path, input_file: Path, output_file: Path, **overrides: Any
) -> dict[str, Any]:
    """A ``generate`` task config for the trained model in ``run_dir``."""
    return {
        "task": "generate",
        "run_dir": str(run_dir),
        "input_file": str(input_file),
        "output_file": str(output_file),
        **overrides,
    }


def train_config(out: Path, train_file: Path, **overrides: Any) -> dict[str, Any]:
    config: dict[str, Any] = {
        "task": "train",
        "run_id": "test-run",
        "model_id": "tunix-rt/tiny-gemma",
        "output_dir": str(out),
        "train_file": str(train_file),
        "eval_file": None,
        "learning_rate": 3e-3,
        "num_epochs": 1,
        "batch_size": 8,
        "max_seq_length": 256,
        "max_steps": 30,
        "seed": 0,
        "lora_rank": 0,
        "eval_every": None,
        "checkpoint_every": None,
        "warmup_steps": 3,
    }
    config.update(overrides)
    return config
