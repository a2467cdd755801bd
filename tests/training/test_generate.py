"""Batched generation: the Gemma decoder against Tunix's sampler, batch sizes, padding,
early stop, and which models fall back to the sampler. In-process (imports jax)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jax
import numpy as np
import pytest
from flax import nnx
from tunix.generate.tokenizer_adapter import TokenizerAdapter

from tests.training.helpers import run_child, train_config, write_arithmetic
from tunix_rt.training import decode, few_rows, generate
from tunix_rt.training import model as model_lib
from tunix_rt.training.config import GenerateConfig
from tunix_rt.training.prepare import TOKENIZER_DIR
from tunix_rt.training.tokenizer import END_OF_TURN, load_any_tokenizer


@pytest.fixture(scope="module")
def trained(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A tiny-gemma that answers 2-digit additions and ends with <end_of_turn>."""
    root = tmp_path_factory.mktemp("gen")
    write_arithmetic(root / "train.jsonl", 800, seed=1)
    write_arithmetic(root / "prompts.jsonl", 12, seed=5, with_completion=False)
    out = root / "run"
    config = train_config(
        out,
        root / "train.jsonl",
        max_steps=150,
        batch_size=16,
        max_seq_length=160,
        warmup_steps=20,
    )
    result = run_child(config, root / "train.json", timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    return out, root / "prompts.jsonl"


def tokenizer(run_dir: Path) -> Any:
    return load_any_tokenizer(run_dir / TOKENIZER_DIR)


def eos_ids(tok: Any) -> list[int]:
    return [int(tok.eos_id()), int(tok.PieceToId(END_OF_TURN))]


def prompts(path: Path) -> list[str]:
    return [json.loads(line)["prompt"] for line in path.read_text().splitlines()]


def cfg(run_dir: Path, prompts_file: Path, out: Path, **overrides: Any) -> GenerateConfig:
    fields: dict[str, Any] = {
        "task": "generate",
        "run_dir": str(run_dir),
        "input_file": str(prompts_file),
        "output_file": str(out),
        "batch_size": 4,
        "max_new_tokens": 96,
    }
    return GenerateConfig(**(fields | overrides))


def outputs(path: Path) -> list[str]:
    return [json.loads(line)["output"] for line in path.read_text().splitlines()]


def both_paths(
    model: Any, tok: Any, arch: dict[str, Any], config: GenerateConfig, texts: list[str]
) -> tuple[list[list[int]], list[list[int]]]:
    """The same batch through the decoder and through Tunix's sampler."""
    adapter = TokenizerAdapter(tok)
    rows = [(t, generate.prompt_ids(adapter, t)) for t in texts]
    max_prompt = -(-max(len(ids) for _, ids in rows) // 16) * 16
    eos = eos_ids(tok)
    ours = generate.decoder_batches(
        decode.GemmaDecoder(model), config, max_prompt, eos, int(adapter.pad_id())
    )(rows, 0)
    tunix = generate.sampler_batches(model, tok, arch, config, max_prompt, eos)(rows, 0)
    return ours, tunix


def test_decoder_gives_tunix_sampler_tokens(trained: tuple[Path, Path], tmp_path: Path) -> None:
    run_dir, prompts_file = trained
    model, meta = model_lib.load_final(run_dir)
    assert decode.supports(model)
    tok = tokenizer(run_dir)
    texts = prompts(prompts_file)[:6]
    greedy = cfg(run_dir, prompts_file, tmp_path / "g.jsonl", max_new_tokens=40)
    ours, tunix = both_paths(model, tok, meta["arch"], greedy, texts)
    assert ours == tunix
    assert all(len(tokens) > 5 for tokens in ours)
    sampled = cfg(
        run_dir,
        prompts_file,
        tmp_path / "s.jsonl",
        max_new_tokens=40,
        temperature=1.5,
        top_p=0.9,
        seed=7,
    )
    ours, tunix = both_paths(model, tok, meta["arch"], sampled, texts)
    assert ours == tunix  # the same seed draws the same tokens
    # A temperature without top_p samples from the whole distribution (not greedy).
    hot = cfg(run_dir, prompts_file, tmp_path / "h.jsonl", max_new_tokens=40, temperature=2.0)
    assert generate.sampling_top_p(hot) == 1.0
    ours, tunix = both_paths(model, tok, meta["arch"], hot, texts)
    assert ours == tunix
    greedy_tokens, _ = both_paths(model, tok, meta["arch"], greedy, texts)
    assert ours != greedy_tokens


def test_batched_greedy_equals_batch_one(trained: tuple[Path, Path], tmp_path: Path) -> None:
    run_dir, prompts_file = trained
    one = generate.run_generate(cfg(run_dir, prompts_file, tmp_path / "b1.jsonl", batch_size=1))
    five = generate.run_generate(cfg(run_dir, prompts_file, tmp_path / "b5.jsonl", batch_size=5))
    assert one["count"] == five["count"] == 12
    texts = outputs(tmp_path / "b1.jsonl")
    assert outputs(tmp_path / "b5.jsonl") == texts
    assert [json.loads(x)["id"] for x in (tmp_path / "b5.jsonl").read_text().splitlines()] == [
        f"ex-{i}" for i in range(12)
    ]
    # The trained model answers and stops: <end_of_turn> is cut, something is left.
    assert all(t and "<end_of_turn>" not in t for t in texts)


def test_left_padding_does_not_change_answers(trained: tuple[Path, Path], tmp_path: Path) -> None:
    run_dir, prompts_file = trained
    generate.run_generate(cfg(run_dir, prompts_file, tmp_path / "a.jsonl"))
    summary = generate.run_generate(
        cfg(run_dir, prompts_file, tmp_path / "b.jsonl", max_prompt_length=80)
    )
    assert summary["max_prompt_length"] == 80
    assert outputs(tmp_path / "b.jsonl") == outputs(tmp_path / "a.jsonl")


def test_long_prompts_are_cut_from_the_left(
    trained: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run_dir, prompts_file = trained
    summary = generate.run_generate(
        cfg(run_dir, prompts_file, tmp_path / "cut.jsonl", max_prompt_length=8, max_new_tokens=8)
    )
    assert summary["count"] == 12 and summary["max_prompt_length"] == 8
    assert "truncated from the left" in capsys.readouterr().out
    # Only the last 8 prompt tokens count: a prompt with other text before them (or none)
    # gets the same answer.
    tok = tokenizer(run_dir)
    adapter = TokenizerAdapter(tok)
    model, _ = model_lib.load_final(run_dir)
    decoder = decode.GemmaDecoder(model)
    texts = prompts(prompts_file)[:3]
    tails = [generate.prompt_ids(adapter, t)[-8:] for t in texts]
    longer = [[adapter.bos_id(), *adapter.encode("What is 12 + 34?"), *tail] for tail in tails]
    config = cfg(run_dir, prompts_file, tmp_path / "x.jsonl", max_new_tokens=8)
    run = generate.decoder_batches(decoder, config, 8, eos_ids(tok), int(adapter.pad_id()))
    assert run([("", ids) for ids in longer], 0) == run([("", ids) for ids in tails], 0)


def test_loop_stops_when_every_row_has_ended(trained: tuple[Path, Path]) -> None:
    run_dir, prompts_file = trained
    tok = tokenizer(run_dir)
    adapter = TokenizerAdapter(tok)
    model, _ = model_lib.load_final(run_dir)
    decoder = decode.GemmaDecoder(model)
    eos = eos_ids(tok)
    rows = [generate.prompt_ids(adapter, t) for t in prompts(prompts_file)[:4]]
    width = max(len(r) for r in rows)
    pad = int(adapter.pad_id())
    prompt = np.array([[pad] * (width - len(r)) + r for r in rows], dtype=np.int32)
    out, steps = decoder(prompt, max_new_tokens=200, eos_ids=tuple(eos), pad_id=pad)
    ends = [len(generate.until_eos(row, eos)) for row in out]
    assert max(ends) < 150  # every answer ended
    # The loop ran until the last row's end token and not one step further.
    assert steps == max(ends) + 1
    assert (out[:, steps:] == pad).all()


# An untrained one-layer Gemma: enough for what does not depend on trained weights.
ONE_LAYER_GEMMA = {
    "family": "gemma",
    "num_layers": 1,
    "vocab_size": 64,
    "embed_dim": 32,
    "hidden_dim": 64,
    "num_heads": 2,
    "head_dim": 16,
    "num_kv_heads": 2,
}


def test_only_greedy_batches_split_and_only_into_equal_parts(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A split needs several devices and rows that divide equally; sampling never splits
    (a seed must draw the same tokens on any machine). The split itself is checked in
    ``test_data_parallel.py`` (a child with two CPU devices)."""
    model = model_lib.build_from_scratch(ONE_LAYER_GEMMA, seed=0)
    device = decode.cpu_devices()[0]
    one = decode.GemmaDecoder(model)
    assert one.parts(16, greedy=True) == 1  # this test process has one CPU device
    two = decode.GemmaDecoder(model, devices=[device, device])
    assert two.parts(16, greedy=True) == 2
    assert two.parts(15, greedy=True) == 1
    assert two.parts(16, greedy=False) == 1
    three = decode.GemmaDecoder(model, devices=[device] * 3)
    assert three.parts(6, greedy=True) == 3 and three.parts(4, greedy=True) == 2
    # Copies of the weights that would not fit in half the memory: one device.
    weight_bytes = sum(x.nbytes for x in jax.tree.leaves(two.weights))
    monkeypatch.setattr(decode, "_memory_bytes", lambda: 5 * weight_bytes)
    assert two.parts(16, greedy=True) == 1
    monkeypatch.setattr(decode, "_memory_bytes", lambda: 6 * weight_bytes)
    assert two.parts(16, greedy=True) == 2
    # Weights larger than the last-level cache (read from memory every step): one device.
    monkeypatch.setattr(decode, "_cache_bytes", lambda: weight_bytes - 1)
    assert two.parts(16, greedy=True) == 1
    monkeypatch.setattr(decode, "_cache_bytes", lambda: weight_bytes)
    assert two.parts(16, greedy=True) == 2
    monkeypatch.setattr(decode, "_cache_bytes", lambda: None)  # unknown: split
    assert two.parts(16, greedy=True) == 2


def test_the_last_level_cache_size_is_read_from_sysfs(tmp_path: Path) -> None:
    for index, size in (("index0", "48K"), ("index2", "1024K"), ("index3", "32768K\n")):
        (tmp_path / index).mkdir()
        (tmp_path / index / "size").write_text(size)
    assert decode._largest_cache(tmp_path) == 32 * 1024 * 1024
    (tmp_path / "index4").mkdir()  # no size file, and one that is not a size: ignored
    (tmp_path / "index5").mkdir()
    (tmp_path / "index5" / "size").write_text("big")
    assert decode._largest_cache(tmp_path) == 32 * 1024 * 1024
    assert decode._largest_cache(tmp_path / "missing") is None


def test_lora_and_other_families_use_tunix_sampler() -> None:
    plain = model_lib.build_from_scratch(ONE_LAYER_GEMMA, seed=0)
    assert decode.supports(plain)
    assert not decode.supports(model_lib.apply_lora(plain, rank=2, alpha=4.0, seed=0))
    llama = model_lib.build_from_scratch(ONE_LAYER_GEMMA | {"family": "llama3"}, seed=0)
    assert not decode.supports(llama)
    # GRPO's rollouts: the decoder's engine where it handles the model, else Tunix's.
    from tunix_rt.training import rollout

    assert rollout.engine_for(plain) is rollout.DecoderRollout
    assert rollout.engine_for(llama) == "vanilla"


@pytest.mark.parametrize("packed, threads", [(False, 1), (True, 1), (True, 2)])
def test_gemma2_gqa_logits_match_tunix_model(packed: bool, threads: int) -> None:
    """Grouped kv heads, sliding-window layers, soft caps, post norms: the decoder's
    prefill and its cached decode steps give the logits of Tunix's own forward pass —
    with XLA's products, and with the packed weights' few-row products on one thread and
    on two (the vocabulary, 97, is not whole panels: its product stays XLA's)."""
    if packed and not few_rows.available():
        pytest.skip("few-row products cannot be built here (not x86-64 with AVX2/FMA, or no g++)")
    arch = {
        "family": "gemma2",
        "num_layers": 2,
        "vocab_size": 97,
        "embed_dim": 64,
        "hidden_dim": 128,
        "num_heads": 4,
        "head_dim": 16,
        "num_kv_heads": 2,
        "post_norms": True,
        "final_logit_softcap": 30.0,
        "attn_logits_soft_cap": 50.0,
        "sliding_window_size": 6,
    }
    model = model_lib.build_from_scratch(arch, seed=3)
    shape = decode.gemma_shape(model)
    assert not shape.fused_qkv and shape.local_layers == (True, False)
    weights = decode.gemma_weights(model, shape)
    if packed:
        weights = decode.packed_weights(weights)
        assert weights["layers"][0]["q"].ndim == 3 and "unembed" not in weights
    length, prompt_len, pad = 20, 12, 0
    tokens = np.random.default_rng(0).integers(1, 97, size=(2, length)).astype(np.int32)
    tokens[1, :3] = pad  # a left-padded row
    real = tokens != pad
    positions = np.maximum(np.cumsum(real, axis=-1) - 1, 0).astype(np.int32)
    causal = np.tril(np.ones((length, length), dtype=bool))
    expected, _ = model(tokens, positions, None, real[:, None, :] & causal[None])
    expected = np.asarray(expected)

    for rows in ([0, 1], [1]):  # a batch, and one (left-padded) row: another cache layout
        cache = np.zeros(
            decode._cache_shape(len(rows), shape.num_kv_heads, length, shape.head_dim),
            np.float32,
        )
        caches = [(cache, cache) for _ in range(shape.num_layers)]
        mask = real[rows, None, :prompt_len] & causal[None, :prompt_len, :prompt_len]
        logits, caches = decode._forward(
            shape,
            weights,
            tokens[rows, :prompt_len],
            positions[rows, :prompt_len],
            caches,
            0,
            mask,
            prefill=True,
            threads=threads,
        )
        np.testing.assert_allclose(logits, expected[rows, prompt_len - 1], rtol=1e-4, atol=1e-4)
        for t in range(prompt_len, length):
            visible = real[rows] & (np.arange(length)[None, :] <= t)
            logits, caches = decode._forward(
                shape,
                weights,
                tokens[rows, t : t + 1],
                positions[rows, t : t + 1],
                caches,
                t,
                visible[:, None, :],
                prefill=False,
                threads=threads,
            )
            np.testing.assert_allclose(logits, expected[rows, t], rtol=1e-4, atol=1e-4)


def test_grpo_rollout_engine_gives_tunix_rollout_output(trained: tuple[Path, Path]) -> None:
    """GRPO's rollout through the decoder returns what Tunix's vanilla engine returns for
    the same config and seed: completions cut before their end token, the same tokens,
    texts and left-padded prompts (the learner's inputs)."""
    from tunix.rl.rollout import base_rollout, vanilla_rollout

    from tunix_rt.training import rollout

    run_dir, prompts_file = trained
    model, meta = model_lib.load_final(run_dir)
    tok = tokenizer(run_dir)
    texts = [p for p in prompts(prompts_file)[:4] for _ in range(3)]  # 3 completions each
    arch = meta["arch"]
    config = base_rollout.RolloutConfig(
        max_tokens_to_generate=40,
        max_prompt_length=32,
        kv_cache_size=32 + 40 + 1,
        temperature=0.9,
        top_p=1.0,
        seed=11,
        eos_tokens=eos_ids(tok),
    )
    ours = rollout.DecoderRollout(rollout_actor=model, tokenizer=tok, rollout_config=config)
    tunix = vanilla_rollout.VanillaRollout(
        model,
        tok,
        base_rollout.CacheConfig(
            cache_size=config.kv_cache_size,
            num_layers=int(arch["num_layers"]),
            num_kv_heads=int(arch["num_kv_heads"]),
            head_dim=int(arch["head_dim"]),
        ),
    )
    a, b = ours.generate(texts, config), tunix.generate(texts, config)
    assert [t.tolist() for t in a.tokens] == [t.tolist() for t in b.tokens]
    assert a.text == b.text
    np.testing.assert_array_equal(a.left_padded_prompt_tokens, b.left_padded_prompt_tokens)
    assert len({tuple(t.tolist()) for t in a.tokens}) > 4  # sampled: the copies differ
    assert not any(set(t.tolist()) & set(eos_ids(tok)) for t in a.tokens)
    assert (ours.pad_id(), ours.eos_id()) == (tunix.pad_id(), tunix.eos_id())
    # The engine reads the actor's weights at every call: a changed model samples anew.
    state = nnx.state(model, nnx.Param)
    nnx.update(model, jax.tree.map(lambda x: x * 0.5, state))
    assert [t.tolist() for t in ours.generate(texts, config).tokens] != [
        t.tolist() for t in a.tokens
    ]
    logps = ours.get_per_token_logps(
        jax.numpy.asarray(a.left_padded_prompt_tokens),
        jax.numpy.asarray(np.zeros((len(texts), 8), np.int32) + a.tokens[0][0]),
    )
    assert logps.shape == (len(texts), 8) and bool(np.all(np.isfinite(np.asarray(logps))))
