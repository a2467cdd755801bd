"""Built-in model presets: small Gemma-family models trained from scratch (jax-free)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import Any


@dataclass(frozen=True)
class Preset:
    """A Gemma architecture; the vocabulary comes from the tokenizer fitted to the run."""

    name: str
    description: str
    num_layers: int
    embed_dim: int
    hidden_dim: int
    num_heads: int
    head_dim: int
    num_kv_heads: int
    family: str = "gemma"
    default_vocab_size: int = 512

    def arch(self, vocab_size: int) -> dict[str, Any]:
        """The architecture dict stored in ``model/model.json`` (see ``model.build``)."""
        return {
            "family": self.family,
            "num_layers": self.num_layers,
            "vocab_size": vocab_size,
            "embed_dim": self.embed_dim,
            "hidden_dim": self.hidden_dim,
            "num_heads": self.num_heads,
            "head_dim": self.head_dim,
            "num_kv_heads": self.num_kv_heads,
        }

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


_TINY = Preset(
    name="tunix-rt/tiny-gemma",
    description="2 layers × 128 dims, MLP 256 (≈0.4 M params): tests and demos on a 2-core CPU",
    num_layers=2,
    embed_dim=128,
    hidden_dim=256,
    num_heads=4,
    head_dim=32,
    num_kv_heads=4,
)

PRESETS: dict[str, Preset] = {
    p.name: p
    for p in (
        _TINY,
        replace(
            _TINY,
            name="tunix-rt/tiny-gemma-wide",
            description=(
                "2 layers × 128 dims, MLP 512 (≈0.5 M params): the mixed arithmetic suite's "
                "preset on a 2-core CPU"
            ),
            hidden_dim=512,
        ),
        Preset(
            name="tunix-rt/small-gemma",
            description="4 layers × 256 dims (≈3.3 M params): slower, more capacity",
            num_layers=4,
            embed_dim=256,
            hidden_dim=1024,
            num_heads=4,
            head_dim=64,
            num_kv_heads=4,
        ),
    )
}


def param_count(arch: dict[str, Any]) -> int:
    """Parameters of a Gemma/Llama/Qwen-style decoder described by ``arch`` (analytic)."""
    d, f, v = arch["embed_dim"], arch["hidden_dim"], arch["vocab_size"]
    h, hd, kv = arch["num_heads"], arch["head_dim"], arch["num_kv_heads"]
    norms_per_layer = 4 if arch.get("post_norms") else 2
    per_layer = d * h * hd * 2 + d * kv * hd * 2 + 3 * d * f + norms_per_layer * d
    if arch.get("qk_norm"):
        per_layer += 2 * hd
    total = v * d + arch["num_layers"] * per_layer + d
    if arch.get("untied_lm_head"):
        total += v * d
    return int(total)


def memory_estimate_bytes(
    arch: dict[str, Any], batch_size: int, seq_len: int, lora_rank: int = 0
) -> int:
    """Rough peak memory of full fine-tuning in fp32 with AdamW (params, grads, 2 moments,
    activations) plus the runtime's fixed cost. An estimate, not a bound."""
    params = param_count(arch)
    trainable = params if lora_rank == 0 else max(1, params // 50)
    state = params * 4 + trainable * 4 * 3
    d, f, layers = arch["embed_dim"], arch["hidden_dim"], arch["num_layers"]
    tokens = batch_size * seq_len
    per_layer = tokens * (6 * d + 3 * f) * 4 + batch_size * arch["num_heads"] * seq_len**2 * 4
    logits = tokens * arch["vocab_size"] * 4 * 3
    runtime = 600 * 1024 * 1024  # jax + tunix imported, compiled programs
    return int(state + layers * per_layer * 2 + logits + runtime)
