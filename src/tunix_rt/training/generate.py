"""Batched generation for evaluations (imports jax: child only).

Plain Gemma models (the presets, Gemma checkpoints) decode with ``decode.GemmaDecoder``:
one compiled program per batch shape, a KV cache laid out for its attention, and a loop
that stops when every row has ended. LoRA-wrapped and other families (Llama, Qwen) use
``tunix.generate.sampler.Sampler``. Both give the same tokens for a Gemma (greedy and
seeded top-p; see ``tests/training/test_generate.py``).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from tunix.generate import sampler as sampler_lib
from tunix.generate.tokenizer_adapter import TokenizerAdapter

from tunix_rt.training import decode
from tunix_rt.training import model as model_lib
from tunix_rt.training.config import ConfigError, GenerateConfig
from tunix_rt.training.data import cut_at_end_of_turn, read_examples
from tunix_rt.training.prepare import TOKENIZER_DIR
from tunix_rt.training.protocol import elapsed, emit, say
from tunix_rt.training.resolve import ModelNotFound, inspect_hf_dir
from tunix_rt.training.tokenizer import END_OF_TURN, TokenizerError, load_any_tokenizer

# A batch of prompts (token ids, BOS included) -> each row's generated ids up to its end.
# Rows are (prompt text, its token ids); ``start`` is the batch's first example index.
BatchFn = Callable[[Sequence[tuple[str, list[int]]], int], list[list[int]]]


def prompt_ids(tokenizer: TokenizerAdapter, prompt: str) -> list[int]:
    """Token ids of a prompt as Tunix's sampler makes them: BOS (if any) + the text."""
    bos = [tokenizer.bos_id()] if tokenizer.bos_id() else []
    ids: list[int] = tokenizer.dedup_bos_ids(bos + list(tokenizer.encode(prompt)))
    return ids


def until_eos(row: np.ndarray, eos_ids: Sequence[int]) -> list[int]:
    hit = np.isin(row, np.asarray(eos_ids))
    end = int(np.argmax(hit)) if hit.any() else len(row)
    return [int(t) for t in row[:end]]


def sampling_top_p(cfg: GenerateConfig) -> float | None:
    """None (greedy) at temperature 0; else the nucleus, the whole distribution (1.0) when
    ``top_p`` is left out — a temperature alone samples, it does not fall back to greedy."""
    if cfg.temperature <= 0:
        return None
    return cfg.top_p if cfg.top_p is not None else 1.0


def decoder_batches(
    decoder: decode.GemmaDecoder,
    cfg: GenerateConfig,
    max_prompt: int,
    eos_ids: Sequence[int],
    pad_id: int,
) -> BatchFn:
    sampled = cfg.temperature > 0

    def run(batch: Sequence[tuple[str, list[int]]], start: int) -> list[list[int]]:
        prompt = np.full((len(batch), max_prompt), pad_id, dtype=np.int32)
        for i, (_, ids) in enumerate(batch):
            kept = ids[-max_prompt:]  # truncated from the left
            prompt[i, max_prompt - len(kept) :] = kept
        out, _ = decoder(
            prompt,
            max_new_tokens=cfg.max_new_tokens,
            eos_ids=tuple(eos_ids),
            pad_id=pad_id,
            temperature=cfg.temperature if sampled else 0.0,
            top_p=sampling_top_p(cfg),
            seed=cfg.seed + start if sampled else 0,
        )
        return [until_eos(row, eos_ids) for row in out]

    return run


def sampler_batches(
    model: Any,
    tok: Any,
    arch: dict[str, Any],
    cfg: GenerateConfig,
    max_prompt: int,
    eos_ids: Sequence[int],
) -> BatchFn:
    sampler = sampler_lib.Sampler(
        transformer=model,
        tokenizer=tok,
        cache_config=sampler_lib.CacheConfig(
            cache_size=max_prompt + cfg.max_new_tokens + 1,
            num_layers=int(arch["num_layers"]),
            num_kv_heads=int(arch["num_kv_heads"]),
            head_dim=int(arch["head_dim"]),
        ),
    )
    adapter = sampler.tokenizer

    def run(batch: Sequence[tuple[str, list[int]]], start: int) -> list[list[int]]:
        # Tunix's sampler takes text (and adds BOS again): a prompt that is too long
        # goes in as the text of its last tokens.
        prompts = [
            text if len(ids) <= max_prompt else adapter.decode(ids[-(max_prompt - 1) :])
            for text, ids in batch
        ]
        result = sampler(
            prompts,
            max_generation_steps=cfg.max_new_tokens,
            max_prompt_length=max_prompt,
            eos_tokens=list(eos_ids),
            temperature=cfg.temperature,
            top_p=sampling_top_p(cfg),
            seed=cfg.seed + start if cfg.temperature > 0 else None,
        )
        return [[int(t) for t in tokens] for tokens in result.tokens]

    return run


def _load(cfg: GenerateConfig) -> tuple[Any, dict[str, Any], Any]:
    """The model, its metadata (``arch``) and tokenizer: a run's final model, or a Hugging
    Face checkpoint directory read by the product's loaders."""
    try:
        if cfg.model_dir is not None:
            directory = Path(cfg.model_dir)
            try:
                resolved = inspect_hf_dir(directory, str(directory), "local")
            except ModelNotFound as exc:
                raise ConfigError(str(exc)) from None
            tok = load_any_tokenizer(directory)
            model = model_lib.load_hf_checkpoint(resolved)
            return model, {"arch": resolved.arch}, tok
        assert cfg.run_dir is not None
        run_dir = Path(cfg.run_dir)
        if not (run_dir / model_lib.MODEL_DIR / model_lib.MODEL_JSON).is_file():
            raise ConfigError(f"{run_dir} holds no trained model (model/model.json is missing)")
        tok = load_any_tokenizer(run_dir / TOKENIZER_DIR)
    except TokenizerError as exc:
        raise ConfigError(str(exc)) from None
    model, meta = model_lib.load_final(run_dir)
    return model, meta, tok


def run_generate(cfg: GenerateConfig) -> dict[str, Any]:
    examples = read_examples(cfg.input_file, require_completion=False)
    t0 = time.monotonic()
    model, meta, tok = _load(cfg)
    seconds = time.monotonic() - t0
    where = cfg.run_dir or cfg.model_dir
    say(f"loaded model from {where} (step {meta.get('final_step')}) in {seconds:.1f}s")

    adapter = TokenizerAdapter(tok)
    rows = [(e.prompt, prompt_ids(adapter, e.prompt)) for e in examples]
    longest = max(len(ids) for _, ids in rows)
    max_prompt = cfg.max_prompt_length or -(-longest // 16) * 16
    if longest > max_prompt:
        say(f"note: prompts longer than {max_prompt} tokens are truncated from the left")
    eos_ids = [int(tok.eos_id())]
    end_id = int(tok.PieceToId(END_OF_TURN))
    if end_id >= 0 and end_id != tok.unk_id():
        eos_ids.append(end_id)
    if decode.supports(model):
        decoder = decode.GemmaDecoder(model)
        parts = decoder.parts(cfg.batch_size, greedy=cfg.temperature <= 0)
        if parts > 1:
            say(f"greedy batches split across {parts} cpu devices")
        generate = decoder_batches(decoder, cfg, max_prompt, eos_ids, int(adapter.pad_id()))
    else:
        generate = sampler_batches(model, tok, meta["arch"], cfg, max_prompt, eos_ids)
    out_path = Path(cfg.output_file)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_path.with_suffix(out_path.suffix + ".tmp")
    batch = cfg.batch_size
    n = len(examples)
    t_gen = time.monotonic()
    first_batch = None
    generated_tokens = 0
    with tmp.open("w", encoding="utf-8") as handle:
        for start in range(0, n, batch):
            chunk = rows[start : start + batch]
            # A fixed batch shape compiles once: pad the last batch with its last prompt.
            chunk += [chunk[-1]] * (batch - len(chunk))
            answers = generate(chunk, start)
            for example, tokens in zip(examples[start : start + batch], answers, strict=False):
                generated_tokens += len(tokens)
                output = cut_at_end_of_turn(adapter.decode(tokens))
                handle.write(json.dumps({"id": example.id, "output": output}) + "\n")
            done = min(start + batch, n)
            if first_batch is None:  # includes compiling (or loading) the programs
                first_batch = time.monotonic() - t_gen
            say(f"generated {done}/{n}")
            emit("progress", done=done, total=n, elapsed_seconds=round(elapsed(), 3))
    tmp.replace(out_path)
    seconds = time.monotonic() - t_gen
    return {
        "count": n,
        "output_file": str(out_path),
        "generate_seconds": round(seconds, 3),
        "first_batch_seconds": round(first_batch or 0.0, 3),
        "tokens_per_second": round(generated_tokens / seconds, 1) if seconds else None,
        "max_prompt_length": max_prompt,
        "elapsed_seconds": round(elapsed(), 3),
    }
