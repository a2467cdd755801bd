"""Batched decoding with a KV cache for Gemma-family models (imports jax: child only).

Tunix's ``Sampler`` keeps its KV cache as ``[batch, position, heads, head_dim]`` and its
attention contracts over batch and heads; on XLA:CPU that makes every decode step
transpose the whole cache of every layer into ``[batch, heads, ...]`` before two
batched dot products — work that grows with batch × cache size, not with the tokens
decoded. This decoder runs the same Gemma forward pass (the model's own weights,
Tunix's formulas: embedding scale, RMSNorm, RoPE, soft caps, sliding window, GELU MLP)
with the cache stored as ``[batch, kv_heads, position, head_dim]`` (``[kv_heads,
position, head_dim]`` at batch 1), the layout its attention reads, and the weight
matrices reshaped for plain 2-D products once per call instead of once per step,
the arg-max as two plain reductions and a prefill that attends to the prompt only.
Prefill and the whole decode loop are one compiled program:
one dispatch per batch, and the loop stops as soon as every row has ended.

Token choice follows ``tunix.generate.sampler``: greedy is the first arg-max; top-p
sampling draws with ``fold_in(PRNGKey(seed), step)`` where ``step`` counts buffer
positions (the prompt's last position for the first token), from the logits divided by
the temperature, sorted, cut where the cumulative probability before a token exceeds
``top_p``. Positions ignore left padding; padded prompt slots (and, as in Tunix, any
slot holding the pad id) are masked out of attention.

Other families (Llama, Qwen) and LoRA-wrapped models are not handled here:
``supports`` says so and the caller uses Tunix's sampler for them.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from tunix_rt.training import few_rows

# Tunix's masking value for attention logits (``tunix.models.gemma.model.K_MASK``).
_K_MASK = -2.3819763e38


@dataclass(frozen=True)
class GemmaShape:
    """The static structure of a Gemma model: what the compiled program depends on."""

    num_layers: int
    num_heads: int
    num_kv_heads: int
    head_dim: int
    embed_dim: int
    local_layers: tuple[bool, ...]  # sliding-window attention per layer
    sliding_window: int | None
    attn_softcap: float | None
    final_softcap: float | None
    post_attn_norm: bool
    post_ffw_norm: bool
    fused_qkv: bool


def _value(variable: Any) -> jax.Array:
    value: jax.Array = variable.get_value() if hasattr(variable, "get_value") else variable.value
    return value


def supports(model: Any) -> bool:
    """Whether ``model`` is a plain (no LoRA) Tunix Gemma this decoder can run."""
    try:
        from tunix.models.gemma.model import Gemma
    except ImportError:  # pragma: no cover - tunix is a dependency of the child
        return False
    if not isinstance(model, Gemma):
        return False
    for path, _ in nnx.to_flat_state(nnx.state(model)):
        if any("lora" in str(part).lower() for part in path):
            return False
    return True


def gemma_shape(model: Any) -> GemmaShape:
    from tunix.models.gemma.model import AttentionType

    config = model.config
    first = model.layers[0].attn
    return GemmaShape(
        num_layers=len(model.layers),
        num_heads=int(config.num_heads),
        num_kv_heads=int(config.num_kv_heads),
        head_dim=int(config.head_dim),
        embed_dim=int(config.embed_dim),
        local_layers=tuple(
            layer.attn.attn_type == AttentionType.LOCAL_SLIDING for layer in model.layers
        ),
        sliding_window=config.sliding_window_size,
        attn_softcap=config.attn_logits_soft_cap,
        final_softcap=config.final_logit_softcap,
        post_attn_norm=bool(config.use_post_attn_norm),
        post_ffw_norm=bool(config.use_post_ffw_norm),
        fused_qkv=bool(getattr(first, "use_qkv_einsum", False)),
    )


def gemma_weights(model: Any, shape: GemmaShape) -> dict[str, Any]:
    """The model's parameters as the 2-D matrices the decoder multiplies by."""
    d, n, k, h = shape.embed_dim, shape.num_heads, shape.num_kv_heads, shape.head_dim
    layers = []
    for layer in model.layers:
        attn = layer.attn
        lw: dict[str, jax.Array] = {
            "pre_attn": _value(layer.pre_attention_norm.scale),
            "pre_ffw": _value(layer.pre_ffw_norm.scale),
            # attn_vec_einsum: [N, H, D] -> [N*H, D]
            "out": _value(attn.attn_vec_einsum.w).reshape(n * h, d),
            "gate": _value(layer.mlp.gate_proj.kernel),
            "up": _value(layer.mlp.up_proj.kernel),
            "down": _value(layer.mlp.down_proj.kernel),
        }
        if shape.fused_qkv:
            # qkv_einsum: [3, N, D, H] -> [D, 3*N*H] (columns ordered q/k/v, head, dim)
            lw["qkv"] = jnp.transpose(_value(attn.qkv_einsum.w), (2, 0, 1, 3)).reshape(d, -1)
        else:
            # q_einsum: [N, D, H]; kv_einsum: [2, K, D, H]
            lw["q"] = jnp.transpose(_value(attn.q_einsum.w), (1, 0, 2)).reshape(d, n * h)
            lw["kv"] = jnp.transpose(_value(attn.kv_einsum.w), (2, 0, 1, 3)).reshape(d, 2 * k * h)
        if shape.post_attn_norm:
            lw["post_attn"] = _value(layer.post_attn_norm.scale)
        if shape.post_ffw_norm:
            lw["post_ffw"] = _value(layer.post_ffw_norm.scale)
        layers.append(lw)
    return {
        "embedding": _value(model.embedder.input_embedding),
        "final_norm": _value(model.final_norm.scale),
        "layers": layers,
    }


_MATRICES = ("qkv", "q", "kv", "out", "gate", "up", "down")


def packed_weights(weights: dict[str, Any]) -> dict[str, Any]:
    """``weights`` with every matrix ``few_rows.pack`` takes in its packed form (3-D: the
    decoder's products tell the forms apart by rank) and the embedding's transpose, which
    the logits multiply by, packed as ``"unembed"``."""

    def packed(w: jax.Array) -> jax.Array:
        return few_rows.pack(w) if few_rows.packable(w) else w

    layers = [
        {name: packed(w) if name in _MATRICES else w for name, w in lw.items()}
        for lw in weights["layers"]
    ]
    out = {**weights, "layers": layers}
    unembed = weights["embedding"].T
    if few_rows.packable(unembed):
        out["unembed"] = few_rows.pack(unembed)
    return out


def _product(x: jax.Array, w: jax.Array, threads: int) -> jax.Array:
    """``x @ w``, by ``few_rows`` on ``threads`` threads when ``w`` is packed (see
    ``packed_weights``)."""
    if w.ndim == 3:
        return few_rows.matmul(x, w, threads)
    return x @ w


def _rms_norm(x: jax.Array, scale: jax.Array) -> jax.Array:
    var = jnp.mean(jnp.square(x), axis=-1, keepdims=True)
    return x * jax.lax.rsqrt(var + 1e-06) * (1 + scale)


def _rope(x: jax.Array, positions: jax.Array, head_dim: int) -> jax.Array:
    """RoPE as Tunix's Gemma applies it; ``x`` is [B, T, heads, H], positions [B, T]."""
    fraction = 2 * jnp.arange(0, head_dim // 2) / head_dim
    timescale = 10_000**fraction
    angles = positions[..., None] / timescale[None, None, :]
    angles = angles[..., None, :]
    sin, cos = jnp.sin(angles), jnp.cos(angles)
    first, second = jnp.split(x, 2, axis=-1)
    return jnp.concatenate([first * cos - second * sin, second * cos + first * sin], axis=-1)


def _forward(
    shape: GemmaShape,
    weights: dict[str, Any],
    tokens: jax.Array,  # [B, T]
    positions: jax.Array,  # [B, T]
    caches: list[tuple[jax.Array, jax.Array]],  # per layer: k, v (see _cache_shape)
    start: jax.Array | int,  # cache slot of tokens[:, 0]
    mask: jax.Array,  # [B, T, S]: which of the S attended slots each token sees
    *,
    prefill: bool,
    threads: int,
) -> tuple[jax.Array, list[tuple[jax.Array, jax.Array]]]:
    """Logits of the last token [B, V] and the caches with this chunk written in.

    A prefill (the prompt, written at slot 0 of an empty cache) attends to its own keys
    only (S = T); a decode step attends to the whole cache (S = C)."""
    b, t = tokens.shape
    n, k, h = shape.num_heads, shape.num_kv_heads, shape.head_dim
    g = n // k
    embedding = weights["embedding"]
    x = embedding[tokens]
    x = x * jnp.sqrt(x.shape[-1]).astype(x.dtype)
    attended = mask.shape[-1]
    slots = jnp.arange(attended)
    new_caches = []
    for i, lw in enumerate(weights["layers"]):
        normed = _rms_norm(x, lw["pre_attn"])
        if shape.fused_qkv:
            qkv = _product(normed, lw["qkv"], threads).reshape(b, t, 3, n, h)
            q, key, value = qkv[:, :, 0], qkv[:, :, 1], qkv[:, :, 2]
        else:
            q = _product(normed, lw["q"], threads).reshape(b, t, n, h)
            kv = _product(normed, lw["kv"], threads).reshape(b, t, 2, k, h)
            key, value = kv[:, :, 0], kv[:, :, 1]
        q = _rope(q, positions, h) * h**-0.5
        key = _rope(key, positions, h)
        key = jnp.transpose(key, (0, 2, 1, 3))  # [B, K, T, H]
        value = jnp.transpose(value, (0, 2, 1, 3))
        k_cache, v_cache = caches[i]
        merged = k_cache.ndim == 3  # [B*K, C, H]: see _cache_shape
        if merged:
            key, value = key.reshape(b * k, t, h), value.reshape(b * k, t, h)
        at = (0, start, 0) if merged else (0, 0, start, 0)
        k_cache = jax.lax.dynamic_update_slice(k_cache, key, at)
        v_cache = jax.lax.dynamic_update_slice(v_cache, value, at)
        new_caches.append((k_cache, v_cache))
        if not prefill:
            key, value = k_cache, v_cache
        # [B, T, N, H] -> [B, K, T*G, H]: queries of one kv head side by side.
        grouped = jnp.transpose(q.reshape(b, t, k, g, h), (0, 2, 1, 3, 4)).reshape(b, k, t * g, h)
        if merged:
            grouped = grouped.reshape(b * k, t * g, h)
        logits = jnp.einsum("...qh,...sh->...qs", grouped, key).reshape(b, k, t, g, attended)
        if shape.attn_softcap is not None:
            logits = jnp.tanh(logits / shape.attn_softcap) * shape.attn_softcap
        layer_mask = mask
        if shape.local_layers[i]:
            window = shape.sliding_window
            assert window is not None
            near = (slots[None, None, :] >= positions[:, :, None] - window + 1) & (
                slots[None, None, :] <= positions[:, :, None] + window - 1
            )
            layer_mask = layer_mask & near
        logits = jnp.where(layer_mask[:, None, :, None, :], logits, _K_MASK)
        probs = jax.nn.softmax(logits, axis=-1).reshape(*grouped.shape[:-1], attended)
        encoded = jnp.einsum("...qs,...sh->...qh", probs, value).reshape(b, k, t, g, h)
        encoded = jnp.transpose(encoded, (0, 2, 1, 3, 4)).reshape(b, t, n * h)
        attn_out = _product(encoded, lw["out"], threads)
        if shape.post_attn_norm:
            attn_out = _rms_norm(attn_out, lw["post_attn"])
        x = x + attn_out
        normed = _rms_norm(x, lw["pre_ffw"])
        hidden = jax.nn.gelu(_product(normed, lw["gate"], threads))
        hidden = hidden * _product(normed, lw["up"], threads)
        mlp = _product(hidden, lw["down"], threads)
        if shape.post_ffw_norm:
            mlp = _rms_norm(mlp, lw["post_ffw"])
        x = x + mlp
    last = _rms_norm(x[:, -1], weights["final_norm"])
    out = _product(last, weights.get("unembed", embedding.T), threads)
    if shape.final_softcap is not None:
        out = jnp.tanh(out / shape.final_softcap) * shape.final_softcap
    return out, new_caches


def _cache_shape(batch: int, kv_heads: int, length: int, head_dim: int) -> tuple[int, ...]:
    """``[B, K, C, H]``; at batch 1 ``[K, C, H]``: with a unit batch dimension XLA:CPU
    keeps two versions of each cache (with and without it) and copies the cache several
    times every step (batch 1 ran 1.7× slower). Batch and heads merged the same way at
    larger batches made them slower, so they keep the 4-D layout."""
    if batch == 1:
        return (kv_heads, length, head_dim)
    return (batch, kv_heads, length, head_dim)


def _first_argmax(logits: jax.Array) -> jax.Array:
    """``jnp.argmax(logits, -1)`` (the first of equal maxima) as two plain reductions:
    XLA:CPU runs argmax's paired (value, index) reduction several times slower."""
    best = jnp.max(logits, axis=-1, keepdims=True)
    index = jnp.arange(logits.shape[-1], dtype=jnp.int32)
    return jnp.min(jnp.where(logits == best, index, logits.shape[-1]), axis=-1)


def _choose(
    logits: jax.Array, key: jax.Array, step: jax.Array, temperature: float, top_p: float | None
) -> jax.Array:
    """The next token of every row [B] (greedy when ``top_p`` is None)."""
    if top_p is None:
        return _first_argmax(logits)
    key = jax.random.fold_in(key, step)
    scaled = logits.astype(jnp.float32) / temperature
    if top_p >= 1.0:
        return jax.random.categorical(key, logits=scaled).astype(jnp.int32)
    sorted_logits, order = jax.lax.top_k(scaled, k=scaled.shape[-1])
    probs = jax.nn.softmax(sorted_logits, axis=-1)
    before = jnp.cumsum(probs, axis=-1) - probs
    sorted_logits = jnp.where(before > top_p, -jnp.inf, sorted_logits)
    index = jax.random.categorical(key, logits=sorted_logits)
    return jnp.take_along_axis(order, index[:, None], axis=-1)[:, 0].astype(jnp.int32)


@functools.partial(
    jax.jit,
    static_argnames=(
        "shape",
        "max_new_tokens",
        "eos_ids",
        "pad_id",
        "temperature",
        "top_p",
        "threads",
    ),
)
def _generate(
    weights: dict[str, Any],
    prompt: jax.Array,  # [B, P] left-padded with pad_id
    seed: jax.Array,
    *,
    shape: GemmaShape,
    max_new_tokens: int,
    eos_ids: tuple[int, ...],
    pad_id: int,
    temperature: float,
    top_p: float | None,
    threads: int = 1,
) -> tuple[jax.Array, jax.Array]:
    """Generated tokens [B, max_new_tokens] (pad_id past the last step) and steps run;
    ``threads``: the threads each product by packed weights may use."""
    b, p = prompt.shape
    key = jax.random.PRNGKey(seed)
    cache_len = p + max_new_tokens
    dtype = weights["embedding"].dtype
    cache_shape = _cache_shape(b, shape.num_kv_heads, cache_len, shape.head_dim)
    caches = [
        (jnp.zeros(cache_shape, dtype), jnp.zeros(cache_shape, dtype))
        for _ in range(shape.num_layers)
    ]
    real = prompt != pad_id
    counts = jnp.cumsum(real, axis=-1)
    positions = counts - (counts >= 1)
    # Slots a token may attend to: real (not pad) and not after it.
    causal = jnp.arange(p)[None, :] <= jnp.arange(p)[:, None]  # [P, P]
    seen = real[:, None, :] & causal[None]
    logits, caches = _forward(
        shape, weights, prompt, positions, caches, 0, seen, prefill=True, threads=threads
    )
    keep = jnp.zeros((b, cache_len), jnp.bool_).at[:, :p].set(real)
    eos = jnp.asarray(eos_ids, jnp.int32)
    first = _choose(logits, key, jnp.int32(p - 1), temperature, top_p)
    out = jnp.full((b, max_new_tokens), pad_id, jnp.int32).at[:, 0].set(first)
    done = jnp.isin(first, eos)
    next_position = counts[:, -1]  # real prompt tokens: the first new token's position

    def cond(state: tuple[Any, ...]) -> jax.Array:
        step, _, _, _, _, done = state
        going: jax.Array = (step < max_new_tokens) & jnp.any(~done)
        return going

    def body(state: tuple[Any, ...]) -> tuple[Any, ...]:
        step, token, caches, keep, out, done = state
        slot = p + step - 1  # cache slot of the token fed in
        keep = jax.lax.dynamic_update_slice(keep, (token != pad_id)[:, None], (0, slot))
        visible = keep & (jnp.arange(cache_len)[None, :] <= slot)
        logits, caches = _forward(
            shape,
            weights,
            token[:, None],
            (next_position + step - 1)[:, None],
            caches,
            slot,
            visible[:, None, :],
            prefill=False,
            threads=threads,
        )
        token = _choose(logits, key, slot, temperature, top_p)
        out = jax.lax.dynamic_update_slice(out, token[:, None], (0, step))
        return step + 1, token, caches, keep, out, done | jnp.isin(token, eos)

    state = (jnp.int32(1), first, caches, keep, out, done)
    steps, _, _, _, out, _ = jax.lax.while_loop(cond, body, state)
    return out, steps


def _cores() -> int:
    """The cores this process may run on."""
    if hasattr(os, "sched_getaffinity"):  # Linux
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def _memory_bytes() -> int:
    """The machine's physical memory."""
    return int(os.sysconf("SC_PHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))


_SIZE_UNITS = {"K": 1024, "M": 1024**2, "G": 1024**3}


@functools.cache
def _cache_bytes() -> int | None:
    """This machine's last-level CPU cache (read once: ``parts`` asks every batch)."""
    return _largest_cache(Path("/sys/devices/system/cpu/cpu0/cache"))


def _largest_cache(root: Path) -> int | None:
    """The largest cache listed under a sysfs ``cpu*/cache`` directory; None when unknown."""
    sizes = []
    for entry in root.glob("index*"):
        try:
            text = (entry / "size").read_text().strip()
        except OSError:
            continue
        scale = _SIZE_UNITS.get(text[-1:].upper())
        digits = text[:-1] if scale else text
        if digits.isdigit():
            sizes.append(int(digits) * (scale or 1))
    return max(sizes, default=None)


def cpu_devices() -> list[Any]:
    """This process's CPU devices when jax runs on the CPU (one per core when the child
    asked XLA for them, see ``training.__main__.cpu_replicas``); else none."""
    devices = jax.local_devices()
    return devices if all(d.platform == "cpu" for d in devices) else []


@functools.cache
def _split_program(devices: tuple[Any, ...], options: tuple[tuple[str, Any], ...]) -> Any:
    """``_generate`` as one program over ``devices``, each decoding its slice of the rows
    (the weights whole on each) and stopping on its own; kept for the process, so a
    second decoder of the same shape (another evaluation in a worker) reuses it."""
    from jax.experimental.shard_map import shard_map
    from jax.sharding import Mesh, PartitionSpec

    mesh = Mesh(np.array(devices), ("rows",))
    whole = PartitionSpec()  # type: ignore[no-untyped-call]
    sliced = PartitionSpec("rows")  # type: ignore[no-untyped-call]

    def local(weights: Any, prompt: jax.Array, seed: jax.Array) -> Any:
        out, steps = _generate(weights, prompt, seed, **dict(options))
        return out, steps[None]

    program = jax.jit(
        shard_map(  # type: ignore[no-untyped-call]
            local,
            mesh=mesh,
            in_specs=(whole, sliced, whole),
            out_specs=(sliced, sliced),
            check_rep=False,  # each device's loop stops on its own rows
        )
    )
    return program, mesh


class GemmaDecoder:
    """Greedy or top-p generation for a plain Tunix Gemma (see ``supports``).

    Greedy batches are split across ``devices`` (default: the CPU devices, when there
    are several): one program whose every device decodes its own slice of the rows,
    all at once. A decode step of a few rows is a chain of small operations that one
    core runs, so a batch on one device leaves the other cores idle, while the rows of a
    batch never depend on each other. Each device holds a copy of the weights, so a model
    whose copies would not fit in half the memory is not split, nor one whose weights do
    not fit in the CPU's last-level cache: those are read from memory at every step, and a
    copy per device doubles that traffic on the one memory bus (8 layers × 512, 134 MB of
    weights, batch 16: 19 ms a step on one device, 23 ms split in two; docs/performance.md).
    Sampled batches stay on one device, so a seed draws the same tokens whatever the
    machine's core count.

    Where ``few_rows`` can run (x86-64 with AVX2 and FMA, a C++ compiler) and ``packed``
    is not turned off here, the weight matrices are packed for it once and every product
    runs in it, on ``cores // parts`` threads: one per device when a batch is split over
    two cores, both at batch 1 (docs/performance.md)."""

    def __init__(self, model: Any, devices: list[Any] | None = None, packed: bool = True) -> None:
        self.shape = gemma_shape(model)
        self.weights = gemma_weights(model, self.shape)
        if packed and few_rows.available():
            self.weights = packed_weights(self.weights)
        self.devices = cpu_devices() if devices is None else devices
        self._weight_bytes = sum(x.nbytes for x in jax.tree.leaves(self.weights))
        self._replicated: dict[int, Any] = {}  # parts -> weights on each of them

    def parts(self, rows: int, greedy: bool) -> int:
        """How many devices a batch of ``rows`` is split across (equal parts only; none
        when the copies of the weights would take more than half the machine's memory or
        the weights do not fit in the last-level cache)."""
        if not greedy or len(self.devices) < 2:
            return 1
        cache = _cache_bytes()
        if cache is not None and self._weight_bytes > cache:
            return 1
        fits = [
            n
            for n in range(1, len(self.devices) + 1)
            if rows % n == 0 and (n + 1) * self._weight_bytes <= _memory_bytes() // 2
        ]
        return max(fits, default=1)

    def _split(self, parts: int, options: dict[str, Any]) -> tuple[Any, Any, Any]:
        """The program decoding ``parts`` slices at once, the weights on every one of its
        devices, and the sharding that slices a prompt."""
        from jax.sharding import NamedSharding, PartitionSpec

        devices = tuple(self.devices[:parts])
        program, mesh = _split_program(devices, tuple(sorted(options.items())))
        if parts not in self._replicated:
            whole = PartitionSpec()  # type: ignore[no-untyped-call]
            self._replicated[parts] = jax.device_put(self.weights, NamedSharding(mesh, whole))
        sliced = PartitionSpec("rows")  # type: ignore[no-untyped-call]
        return program, self._replicated[parts], NamedSharding(mesh, sliced)

    def __call__(
        self,
        prompt: np.ndarray,
        *,
        max_new_tokens: int,
        eos_ids: tuple[int, ...],
        pad_id: int,
        temperature: float = 0.0,
        top_p: float | None = None,
        seed: int = 0,
    ) -> tuple[np.ndarray, int]:
        """``prompt``: [B, P] token ids, left-padded with ``pad_id``. Returns the new
        tokens [B, max_new_tokens] (rows run on past their end; cut at the first EOS)
        and the number of tokens generated per row before every row had ended."""
        options = {
            "shape": self.shape,
            "max_new_tokens": max_new_tokens,
            "eos_ids": tuple(int(e) for e in eos_ids),
            "pad_id": int(pad_id),
            "temperature": float(temperature),
            "top_p": None if top_p is None else float(top_p),
        }
        rows = np.asarray(prompt, np.int32)
        parts = self.parts(len(rows), greedy=top_p is None)
        # Each device's products take a share of the cores (one each when split in two
        # on two cores; both at batch 1).
        options["threads"] = max(1, _cores() // parts)
        if parts == 1:
            out, steps = _generate(self.weights, jnp.asarray(rows), np.int32(seed), **options)
            return np.asarray(out), int(steps)
        program, weights, sliced = self._split(parts, options)
        out, steps = program(weights, jax.device_put(rows, sliced), np.int32(seed))
        return np.asarray(out), int(np.max(steps))
