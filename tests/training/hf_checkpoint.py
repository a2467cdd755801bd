"""Writes a tiny Gemma 2 checkpoint in the Hugging Face layout (config.json, safetensors
with HF tensor names, SentencePiece tokenizer.model) for the local-directory tests."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from tunix_rt.training.tokenizer import fit_tokenizer, load_tokenizer

D, F, H, KV, HD, LAYERS = 64, 128, 2, 1, 32, 2


def write_tiny_gemma2(directory: Path, texts: list[str], seed: int = 0) -> dict[str, np.ndarray]:
    from safetensors.numpy import save_file

    directory.mkdir(parents=True, exist_ok=True)
    fit_tokenizer(texts, directory, vocab_size=400)
    vocab = int(load_tokenizer(directory).GetPieceSize())
    rng = np.random.default_rng(seed)

    def w(*shape: int) -> np.ndarray:
        return (rng.standard_normal(shape) / np.sqrt(shape[-1])).astype(np.float32)

    tensors: dict[str, np.ndarray] = {"model.embed_tokens.weight": w(vocab, D)}
    for i in range(LAYERS):
        p = f"model.layers.{i}."
        tensors |= {
            p + "self_attn.q_proj.weight": w(H * HD, D),
            p + "self_attn.k_proj.weight": w(KV * HD, D),
            p + "self_attn.v_proj.weight": w(KV * HD, D),
            p + "self_attn.o_proj.weight": w(D, H * HD),
            p + "mlp.gate_proj.weight": w(F, D),
            p + "mlp.up_proj.weight": w(F, D),
            p + "mlp.down_proj.weight": w(D, F),
            p + "input_layernorm.weight": np.zeros(D, np.float32),
            p + "post_attention_layernorm.weight": np.zeros(D, np.float32),
            p + "pre_feedforward_layernorm.weight": np.zeros(D, np.float32),
            p + "post_feedforward_layernorm.weight": np.zeros(D, np.float32),
        }
    tensors["model.norm.weight"] = np.zeros(D, np.float32)
    save_file(tensors, str(directory / "model.safetensors"))
    config = {
        "architectures": ["Gemma2ForCausalLM"],
        "model_type": "gemma2",
        "vocab_size": vocab,
        "hidden_size": D,
        "intermediate_size": F,
        "num_hidden_layers": LAYERS,
        "num_attention_heads": H,
        "num_key_value_heads": KV,
        "head_dim": HD,
        "final_logit_softcapping": 30.0,
        "attn_logit_softcapping": 50.0,
        "sliding_window": 64,
        "query_pre_attn_scalar": HD,
        "rms_norm_eps": 1e-6,
        "torch_dtype": "float32",
    }
    (directory / "config.json").write_text(json.dumps(config, indent=2))
    return tensors


def write_tiny_llama_like(
    directory: Path, texts: list[str], model_type: str, seed: int = 0
) -> dict[str, np.ndarray]:
    """A tiny ``llama`` or ``qwen2`` checkpoint (Qwen2 adds q/k/v biases), untied head."""
    from safetensors.numpy import save_file

    directory.mkdir(parents=True, exist_ok=True)
    fit_tokenizer(texts, directory, vocab_size=400)
    vocab = int(load_tokenizer(directory).GetPieceSize())
    rng = np.random.default_rng(seed)

    def w(*shape: int) -> np.ndarray:
        return (rng.standard_normal(shape) / np.sqrt(shape[-1])).astype(np.float32)

    tensors: dict[str, np.ndarray] = {
        "model.embed_tokens.weight": w(vocab, D),
        "model.norm.weight": np.ones(D, np.float32),
        "lm_head.weight": w(vocab, D),
    }
    for i in range(LAYERS):
        p = f"model.layers.{i}."
        tensors |= {
            p + "self_attn.q_proj.weight": w(H * HD, D),
            p + "self_attn.k_proj.weight": w(KV * HD, D),
            p + "self_attn.v_proj.weight": w(KV * HD, D),
            p + "self_attn.o_proj.weight": w(D, H * HD),
            p + "mlp.gate_proj.weight": w(F, D),
            p + "mlp.up_proj.weight": w(F, D),
            p + "mlp.down_proj.weight": w(D, F),
            p + "input_layernorm.weight": np.ones(D, np.float32),
            p + "post_attention_layernorm.weight": np.ones(D, np.float32),
        }
        if model_type == "qwen2":
            tensors |= {
                p + "self_attn.q_proj.bias": w(H * HD) * 0.1,
                p + "self_attn.k_proj.bias": w(KV * HD) * 0.1,
                p + "self_attn.v_proj.bias": w(KV * HD) * 0.1,
            }
    save_file(tensors, str(directory / "model.safetensors"))
    config = {
        "architectures": ["LlamaForCausalLM" if model_type == "llama" else "Qwen2ForCausalLM"],
        "model_type": model_type,
        "vocab_size": vocab,
        "hidden_size": D,
        "intermediate_size": F,
        "num_hidden_layers": LAYERS,
        "num_attention_heads": H,
        "num_key_value_heads": KV,
        "rms_norm_eps": 1e-6,
        "rope_theta": 10000.0,
        "tie_word_embeddings": False,
        "torch_dtype": "float32",
    }
    (directory / "config.json").write_text(json.dumps(config, indent=2))
    return tensors
