"""Tuning harness for the arithmetic demo: calls the training child directly.

Generates arithmetic traces, writes train / held-out files rendered exactly as a dataset
run would, trains ``tunix-rt/tiny-gemma`` (with steps, and optionally answers only), then
generates answers for the held-out prompts and prints exact-match accuracy.

    .venv/bin/python examples/arithmetic_demo/tune.py --steps 1500 --control
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import time
from pathlib import Path

from tunix_rt.datasets.formats import render_completion, render_prompt
from tunix_rt.generators.arithmetic import generate_arithmetic

ANSWER = re.compile(r"Answer:\s*(-?\d+)")


def write_jsonl(path: Path, rows: list[dict[str, object]]) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")


def child(config: dict[str, object], path: Path) -> tuple[int, float, list[dict[str, object]]]:
    path.write_text(json.dumps(config), encoding="utf-8")
    t0 = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, "-m", "tunix_rt.training", "--config", str(path)],
        stdout=subprocess.PIPE,
        text=True,
        cwd=path.parent,
    )
    events: list[dict[str, object]] = []
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.startswith("@tunix_rt "):
            events.append(json.loads(line[10:]))
        else:
            print("   ", line.rstrip(), flush=True)
    return proc.wait(), time.monotonic() - t0, events


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default="var/arith_tune")
    ap.add_argument("--train", type=int, default=4000)
    ap.add_argument("--eval", type=int, default=200)
    ap.add_argument("--digits", type=int, default=2)
    ap.add_argument("--ops", default="+")
    ap.add_argument("--steps", type=int, default=1500)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--warmup", type=int, default=100)
    ap.add_argument("--seq", type=int, default=256)
    ap.add_argument("--model", default="tunix-rt/tiny-gemma")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--control", action="store_true", help="also train answers-only")
    ap.add_argument("--only-control", action="store_true")
    ap.add_argument("--gen-batch", type=int, default=50)
    args = ap.parse_args()

    out = Path(args.out).resolve()
    out.mkdir(parents=True, exist_ok=True)
    traces = generate_arithmetic(
        args.train + args.eval, seed=1234, digits=args.digits, ops=args.ops
    )
    train, held = traces[: args.train], traces[args.train :]
    prompts = [{"id": str(i), "prompt": render_prompt(t["prompt"])} for i, t in enumerate(held)]
    expected = {str(i): t["final_answer"] for i, t in enumerate(held)}
    write_jsonl(out / "heldout.jsonl", prompts)
    results = {}
    variants = ["answer_only"] if args.only_control else ["reasoning"]
    if args.control and not args.only_control:
        variants.append("answer_only")
    for variant in variants:
        answer_only = variant == "answer_only"
        rows = [
            {
                "id": str(i),
                "prompt": render_prompt(t["prompt"]),
                "completion": render_completion(
                    [s["content"] for s in t["steps"]], t["final_answer"], answer_only=answer_only
                ),
            }
            for i, t in enumerate(train)
        ]
        run = out / variant
        if run.exists():
            import shutil

            shutil.rmtree(run)
        run.mkdir()
        write_jsonl(out / f"train_{variant}.jsonl", rows)
        rc, train_s, events = child(
            {
                "task": "train",
                "run_id": variant,
                "model_id": args.model,
                "output_dir": str(run),
                "train_file": str(out / f"train_{variant}.jsonl"),
                "eval_file": None,
                "learning_rate": args.lr,
                "num_epochs": 1,
                "batch_size": args.batch,
                "max_seq_length": args.seq,
                "max_steps": args.steps,
                "seed": args.seed,
                "lora_rank": 0,
                "eval_every": None,
                "checkpoint_every": None,
                "warmup_steps": args.warmup,
            },
            out / f"{variant}_train.json",
        )
        assert rc == 0, rc
        done = next(e for e in events if e["event"] == "done")
        rc, gen_s, _ = child(
            {
                "task": "generate",
                "run_dir": str(run),
                "input_file": str(out / "heldout.jsonl"),
                "output_file": str(out / f"{variant}_outputs.jsonl"),
                "batch_size": args.gen_batch,
                "max_new_tokens": 16 if answer_only else 160,
                "temperature": 0.0,
                "top_p": None,
                "seed": 0,
            },
            out / f"{variant}_generate.json",
        )
        assert rc == 0, rc
        correct = 0
        for line in (out / f"{variant}_outputs.jsonl").read_text().splitlines():
            row = json.loads(line)
            m = ANSWER.search(row["output"])
            correct += bool(m and m.group(1) == expected[row["id"]])
        acc = correct / len(expected)
        results[variant] = {
            "accuracy": acc,
            "train_wall_s": round(train_s, 1),
            "generate_wall_s": round(gen_s, 1),
            "steps_per_second": done.get("steps_per_second"),
            "first_loss": done.get("first_loss"),
            "final_loss": done.get("final_loss"),
        }
        print(variant, json.dumps(results[variant]), flush=True)
    print(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
