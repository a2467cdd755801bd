"""Evaluation generation speed: tokens/s at batch 1 against batch 16 and 64, one run.

    .venv/bin/python bench/eval_generation.py [--model tunix-rt/small-gemma] [--prompts 384]

Trains ``--model`` (default small-gemma, 4 layers × 256) on 2-digit addition with steps
through the product (in-process API, SQLite in a fresh data directory under
``var/bench/``; a sync run of ``--steps`` steps), so the model writes realistic reasoning
and stops at ``<end_of_turn>``. Then, for each batch size, a child process set up as an
evaluation's child is at that batch size (``training.__main__.cpu_replicas``: one CPU
device per core when the batch divides among them, so batch 1 runs on one device as a
batch-1 evaluation does, batch 16 and 64 split across the cores) runs the evaluation's
own generation code (``tunix_rt.training.generate.run_generate``) on the same held-out
prompts three times: *cold* (the first evaluation at that batch shape: compilation
included), *warm* (a second evaluation, its programs loaded from JAX's persistent
compilation cache, which the product turns on for its children: what every evaluation of
an architecture the machine has evaluated before gets, since the weights are the
program's arguments) and *hot* (a third, its programs still in this process's memory:
generation alone, no per-evaluation cost). Before the cold and the warm evaluation the
in-process JAX caches are cleared, so each traces and compiles (or loads) its programs as
a new child process would; each also reports its first batch's seconds, which hold that
per-evaluation cost. Tokens are the generated tokens up to the end of each answer, so
padding and tokens after ``<end_of_turn>`` do not count. Outputs must be identical at
every batch size (greedy decoding); the bench says so otherwise.

Why small-gemma by default: batching pays where a decode step is bound by reading the
weights (every row of a batch shares one read). tiny-gemma's weights (≈ 1.5 MB) sit in a
core's cache and its batch-1 step is ≈ 40 µs of small operations, so at batch 16 the
step's arithmetic, not the weights, sets the pace (``--model tunix-rt/tiny-gemma``
measures it; docs/performance.md has both).

The same run also measures two references (``--no-baseline`` skips both), batch by batch
in turn with the decoder, so old and new figures share one machine state: the decoder
with XLA's own matrix products instead of the few-row kernel (``xla``: the child runs with
``TUNIX_RT_FEW_ROWS=0``, as on a machine where the kernel cannot be built) at every batch
size, and Tunix's ``Sampler`` (``tunix``: what ``run_generate`` still uses for LoRA and
non-Gemma models) at batch 1 and 16. Every figure is printed with the
1-minute load average at its end: the CPU may be shared.

Printed: tokens/s per batch size (cold, warm, hot), the ratios to batch 1 (target: batch
16 ≥ 5× batch 1), and the JSON summary last; the full result goes to ``bench/.results/``.
Exit status 0 when the target holds warm and hot (cold is printed: compilation is paid
once per architecture and batch shape on a machine) and the outputs agree.
"""

# ruff: noqa: E402  (imports follow the sys.path fix below)
from __future__ import annotations

import sys

# bench/queue.py is named like the stdlib module: keep this folder off the import path.
sys.path[:] = [p for p in sys.path if p not in ("", __file__.rpartition("/")[0] or ".")]

import argparse
import asyncio
import json
import os
import subprocess
import time
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parents[1]
BATCHES = (1, 16, 64)
TARGET = 5.0
# cold: compiles; warm: traces and loads from the persistent cache (a new evaluation);
# hot: the same process again, programs in memory (generation alone).
PHASES = ("cold", "warm", "hot")


async def train(
    data_dir: Path, model: str, steps: int, prompts: int
) -> tuple[Path, list[dict[str, Any]]]:
    """A trained tiny model (run directory) and held-out examples from its dataset."""
    from tunix_rt.app import create_app
    from tunix_rt.config import load_settings
    from tunix_rt.datasets.formats import render_prompt
    from tunix_rt.generators.arithmetic import generate_arithmetic
    from tunix_rt.migrations import upgrade

    settings = load_settings(
        data_dir=data_dir, database_url="", embedded_worker=False, eval_auto=False
    )
    await asyncio.to_thread(upgrade, settings.resolved_database_url)
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(
            transport=transport, base_url="http://localhost", timeout=httpx.Timeout(None)
        ) as client:
            traces = generate_arithmetic(1200 + prompts, seed=11, digits=2)
            for start in range(0, len(traces), 1000):  # the batch endpoint's limit
                stored = await client.post("/api/traces/batch", json=traces[start : start + 1000])
                assert stored.status_code == 201, stored.text
            built = await client.post(
                "/api/datasets/build",
                json={
                    "dataset_name": "gen-bench",
                    "dataset_version": "v1",
                    "limit": len(traces),
                    "eval_fraction": prompts / len(traces),
                    "selection_strategy": "random",
                    "seed": 1,
                },
            )
            assert built.status_code == 201, built.text
            key = built.json()["dataset_key"]
            started = time.monotonic()
            run = await client.post(
                "/api/tunix/run",
                json={
                    "dataset_key": key,
                    "model_id": model,
                    "dry_run": False,
                    "learning_rate": 3e-3,
                    "batch_size": 16,
                    "max_seq_length": 160,
                    "max_steps": steps,
                    "warmup_steps": 30,
                    "seed": 0,
                },
            )
            body = run.json()
            if run.status_code >= 400 or body["status"] != "completed":
                raise SystemExit(f"training failed: {run.status_code} {str(body)[-2000:]}")
            print(f"trained {steps} steps in {time.monotonic() - started:.1f} s", flush=True)
    # Held-out prompts, rendered as an evaluation renders them (problems the training
    # set never had: another generator seed, minus any the dataset holds).
    seen = {t["prompt"] for t in traces}
    fresh = [
        t for t in generate_arithmetic(4 * prompts, seed=97, digits=2) if t["prompt"] not in seen
    ]
    examples = [
        {"id": str(i), "prompt": render_prompt(t["prompt"])} for i, t in enumerate(fresh[:prompts])
    ]
    return Path(body["output_dir"]), examples


def generate(
    run_dir: Path,
    examples_file: Path,
    out: Path,
    batch: int,
    new: int,
    tunix_sampler: bool,
    fresh: bool,
) -> Any:
    import jax

    from tunix_rt.training import decode
    from tunix_rt.training.config import GenerateConfig
    from tunix_rt.training.generate import run_generate

    if fresh:  # as a new child process: trace, then compile or load from the cache
        jax.clear_caches()
    supports = decode.supports
    if tunix_sampler:  # the previous path, which run_generate keeps for other models
        decode.supports = lambda model: False  # type: ignore[assignment]
    try:
        return run_generate(
            GenerateConfig(
                task="generate",
                run_dir=str(run_dir),
                input_file=str(examples_file),
                output_file=str(out),
                batch_size=batch,
                max_new_tokens=new,
            )
        )
    finally:
        decode.supports = supports


RESULT = "@eval-generation-result "


def measure(spec: dict[str, Any]) -> int:
    """Child process: one path at one batch size, cold, warm and hot; the row printed."""
    # As an evaluation's child at this batch size does, before jax is imported: one CPU
    # device per core when the batch divides among them (batch 1: one device).
    os.environ.setdefault("JAX_PLATFORMS", "cpu")
    if spec["path"] == "xla":  # the decoder with XLA's own matrix products
        os.environ["TUNIX_RT_FEW_ROWS"] = "0"
    from tunix_rt.training.__main__ import cpu_replicas

    row: dict[str, Any] = {"cpu_devices": cpu_replicas(spec["batch"])}
    for phase in PHASES:
        summary = generate(
            Path(spec["run_dir"]),
            Path(spec["prompts_file"]),
            Path(spec["out"].format(phase=phase)),
            spec["batch"],
            spec["max_new_tokens"],
            tunix_sampler=spec["path"] == "tunix",
            fresh=phase != "hot",
        )
        row[phase] = float(summary["tokens_per_second"])
        row[f"{phase}_seconds"] = float(summary["generate_seconds"])
        row[f"{phase}_first_batch_seconds"] = float(summary["first_batch_seconds"])
        row[f"{phase}_load"] = round(os.getloadavg()[0], 2)
    print(RESULT + json.dumps(row), flush=True)
    return 0


def run_child(spec: dict[str, Any]) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, __file__, "--measure", json.dumps(spec)],
        capture_output=True,
        text=True,
        check=False,
    )
    for line in done.stdout.splitlines():
        if line.startswith(RESULT):
            row: dict[str, Any] = json.loads(line[len(RESULT) :])
            return row
    raise SystemExit(f"{spec['path']} batch {spec['batch']} failed:\n{done.stderr[-3000:]}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--model", default="tunix-rt/small-gemma", help="the preset trained and evaluated"
    )
    parser.add_argument("--prompts", type=int, default=384)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--max-new-tokens", type=int, default=96)
    parser.add_argument("--no-baseline", action="store_true", help="skip Tunix's sampler")
    parser.add_argument("--measure", help=argparse.SUPPRESS)  # internal: one child's work
    args = parser.parse_args()
    if args.measure:
        return measure(json.loads(args.measure))
    stamp = time.strftime("%Y%m%d-%H%M%S")
    data_dir = ROOT / "var" / "bench" / f"eval-generation-{stamp}"
    data_dir.mkdir(parents=True)
    # The children get the compilation cache the executor gives an evaluation's child
    # (TUNIX_RT_JAX_COMPILE_CACHE, on by default).
    from tunix_rt.config import load_settings
    from tunix_rt.runs.executor import compile_cache_env

    for name, value in compile_cache_env(load_settings(data_dir=data_dir)).items():
        os.environ.setdefault(name, value)
    run_dir, examples = asyncio.run(train(data_dir, args.model, args.steps, args.prompts))
    prompts_file = data_dir / "prompts.jsonl"
    prompts_file.write_text("".join(json.dumps(e) + "\n" for e in examples))
    paths = [("decoder", BATCHES)]
    if not args.no_baseline:
        paths += [("xla", BATCHES), ("tunix", (1, 16))]
    load_start = round(os.getloadavg()[0], 2)
    results: dict[str, dict[int, dict[str, float]]] = {path: {} for path, _ in paths}
    outputs: dict[tuple[str, int], list[str]] = {}
    # Batch by batch, every path in turn: a drift in the machine's speed over the run
    # falls on the paths alike.
    for batch in BATCHES:
        for path in [path for path, batches in paths if batch in batches]:
            out = str(data_dir / f"out-{path}-{batch}-{{phase}}.jsonl")
            row = run_child(
                {
                    "path": path,
                    "batch": batch,
                    "run_dir": str(run_dir),
                    "prompts_file": str(prompts_file),
                    "out": out,
                    "max_new_tokens": args.max_new_tokens,
                }
            )
            results[path][batch] = row
            outputs[(path, batch)] = [
                json.loads(line)["output"]
                for line in Path(out.format(phase="hot")).read_text().splitlines()
            ]
            print(
                f"{path:>7} batch {batch:>3} ({row['cpu_devices']} cpu device(s)): "
                + ", ".join(
                    f"{phase} {row[phase]:6.0f} tok/s ({row[f'{phase}_seconds']:.2f} s, first "
                    f"batch {row[f'{phase}_first_batch_seconds']:.2f} s, load "
                    f"{row[f'{phase}_load']})"
                    for phase in PHASES
                ),
                flush=True,
            )
    reference = outputs[("decoder", 1)]
    differing = {
        f"{path}_{batch}": sum(a != b for a, b in zip(reference, texts, strict=True))
        for (path, batch), texts in outputs.items()
        if (path, batch) != ("decoder", 1)
    }
    if any(differing.values()):
        print(f"outputs differing from the decoder at batch 1: {differing}", flush=True)
    ratios = {
        f"{path}_{phase}_{b}_over_1": round(results[path][b][phase] / results[path][1][phase], 2)
        for path, batches in paths
        for phase in PHASES
        for b in batches[1:]
    }
    for base, batches in paths[1:]:
        for phase in PHASES:
            for b in batches:
                ratios[f"decoder_over_{base}_{phase}_{b}"] = round(
                    results["decoder"][b][phase] / results[base][b][phase], 2
                )
    # Warm is what every evaluation of a model the machine has evaluated before gets
    # (same preset, new weights: the compiled program takes the weights as arguments);
    # cold pays compilation once per architecture and batch shape, printed, not gated.
    met = ratios["decoder_warm_16_over_1"] >= TARGET and ratios["decoder_hot_16_over_1"] >= TARGET
    summary = {
        "bench": "eval_generation",
        "model": args.model,
        "cpu_devices": {
            path: {str(b): row["cpu_devices"] for b, row in rows.items()}
            for path, rows in results.items()
        },
        "prompts": len(examples),
        "max_new_tokens": args.max_new_tokens,
        "tokens_per_second": {
            path: {str(b): row for b, row in rows.items()} for path, rows in results.items()
        },
        **ratios,
        "outputs_differing": differing,
        "load_average_start": load_start,
        "target": TARGET,
        "met": met and not any(differing.values()),
    }
    results_dir = ROOT / "bench" / ".results"
    results_dir.mkdir(parents=True, exist_ok=True)
    (results_dir / f"eval-generation-{stamp}.json").write_text(json.dumps(summary, indent=2))
    print(
        f"{args.model}: batch 16 / batch 1: warm "
        f"{ratios['decoder_warm_16_over_1']}×, hot {ratios['decoder_hot_16_over_1']}× (target "
        f"≥ {TARGET}×); cold {ratios['decoder_cold_16_over_1']}× (compiles: not gated); "
        f"batch 64: warm {ratios['decoder_warm_64_over_1']}×, hot "
        f"{ratios['decoder_hot_64_over_1']}×, cold {ratios['decoder_cold_64_over_1']}×",
        flush=True,
    )
    if "xla" in results:
        print(
            "decoder over the decoder with XLA's products (warm / hot): "
            + ", ".join(
                f"batch {b} {ratios[f'decoder_over_xla_warm_{b}']}× / "
                f"{ratios[f'decoder_over_xla_hot_{b}']}×"
                for b in BATCHES
            ),
            flush=True,
        )
    print(json.dumps(summary, separators=(",", ":")), flush=True)
    return 0 if summary["met"] else 1


if __name__ == "__main__":
    sys.exit(main())
