"""Training overhead: the same tiny training through Tunix RT's API vs in a bare process.

    .venv/bin/python bench/training_overhead.py [--steps 200] [--repeats 2]

(a) **API**: a real HTTP server (uvicorn, SQLite in a temp dir) gets
    ``POST /api/tunix/run`` (sync, ``dry_run=false``); Tunix RT writes the data files and
    the child config, starts ``python -m tunix_rt.training`` in its own process group,
    streams every output line into ``run_logs`` and every metric into ``run_metrics``,
    watches for cancel/timeout, and finalizes the run. Wall time = the request.
(b) **bare**: ``bench/bare_tunix_sft.py`` in a plain ``python`` process: a Tunix script
    that imports nothing from Tunix RT, reads the same recipe (architecture, data files,
    seed, steps, hyperparameters) from the API run's ``resolved_config.json`` and its
    tokenizer, and trains with ``PeftTrainer`` the way a Tunix user would, stdout to a
    file. No server, database, supervision or log streaming. Its per-step losses must
    equal the API run's (same computation); the script checks that before timing.

Runs alternate a, b, b, a, ... so drift on a shared machine hits both sides. Printed:
both wall times, the whole-run ratio a/b, and the steady-state step-time ratio (seconds
per step after the first 20 steps, the median of step-to-step times, from each run's
``metrics.jsonl`` and the bare script's ``steps.json``).
"""

# ruff: noqa: E402  (imports follow the sys.path fix below)
from __future__ import annotations

import sys

# bench/queue.py is named like the stdlib module: keep this folder off the import path.
sys.path[:] = [p for p in sys.path if p not in ("", __file__.rpartition("/")[0] or ".")]

import argparse
import asyncio
import itertools
import json
import os
import resource
import statistics
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

BARE = Path(__file__).resolve().parent / "bare_tunix_sft.py"
WARM_STEPS = 20


def cpu_seconds() -> tuple[float, float]:
    """(this process, its reaped children) user+system CPU seconds."""
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime, kids.ru_utime + kids.ru_stime


def api_points(run_dir: Path) -> list[dict[str, Any]]:
    text = (run_dir / "metrics.jsonl").read_text()
    points = [json.loads(line) for line in text.splitlines() if line]
    return [p for p in points if p.get("loss") is not None and p.get("elapsed_seconds")]


def step_seconds(points: list[dict[str, Any]]) -> float:
    """Seconds per training step in steady state: the median over consecutive logged
    steps after the first WARM_STEPS (compilation excluded; a stray pause of the shared
    machine moves a median far less than a mean)."""
    later = [p for p in points if p["step"] >= WARM_STEPS]
    gaps = [
        (b["elapsed_seconds"] - a["elapsed_seconds"]) / (b["step"] - a["step"])
        for a, b in itertools.pairwise(later)
        if b["step"] > a["step"]
    ]
    if not gaps:
        raise SystemExit("too few logged steps after the warm-up to time a step")
    return statistics.median(gaps)


async def serve(settings: Any) -> tuple[Any, asyncio.Task[None], str]:
    import uvicorn

    from tunix_rt.app import create_app

    server = uvicorn.Server(
        uvicorn.Config(create_app(settings), host="127.0.0.1", port=0, log_level="warning")
    )
    task = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110
        await asyncio.sleep(0.05)
    port = server.servers[0].sockets[0].getsockname()[1]
    return server, task, f"http://127.0.0.1:{port}"


async def make_dataset(client: Any) -> str:
    from tunix_rt.generators.arithmetic import generate_arithmetic

    traces = generate_arithmetic(256, seed=3, digits=2, ops="+")
    (await client.post("/api/traces/batch", json=traces)).raise_for_status()
    built = await client.post(
        "/api/datasets/build",
        json={"dataset_name": "bench", "dataset_version": "v1", "limit": 256},
    )
    built.raise_for_status()
    key: str = built.json()["dataset_key"]
    return key


async def api_run(client: Any, key: str, steps: int) -> dict[str, Any]:
    cpu_before = cpu_seconds()
    started = time.perf_counter()
    response = await client.post(
        "/api/tunix/run",
        json={
            "dataset_key": key,
            "model_id": "tunix-rt/tiny-gemma",
            "dry_run": False,
            "learning_rate": 0.003,
            "num_epochs": 100,
            "batch_size": 8,
            "max_seq_length": 128,
            "max_steps": steps,
            "seed": 0,
        },
    )
    wall = time.perf_counter() - started
    cpu_after = cpu_seconds()
    run = response.json()
    if run.get("status") != "completed":
        raise SystemExit(f"API run failed: {run}")
    out = Path(run["output_dir"])
    points = api_points(out)
    return {
        "wall": wall,
        "step": step_seconds(points),
        "losses": {p["step"]: p["loss"] for p in points},
        "dir": str(out),
        # server (in this process) + client + the training child
        "cpu": sum(cpu_after) - sum(cpu_before),
        "server_cpu": cpu_after[0] - cpu_before[0],
    }


def bare_run(api_run_dir: Path, workdir: Path) -> dict[str, Any]:
    out = workdir / f"bare-{time.monotonic_ns()}"
    out.mkdir()
    env = {
        **os.environ,
        "PYTHONUNBUFFERED": "1",
        "JAX_PLATFORMS": "cpu",
        "TQDM_DISABLE": "1",
        "TF_CPP_MIN_LOG_LEVEL": "2",
        "HF_HUB_OFFLINE": "1",
    }
    cpu_before = cpu_seconds()[1]
    started = time.perf_counter()
    with (out / "stdout.txt").open("w") as sink:
        subprocess.run(
            [sys.executable, str(BARE), str(api_run_dir), str(out)],
            cwd=out,
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
            check=True,
        )
    wall = time.perf_counter() - started
    cpu = cpu_seconds()[1] - cpu_before
    points = json.loads((out / "steps.json").read_text())
    return {
        "wall": wall,
        "step": step_seconds(points),
        "losses": {p["step"]: p["loss"] for p in points},
        "dir": str(out),
        "cpu": cpu,
    }


def same_losses(api: dict[str, Any], bare: dict[str, Any]) -> float:
    """Largest |loss difference| over the steps both logged; stops the bench when the two
    sides did not train the same thing."""
    common = sorted(set(api["losses"]) & set(bare["losses"]))
    if len(common) < 2:
        raise SystemExit("the API and bare runs logged no common steps")
    worst = max(abs(api["losses"][s] - bare["losses"][s]) for s in common)
    if worst > 1e-3 * max(1.0, abs(api["losses"][common[0]])):
        raise SystemExit(f"the API and bare runs trained differently (loss diff {worst:.2e})")
    return worst


async def main(steps: int, repeats: int) -> dict[str, Any]:
    import httpx

    # The bare script trains on one device: so does the API's child here (its default on
    # a multi-core CPU is one data-parallel replica per core; bench/sft_throughput.py
    # measures that).
    os.environ["TUNIX_RT_CPU_REPLICAS"] = "1"

    from tunix_rt import migrations
    from tunix_rt.config import load_settings

    workdir = Path(tempfile.mkdtemp(prefix="tunix-rt-overhead-"))
    settings = load_settings(
        database_url=f"sqlite+aiosqlite:///{workdir / 'bench.db'}",
        data_dir=workdir / "var",
        embedded_worker=False,
    )
    await migrations.upgrade_async(settings.resolved_database_url, "head")
    server, task, url = await serve(settings)
    api: list[dict[str, Any]] = []
    bare: list[dict[str, Any]] = []
    try:
        async with httpx.AsyncClient(base_url=url, timeout=3600) as client:
            key = await make_dataset(client)
            for i in range(repeats):
                order = ("api", "bare") if i % 2 == 0 else ("bare", "api")
                for side in order:
                    if side == "api":
                        api.append(await api_run(client, key, steps))
                        a = api[-1]
                        print(
                            f"api  wall {a['wall']:.2f}s  step {a['step']:.4f}s  "
                            f"cpu {a['cpu']:.1f}s (server {a['server_cpu']:.1f}s)"
                        )
                    else:
                        source = Path(api[-1]["dir"]) if api else None
                        if source is None:
                            api.append(await api_run(client, key, steps))
                            source = Path(api[-1]["dir"])
                        result = await asyncio.to_thread(bare_run, source, workdir)
                        result["loss_diff"] = same_losses(api[-1], result)
                        bare.append(result)
                        print(
                            f"bare wall {result['wall']:.2f}s  step {result['step']:.4f}s  "
                            f"cpu {result['cpu']:.1f}s  (max loss diff vs API "
                            f"{result['loss_diff']:.1e})"
                        )
    finally:
        server.should_exit = True
        await task
    api_wall = statistics.median(r["wall"] for r in api)
    bare_wall = statistics.median(r["wall"] for r in bare)
    api_step = statistics.median(r["step"] for r in api)
    bare_step = statistics.median(r["step"] for r in bare)
    return {
        "steps": steps,
        "repeats": repeats,
        "api_wall_seconds": [r["wall"] for r in api],
        "bare_wall_seconds": [r["wall"] for r in bare],
        "api_step_seconds": [r["step"] for r in api],
        "bare_step_seconds": [r["step"] for r in bare],
        "api_cpu_seconds": [r["cpu"] for r in api],
        "api_server_cpu_seconds": [r["server_cpu"] for r in api],
        "bare_cpu_seconds": [r["cpu"] for r in bare],
        "cpu_ratio": statistics.median(r["cpu"] for r in api)
        / statistics.median(r["cpu"] for r in bare),
        "wall_ratio": api_wall / bare_wall,
        "max_loss_diff": max(r["loss_diff"] for r in bare),
        "bare_steps_per_second": 1.0 / bare_step,
        "api_steps_per_second": 1.0 / api_step,
        "step_ratio": api_step / bare_step,
        "api_wall_median": api_wall,
        "bare_wall_median": bare_wall,
    }


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    result = asyncio.run(main(args.steps, args.repeats))
    print(
        f"\nwhole run: api {result['api_wall_median']:.2f}s vs bare "
        f"{result['bare_wall_median']:.2f}s → ratio {result['wall_ratio']:.3f} "
        f"(overhead {100 * (result['wall_ratio'] - 1):+.1f}%, target ≤ +10%)"
    )
    print(
        f"steady-state step time ratio {result['step_ratio']:.3f} "
        f"(overhead {100 * (result['step_ratio'] - 1):+.1f}%, target ≤ +2%)"
    )
    print(f"CPU seconds (server + client + child vs bare process) ratio {result['cpu_ratio']:.3f}")
    print(
        f"tiny-gemma steady state: {result['api_steps_per_second']:.1f} steps/s through the API, "
        f"{result['bare_steps_per_second']:.1f} bare (batch 8 × 128 max tokens; target ≥ 10)"
    )
    results = ROOT / "bench" / ".results"
    results.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    (results / f"training-overhead-{stamp}.json").write_text(json.dumps(result, indent=2))
