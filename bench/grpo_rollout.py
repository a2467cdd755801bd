"""GRPO rollout speed: the product's decoder engine against Tunix's vanilla engine, one run.

    .venv/bin/python bench/grpo_rollout.py [--model tunix-rt/tiny-gemma-wide]
        [--prompts 16] [--generations 8] [--new-tokens 160] [--reps 3]

A GRPO step samples ``--generations`` completions of ``--prompts`` prompts: one batch of
prompts × generations rows through the rollout engine. This builds ``--model`` from
scratch (a tokenizer fitted on arithmetic text; untrained weights, so no row stops early
and every row generates ``--new-tokens`` tokens: the same work on both sides), and times
``generate`` on the same 2-digit arithmetic prompts and ``RolloutConfig`` (temperature
0.8, one seed) with ``training.rollout.DecoderRollout`` and with Tunix's
``VanillaRollout``, alternating, after one untimed call each (compilation). Printed:
tokens/s of each (the median of ``--reps`` calls) and their ratio; the tokens of both
engines must be identical (the same seed draws the same tokens). Exit status 0 when they
are and the decoder is not slower. The result goes to ``bench/.results/``.
"""

# ruff: noqa: E402  (imports follow the sys.path fix below)
from __future__ import annotations

import sys

# bench/queue.py is named like the stdlib module: keep this folder off the import path.
sys.path[:] = [p for p in sys.path if p not in ("", __file__.rpartition("/")[0] or ".")]

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--model", default="tunix-rt/tiny-gemma-wide")
    ap.add_argument("--prompts", type=int, default=16)
    ap.add_argument("--generations", type=int, default=8)
    ap.add_argument("--new-tokens", type=int, default=160)
    ap.add_argument("--reps", type=int, default=3)
    args = ap.parse_args()

    from tunix.rl.rollout import base_rollout, vanilla_rollout

    from tunix_rt.datasets.formats import render_completion, render_prompt
    from tunix_rt.generators.arithmetic import generate_arithmetic
    from tunix_rt.training import model as model_lib
    from tunix_rt.training.presets import PRESETS
    from tunix_rt.training.rollout import DecoderRollout
    from tunix_rt.training.tokenizer import END_OF_TURN, fit_tokenizer, load_any_tokenizer

    traces = generate_arithmetic(400, seed=3, digits=2)
    texts = [
        render_prompt(t["prompt"])
        + render_completion([s["content"] for s in t["steps"]], t["final_answer"])
        for t in traces
    ]
    with tempfile.TemporaryDirectory() as tmp:
        fit_tokenizer(texts, tmp, vocab_size=PRESETS[args.model].default_vocab_size)
        tok = load_any_tokenizer(tmp)
    arch = PRESETS[args.model].arch(vocab_size=int(tok.GetPieceSize()))
    model = model_lib.build_from_scratch(arch, seed=0)
    prompts = [render_prompt(t["prompt"]) for t in traces[: args.prompts]]
    rows = [p for p in prompts for _ in range(args.generations)]
    config = base_rollout.RolloutConfig(
        max_tokens_to_generate=args.new_tokens,
        max_prompt_length=32,
        kv_cache_size=32 + args.new_tokens + 1,
        temperature=0.8,
        top_p=1.0,
        seed=7,
        eos_tokens=[int(tok.eos_id()), int(tok.PieceToId(END_OF_TURN))],
    )
    engines: dict[str, Any] = {
        "decoder": DecoderRollout(rollout_actor=model, tokenizer=tok, rollout_config=config),
        "tunix": vanilla_rollout.VanillaRollout(
            model,
            tok,
            base_rollout.CacheConfig(
                cache_size=config.kv_cache_size,
                num_layers=int(arch["num_layers"]),
                num_kv_heads=int(arch["num_kv_heads"]),
                head_dim=int(arch["head_dim"]),
            ),
        ),
    }
    tokens: dict[str, list[list[int]]] = {}
    for name, engine in engines.items():  # compile
        tokens[name] = [t.tolist() for t in engine.generate(rows, config).tokens]
    seconds: dict[str, list[float]] = {name: [] for name in engines}
    for _ in range(args.reps):
        for name, engine in engines.items():
            t0 = time.perf_counter()
            engine.generate(rows, config)
            seconds[name].append(time.perf_counter() - t0)
    generated = sum(len(t) for t in tokens["tunix"])
    speed = {name: generated / statistics.median(s) for name, s in seconds.items()}
    same = tokens["decoder"] == tokens["tunix"]
    ratio = speed["decoder"] / speed["tunix"]
    load = os.getloadavg()[0]
    print(
        f"{args.model}, {len(rows)} rows ({args.prompts} prompts × {args.generations}), "
        f"{generated} tokens per call; load {load:.1f}"
    )
    for name in engines:
        print(
            f"  {name:8s} {speed[name]:9.0f} tok/s  "
            f"({', '.join(f'{s:.2f}' for s in seconds[name])} s)"
        )
    print(f"  decoder / tunix: {ratio:.2f}×; identical tokens: {same}")
    result = {
        "model": args.model,
        "rows": len(rows),
        "new_tokens": args.new_tokens,
        "tokens_per_call": generated,
        "seconds": seconds,
        "tokens_per_second": speed,
        "ratio": ratio,
        "identical": same,
        "load": load,
        "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    out = ROOT / "bench" / ".results"
    out.mkdir(parents=True, exist_ok=True)
    (out / f"grpo_rollout-{int(time.time())}.json").write_text(json.dumps(result, indent=2))
    print(json.dumps({"ratio": round(ratio, 3), "identical": same}))
    return 0 if same and ratio >= 1.0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
