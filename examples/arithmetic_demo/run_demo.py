"""Arithmetic demo, end to end through Tunix RT: proof that training works.

Starts from an empty data directory (SQLite inside it), applies the migrations, then drives
the Tunix RT API in-process (the FastAPI app over ``httpx.ASGITransport``, inside its
lifespan; no server, no queue worker, no auto-evaluation):

1. ``POST /api/generators/arithmetic/generate``  traces with written steps (one call per
                                                  operation of the suite)
2. ``POST /api/datasets/build``                   one dataset with a held-out eval split; the
                                                  demo checks that no held-out prompt is also
                                                  a training prompt
3. ``POST /api/tunix/run`` (sync, twice)          the model trained with steps
                                                  (``reasoning``) and, as a control, on the
                                                  answers only (``answer_only``)
4. ``POST /api/tunix/runs/{id}/evaluate``         greedy generation on the eval split, judged
                                                  by ``answer_correctness`` (exact match),
                                                  overall and per operation

and prints both held-out accuracies side by side with the wall time of every phase.

Suites:

- ``add2`` (default): 2-digit addition. Exits 1 when the with-steps model scores below 90%
  or not clearly (≥ 20 points) above the control.
- ``mixed``: 3-digit ``+`` and ``-`` (negative results included) and 2-digit ``×``, at
  least 300 held-out problems. Exits 1 when the with-steps model scores below 95%, less
  than 30 points above the control, or the whole demo takes longer than 15 minutes.

Both exit 1 when a held-out prompt also occurs in the training split.

``--grpo`` adds a GRPO stage (``grpo_stage.py``): ``algorithm: grpo`` from the with-steps
run if it missed the suite's target, else (or with ``--grpo-sft-steps N``) from a shorter
SFT run that has room to improve (mixed: 1,000 of 2,200 steps, trained again a tenth
shorter or longer, up to three runs, until it scores 40–75% on 240 training problems),
evaluated on the same held-out split, greedily and 4 times sampled at the rollouts'
temperature; the demo then exits 0 only when GRPO raised held-out accuracy over its start
as well — the sampled policy's: more problems with more of their samples right than with
fewer, sign test p < 0.05, and the greedy answers' too: more fixed than broken
(``grpo_stage.stage_raised``; ``--grpo-eval-samples 0``: greedy fixed more than it broke,
p < 0.05).
The suite's time budget does not include the GRPO stage.

    .venv/bin/python examples/arithmetic_demo/run_demo.py                 # add2, ~8 min
    .venv/bin/python examples/arithmetic_demo/run_demo.py --quick         # 150-step smoke check
    .venv/bin/python examples/arithmetic_demo/run_demo.py --suite mixed   # ~15 min
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import grpo_stage
import httpx
from grpo_stage import DemoError  # the stage raises it too

from tunix_rt.app import create_app
from tunix_rt.config import Settings, load_settings
from tunix_rt.migrations import upgrade

VARIANTS = (("with steps", "reasoning"), ("answers only", "answer_only"))


@dataclass(frozen=True)
class Operation:
    """One generator call: ``digits``-digit operands and one operation."""

    symbol: str  # as the generator API takes it
    digits: int
    category: str  # the traces' meta.task, which the evaluation reports per category


@dataclass(frozen=True)
class Suite:
    name: str
    title: str
    operations: tuple[Operation, ...]
    target: float  # with-steps held-out exact match, at least
    margin: float  # points (as a fraction) above the control, at least
    min_eval: int  # held-out problems, at least (1 = no requirement)
    max_wall_s: float | None  # the whole demo, at most (None = not checked)
    defaults: dict[str, Any] = field(default_factory=dict)


SUITES = {
    "add2": Suite(
        name="add2",
        title="2-digit additions",
        operations=(Operation("+", 2, "addition"),),
        target=0.90,
        margin=0.20,
        min_eval=1,
        max_wall_s=None,
        defaults={
            "model": "tunix-rt/tiny-gemma",
            "steps": 1500,
            "count": None,  # 4000 + eval
            "eval": 200,
            "batch_size": 16,
            "learning_rate": 3e-3,
            "warmup": 100,
            "max_seq_length": 256,
            "control_steps": None,  # same as steps
            "control_max_seq_length": None,  # same as max_seq_length
            "eval_every": None,  # the server's default
            "max_new_tokens": 160,
            "eval_batch_size": 50,
            "packing": False,
            "grpo_sft_steps": 600,  # the GRPO stage's start: 40% of the steps
            "grpo_start_window": None,  # one start, whatever it scores
        },
    ),
    "mixed": Suite(
        name="mixed",
        title="3-digit + and -, 2-digit ×",
        operations=(
            Operation("+", 3, "addition"),
            Operation("-", 3, "subtraction"),
            Operation("×", 2, "multiplication"),
        ),
        target=0.95,
        margin=0.30,
        min_eval=300,
        max_wall_s=15 * 60,
        defaults={
            # MLP 512: × needs the table capacity (MLP 256: 13% held out where 512 got 30%
            # at the same 1,500 packed steps; MLP 1,024 learned no more per step, slower).
            "model": "tunix-rt/tiny-gemma-wide",
            "steps": 2200,
            "count": None,  # per operation: train_counts + eval share
            # More - and × than + (they are learned more slowly).
            "train_counts": (2600, 3200, 3200),
            "eval": 360,
            # Packed: 8 rows of 416 tokens, each a × (≈ 264 tokens with its prompt in trace
            # 1.4) and a - or +, or three of those (≈ 135–150).
            "batch_size": 8,
            "learning_rate": 3e-3,  # 5e-3 learned more slowly (loss 0.33 vs 0.14 at step 800)
            "warmup": 100,
            "max_seq_length": 416,
            "control_steps": None,
            # Answers only are ≈ 28 tokens: two per packed row ≈ 16 examples a step.
            "control_max_seq_length": 64,
            "eval_every": None,  # set to steps: one eval loss at the end only
            "max_new_tokens": 320,  # the longest completion (×) is ≈ 252 tokens
            "eval_batch_size": 120,
            "packing": True,
            # The GRPO stage's start: room to improve, right often enough to learn from
            # (seed 7, each its own schedule: 880 steps 25.6% held out, 1,000 27.8%,
            # 1,100 94.7%).
            "grpo_sft_steps": 1000,
            # ... but the jump's step differs from run to run (1,000 steps: 21 to 80%
            # held out), so the start is trained again shorter or longer until its
            # accuracy on a sample of training problems lies where GRPO raised the sampled
            # policy's held-out accuracy significantly (starts at 40.0, 64.2 and 71.7%;
            # from 21.1% it did not: docs/training.md).
            "grpo_start_window": (0.40, 0.75),
        },
    ),
}


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(
        description="Train a small model on arithmetic with and without steps through Tunix RT "
        "and compare held-out accuracy."
    )
    ap.add_argument("--suite", choices=sorted(SUITES), default="add2", help="default add2")
    ap.add_argument("--data-dir", type=Path, default=Path("var/demo"), help="default ./var/demo")
    ap.add_argument(
        "--reset", action="store_true", help="delete --data-dir first if it is not empty"
    )
    ap.add_argument("--quick", action="store_true", help="smoke check: 150 steps, 50 held out")
    ap.add_argument("--model", default=None, help="model_id (default tunix-rt/tiny-gemma)")
    ap.add_argument("--steps", type=int, default=None, help="max_steps of the with-steps run")
    ap.add_argument(
        "--control-steps", type=int, default=None, help="max_steps of the control (default --steps)"
    )
    ap.add_argument(
        "--count",
        type=int,
        default=None,
        help="traces to generate per operation (add2: 4000 + --eval; mixed: 2600, 3200, 3200 "
        "+ a third of --eval; max 10000 in all)",
    )
    ap.add_argument(
        "--counts",
        default=None,
        help="mixed: traces per operation, comma separated in the order + - × (overrides --count)",
    )
    ap.add_argument(
        "--eval", type=int, default=None, help="held-out problems (add2 200, mixed 360; --quick 50)"
    )
    ap.add_argument("--seed", type=int, default=1234, help="generator, split and training seed")
    ap.add_argument("--batch-size", type=int, default=None)
    ap.add_argument("--learning-rate", type=float, default=None)
    ap.add_argument("--warmup", type=int, default=None)
    ap.add_argument("--max-seq-length", type=int, default=None)
    ap.add_argument("--control-max-seq-length", type=int, default=None)
    ap.add_argument("--eval-every", type=int, default=None, help="eval-loss interval in steps")
    ap.add_argument("--max-new-tokens", type=int, default=None, help="with-steps evaluation")
    ap.add_argument("--eval-batch-size", type=int, default=None)
    ap.add_argument(
        "--group-by-length",
        action="store_true",
        help="train on batches of similar lengths, each padded only to its longest example",
    )
    ap.add_argument(
        "--packing",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="several whole examples per row of --max-seq-length tokens (--batch-size rows)",
    )
    grpo_stage.add_arguments(ap)
    args = ap.parse_args(argv)
    suite = SUITES[args.suite]
    args.grpo_start_given = args.grpo_sft_steps is not None
    if args.quick:
        args.steps = 150 if args.steps is None else args.steps
        args.eval = 50 if args.eval is None else args.eval
    for key, value in suite.defaults.items():
        if key == "train_counts":
            continue
        if getattr(args, key) is None:
            setattr(args, key, value)
    if args.quick:
        args.warmup = min(args.warmup, max(1, args.steps // 10))
    if not args.grpo_start_given:  # the suite's start, scaled with --steps
        start, steps = suite.defaults["grpo_sft_steps"], suite.defaults["steps"]
        args.grpo_sft_steps = max(1, round(start * args.steps / steps))
    if args.control_steps is None:
        args.control_steps = args.steps
    if args.control_max_seq_length is None:
        args.control_max_seq_length = args.max_seq_length
    if args.eval_every is None and suite.name == "mixed":
        args.eval_every = args.steps
    n_ops = len(suite.operations)
    if args.counts is not None:
        try:
            args.counts = [int(c) for c in args.counts.split(",")]
        except ValueError:
            ap.error("--counts takes integers separated by commas")
        if len(args.counts) != n_ops:
            ap.error(f"--counts needs {n_ops} numbers for suite {suite.name}")
    elif args.count is not None:
        args.counts = [args.count] * n_ops
    elif suite.name == "add2":
        args.counts = [4000 + args.eval]
    else:
        share = -(-args.eval // n_ops)
        args.counts = [n + share for n in suite.defaults["train_counts"]]
    args.total = sum(args.counts)
    if not all(c >= 1 for c in args.counts) or args.total > 10_000:
        ap.error("traces must number from 1 to 10000 in all (the generator and build limit)")
    if not 1 <= args.eval <= args.total // 2:
        ap.error("--eval must be from 1 to half of the traces (eval_fraction ≤ 0.5)")
    if args.grpo_start_tries < 1 or args.grpo_start_sample < 1:
        ap.error("--grpo-start-tries and --grpo-start-sample must be at least 1")
    if args.eval < suite.min_eval and not args.quick:
        ap.error(f"suite {suite.name} holds out at least {suite.min_eval} problems")
    args.suite_obj = suite
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


async def export_prompts(client: httpx.AsyncClient, dataset_key: str, split: str) -> list[str]:
    """The prompts of one split of a built dataset, read back through the export API."""
    return [r["prompts"] for r in await grpo_stage.export_records(client, dataset_key, split)]


async def run_demo(args: argparse.Namespace, settings: Settings, phases: Phases) -> int:
    suite: Suite = args.suite_obj
    app = create_app(settings)
    results: dict[str, dict[str, Any]] = {}
    timeout = httpx.Timeout(None)  # a sync training run answers only when it is done
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport,
            base_url="http://localhost",  # a loopback Host passes the Host guard
            timeout=timeout,
        ) as client:
            status = await call(client, "GET", "/api/tunix/status")
            if not status["available"]:
                raise DemoError(f"Tunix is not available: {status['message']}")

            t0 = phases.start(f"generate {args.total} arithmetic traces ({suite.title})")
            notes = []
            for n, (op, count) in enumerate(zip(suite.operations, args.counts, strict=True)):
                gen = await call(
                    client,
                    "POST",
                    "/api/generators/arithmetic/generate",
                    json={
                        "count": count,
                        "seed": args.seed + n,  # other operands for every operation
                        "digits": op.digits,
                        "ops": [op.symbol],
                        "terms": 2,
                        "unique": True,
                    },
                )
                example = gen["preview"][0]
                notes.append(f"{gen['count']} × {example['prompt']!r} → {example['final_answer']}")
            phases.done("generate", t0, "; ".join(notes))

            t0 = phases.start("build dataset")
            built = await call(
                client,
                "POST",
                "/api/datasets/build",
                json={
                    "dataset_name": f"arith-{suite.name}",
                    "dataset_version": f"s{args.seed}-n{args.total}",
                    # every trace the demo generated in this (empty) data directory
                    "filters": {"source": "arithmetic"},
                    "limit": args.total,
                    "selection_strategy": "latest",
                    "seed": args.seed,
                    "eval_fraction": args.eval / args.total,
                },
            )
            dataset_key = built["dataset_key"]
            train_prompts = set(await export_prompts(client, dataset_key, "train"))
            eval_prompts = await export_prompts(client, dataset_key, "eval")
            leaked = sum(p in train_prompts for p in eval_prompts)
            results["leak"] = {"held_out": len(eval_prompts), "leaked": leaked}
            phases.done(
                "build dataset",
                t0,
                f"{dataset_key}: {built['train_count']} train / {built['eval_count']} held out; "
                f"held-out prompts also in train: {leaked}",
            )
            if leaked:
                print(f"FAIL: {leaked} held-out prompts also occur in the training split")
                return 1

            for label, fmt in VARIANTS:
                steps = args.steps if fmt == "reasoning" else args.control_steps
                seq = args.max_seq_length if fmt == "reasoning" else args.control_max_seq_length
                t0 = phases.start(f"train {label} ({fmt}, {steps} steps × {seq} tokens max)")
                body = grpo_stage.sft_request(args, dataset_key, steps, seq, fmt)
                if args.eval_every is not None:
                    body["eval_every"] = min(args.eval_every, steps)
                run = await call(
                    client, "POST", "/api/tunix/run", params={"mode": "sync"}, json=body
                )
                grpo_stage.check_run(run, fmt)
                metrics = await call(client, "GET", f"/api/tunix/runs/{run['run_id']}/metrics")
                losses = [p["loss"] for p in metrics["data"] if p["loss"] is not None]
                results[fmt] = {
                    "label": label,
                    "run_id": run["run_id"],
                    "steps": steps,
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
                scored = await grpo_stage.evaluate(
                    client,
                    call,
                    results[fmt]["run_id"],
                    args,
                    max_new_tokens=args.max_new_tokens if fmt == "reasoning" else 32,
                )
                accuracy, correct, total = scored["accuracy"], scored["correct"], scored["total"]
                results[fmt].update(
                    accuracy=accuracy,
                    correct=correct,
                    total=total,
                    by_category=scored["by_category"],
                    eval_s=time.monotonic() - t0,
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
                        f"{w['prompt']!r}: expected {w['expected_answer']}, "
                        f"got {w['extracted_answer']!r}"
                    )
                phases.done(f"evaluate {label}", t0, f"{correct}/{total} = {accuracy:.1%}")

            # The suite's time budget covers the phases so far, not the GRPO stage.
            args.main_phases = len(phases.times)
            if args.grpo:
                results["grpo"] = await grpo_stage.run_stage(
                    client,
                    call,
                    args,
                    dataset_key,
                    phases.start,
                    phases.done,
                    main=results["reasoning"],
                )

    return report(args, results, phases)


def _fmt(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.4g}"


def _cell(r: dict[str, Any], category: str | None = None) -> str:
    if category is None:
        return f"{r['correct']}/{r['total']} = {r['accuracy']:.1%}"
    c = r["by_category"].get(category)
    return "n/a" if c is None else f"{c['correct']}/{c['total']} = {c['accuracy']:.1%}"


def report(args: argparse.Namespace, results: dict[str, dict[str, Any]], phases: Phases) -> int:
    suite: Suite = args.suite_obj
    steps, ctrl = results["reasoning"], results["answer_only"]
    print()
    print(
        f"Arithmetic demo ({suite.name}): {args.model}, {args.total - args.eval} train / "
        f"{args.eval} held-out {suite.title}, batch {args.batch_size}, lr {args.learning_rate:g}, "
        f"warm-up {args.warmup}, {steps['steps']} / {ctrl['steps']} steps "
        f"(max {args.max_seq_length} / {args.control_max_seq_length} tokens), seed {args.seed}"
    )
    header = f"{'':<28}{'with steps':>18}{'answers only':>18}"
    print(header)
    print("-" * len(header))
    print(f"{'held-out exact match':<28}{_cell(steps):>18}{_cell(ctrl):>18}")
    if len(suite.operations) > 1:
        for op in suite.operations:
            name = f"  {op.symbol} ({op.digits}-digit)"
            print(f"{name:<28}{_cell(steps, op.category):>18}{_cell(ctrl, op.category):>18}")
    rows = [
        ("first → final train loss", lambda r: f"{_fmt(r['first_loss'])}→{_fmt(r['final_loss'])}"),
        ("train wall (s)", lambda r: f"{r['train_s']:.1f}"),
        ("evaluate wall (s)", lambda r: f"{r['eval_s']:.1f}"),
    ]
    for name, cell in rows:
        print(f"{name:<28}{cell(steps):>18}{cell(ctrl):>18}")
    print(
        f"held-out prompts also in the training split: {results['leak']['leaked']} "
        f"(of {results['leak']['held_out']})"
    )
    print()
    print("Wall time per phase:")
    for name, dt in phases.times:
        print(f"  {name:<26}{dt:>9.1f} s")
    wall = sum(dt for _, dt in phases.times[: args.main_phases])
    print(f"  {'total':<26}{wall:>9.1f} s")
    if len(phases.times) > args.main_phases:
        stage_s = sum(dt for _, dt in phases.times[args.main_phases :])
        print(f"  {'(+ GRPO stage)':<26}{stage_s:>9.1f} s")
    for r in (steps, ctrl):
        if "wrong_example" in r:
            print(f"  a wrong answer ({r['label']}): {r['wrong_example']}")
    print()
    gap = steps["accuracy"] - ctrl["accuracy"]
    why = []
    if steps["accuracy"] < suite.target:
        why.append(f"with steps {steps['accuracy']:.1%} < {suite.target:.0%}")
    if gap < suite.margin:
        why.append(f"only {gap * 100:.1f} points above control (< {suite.margin * 100:.0f})")
    if suite.max_wall_s is not None and wall > suite.max_wall_s:
        why.append(f"took {wall:.0f} s > {suite.max_wall_s:.0f} s")
    if "grpo" in results:
        lines, improved = grpo_stage.report_lines(
            results["grpo"], [op.category for op in suite.operations]
        )
        print("\n".join(lines))
        print()
        if not improved:
            why.append(
                "GRPO did not raise held-out accuracy over its SFT start "
                f"({grpo_stage.stage_rule(results['grpo'])})"
            )
    if not why:
        print(
            f"PASS: with steps {steps['accuracy']:.1%} ≥ {suite.target:.0%} and "
            f"{gap * 100:.1f} points above the control"
            + ("" if suite.max_wall_s is None else f", {wall:.0f} s ≤ {suite.max_wall_s:.0f} s")
            + ("; GRPO raised held-out accuracy (sign test)" if "grpo" in results else "")
        )
        return 0
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
