"""Supervised fine-tuning with ``tunix.sft.PeftTrainer`` (imports jax: child process only)."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import flax
import jax
import jax.numpy as jnp
import numpy as np
import optax
import orbax.checkpoint as ocp
from flax import nnx
from tunix.sft import hooks as sft_hooks
from tunix.sft import peft_trainer
from tunix.sft import utils as sft_utils

from tunix_rt.training import model as model_lib
from tunix_rt.training.data import Encoded, batch_indices, packed_batches, trimmed_length
from tunix_rt.training.prepare import CHECKPOINTS_DIR, MAX_EVAL_BATCHES, Prepared, row_length
from tunix_rt.training.protocol import MetricsFile, elapsed, emit, say


@flax.struct.dataclass(frozen=True)
class PackedInput:
    """A batch of packed rows (``data.PackedBatch`` as the trainer's input pytree)."""

    input_tokens: jax.Array | np.ndarray
    input_mask: jax.Array | np.ndarray
    segment_ids: jax.Array | np.ndarray


def gen_model_input(batch: Any) -> dict[str, Any]:
    """Positions and the causal attention mask come from the padding (token != 0), the
    loss mask (completion + EOS) travels as ``input_mask``. A packed batch
    (``PackedInput``) attends only within each example and restarts positions at 0."""
    segments = getattr(batch, "segment_ids", None)
    if segments is None:
        padding = batch.input_tokens != 0
        positions = sft_utils.build_positions_from_mask(padding)
        attention_mask = sft_utils.make_causal_attn_mask(padding)
    else:
        positions, attention_mask = packed_positions_and_mask(jnp.asarray(segments))
    return {
        "input_tokens": batch.input_tokens,
        "input_mask": batch.input_mask,
        "positions": positions,
        "attention_mask": attention_mask,
    }


def packed_positions_and_mask(segments: jax.Array) -> tuple[jax.Array, jax.Array]:
    """Per-segment positions (0 at each example's first token) and a block-diagonal
    causal mask ``[B, W, W]``: a token sees the earlier tokens of its own example only."""
    width = segments.shape[1]
    index = jnp.arange(width, dtype=jnp.int32)[None, :]
    previous = jnp.pad(segments[:, :-1], ((0, 0), (1, 0)), constant_values=-1)
    starts = jax.lax.cummax(jnp.where(segments != previous, index, 0), axis=1)
    positions = jnp.where(segments > 0, index - starts, 0)
    same = segments[:, :, None] == segments[:, None, :]
    causal = jnp.tril(jnp.ones((width, width), dtype=jnp.bool_))[None]
    return positions, same & causal & (segments[:, None, :] > 0)


def batches(
    data: Encoded,
    batch_size: int,
    seed: int,
    steps: int,
    group_by_length: bool = False,
    packed_row_len: int | None = None,
) -> Iterator[Any]:
    """Every batch is padded only to its own longest example (rounded up to 32 tokens, so
    few shapes compile); ``group_by_length`` also forms batches of similar lengths.
    ``packed_row_len`` lays several whole examples end to end in rows of that length."""
    if packed_row_len:
        for packed in packed_batches(data, batch_size, seed, steps, packed_row_len):
            yield PackedInput(
                input_tokens=packed.tokens,
                input_mask=packed.loss_mask,
                segment_ids=packed.segment_ids,
            )
        return
    lengths = data.lengths if group_by_length else None
    for index in batch_indices(len(data.tokens), batch_size, seed, steps, lengths):
        width = trimmed_length(data.lengths[index], data.seq_len)
        yield peft_trainer.TrainingInput(
            input_tokens=data.tokens[index, :width], input_mask=data.loss_mask[index, :width]
        )


def eval_batches(data: Encoded, batch_size: int) -> list[Any]:
    n = len(data.tokens)
    order = np.arange(n) if n >= batch_size else np.resize(np.arange(n), batch_size)
    count = min(MAX_EVAL_BATCHES, max(1, len(order) // batch_size))
    return [
        peft_trainer.TrainingInput(
            input_tokens=data.tokens[order[b * batch_size : (b + 1) * batch_size]],
            input_mask=data.loss_mask[order[b * batch_size : (b + 1) * batch_size]],
        )
        for b in range(count)
    ]


def warmup_cosine(learning_rate: float, total_steps: int, warmup_steps: int) -> optax.Schedule:
    """Linear warm-up from 0, then cosine decay to a tenth (SFT and GRPO alike)."""
    return optax.warmup_cosine_decay_schedule(
        init_value=0.0,
        peak_value=learning_rate,
        warmup_steps=warmup_steps,
        decay_steps=max(total_steps, 1, warmup_steps + 1),
        end_value=learning_rate * 0.1,
    )


def schedule(prep: Prepared) -> optax.Schedule:
    return warmup_cosine(prep.cfg.learning_rate, prep.total_steps, prep.warmup_steps)


def optimizer(prep: Prepared) -> optax.GradientTransformation:
    def make(learning_rate: Any) -> optax.GradientTransformation:
        return optax.chain(
            optax.clip_by_global_norm(1.0),
            optax.adamw(learning_rate, weight_decay=prep.cfg.weight_decay),
        )

    return optax.inject_hyperparams(make)(learning_rate=schedule(prep))


class _Reporter(sft_hooks.TrainingHooks):  # type: ignore[misc]
    """Per-step metrics → ``@tunix_rt`` lines, metrics.jsonl and human progress lines."""

    def __init__(self, prep: Prepared, start_step: int, tokens_per_step: float) -> None:
        self.prep = prep
        self.total = prep.total_steps
        # The learning rate of every step, computed once (a per-step schedule call would
        # be an eager jax dispatch inside the training loop).
        self.lrs = np.asarray(jax.jit(jax.vmap(schedule(prep)))(jnp.arange(max(1, self.total))))
        self.file = MetricsFile(prep.out / "metrics.jsonl")
        self.log_every = max(1, self.total // 200)
        self.human_every = max(1, self.total // 20)
        self.tokens_per_step = tokens_per_step
        self.start_step = start_step
        self.t_first: float | None = None
        self.step_first = start_step
        self.eval_losses: dict[int, float] = {}
        self.eval_batches = 0
        self.last_loss: float | None = None
        self.first_loss: float | None = None
        self.last_step = start_step
        self.evaluated_steps: set[int] = set()

    def on_train_start(self, train_ctx: Any) -> None:
        pass

    def on_train_end(self, train_ctx: Any) -> None:
        self.file.close()

    def on_train_step_start(self, train_ctx: Any) -> None:
        pass

    def on_eval_step_start(self, train_ctx: Any) -> None:
        pass

    def on_eval_step_end(self, train_ctx: Any, eval_loss: float) -> None:
        step = int(train_ctx.train_steps)
        value = float(np.asarray(eval_loss)) / max(1, self.eval_batches)
        self.eval_losses[step] = value
        self.evaluated_steps.add(step)
        if step == self.start_step:
            say(f"eval loss at step {step}: {value:.4f}")

    def on_train_step_end(self, train_ctx: Any, train_step: int, train_loss: float) -> None:
        step = int(train_step)
        loss = float(np.asarray(train_loss))
        now = time.monotonic()
        if self.t_first is None:
            self.t_first, self.step_first = now, step
        if self.first_loss is None:
            self.first_loss = loss
        self.last_loss, self.last_step = loss, step
        eval_loss = self.eval_losses.pop(step, None)
        if not (
            step % self.log_every == 0
            or step == self.start_step + 1
            or step == self.total
            or eval_loss is not None
        ):
            return
        done = step - self.step_first
        rate = done / (now - self.t_first) if done and now > self.t_first else None
        payload = emit(
            "metric",
            step=step,
            loss=round(loss, 6),
            eval_loss=None if eval_loss is None else round(eval_loss, 6),
            learning_rate=float(self.lrs[min(max(step - 1, 0), len(self.lrs) - 1)]),
            tokens_per_second=None if rate is None else round(rate * self.tokens_per_step, 1),
            steps_per_second=None if rate is None else round(rate, 3),
            elapsed_seconds=round(elapsed(), 4),
            total_steps=self.total,
        )
        self.file.write(payload)
        if step % self.human_every == 0 or step == self.total or eval_loss is not None:
            extra = "" if eval_loss is None else f" eval_loss {eval_loss:.4f}"
            speed = "" if rate is None else f" ({rate:.1f} steps/s)"
            say(f"step {step}/{self.total} loss {loss:.4f}{extra}{speed}")


def run_train(prep: Prepared) -> dict[str, Any]:
    cfg = prep.cfg
    ckpt_dir = (prep.out / CHECKPOINTS_DIR).resolve()
    t0 = time.monotonic()
    if prep.resolved.kind == "preset":
        model = model_lib.build_from_scratch(prep.arch, cfg.seed)
    else:
        say(f"loading checkpoint {prep.resolved.path}")
        model = model_lib.load_hf_checkpoint(prep.resolved)
    alpha = float(cfg.lora_alpha or 2 * cfg.lora_rank)
    if cfg.lora_rank > 0:
        model = model_lib.apply_lora(model, cfg.lora_rank, alpha, cfg.seed)
    n_params = model_lib.param_count(model)
    n_trainable = model_lib.param_count(model, nnx.LoRAParam) if cfg.lora_rank > 0 else n_params
    method = f"LoRA rank {cfg.lora_rank}" if cfg.lora_rank else "full fine-tune"
    say(
        f"model ready in {time.monotonic() - t0:.1f}s: {n_params:,} parameters, "
        f"{n_trainable:,} trainable ({method})"
    )
    save_every = cfg.checkpoint_every or max(prep.total_steps, 1)
    training_config = peft_trainer.TrainingConfig(
        eval_every_n_steps=prep.eval_every or 10**9,
        max_steps=prep.total_steps,
        checkpoint_root_directory=str(ckpt_dir),
        checkpointing_options=ocp.CheckpointManagerOptions(
            save_interval_steps=save_every, max_to_keep=3
        ),
        pbar_description=None,
        data_sharding_axis=(DATA_AXIS,),
    )
    trainer = peft_trainer.PeftTrainer(model, optimizer(prep), training_config)
    trainer = trainer.with_gen_model_input_fn(gen_model_input)
    start_step = int(trainer.train_steps)
    if start_step:
        say(f"resumed from checkpoint at step {start_step}")
    tokens_per_step = prep.train.real_tokens / max(1, len(prep.train.tokens)) * cfg.batch_size
    if cfg.packing:  # a row holds several examples: the epoch's tokens over its steps
        tokens_per_step = prep.train.real_tokens / prep.steps_per_epoch
    reporter = _Reporter(prep, start_step, tokens_per_step)
    trainer.with_training_hooks(reporter)
    eval_data = eval_batches(prep.eval, cfg.batch_size) if prep.eval is not None else None
    reporter.eval_batches = len(eval_data) if eval_data else 0
    say(
        f"training {prep.total_steps} steps (batch {cfg.batch_size} × {row_length(prep)} "
        f"tokens{', packed' if cfg.packing else ''}, lr {cfg.learning_rate:g}, "
        f"warm-up {prep.warmup_steps}) on {prep.n_train} "
        f"examples; checkpoints every {save_every} steps"
    )
    t_train = time.monotonic()
    mesh = data_parallel_mesh([model, trainer.optimizer], cfg.batch_size)
    if start_step < prep.total_steps:
        with mesh:
            trainer.train(
                batches(
                    prep.train,
                    cfg.batch_size,
                    cfg.seed,
                    prep.total_steps,
                    cfg.group_by_length,
                    cfg.max_seq_length if cfg.packing else None,
                ),
                eval_data,
            )
    else:
        say(f"already trained {start_step} of {prep.total_steps} steps; nothing to do")
        trainer.close()
    train_seconds = time.monotonic() - t_train
    final_step = int(trainer.train_steps)
    final_eval = None
    if eval_data is not None:
        final_eval = evaluate_loss(model, eval_data)
        say(f"final eval loss {final_eval:.4f}")
    model_lib.save_final(
        model,
        prep.out,
        {
            "arch": prep.arch,
            "model_id": cfg.model_id,
            "lora_rank": cfg.lora_rank,
            "lora_alpha": alpha,
            "final_step": final_step,
            "tokenizer": "tokenizer",
        },
    )
    steps_run = final_step - start_step
    return {
        "final_step": final_step,
        "start_step": start_step,
        "total_steps": prep.total_steps,
        "first_loss": reporter.first_loss,
        "final_loss": reporter.last_loss,
        "final_eval_loss": final_eval,
        "train_seconds": round(train_seconds, 3),
        "steps_per_second": round(steps_run / train_seconds, 3) if steps_run else None,
        "param_count": n_params,
        "trainable_params": n_trainable,
        "elapsed_seconds": round(elapsed(), 3),
    }


DATA_AXIS = "data"


def data_parallel_mesh(modules: list[Any], batch_size: int) -> Any:
    """A mesh over the local devices for the trainer, which shards each batch along its
    ``data`` axis; the model's own sharding axes (``fsdp``, ``tp``) have size 1, so its
    parameters and optimizer state are replicated. A no-op context with one device."""
    devices = jax.devices()
    if len(devices) < 2 or batch_size % len(devices):
        return contextlib.nullcontext()
    mesh = jax.sharding.Mesh(
        np.asarray(devices).reshape(len(devices), 1, 1), (DATA_AXIS, "fsdp", "tp")
    )
    spec = jax.sharding.PartitionSpec()  # type: ignore[no-untyped-call]
    replicated = jax.sharding.NamedSharding(mesh, spec)
    for module in modules:  # the model and its optimizer (restored on one device)
        nnx.update(module, jax.device_put(nnx.state(module), replicated))
    say(f"data parallel over {len(devices)} {devices[0].platform} devices")
    return mesh


def evaluate_loss(model: nnx.Module, data: list[Any]) -> float:
    @nnx.jit
    def loss_of(m: nnx.Module, tokens: jax.Array, mask: jax.Array) -> jax.Array:
        inputs = gen_model_input(peft_trainer.TrainingInput(input_tokens=tokens, input_mask=mask))
        loss: jax.Array = peft_trainer._default_loss_fn(m, **inputs)
        return loss

    losses = [
        float(loss_of(model, jnp.asarray(b.input_tokens), jnp.asarray(b.input_mask))) for b in data
    ]
    return float(np.mean(losses))


def checkpoint_steps(out: Path) -> list[int]:
    root = out / CHECKPOINTS_DIR
    if not root.is_dir():
        return []
    return sorted(int(p.name) for p in root.iterdir() if p.is_dir() and p.name.isdigit())
