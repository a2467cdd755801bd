"""Model building, loading and saving with Tunix (imports jax: child process only)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from tunix_rt.training.resolve import ResolvedModel

MODEL_DIR = "model"
MODEL_JSON = "model.json"
PARAMS_DIR = "params"
LORA_MODULE_PATH = (
    ".*(q_einsum|kv_einsum|qkv_einsum|attn_vec_einsum"
    "|q_proj|k_proj|v_proj|o_proj|gate_proj|up_proj|down_proj).*"
)


def tunix_config(arch: dict[str, Any]) -> Any:
    """The Tunix ``ModelConfig`` for an architecture dict (presets and HF checkpoints)."""
    family = arch["family"]
    if family in ("gemma", "gemma2"):
        from tunix.models.gemma import model as gemma

        post = bool(arch.get("post_norms"))
        layers = int(arch["num_layers"])
        if family == "gemma2":
            kinds = (gemma.AttentionType.LOCAL_SLIDING, gemma.AttentionType.GLOBAL)
            attention_types = tuple(kinds[i % 2] for i in range(layers))
        else:
            attention_types = (gemma.AttentionType.GLOBAL,) * layers
        return gemma.ModelConfig(
            num_layers=layers,
            num_embed=int(arch["vocab_size"]),
            embed_dim=int(arch["embed_dim"]),
            hidden_dim=int(arch["hidden_dim"]),
            num_heads=int(arch["num_heads"]),
            head_dim=int(arch["head_dim"]),
            num_kv_heads=int(arch["num_kv_heads"]),
            final_logit_softcap=arch.get("final_logit_softcap"),
            use_post_attn_norm=post,
            use_post_ffw_norm=post,
            attention_types=attention_types,
            attn_logits_soft_cap=arch.get("attn_logits_soft_cap"),
            sliding_window_size=arch.get("sliding_window_size"),
        )
    common = {
        "num_layers": int(arch["num_layers"]),
        "vocab_size": int(arch["vocab_size"]),
        "embed_dim": int(arch["embed_dim"]),
        "hidden_dim": int(arch["hidden_dim"]),
        "num_heads": int(arch["num_heads"]),
        "head_dim": int(arch["head_dim"]),
        "num_kv_heads": int(arch["num_kv_heads"]),
        "rope_theta": int(arch.get("rope_theta", 10_000)),
        "norm_eps": float(arch.get("norm_eps", 1e-6)),
    }
    tied = bool(arch.get("tied_embedding"))
    if family == "llama3":
        from tunix.models.llama3 import model as llama3

        return llama3.ModelConfig(**common, weight_tying=tied)
    if family == "qwen2":
        from tunix.models.qwen2 import model as qwen2

        return qwen2.ModelConfig(**common, use_tied_embedding=tied)
    if family == "qwen3":
        from tunix.models.qwen3 import model as qwen3

        return qwen3.ModelConfig(**common, use_tied_embedding=tied)
    raise ValueError(f"unsupported model family {family!r}")


def model_class(family: str) -> Any:
    if family in ("gemma", "gemma2"):
        from tunix.models.gemma.model import Gemma

        return Gemma
    if family == "llama3":
        from tunix.models.llama3.model import Llama3

        return Llama3
    if family == "qwen2":
        from tunix.models.qwen2.model import Qwen2

        return Qwen2
    if family == "qwen3":
        from tunix.models.qwen3.model import Qwen3

        return Qwen3
    raise ValueError(f"unsupported model family {family!r}")


# Parameters that write into the residual stream: their inputs are the attention heads'
# values or the MLP's hidden units (every axis but the last), not the model dimension.
_RESIDUAL_WRITERS = ("attn_vec_einsum", "o_proj", "down_proj")


def init_from_scratch(model: nnx.Module, embed_dim: int, seed: int) -> int:
    """Give every ≥2-D parameter N(0, 1/fan_in) values; returns how many.

    Tunix's constructors are made to receive pretrained weights: the MLP matrices start at
    exactly zero (no gradient ever reaches them) and the embedding and attention matrices
    at N(0, 0.01²), which makes every attention score ≈ 0 (q·k ∝ 0.01²): heads start
    uniform and the circuits that copy a digit from a fixed distance form late or not at
    all. Scaled by fan-in instead, each layer's output starts at unit size. The fan-in of
    a matrix that reads the residual stream (embeddings' rows, q/k/v, the MLP's gate and
    up projections, a separate LM head) is ``embed_dim``; of one that writes it
    (``_RESIDUAL_WRITERS``), the product of its other axes. Norm scales and biases (1-D)
    are left alone."""
    flat = nnx.to_flat_state(nnx.state(model, nnx.Param))
    key = jax.random.key(seed ^ 0x5EED)
    changed = 0
    for path, variable in flat:
        value = variable.get_value()
        if value.ndim < 2:
            continue
        name = "/".join(str(p) for p in path)
        writes = any(w in name for w in _RESIDUAL_WRITERS)
        fan_in = int(np.prod(value.shape[:-1])) if writes else embed_dim
        key, sub = jax.random.split(key)
        variable.set_value(jax.random.normal(sub, value.shape, value.dtype) / np.sqrt(fan_in))
        changed += 1
    nnx.update(model, nnx.from_flat_state(flat))
    return changed


def build_from_scratch(arch: dict[str, Any], seed: int) -> nnx.Module:
    config = tunix_config(arch)
    model: nnx.Module = model_class(arch["family"])(config, rngs=nnx.Rngs(params=seed))
    init_from_scratch(model, int(arch["embed_dim"]), seed)
    return model


def load_hf_checkpoint(resolved: ResolvedModel) -> nnx.Module:
    """Load a Hugging Face–layout checkpoint with the family's Tunix safetensors loader."""
    assert resolved.path is not None
    family = resolved.arch["family"]
    if family == "gemma":  # Tunix has no Gemma 1 safetensors loader: the product's own
        from tunix_rt.training.hf_format import load_hf_gemma

        gemma: nnx.Module = load_hf_gemma(Path(resolved.path), resolved.arch)
        return gemma
    config = tunix_config(resolved.arch)
    if family == "gemma2":
        from tunix.models.gemma import params_safetensors as loader
    elif family == "llama3":
        from tunix.models.llama3 import params as loader
    elif family == "qwen2":
        from tunix.models.qwen2 import params as loader
    else:
        from tunix.models.qwen3 import params as loader
    model: nnx.Module = loader.create_model_from_safe_tensors(
        file_dir=resolved.path, config=config, mesh=None, dtype=jnp.float32
    )
    return model


def apply_lora(model: nnx.Module, rank: int, alpha: float, seed: int) -> nnx.Module:
    import qwix

    provider = qwix.LoraProvider(module_path=LORA_MODULE_PATH, rank=rank, alpha=alpha)
    inputs = model.get_model_input()  # type: ignore[attr-defined]
    lora: nnx.Module = qwix.apply_lora_to_model(
        model, provider, rngs=nnx.Rngs(params=seed + 1), **inputs
    )
    return lora


def param_count(model: nnx.Module, kind: Any = nnx.Param) -> int:
    state = nnx.state(model, kind)
    return int(sum(int(np.prod(x.shape)) for x in jax.tree.leaves(state)))


def save_final(model: nnx.Module, out_dir: Path, meta: dict[str, Any]) -> None:
    """``model/params`` (Orbax, the whole model state) + ``model/model.json`` (arch, lora)."""
    import orbax.checkpoint as ocp

    target = out_dir / MODEL_DIR
    if target.exists():
        shutil.rmtree(target)
    target.mkdir(parents=True)
    # Plain host arrays: a model trained data-parallel is saved without its devices, so
    # any process (one device, or another count) restores it.
    state = jax.device_get(nnx.state(model))
    checkpointer = ocp.StandardCheckpointer()
    checkpointer.save((target / PARAMS_DIR).resolve(), state)
    checkpointer.wait_until_finished()
    (target / MODEL_JSON).write_text(json.dumps(meta, indent=2, sort_keys=True), encoding="utf-8")


def load_final(run_dir: Path) -> tuple[nnx.Module, dict[str, Any]]:
    """Rebuild the model saved by ``save_final`` (same structure, restored values)."""
    import orbax.checkpoint as ocp

    target = run_dir / MODEL_DIR
    meta_file = target / MODEL_JSON
    if not meta_file.is_file():
        raise FileNotFoundError(f"{run_dir} holds no trained model ({meta_file} is missing)")
    meta = json.loads(meta_file.read_text(encoding="utf-8"))
    arch = meta["arch"]

    def skeleton() -> nnx.Module:
        model: nnx.Module = model_class(arch["family"])(tunix_config(arch), rngs=nnx.Rngs(params=0))
        if meta.get("lora_rank"):
            model = apply_lora(model, int(meta["lora_rank"]), float(meta["lora_alpha"]), 0)
        return model

    try:
        # Shapes only: no random initialisation to compute before the restore.
        model = nnx.eval_shape(skeleton)
    except Exception:  # pragma: no cover - e.g. a LoRA wrapper that needs concrete arrays
        model = skeleton()
    graphdef, abstract = nnx.split(model)
    # Device arrays on this process's first device: saved host arrays would otherwise come
    # back as numpy arrays, which Tunix's RL cluster (it reads ``.sharding``) cannot take.
    device = jax.sharding.SingleDeviceSharding(jax.devices()[0])
    abstract = jax.tree.map(
        lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=device),  # type: ignore[no-untyped-call]
        abstract,
    )
    state = ocp.StandardCheckpointer().restore((target / PARAMS_DIR).resolve(), abstract)
    restored: nnx.Module = nnx.merge(graphdef, state)
    return restored, meta
