"""Writes tiny Gemma 2, Llama and Qwen 2 checkpoints in the Hugging Face layout (config.json,
safetensors with HF tensor names, SentencePiece tokenizer.model) for the local-directory
tests."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np

from tunix_rt.training.tokenizer import fit_tokenizer, load_tokenizer

D, F, H, KV, HD, LAYERS = 64, 128, 2, 1, 32, 2


def _start(directory: Path, texts: list[str], seed: int) -> tuple[int, Callable[..., np.ndarray]]:
    """Fit the checkpoint's SentencePiece tokenizer; return its vocabulary size and a
    seeded ``w(*shape)`` that makes scaled random float32 weights."""
    directory.mkdir(parents=True, exist_ok=True)
    fit_tokenizer(texts, directory, vocab_size=400)
    vocab = int(load_tokenizer(directory).GetPieceSize())
    rng = np.random.default_rng(seed)

    def w(*shape: int) -> np.ndarray:
        return (rng.standard_normal(shape) / np.sqrt(shape[-1])).astype(np.float32)

    return vocab, w


def _layer(i: int, w: Callable[..., np.ndarray], norm: float) -> dict[str, np.ndarray]:
    """One decoder layer's attention, MLP and the two norms every family has."""
    p = f"model.layers.{i}."
    return {
        p + "self_attn.q_proj.weight": w(H * HD, D),
        p + "self_attn.k_proj.weight": w(KV * HD, D),
        p + "self_attn.v_proj.weight": w(KV * HD, D),
        p + "self_attn.o_proj.weight": w(D, H * HD),
        p + "mlp.gate_proj.weight": w(F, D),
        p + "mlp.up_proj.weight": w(F, D),
        p + "mlp.down_proj.weight": w(D, F),
        p + "input_layernorm.weight": np.full(D, norm, np.float32),
        p + "post_attention_layernorm.weight": np.full(D, norm, np.float32),
    }


def _config(model_type: str, vocab: int, **extra: object) -> dict[str, object]:
    return {
        "model_type": model_type,
        "vocab_size": vocab,
        "hidden_size": D,
        "intermediate_size": F,
        "num_hidden_layers": LAYERS,
        "num_attention_heads": H,
        "num_key_value_heads": KV,
        "rms_norm_eps": 1e-6,
        "torch_dtype": "float32",
        **extra,
    }


def write_tiny_gemma2(directory: Path, texts: list[str], seed: int = 0) -> dict[str, np.ndarray]:
    from safetensors.numpy import save_file

    vocab, w = _start(directory, texts, seed)
    tensors: dict[str, np.ndarray] = {"model.embed_tokens.weight": w(vocab, D)}
    for i in range(LAYERS):
        p = f"model.layers.{i}."
        # Gemma's RMSNorm scales by (1 + weight): zeros are the identity.
        tensors |= _layer(i, w, 0.0) | {
            p + "pre_feedforward_layernorm.weight": np.zeros(D, np.float32),
            p + "post_feedforward_layernorm.weight": np.zeros(D, np.float32),
        }
    tensors["model.norm.weight"] = np.zeros(D, np.float32)
    save_file(tensors, str(directory / "model.safetensors"))
    config = _config(
        "gemma2",
        vocab,
        architectures=["Gemma2ForCausalLM"],
        head_dim=HD,
        final_logit_softcapping=30.0,
        attn_logit_softcapping=50.0,
        sliding_window=64,
        query_pre_attn_scalar=HD,
    )
    (directory / "config.json").write_text(json.dumps(config, indent=2))
    return tensors


def write_tiny_llama_like(
    directory: Path, texts: list[str], model_type: str, seed: int = 0
) -> dict[str, np.ndarray]:
    """A tiny ``llama`` or ``qwen2`` checkpoint (Qwen2 adds q/k/v biases), untied head."""
    from safetensors.numpy import save_file

    vocab, w = _start(directory, texts, seed)
    tensors: dict[str, np.ndarray] = {
        "model.embed_tokens.weight": w(vocab, D),
        "model.norm.weight": np.ones(D, np.float32),
        "lm_head.weight": w(vocab, D),
    }
    for i in range(LAYERS):
        tensors |= _layer(i, w, 1.0)
        if model_type == "qwen2":
            p = f"model.layers.{i}.self_attn."
            tensors |= {
                p + "q_proj.bias": w(H * HD) * 0.1,
                p + "k_proj.bias": w(KV * HD) * 0.1,
                p + "v_proj.bias": w(KV * HD) * 0.1,
            }
    save_file(tensors, str(directory / "model.safetensors"))
    architecture = "LlamaForCausalLM" if model_type == "llama" else "Qwen2ForCausalLM"
    config = _config(
        model_type,
        vocab,
        architectures=[architecture],
        rope_theta=10000.0,
        tie_word_embeddings=False,
    )
    (directory / "config.json").write_text(json.dumps(config, indent=2))
    return tensors
