"""Arithmetic demo, end to end through Tunix RT: proof that training works.

Starts from an empty data directory (SQLite inside it), applies the migrations, then drives
the Tunix RT API in-process (the FastAPI app over ``httpx.ASGITransport``, inside its
lifespan; no server, no queue worker, no auto-evaluation):

1. ``POST /api/generators/arithmetic/generate``  2-digit addition traces with written steps
2. ``POST /api/datasets/build``                   one dataset with a held-out eval split
3. ``POST /api/tunix/run`` (sync, twice)          tiny-gemma trained with steps
                                                  (``reasoning``) and, as a control, on the
                                                  answers only (``answer_only``)
4. ``POST /api/tunix/runs/{id}/evaluate``         greedy generation on the eval split, judged
                                                  by ``answer_correctness`` (exact match)

and prints both held-out accuracies side by side with the wall time of every phase. It exits
1 when the with-steps model scores below 90% or not clearly (≥ 20 points) above the control.

    .venv/bin/python examples/arithmetic_demo/run_demo.py            # full recipe, ~10+ min
    .venv/bin/python examples/arithmetic_demo/run_demo.py --quick    # 150-step smoke check
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sys
import time
from pathlib import Path
from typing import Any

import httpx

from tunix_rt.app import create_app
from tunix_rt.config import Settings, load_settings
from tunix_rt.migrations import upgrade

MODEL_ID = "tunix-rt/tiny-gemma"
TARGET = 0.90  # with-steps held-out exact match
MARGIN = 0.20  # "clearly above the control": at least this many points (as a fraction)
VARIANTS = (("with steps", "reasoning"), ("answers only", "answer_only"))


class DemoError(Exception):
    """A request failed; the message carries the status and the response body."""


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        description="Train tiny-gemma on arithmetic with and without steps through Tunix RT "
        "and compare held-out accuracy."
    )
    ap.add_argument("--data-dir", type=Path, default=Path("var/demo"), help="default ./var/demo")
    ap.add_argument(
        "--reset", action="store_true", help="delete --data-dir first if it is not empty"
    )
    ap.add_argument("--quick", action="store_true", help="smoke check: 150 steps, 50 held out")
    ap.add_argument("--steps", type=int, default=None, help="max_steps per run (default 1500)")
    ap.add_argument(
        "--count", type=int, default=None, help="traces to generate (default 4200; max 10000)"
    )
    ap.add_argument(
        "--eval", type=int, default=None, help="held-out problems (default 200; --quick 50)"
    )
    ap.add_argument("--seed", type=int, default=1234, help="generator, split and training seed")
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--learning-rate", type=float, default=3e-3)
    ap.add_argument("--warmup", type=int, default=100)
    ap.add_argument("--max-seq-length", type=int, default=256)
    ap.add_argument("--eval-batch-size", type=int, default=50)
    args = ap.parse_args(argv)
    if args.steps is None:
        args.steps = 150 if args.quick else 1500
    if args.eval is None:
        args.eval = 50 if args.quick else 200
    if args.count is None:
        args.count = 4000 + args.eval
    if args.quick:
        args.warmup = min(args.warmup, max(1, args.steps // 10))
    if not 1 <= args.count <= 10_000:
        ap.error("--count must be from 1 to 10000 (the generator API's limit per call)")
    if not 1 <= args.eval <= args.count // 2:
        ap.error("--eval must be from 1 to half of --count (eval_fraction ≤ 0.5)")
    return args


def prepare_data_dir(data_dir: Path, reset: bool) -> Settings:
    """An empty data directory with a migrated SQLite database; settings for the demo."""
    data_dir = data_dir.resolve()
    if data_dir.exists() and any(data_dir.iterdir()):
        if not reset:
            raise SystemExit(
                f"{data_dir} is not empty; the demo starts from an empty data directory. "
                "Pass --reset to delete it, or choose another --data-dir."
            )
        shutil.rmtree(data_dir)
    data_dir.mkdir(parents=True, exist_ok=True)
    settings = load_settings(
        data_dir=data_dir,
        database_url="",  # SQLite in the data directory, whatever DATABASE_URL says
        embedded_worker=False,  # runs execute inline (sync), not through a queue worker
        eval_auto=False,  # the demo evaluates explicitly
        rediai_mode="mock",
    )
    upgrade(settings.resolved_database_url)
    return settings


async def call(client: httpx.AsyncClient, method: str, url: str, **kw: Any) -> Any:
    resp = await client.request(method, url, **kw)
    if resp.status_code >= 400:
        raise DemoError(f"{method} {url} → {resp.status_code}: {resp.text[:2000]}")
    return resp.json()


class Phases:
    """Wall time per phase, printed as it goes."""

    def __init__(self) -> None:
        self.times: list[tuple[str, float]] = []

    def start(self, name: str) -> float:
        print(f"… {name}", flush=True)
        return time.monotonic()

    def done(self, name: str, t0: float, note: str = "") -> None:
        dt = time.monotonic() - t0
        self.times.append((name, dt))
        print(f"✓ {name}: {dt:.1f} s{'  ' + note if note else ''}", flush=True)


async def run_demo(args: argparse.Namespace, settings: Settings, phases: Phases) -> int:
    app = create_app(settings)
    results: dict[str, dict[str, Any]] = {}
    timeout = httpx.Timeout(None)  # a sync training run answers only when it is done
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://demo", timeout=timeout
        ) as client:
            status = await call(client, "GET", "/api/tunix/status")
            if not status["available"]:
                raise DemoError(f"Tunix is not available: {status['message']}")

            t0 = phases.start(f"generate {args.count} arithmetic traces")
            gen = await call(
                client,
                "POST",
                "/api/generators/arithmetic/generate",
                json={
                    "count": args.count,
                    "seed": args.seed,
                    "digits": 2,
                    "ops": ["+"],
                    "terms": 2,
                    "unique": True,
                },
            )
            example = gen["preview"][0]
            phases.done(
                "generate",
                t0,
                f"{gen['count']} traces, e.g. {example['prompt']!r} → {example['final_answer']}",
            )

            t0 = phases.start("build dataset")
            built = await call(
                client,
                "POST",
                "/api/datasets/build",
                json={
                    "dataset_name": "arith-demo",
                    "dataset_version": f"s{args.seed}-n{args.count}",
                    "filters": {"source": "arithmetic"},
                    "limit": args.count,
                    "selection_strategy": "latest",
                    "seed": args.seed,
                    "eval_fraction": args.eval / args.count,
                },
            )
            dataset_key = built["dataset_key"]
            phases.done(
                "build dataset",
                t0,
                f"{dataset_key}: {built['train_count']} train / {built['eval_count']} held out",
            )

            for label, fmt in VARIANTS:
                t0 = phases.start(f"train {label} ({fmt}, {args.steps} steps)")
                run = await call(
                    client,
                    "POST",
                    "/api/tunix/run",
                    params={"mode": "sync"},
                    json={
                        "dataset_key": dataset_key,
                        "model_id": MODEL_ID,
                        "dry_run": False,
                        "learning_rate": args.learning_rate,
                        "num_epochs": 1,
                        "batch_size": args.batch_size,
                        "max_seq_length": args.max_seq_length,
                        "max_steps": args.steps,
                        "warmup_steps": args.warmup,
                        "seed": args.seed,
                        "completion_format": fmt,
                    },
                )
                if run["status"] != "completed":
                    raise DemoError(
                        f"run {run['run_id']} ({fmt}) ended {run['status']}: {run['message']}\n"
                        f"{run['stderr'][-3000:]}"
                    )
                metrics = await call(client, "GET", f"/api/tunix/runs/{run['run_id']}/metrics")
                losses = [p["loss"] for p in metrics["data"] if p["loss"] is not None]
                results[fmt] = {
                    "label": label,
                    "run_id": run["run_id"],
                    "first_loss": losses[0] if losses else None,
                    "final_loss": losses[-1] if losses else None,
                    "train_s": time.monotonic() - t0,
                }
                phases.done(
                    f"train {label}",
                    t0,
                    f"run {run['run_id']}, loss {_fmt(results[fmt]['first_loss'])} → "
                    f"{_fmt(results[fmt]['final_loss'])}",
                )

            for label, fmt in VARIANTS:
                t0 = phases.start(f"evaluate {label}")
                ev = await call(
                    client,
                    "POST",
                    f"/api/tunix/runs/{results[fmt]['run_id']}/evaluate",
                    json={
                        "judge_override": "answer_correctness",
                        "batch_size": args.eval_batch_size,
                        "max_new_tokens": 160 if fmt == "reasoning" else 32,
                        "temperature": 0.0,
                    },
                )
                summary = ev["detailed_metrics"][0]["details"] if ev["detailed_metrics"] else {}
                total = int(summary.get("total", ev["item_count"]))
                accuracy = float(ev["metrics"].get("accuracy", ev["score"] / 100))
                correct = int(summary.get("correct", round(accuracy * total)))
                results[fmt].update(
                    accuracy=accuracy, correct=correct, total=total, eval_s=time.monotonic() - t0
                )
                wrong = await call(
                    client,
                    "GET",
                    f"/api/tunix/runs/{results[fmt]['run_id']}/predictions",
                    params={"wrong_only": "true", "limit": 1},
                )
                if wrong["data"]:
                    w = wrong["data"][0]
                    results[fmt]["wrong_example"] = (
                        f"expected {w['expected_answer']}, got {w['extracted_answer']!r}"
                    )
                phases.done(f"evaluate {label}", t0, f"{correct}/{total} = {accuracy:.1%}")

    return report(args, results, phases)


def _fmt(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.4g}"


def report(args: argparse.Namespace, results: dict[str, dict[str, Any]], phases: Phases) -> int:
    steps, ctrl = results["reasoning"], results["answer_only"]
    print()
    print(
        f"Arithmetic demo: {MODEL_ID}, {args.count - args.eval} train / {args.eval} held-out "
        f"2-digit additions, batch {args.batch_size}, lr {args.learning_rate:g}, "
        f"warm-up {args.warmup}, {args.steps} steps, seed {args.seed}"
    )
    header = f"{'':<28}{'with steps':>16}{'answers only':>16}"
    print(header)
    print("-" * len(header))
    rows = [
        ("held-out exact match", lambda r: f"{r['correct']}/{r['total']} = {r['accuracy']:.1%}"),
        ("first → final train loss", lambda r: f"{_fmt(r['first_loss'])}→{_fmt(r['final_loss'])}"),
        ("train wall (s)", lambda r: f"{r['train_s']:.1f}"),
        ("evaluate wall (s)", lambda r: f"{r['eval_s']:.1f}"),
    ]
    for name, cell in rows:
        print(f"{name:<28}{cell(steps):>16}{cell(ctrl):>16}")
    print()
    print("Wall time per phase:")
    for name, dt in phases.times:
        print(f"  {name:<26}{dt:>9.1f} s")
    print(f"  {'total':<26}{sum(dt for _, dt in phases.times):>9.1f} s")
    for r in (steps, ctrl):
        if "wrong_example" in r:
            print(f"  a wrong answer ({r['label']}): {r['wrong_example']}")
    print()
    ok_target = steps["accuracy"] >= TARGET
    ok_margin = steps["accuracy"] - ctrl["accuracy"] >= MARGIN
    if ok_target and ok_margin:
        print(
            f"PASS: with steps {steps['accuracy']:.1%} ≥ {TARGET:.0%} and "
            f"{(steps['accuracy'] - ctrl['accuracy']) * 100:.1f} points above the control"
        )
        return 0
    why = []
    if not ok_target:
        why.append(f"with steps {steps['accuracy']:.1%} < {TARGET:.0%}")
    if not ok_margin:
        why.append(f"only {(steps['accuracy'] - ctrl['accuracy']) * 100:.1f} points above control")
    print("FAIL: " + "; ".join(why) + (" (expected with --quick)" if args.quick else ""))
    return 1


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    phases = Phases()
    t0 = phases.start(f"empty data dir {args.data_dir} + migrations")
    settings = prepare_data_dir(args.data_dir, args.reset)
    phases.done("data dir + migrations", t0, str(settings.data_dir))
    try:
        return asyncio.run(run_demo(args, settings, phases))
    except DemoError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
