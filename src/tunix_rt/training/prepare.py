"""Everything a train or dry run decides before touching jax (jax-free): model resolution,
the run's tokenizer, encoded data, step counts and the resolved config."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tunix_rt.training.config import ConfigError, TrainConfig
from tunix_rt.training.data import (
    Encoded,
    encode_examples,
    packed_steps_per_epoch,
    read_examples,
    steps_per_epoch,
    training_texts,
)
from tunix_rt.training.params import algorithm_problem
from tunix_rt.training.presets import PRESETS, memory_estimate_bytes, param_count
from tunix_rt.training.protocol import say
from tunix_rt.training.resolve import ModelNotFound, ResolvedModel, resolve_model
from tunix_rt.training.tokenizer import (
    DEFAULT_VOCAB_SIZE,
    END_OF_TURN,
    MODEL_FILE,
    TokenizerError,
    copy_checkpoint_tokenizer,
    fit_tokenizer,
    load_any_tokenizer,
    tokenizer_info,
)

TOKENIZER_DIR = "tokenizer"
RESOLVED_CONFIG = "resolved_config.json"
CHECKPOINTS_DIR = "checkpoints"
MAX_EVAL_BATCHES = 32


@dataclass
class Prepared:
    cfg: TrainConfig
    out: Path
    resolved: ResolvedModel
    tokenizer: Any
    tokenizer_info: dict[str, Any]
    arch: dict[str, Any]
    train: Encoded
    eval: Encoded | None
    n_train: int
    n_eval: int
    total_steps: int
    steps_per_epoch: int
    warmup_steps: int
    eval_every: int | None

    def resolved_config(self) -> dict[str, Any]:
        return {
            "config": self.cfg.to_dict(),
            "model": self.resolved.to_dict(),
            "arch": self.arch,
            "tokenizer": self.tokenizer_info,
            "seq_len": self.train.seq_len,
            "n_train": self.n_train,
            "n_eval": self.n_eval,
            "total_steps": self.total_steps,
            "steps_per_epoch": self.steps_per_epoch,
            "warmup_steps": self.warmup_steps,
            "eval_every": self.eval_every,
            "param_count": param_count(self.arch),
        }


def _tokenizer(cfg: TrainConfig, resolved: ResolvedModel, out: Path, texts: list[str]) -> Any:
    tok_dir = out / TOKENIZER_DIR
    try:
        if resolved.kind == "preset":
            if not (tok_dir / MODEL_FILE).is_file():
                vocab = PRESETS[resolved.model_id].default_vocab_size
                fit_tokenizer(texts, tok_dir, vocab_size=vocab or DEFAULT_VOCAB_SIZE)
        elif not tok_dir.is_dir():
            assert resolved.path is not None
            copy_checkpoint_tokenizer(Path(resolved.path), tok_dir)
        return load_any_tokenizer(tok_dir)
    except TokenizerError as exc:
        raise ConfigError(str(exc)) from None


def prepare(cfg: TrainConfig) -> Prepared:
    problem = algorithm_problem(cfg)
    if problem is not None:
        raise ConfigError(f"{problem[0]}: {problem[1]}")
    out = Path(cfg.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    try:
        resolved = resolve_model(cfg.model_id, cfg.model_dirs)
    except ModelNotFound as exc:
        raise ConfigError(str(exc)) from None
    say(f"model: {resolved.model_id} ({resolved.kind}, {resolved.family}) {resolved.description}")
    train_examples = read_examples(cfg.train_file)
    eval_examples = read_examples(cfg.eval_file) if cfg.eval_file else []
    texts = list(training_texts(train_examples))
    sp = _tokenizer(cfg, resolved, out, texts)
    info = tokenizer_info(sp)
    if resolved.kind == "preset":
        arch = PRESETS[resolved.model_id].arch(vocab_size=info["vocab_size"])
    else:
        arch = dict(resolved.arch)
        if info["vocab_size"] > arch["vocab_size"]:
            raise ConfigError(
                f"the checkpoint's tokenizer has {info['vocab_size']} tokens but its "
                f"embedding only {arch['vocab_size']}"
            )
    if info["end_of_turn_id"] < 0 or info["end_of_turn_id"] == info["unk_id"]:
        say(f"note: {END_OF_TURN} is not one token for this tokenizer; generation stops at EOS")
    train = encode_examples(train_examples, sp, cfg.max_seq_length)
    evaluation = None
    if eval_examples:
        evaluation = encode_examples(eval_examples, sp, cfg.max_seq_length)
    per_epoch = (
        packed_steps_per_epoch(train, cfg.batch_size, cfg.seed, cfg.max_seq_length)
        if cfg.packing
        else steps_per_epoch(len(train_examples), cfg.batch_size)
    )
    total = cfg.max_steps if cfg.max_steps is not None else cfg.num_epochs * per_epoch
    warmup = cfg.warmup_steps if cfg.warmup_steps is not None else min(max(1, total // 20), 200)
    warmup = min(warmup, max(0, total - 1))
    eval_every = None
    if evaluation is not None:
        eval_every = cfg.eval_every or max(1, min(500, total // 5))
    return Prepared(
        cfg=cfg,
        out=out,
        resolved=resolved,
        tokenizer=sp,
        tokenizer_info=info,
        arch=arch,
        train=train,
        eval=evaluation,
        n_train=len(train_examples),
        n_eval=len(eval_examples),
        total_steps=total,
        steps_per_epoch=per_epoch,
        warmup_steps=warmup,
        eval_every=eval_every,
    )


def write_resolved_config(prep: Prepared) -> None:
    (prep.out / RESOLVED_CONFIG).write_text(
        json.dumps(prep.resolved_config(), indent=2, sort_keys=True), encoding="utf-8"
    )


def row_length(prep: Prepared) -> int:
    """The widest training row: packed rows fill ``max_seq_length``, unpacked ones are
    at most the longest (encoded) example."""
    return prep.cfg.max_seq_length if prep.cfg.packing else prep.train.seq_len


def dry_run_report(prep: Prepared) -> dict[str, Any]:
    """What a dry run reports (the ``dry_run`` event): no jax, no training."""
    lengths = prep.train.lengths
    cfg = prep.cfg
    report: dict[str, Any] = {
        "run_id": cfg.run_id,
        "model_id": cfg.model_id,
        "model_kind": prep.resolved.kind,
        "family": prep.arch["family"],
        "arch": prep.arch,
        "param_count": param_count(prep.arch),
        "memory_estimate_bytes": memory_estimate_bytes(
            prep.arch, cfg.batch_size, row_length(prep), cfg.lora_rank
        ),
        "tokenizer": prep.tokenizer_info,
        "train_examples": prep.n_train,
        "eval_examples": prep.n_eval,
        "max_seq_length": cfg.max_seq_length,
        "seq_len": prep.train.seq_len,
        "token_lengths": {
            "min": int(lengths.min()),
            "mean": round(float(lengths.mean()), 2),
            "max": int(lengths.max()),
        },
        "truncated_examples": prep.train.truncated
        + (prep.eval.truncated if prep.eval is not None else 0),
        "train_tokens": int(lengths.sum()),
        "total_steps": prep.total_steps,
        "steps_per_epoch": prep.steps_per_epoch,
        "warmup_steps": prep.warmup_steps,
        "eval_every": prep.eval_every,
        "lora_rank": cfg.lora_rank,
        "packing": cfg.packing,
    }
    return report


def dry_run_summary(report: dict[str, Any]) -> str:
    return (
        f"dry run ok: {report['train_examples']} train / {report['eval_examples']} eval "
        f"examples, {report['truncated_examples']} truncated at {report['max_seq_length']} "
        f"tokens, {report['param_count']:,} parameters, "
        f"~{report['memory_estimate_bytes'] / 2**20:.0f} MiB, {report['total_steps']} steps"
    )


def train(prep: Prepared) -> dict[str, Any]:
    from tunix_rt.training.train import run_train  # jax: imported only to train

    return run_train(prep)


def done_summary(summary: dict[str, Any], prep: Prepared) -> str:
    return (
        f"done: step {summary['final_step']}, loss {summary['first_loss']} -> "
        f"{summary['final_loss']}, model saved to {prep.out / 'model'}"
    )
