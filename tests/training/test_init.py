"""Models trained from scratch start from fan-in scaled weights, whatever Tunix's
constructors (made for pretrained weights) put there."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from tests.training.test_generate import ONE_LAYER_GEMMA
from tunix_rt.training import model as model_lib
from tunix_rt.training.presets import PRESETS

WIDE = PRESETS["tunix-rt/tiny-gemma-wide"].arch(512)


def _matrices(model: nnx.Module) -> dict[str, np.ndarray]:
    return {
        "/".join(str(p) for p in path): np.asarray(v.get_value())
        for path, v in nnx.to_flat_state(nnx.state(model, nnx.Param))
        if v.get_value().ndim >= 2
    }


def test_every_matrix_has_the_scale_of_its_fan_in() -> None:
    weights = _matrices(model_lib.build_from_scratch(WIDE, seed=0))
    d, heads, head_dim, mlp = 128, 4, 32, 512
    expected = {
        "embedder/input_embedding": d,
        "layers/0/attn/qkv_einsum/w": d,
        "layers/0/attn/attn_vec_einsum/w": heads * head_dim,
        "layers/0/mlp/gate_proj/kernel": d,
        "layers/0/mlp/up_proj/kernel": d,
        "layers/0/mlp/down_proj/kernel": mlp,
    }
    for name, fan_in in expected.items():
        assert weights[name].std() == pytest.approx(fan_in**-0.5, rel=0.05), name
    # Tunix's own values would be 0 (MLP) or N(0, 0.01²): none survives.
    assert all(w.std() > 0.04 for w in weights.values())


@pytest.mark.parametrize("family", ["gemma", "llama3"])
def test_attention_is_not_uniform_at_the_start(family: str) -> None:
    """With Tunix's 0.01-scaled q and k every score is ≈ 0 and each head averages the
    whole prefix; fan-in scaled scores spread by about one unit."""
    arch = ONE_LAYER_GEMMA | {"family": family, "num_kv_heads": 1}
    weights = _matrices(model_lib.build_from_scratch(arch, seed=1))
    names = {"gemma": ("attn/q_einsum/w", "attn/kv_einsum/w"), "llama3": ("q_proj/w", "k_proj/w")}
    q_name, k_name = (next(n for n in weights if n.endswith(s)) for s in names[family])
    x = np.asarray(jax.random.normal(jax.random.key(0), (64, arch["embed_dim"])))
    if family == "gemma":  # q: [heads, d, head_dim], kv: [2, kv_heads, d, head_dim]
        q, k = x @ weights[q_name][0], x @ weights[k_name][0, 0]
    else:  # q: [d, heads, head_dim], k: [d, kv_heads, head_dim]
        q, k = x @ weights[q_name][:, 0], x @ weights[k_name][:, 0]
    scores = (q @ k.T) / np.sqrt(arch["head_dim"])
    assert 0.5 < float(jnp.std(scores)) < 2.0
    assert all(w.std() > 0.04 for w in weights.values())
