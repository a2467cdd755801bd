"""Hugging Face layout for Gemma-family models: the product's own safetensors writer and
reader (numpy only at import; ``export_run`` and ``load_hf_gemma`` import jax).

A run's final model is an Orbax checkpoint of Tunix's Gemma modules (``model/params``).
``export_run`` writes it as a Hugging Face checkpoint directory — ``config.json``,
``model.safetensors`` (float32, Hugging Face tensor names and shapes), the run's tokenizer
files and ``generation_config.json`` — and ``load_hf_gemma`` builds the Tunix model back from
such a directory, so a registered model can be trained from and evaluated like any local
checkpoint. Names and layouts follow Hugging Face's Gemma (``model_type: gemma``, no
post-norms) and Gemma 2 (``gemma2``: post-attention and pre/post-feed-forward norms):

==========================================  =====================================================
Tunix (nnx path, shape)                     Hugging Face (name, shape)
==========================================  =====================================================
embedder.input_embedding  [V, D]            model.embed_tokens.weight  [V, D] (tied lm_head)
layers.i.attn.qkv_einsum.w  [3, N, D, H]    model.layers.i.self_attn.{q,k,v}_proj.weight [N·H, D]
layers.i.attn.q_einsum.w  [N, D, H]         model.layers.i.self_attn.q_proj.weight  [N·H, D]
layers.i.attn.kv_einsum.w  [2, K, D, H]     model.layers.i.self_attn.{k,v}_proj.weight  [K·H, D]
layers.i.attn.attn_vec_einsum.w  [N, H, D]  model.layers.i.self_attn.o_proj.weight  [D, N·H]
layers.i.mlp.{gate,up}_proj.kernel  [D, F]  model.layers.i.mlp.{gate,up}_proj.weight  [F, D]
layers.i.mlp.down_proj.kernel  [F, D]       model.layers.i.mlp.down_proj.weight  [D, F]
layers.i.pre_attention_norm.scale  [D]      model.layers.i.input_layernorm.weight
layers.i.pre_ffw_norm.scale  [D]            gemma: …post_attention_layernorm.weight (the norm
                                            before the MLP); gemma2: …pre_feedforward_layernorm
layers.i.post_attn_norm.scale (gemma2)      model.layers.i.post_attention_layernorm.weight
layers.i.post_ffw_norm.scale (gemma2)       model.layers.i.post_feedforward_layernorm.weight
final_norm.scale  [D]                       model.norm.weight
==========================================  =====================================================

Both sides store RMSNorm scales as offsets from 1 (``x · (1 + w)``), so norms copy as is.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np

WEIGHTS_FILE = "model.safetensors"
CONFIG_FILE = "config.json"
EXPORT_FAMILIES = ("gemma", "gemma2")
_CHUNK = 1 << 20

Flat = dict[tuple[Any, ...], np.ndarray]


class ExportError(ValueError):
    """The run's model cannot be written in the Hugging Face layout; the message says why."""


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while block := handle.read(_CHUNK):
            digest.update(block)
    return digest.hexdigest()


def hf_config(arch: dict[str, Any], tokenizer: dict[str, Any]) -> dict[str, Any]:
    """``config.json`` for a Gemma-family ``arch`` (as stored in ``model/model.json``)."""
    family = arch["family"]
    if family not in EXPORT_FAMILIES:
        raise ExportError(
            f"the {family} family cannot be exported yet (supported: {', '.join(EXPORT_FAMILIES)})"
        )
    config: dict[str, Any] = {
        "architectures": ["Gemma2ForCausalLM" if family == "gemma2" else "GemmaForCausalLM"],
        "model_type": family,
        "vocab_size": int(arch["vocab_size"]),
        "hidden_size": int(arch["embed_dim"]),
        "intermediate_size": int(arch["hidden_dim"]),
        "num_hidden_layers": int(arch["num_layers"]),
        "num_attention_heads": int(arch["num_heads"]),
        "num_key_value_heads": int(arch["num_kv_heads"]),
        "head_dim": int(arch["head_dim"]),
        "hidden_activation": "gelu_pytorch_tanh",
        "rms_norm_eps": 1e-6,
        "rope_theta": 10000.0,
        "tie_word_embeddings": True,
        "torch_dtype": "float32",
        "pad_token_id": int(tokenizer.get("pad_id", 0)),
        "eos_token_id": int(tokenizer.get("eos_id", 1)),
        "bos_token_id": int(tokenizer.get("bos_id", 2)),
    }
    if family == "gemma2":
        config.update(
            final_logit_softcapping=arch.get("final_logit_softcap"),
            attn_logit_softcapping=arch.get("attn_logits_soft_cap"),
            sliding_window=arch.get("sliding_window_size"),
            query_pre_attn_scalar=arch.get("query_pre_attn_scalar") or int(arch["head_dim"]),
        )
    return config


def _norm_names(family: str) -> dict[str, str]:
    if family == "gemma2":
        return {
            "pre_attention_norm": "input_layernorm",
            "post_attn_norm": "post_attention_layernorm",
            "pre_ffw_norm": "pre_feedforward_layernorm",
            "post_ffw_norm": "post_feedforward_layernorm",
        }
    return {"pre_attention_norm": "input_layernorm", "pre_ffw_norm": "post_attention_layernorm"}


def _proj_to_hf(w: np.ndarray) -> np.ndarray:
    """[heads, D, H] → [heads·H, D]."""
    heads, embed, head_dim = w.shape
    return np.ascontiguousarray(w.transpose(0, 2, 1).reshape(heads * head_dim, embed))


def _proj_from_hf(w: np.ndarray, heads: int, head_dim: int) -> np.ndarray:
    """[heads·H, D] → [heads, D, H]."""
    embed = w.shape[1]
    return np.ascontiguousarray(w.reshape(heads, head_dim, embed).transpose(0, 2, 1))


def to_hf_tensors(flat: Flat, arch: dict[str, Any]) -> dict[str, np.ndarray]:
    """Tunix Gemma parameters (flat nnx paths → arrays) as Hugging Face tensors."""
    norms = _norm_names(arch["family"])
    out: dict[str, np.ndarray] = {}
    seen: set[tuple[Any, ...]] = set()

    def take(path: tuple[Any, ...]) -> np.ndarray:
        if path not in flat:
            raise ExportError(f"the model has no parameter {'.'.join(map(str, path))}")
        seen.add(path)
        return np.asarray(flat[path], dtype=np.float32)

    out["model.embed_tokens.weight"] = take(("embedder", "input_embedding"))
    out["model.norm.weight"] = take(("final_norm", "scale"))
    for i in range(int(arch["num_layers"])):
        hf = f"model.layers.{i}."
        attn = ("layers", i, "attn")
        if (*attn, "qkv_einsum", "w") in flat:
            q, k, v = take((*attn, "qkv_einsum", "w"))
        else:
            q = take((*attn, "q_einsum", "w"))
            k, v = take((*attn, "kv_einsum", "w"))
        out[hf + "self_attn.q_proj.weight"] = _proj_to_hf(q)
        out[hf + "self_attn.k_proj.weight"] = _proj_to_hf(k)
        out[hf + "self_attn.v_proj.weight"] = _proj_to_hf(v)
        o = take((*attn, "attn_vec_einsum", "w"))  # [N, H, D]
        out[hf + "self_attn.o_proj.weight"] = np.ascontiguousarray(o.reshape(-1, o.shape[-1]).T)
        for name in ("gate_proj", "up_proj", "down_proj"):
            kernel = take(("layers", i, "mlp", name, "kernel"))
            out[hf + f"mlp.{name}.weight"] = np.ascontiguousarray(kernel.T)
        for ours, theirs in norms.items():
            out[hf + f"{theirs}.weight"] = take(("layers", i, ours, "scale"))
    left = sorted(".".join(map(str, p)) for p in set(flat) - seen)
    if left:
        raise ExportError(
            f"parameters with no Hugging Face name: {', '.join(left[:5])}"
            + (
                " (a LoRA run: its adapters are not merged into the weights)"
                if any("lora" in name for name in left)
                else ""
            )
        )
    return out


def from_hf_tensors(tensors: dict[str, np.ndarray], arch: dict[str, Any]) -> Flat:
    """The inverse of ``to_hf_tensors`` for a model of ``arch``."""
    norms = _norm_names(arch["family"])
    heads, kv_heads = int(arch["num_heads"]), int(arch["num_kv_heads"])
    head_dim = int(arch["head_dim"])

    def get(name: str) -> np.ndarray:
        if name not in tensors:
            raise ValueError(f"{WEIGHTS_FILE} has no tensor {name}")
        return np.asarray(tensors[name], dtype=np.float32)

    flat: Flat = {
        ("embedder", "input_embedding"): get("model.embed_tokens.weight"),
        ("final_norm", "scale"): get("model.norm.weight"),
    }
    for i in range(int(arch["num_layers"])):
        hf = f"model.layers.{i}."
        q = _proj_from_hf(get(hf + "self_attn.q_proj.weight"), heads, head_dim)
        k = _proj_from_hf(get(hf + "self_attn.k_proj.weight"), kv_heads, head_dim)
        v = _proj_from_hf(get(hf + "self_attn.v_proj.weight"), kv_heads, head_dim)
        attn = ("layers", i, "attn")
        if heads == kv_heads:
            flat[(*attn, "qkv_einsum", "w")] = np.stack([q, k, v])
        else:
            flat[(*attn, "q_einsum", "w")] = q
            flat[(*attn, "kv_einsum", "w")] = np.stack([k, v])
        o = get(hf + "self_attn.o_proj.weight")  # [D, N·H]
        flat[(*attn, "attn_vec_einsum", "w")] = np.ascontiguousarray(
            o.T.reshape(heads, head_dim, o.shape[0])
        )
        for name in ("gate_proj", "up_proj", "down_proj"):
            flat[("layers", i, "mlp", name, "kernel")] = np.ascontiguousarray(
                get(hf + f"mlp.{name}.weight").T
            )
        for ours, theirs in norms.items():
            flat[("layers", i, ours, "scale")] = get(hf + f"{theirs}.weight")
    return flat


def _flat_params(model: Any) -> Flat:
    from flax import nnx

    flat: Flat = {}
    for path, variable in nnx.to_flat_state(nnx.state(model, nnx.Param)):
        value = variable.get_value() if hasattr(variable, "get_value") else variable.value
        flat[tuple(path)] = np.asarray(value)
    return flat


def export_run(run_dir: Path, out_dir: Path) -> dict[str, Any]:
    """Write the run's final model to ``out_dir`` in the Hugging Face layout; returns the
    weights' SHA-256 and size and the architecture."""
    from safetensors.numpy import save_file

    from tunix_rt.training import model as model_lib
    from tunix_rt.training.tokenizer import (
        HF_TOKENIZER_FILES,
        MODEL_FILE,
        load_any_tokenizer,
        tokenizer_info,
    )

    meta_file = run_dir / model_lib.MODEL_DIR / model_lib.MODEL_JSON
    if not meta_file.is_file():
        raise ExportError(f"{run_dir} holds no trained model ({meta_file.name} is missing)")
    meta = json.loads(meta_file.read_text(encoding="utf-8"))
    if meta.get("lora_rank"):
        raise ExportError(
            "a LoRA run's adapters are not merged into full weights yet; register a full "
            "fine-tuning run"
        )
    arch = meta["arch"]
    tok_dir = run_dir / "tokenizer"
    tok = load_any_tokenizer(tok_dir)
    info = tokenizer_info(tok) if hasattr(tok, "GetPieceSize") else {}
    config = hf_config(arch, info)
    model, _ = model_lib.load_final(run_dir)
    tensors = to_hf_tensors(_flat_params(model), arch)
    out_dir.mkdir(parents=True, exist_ok=True)
    weights = out_dir / WEIGHTS_FILE
    save_file(tensors, str(weights), metadata={"format": "pt"})
    (out_dir / CONFIG_FILE).write_text(
        json.dumps(config, indent=2, sort_keys=True) + "\n", encoding="utf-8"
    )
    generation = {key: config[key] for key in ("bos_token_id", "eos_token_id", "pad_token_id")}
    (out_dir / "generation_config.json").write_text(
        json.dumps(generation, indent=2, sort_keys=True) + "\n", encoding="utf-8"
    )
    copied = [name for name in (MODEL_FILE, *HF_TOKENIZER_FILES) if (tok_dir / name).is_file()]
    for name in copied:
        shutil.copyfile(tok_dir / name, out_dir / name)
    return {
        "sha256": sha256_file(weights),
        "size_bytes": weights.stat().st_size,
        "arch": arch,
        "files": sorted([WEIGHTS_FILE, CONFIG_FILE, "generation_config.json", *copied]),
    }


def load_hf_gemma(path: Path, arch: dict[str, Any]) -> Any:
    """Build the Tunix Gemma model of ``arch`` with the weights of ``path/model.safetensors``
    (the layout ``export_run`` writes)."""
    import jax.numpy as jnp
    from flax import nnx
    from safetensors.numpy import load_file

    from tunix_rt.training import model as model_lib

    files = sorted(path.glob("*.safetensors"))
    tensors: dict[str, np.ndarray] = {}
    for file in files:
        tensors.update(load_file(str(file)))
    flat = from_hf_tensors(tensors, arch)
    model = nnx.eval_shape(
        lambda: model_lib.model_class(arch["family"])(
            model_lib.tunix_config(arch), rngs=nnx.Rngs(params=0)
        )
    )
    graphdef, state = nnx.split(model)
    params = nnx.to_flat_state(state)
    for key, variable in params:
        value = flat.get(tuple(key))
        if value is None:
            raise ValueError(f"{path} has no weights for {'.'.join(map(str, key))}")
        current = variable.get_value() if hasattr(variable, "get_value") else variable.value
        if tuple(value.shape) != tuple(current.shape):
            raise ValueError(
                f"{'.'.join(map(str, key))}: {tuple(value.shape)} in the checkpoint, "
                f"{tuple(current.shape)} in the model"
            )
        if hasattr(variable, "set_value"):
            variable.set_value(jnp.asarray(value))
        else:  # pragma: no cover - older flax
            variable.value = jnp.asarray(value)
    return nnx.merge(graphdef, nnx.from_flat_state(params))
