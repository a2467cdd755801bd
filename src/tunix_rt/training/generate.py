"""Batched generation with ``tunix.generate.sampler.Sampler`` (imports jax: child only)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from tunix.generate import sampler as sampler_lib

from tunix_rt.training import model as model_lib
from tunix_rt.training.config import ConfigError, GenerateConfig
from tunix_rt.training.data import cut_at_end_of_turn, read_examples
from tunix_rt.training.prepare import TOKENIZER_DIR
from tunix_rt.training.protocol import elapsed, emit, say
from tunix_rt.training.tokenizer import END_OF_TURN, TokenizerError, load_any_tokenizer


def run_generate(cfg: GenerateConfig) -> dict[str, Any]:
    run_dir = Path(cfg.run_dir)
    if not (run_dir / model_lib.MODEL_DIR / model_lib.MODEL_JSON).is_file():
        raise ConfigError(f"{run_dir} holds no trained model (model/model.json is missing)")
    examples = read_examples(cfg.input_file, require_completion=False)
    try:
        tok = load_any_tokenizer(run_dir / TOKENIZER_DIR)
    except TokenizerError as exc:
        raise ConfigError(str(exc)) from None
    t0 = time.monotonic()
    model, meta = model_lib.load_final(run_dir)
    arch = meta["arch"]
    seconds = time.monotonic() - t0
    say(f"loaded model from {run_dir} (step {meta.get('final_step')}) in {seconds:.1f}s")

    bos = tok.bos_id()
    lengths = [len(tok.EncodeAsIds(e.prompt)) + (1 if bos > 0 else 0) for e in examples]
    longest = max(lengths)
    max_prompt = cfg.max_prompt_length or -(-longest // 16) * 16
    if longest > max_prompt:
        say(f"note: prompts longer than {max_prompt} tokens are truncated from the left")
    cache_size = max_prompt + cfg.max_new_tokens + 1
    sampler = sampler_lib.Sampler(
        transformer=model,
        tokenizer=tok,
        cache_config=sampler_lib.CacheConfig(
            cache_size=cache_size,
            num_layers=int(arch["num_layers"]),
            num_kv_heads=int(arch["num_kv_heads"]),
            head_dim=int(arch["head_dim"]),
        ),
    )
    eos_ids = [int(tok.eos_id())]
    end_id = int(tok.PieceToId(END_OF_TURN))
    if end_id >= 0 and end_id != tok.unk_id():
        eos_ids.append(end_id)
    out_path = Path(cfg.output_file)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_path.with_suffix(out_path.suffix + ".tmp")
    batch = cfg.batch_size
    n = len(examples)
    t_gen = time.monotonic()
    generated_tokens = 0
    with tmp.open("w", encoding="utf-8") as handle:
        for start in range(0, n, batch):
            chunk = examples[start : start + batch]
            prompts = [e.prompt for e in chunk]
            # A fixed batch shape compiles once: pad the last batch with its last prompt.
            prompts += [prompts[-1]] * (batch - len(prompts))
            result = sampler(
                prompts,
                max_generation_steps=cfg.max_new_tokens,
                max_prompt_length=max_prompt,
                eos_tokens=eos_ids,
                temperature=cfg.temperature,
                top_p=cfg.top_p if cfg.temperature > 0 else None,
                seed=cfg.seed + start if cfg.temperature > 0 else None,
            )
            for example, text, tokens in zip(chunk, result.text, result.tokens, strict=False):
                generated_tokens += len(tokens)
                output = cut_at_end_of_turn(text)
                handle.write(json.dumps({"id": example.id, "output": output}) + "\n")
            done = min(start + batch, n)
            say(f"generated {done}/{n}")
            emit("progress", done=done, total=n, elapsed_seconds=round(elapsed(), 3))
    tmp.replace(out_path)
    seconds = time.monotonic() - t_gen
    return {
        "count": n,
        "output_file": str(out_path),
        "generate_seconds": round(seconds, 3),
        "tokens_per_second": round(generated_tokens / seconds, 1) if seconds else None,
        "max_prompt_length": max_prompt,
        "elapsed_seconds": round(elapsed(), 3),
    }
