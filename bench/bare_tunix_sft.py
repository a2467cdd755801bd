"""A bare Tunix SFT script: the reference side of ``bench/training_overhead.py``.

    python bench/bare_tunix_sft.py RUN_DIR OUT_DIR

It imports nothing from Tunix RT. It reads the training recipe that a Tunix RT run
recorded in ``RUN_DIR/resolved_config.json`` (architecture, data files, hyperparameters)
and that run's SentencePiece model, then does by hand what any Tunix user would write:
tokenize with a completion-only loss mask, build a Gemma model from its config (with the
all-zero MLP matrices re-initialised, or nothing learns), AdamW with warm-up + cosine
decay, ``PeftTrainer`` with Orbax checkpoints, save the final parameters. Per-step loss
and time go to ``OUT_DIR/steps.json`` (the trainer syncs on the loss every step anyway).

The recipe is the same computation as Tunix RT's child, so the two runs' losses must
match; the benchmark checks that before it compares times.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from pathlib import Path
from typing import Any

T_START = time.monotonic()
os.environ.setdefault("JAX_PLATFORMS", "cpu")
# bench/queue.py is named like the stdlib module: keep this folder off the import path.
sys.path[:] = [p for p in sys.path if Path(p or ".").resolve() != Path(__file__).resolve().parent]

import jax  # noqa: E402
import jax.numpy as jnp  # noqa: E402
import numpy as np  # noqa: E402
import optax  # noqa: E402
import orbax.checkpoint as ocp  # noqa: E402
import sentencepiece as spm  # noqa: E402
from flax import nnx  # noqa: E402
from tunix.models.gemma import model as gemma  # noqa: E402
from tunix.sft import hooks, peft_trainer  # noqa: E402
from tunix.sft import utils as sft_utils  # noqa: E402


def read_pairs(path: str) -> list[tuple[str, str]]:
    with open(path, encoding="utf-8") as handle:
        rows = [json.loads(line) for line in handle if line.strip()]
    return [(row["prompt"], row["completion"]) for row in rows]


def encode(pairs: list[tuple[str, str]], sp: Any, max_len: int) -> tuple[np.ndarray, np.ndarray]:
    ids_and_starts = []
    for prompt, completion in pairs:
        head = [sp.bos_id(), *sp.encode(prompt)]
        ids_and_starts.append(([*head, *sp.encode(completion), sp.eos_id()], len(head)))
    longest = min(max(len(ids) for ids, _ in ids_and_starts), max_len)
    width = min(max_len, (longest + 7) // 8 * 8)
    tokens = np.zeros((len(pairs), width), np.int32)
    mask = np.zeros((len(pairs), width), np.int32)
    for row, (ids, start) in enumerate(ids_and_starts):
        ids = ids[:width]
        tokens[row, : len(ids)] = ids
        mask[row, start : len(ids)] = 1
    return tokens, mask


def batch_stream(tokens: np.ndarray, mask: np.ndarray, size: int, seed: int, steps: int) -> Any:
    n = len(tokens)
    per_epoch = max(1, n // size)
    done, epoch = 0, 0
    while done < steps:
        order = np.random.default_rng([seed & 0xFFFFFFFF, epoch]).permutation(n)
        if n < size:
            order = np.resize(order, size)
        for b in range(per_epoch):
            if done == steps:
                return
            pick = order[b * size : (b + 1) * size]
            yield peft_trainer.TrainingInput(input_tokens=tokens[pick], input_mask=mask[pick])
            done += 1
        epoch += 1


def model_inputs(batch: Any) -> dict[str, Any]:
    real = batch.input_tokens != 0
    return {
        "input_tokens": batch.input_tokens,
        "input_mask": batch.input_mask,
        "positions": sft_utils.build_positions_from_mask(real),
        "attention_mask": sft_utils.make_causal_attn_mask(real),
    }


def gemma_from_scratch(arch: dict[str, Any], seed: int) -> nnx.Module:
    layers = arch["num_layers"]
    config = gemma.ModelConfig(
        num_layers=layers,
        num_embed=arch["vocab_size"],
        embed_dim=arch["embed_dim"],
        hidden_dim=arch["hidden_dim"],
        num_heads=arch["num_heads"],
        head_dim=arch["head_dim"],
        num_kv_heads=arch["num_kv_heads"],
        final_logit_softcap=None,
        use_post_attn_norm=False,
        use_post_ffw_norm=False,
        attention_types=(gemma.AttentionType.GLOBAL,) * layers,
    )
    model = gemma.Gemma(config, rngs=nnx.Rngs(params=seed))
    # Tunix leaves the MLP matrices at zero (they expect pretrained weights).
    flat = nnx.to_flat_state(nnx.state(model, nnx.Param))
    key = jax.random.key(seed ^ 0x5EED)
    for _, variable in flat:
        value = variable.get_value()
        if value.ndim >= 2 and not bool(jnp.any(value)):
            key, sub = jax.random.split(key)
            fan_in = int(np.prod(value.shape[:-1]))
            variable.set_value(jax.random.normal(sub, value.shape, value.dtype) / np.sqrt(fan_in))
    nnx.update(model, nnx.from_flat_state(flat))
    return model


class StepLog(hooks.TrainingHooks):  # type: ignore[misc]
    def __init__(self) -> None:
        self.rows: list[dict[str, float]] = []

    def on_train_start(self, train_ctx: Any) -> None:
        pass

    def on_train_end(self, train_ctx: Any) -> None:
        pass

    def on_train_step_start(self, train_ctx: Any) -> None:
        pass

    def on_eval_step_start(self, train_ctx: Any) -> None:
        pass

    def on_eval_step_end(self, train_ctx: Any, eval_loss: Any) -> None:
        pass

    def on_train_step_end(self, train_ctx: Any, train_step: int, train_loss: Any) -> None:
        self.rows.append(
            {
                "step": int(train_step),
                "loss": float(np.asarray(train_loss)),
                "elapsed_seconds": time.monotonic() - T_START,
            }
        )


def main(run_dir: Path, out: Path) -> None:
    recipe = json.loads((run_dir / "resolved_config.json").read_text())
    cfg, arch, steps = recipe["config"], recipe["arch"], recipe["total_steps"]
    out.mkdir(parents=True, exist_ok=True)
    shutil.copy(run_dir / "tokenizer" / "tokenizer.model", out / "tokenizer.model")
    sp = spm.SentencePieceProcessor(model_file=str(out / "tokenizer.model"))
    tokens, mask = encode(read_pairs(cfg["train_file"]), sp, cfg["max_seq_length"])
    eval_batches = None
    if cfg.get("eval_file") and recipe.get("eval_every"):
        e_tokens, e_mask = encode(read_pairs(cfg["eval_file"]), sp, cfg["max_seq_length"])
        size = cfg["batch_size"]
        count = max(1, min(32, len(e_tokens) // size))
        eval_batches = [
            peft_trainer.TrainingInput(
                input_tokens=e_tokens[b * size : (b + 1) * size],
                input_mask=e_mask[b * size : (b + 1) * size],
            )
            for b in range(count)
        ]

    model = gemma_from_scratch(arch, cfg["seed"])
    lr = cfg["learning_rate"]
    warmup = recipe["warmup_steps"]
    schedule = optax.warmup_cosine_decay_schedule(
        init_value=0.0,
        peak_value=lr,
        warmup_steps=warmup,
        decay_steps=max(steps, warmup + 1),
        end_value=lr * 0.1,
    )
    tx = optax.inject_hyperparams(
        lambda learning_rate: optax.chain(
            optax.clip_by_global_norm(1.0),
            optax.adamw(learning_rate, weight_decay=cfg["weight_decay"]),
        )
    )(learning_rate=schedule)
    trainer = peft_trainer.PeftTrainer(
        model,
        tx,
        peft_trainer.TrainingConfig(
            eval_every_n_steps=recipe.get("eval_every") or 10**9,
            max_steps=steps,
            checkpoint_root_directory=str((out / "checkpoints").resolve()),
            checkpointing_options=ocp.CheckpointManagerOptions(
                save_interval_steps=cfg.get("checkpoint_every") or steps, max_to_keep=3
            ),
            pbar_description=None,
        ),
    ).with_gen_model_input_fn(model_inputs)
    log = StepLog()
    trainer.with_training_hooks(log)
    trainer.train(batch_stream(tokens, mask, cfg["batch_size"], cfg["seed"], steps), eval_batches)
    saver = ocp.StandardCheckpointer()
    saver.save((out / "model").resolve(), nnx.state(model))
    saver.wait_until_finished()
    (out / "steps.json").write_text(json.dumps(log.rows))
    print(f"bare: {steps} steps, loss {log.rows[0]['loss']:.4f} -> {log.rows[-1]['loss']:.4f}")


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2]))
