"""SFT throughput on mixed-length data: plain batches vs packed rows vs packed rows with
one data-parallel replica per core — examples trained per second, side by side.

    .venv/bin/python bench/sft_throughput.py [--steps 150] [--repeats 2] [--model ID]

The data is the mixed arithmetic suite's shape (3-digit ``+`` and ``-``, 2-digit ``×``
with their steps: ≈ 119 / 136 / 216 tokens), 3,000 examples. Each variant is a real
training child (``python -m tunix_rt.training``) on the same file, same seed:

(a) **plain**: batches of 16 examples, each padded to its longest (rounded up to 32);
    one replica (``TUNIX_RT_CPU_REPLICAS=1``).
(b) **packed**: ``packing`` with rows of 352 tokens, 8 rows a batch (≈ 17–18 examples);
    one replica.
(c) **packed + replicas**: as (b), one replica per core (the child's default).

Examples per step: 16 for (a); for (b) and (c) the data's examples over the packed
epoch's steps (from a dry run). Step time: the median of step-to-step times after the
first 20 steps (``metrics.jsonl``). Runs alternate a, b, c, c, b, a, ... so drift on a
shared machine hits every side. Printed: examples/s of each, and b/a, c/a.
"""

# ruff: noqa: E402  (imports follow the sys.path fix below)
from __future__ import annotations

import sys

# bench/queue.py is named like the stdlib module: keep this folder off the import path.
sys.path[:] = [p for p in sys.path if p not in ("", __file__.rpartition("/")[0] or ".")]

import argparse
import itertools
import json
import os
import statistics
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from tunix_rt.datasets.formats import render_completion, render_prompt
from tunix_rt.generators.arithmetic import generate_arithmetic
from tunix_rt.training.protocol import parse_event

VARIANTS = {
    "plain": ({"batch_size": 16, "packing": False}, "1"),
    "packed": ({"batch_size": 8, "packing": True}, "1"),
    "packed+replicas": ({"batch_size": 8, "packing": True}, ""),
}


def write_data(path: Path, per_op: int) -> int:
    rows = []
    for n, (op, digits) in enumerate((("+", 3), ("-", 3), ("×", 2))):
        for t in generate_arithmetic(per_op, seed=100 + n, digits=digits, ops=op):
            steps = [s["content"] for s in t["steps"]]
            rows.append(
                {
                    "id": f"{op}{t['meta']['index']}",
                    "prompt": render_prompt(t["prompt"]),
                    "completion": render_completion(steps, t["final_answer"]),
                }
            )
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return len(rows)


def child(
    config: dict[str, Any], workdir: Path, name: str, replicas: str
) -> tuple[list[dict[str, Any]], str]:
    config_file = workdir / f"{name}.json"
    config_file.write_text(json.dumps(config), encoding="utf-8")
    env = {**os.environ, "TUNIX_RT_CPU_REPLICAS": replicas} if replicas else dict(os.environ)
    if not replicas:
        env.pop("TUNIX_RT_CPU_REPLICAS", None)
    proc = subprocess.run(
        [sys.executable, "-m", "tunix_rt.training", "--config", str(config_file)],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    if proc.returncode != 0:
        raise SystemExit(f"{name} failed:\n{proc.stderr[-3000:]}")
    events = [e for line in proc.stdout.splitlines() if (e := parse_event(line)) is not None]
    return events, proc.stdout


def config_for(
    out: Path, data: Path, model: str, steps: int, extra: dict[str, Any], task: str = "train"
) -> dict[str, Any]:
    return {
        "task": task,
        "run_id": out.name,
        "model_id": model,
        "output_dir": str(out),
        "train_file": str(data),
        "learning_rate": 3e-3,
        "max_seq_length": 352,
        "max_steps": steps,
        "seed": 1,
        "warmup_steps": 10,
        **extra,
    }


def step_seconds(run_dir: Path) -> float:
    rows = [json.loads(line) for line in (run_dir / "metrics.jsonl").open()]
    points = [
        (r["step"], r["elapsed_seconds"])
        for r in rows
        if r.get("event") == "metric" and r.get("loss") is not None and r["step"] > 20
    ]
    per_step = [
        (t1 - t0) / (s1 - s0) for (s0, t0), (s1, t1) in itertools.pairwise(points) if s1 > s0
    ]
    return statistics.median(per_step)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--steps", type=int, default=150)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--model", default="tunix-rt/tiny-gemma")
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="sft-throughput-") as tmp:
        work = Path(tmp)
        data = work / "train.jsonl"
        n_examples = write_data(data, 1000)
        per_step: dict[str, float] = {"plain": 16.0}
        for name in ("packed",):
            dry = config_for(
                work / f"dry-{name}", data, args.model, args.steps, VARIANTS[name][0], "dry_run"
            )
            dry.pop("max_steps")
            dry["num_epochs"] = 1
            events, _ = child(dry, work, f"dry-{name}", "1")
            report = next(e for e in events if e["event"] == "dry_run")
            per_step[name] = per_step["packed+replicas"] = n_examples / report["steps_per_epoch"]
        seconds: dict[str, list[float]] = {name: [] for name in VARIANTS}
        order = list(VARIANTS)
        for rep in range(args.repeats):
            for name in order if rep % 2 == 0 else order[::-1]:
                out = work / f"{name}-{rep}"
                extra, replicas = VARIANTS[name]
                _, stdout = child(
                    config_for(out, data, args.model, args.steps, extra), work, name, replicas
                )
                replicated = "data parallel" in stdout
                seconds[name].append(step_seconds(out))
                print(
                    f"  {name:16s} run {rep + 1}: {seconds[name][-1] * 1000:7.1f} ms/step, "
                    f"{per_step[name]:.1f} examples/step"
                    + (" (data parallel)" if replicated else ""),
                    flush=True,
                )
    rate = {name: per_step[name] / statistics.median(seconds[name]) for name in VARIANTS}
    print(f"\n{args.model}, {n_examples} mixed examples, {args.steps} steps, {os.cpu_count()} CPUs")
    for name in VARIANTS:
        print(f"  {name:16s} {rate[name]:7.1f} examples/s")
    print(f"  packed / plain            {rate['packed'] / rate['plain']:.2f}")
    print(f"  packed+replicas / plain   {rate['packed+replicas'] / rate['plain']:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
