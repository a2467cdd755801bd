"""What a GRPO run decides before touching jax (jax-free): the model it starts from, that
model's tokenizer, the prompts and expected answers, lengths, steps, the resolved config.

A GRPO run's directory ends up in the SFT layout (``tokenizer/``, ``model/``,
``checkpoints/``, ``metrics.jsonl``, ``resolved_config.json``), so evaluation, artifacts
and a further GRPO run treat it like any trained run.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tunix_rt.training.config import FINAL_MODEL_FILE, ConfigError, TrainConfig
from tunix_rt.training.data import read_rows, steps_per_epoch, total_steps
from tunix_rt.training.params import GrpoSettings, algorithm_problem, grpo_settings
from tunix_rt.training.prepare import RESOLVED_CONFIG, TOKENIZER_DIR
from tunix_rt.training.presets import param_count
from tunix_rt.training.resolve import ModelNotFound, inspect_hf_dir
from tunix_rt.training.tokenizer import (
    TokenizerError,
    copy_checkpoint_tokenizer,
    load_any_tokenizer,
    tokenizer_info,
)

PROMPT_ROUND = 16  # the rollout's prompt length is rounded up to this (fewer shapes)


@dataclass
class Prompt:
    id: str
    prompt: str
    answer: str
    reference: str = ""  # the trace's own steps, one per line ("" when unknown)


@dataclass
class GrpoPrepared:
    cfg: TrainConfig
    out: Path
    init_dir: Path
    init_meta: dict[str, Any]
    tokenizer: Any
    tokenizer_info: dict[str, Any]
    prompts: list[Prompt]
    max_prompt_length: int
    truncated: int
    settings: GrpoSettings
    total_steps: int
    steps_per_epoch: int
    warmup_steps: int

    @property
    def arch(self) -> dict[str, Any]:
        arch: dict[str, Any] = self.init_meta["arch"]
        return arch

    def resolved_config(self) -> dict[str, Any]:
        return {
            "config": self.cfg.to_dict(),
            "algorithm": "grpo",
            "grpo": self.settings.to_dict(),
            "init_dir": str(self.init_dir),
            "init_final_step": self.init_meta.get("final_step"),
            "arch": self.arch,
            "tokenizer": self.tokenizer_info,
            "max_prompt_length": self.max_prompt_length,
            "n_train": len(self.prompts),
            "n_eval": 0,
            "total_steps": self.total_steps,
            "steps_per_epoch": self.steps_per_epoch,
            "warmup_steps": self.warmup_steps,
            "param_count": param_count(self.arch),
        }


def read_prompts(path: str) -> list[Prompt]:
    """Read ``{"id","prompt","answer"[,"reference"]}`` lines; ``ConfigError`` names the bad
    line."""
    prompts: list[Prompt] = []
    for number, row in read_rows(path):
        prompt, answer = row.get("prompt"), row.get("answer")
        reference = row.get("reference", "")
        for name, value in (("prompt", prompt), ("answer", answer)):
            if not isinstance(value, str) or not value:
                raise ConfigError(f"{path}:{number}: '{name}' must be a non-empty string")
        if not isinstance(reference, str):
            raise ConfigError(f"{path}:{number}: 'reference' must be a string")
        prompts.append(Prompt(str(row.get("id", number)), str(prompt), str(answer), reference))
    if not prompts:
        raise ConfigError(f"data file {path} holds no prompts")
    return prompts


def start_model_meta(init_dir: Path) -> dict[str, Any]:
    """What the start model is: a run's ``model/model.json``, or for a Hugging Face
    checkpoint directory (a registered model) its architecture, with ``hf_dir`` set and
    the tokenizer in the directory itself."""
    meta_file = init_dir / FINAL_MODEL_FILE
    if meta_file.is_file():
        meta: dict[str, Any] = json.loads(meta_file.read_text(encoding="utf-8"))
        return meta
    if (init_dir / "config.json").is_file():
        try:
            resolved = inspect_hf_dir(init_dir, str(init_dir), "local")
        except ModelNotFound as exc:
            raise ConfigError(f"init_dir: {exc}") from None
        return {"arch": resolved.arch, "tokenizer": ".", "hf_dir": True}
    raise ConfigError(f"init_dir: {init_dir} holds no final model ({FINAL_MODEL_FILE})")


def prepare(cfg: TrainConfig) -> GrpoPrepared:
    problem = algorithm_problem(cfg)
    if problem is not None:
        raise ConfigError(f"{problem[0]}: {problem[1]}")
    if cfg.init_dir is None:
        raise ConfigError("init_dir: a GRPO run needs the directory of the run it starts from")
    init_dir = Path(cfg.init_dir)
    init_meta = start_model_meta(init_dir)
    out = Path(cfg.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    tok_dir = out / TOKENIZER_DIR
    if not tok_dir.is_dir():  # the start model's own tokenizer, kept with this run's model
        source = init_dir / str(init_meta.get("tokenizer") or TOKENIZER_DIR)
        if not source.is_dir():
            raise ConfigError(f"init_dir: {init_dir} has no tokenizer directory")
        if init_meta.get("hf_dir"):
            try:
                copy_checkpoint_tokenizer(source, tok_dir)
            except TokenizerError as exc:
                raise ConfigError(f"init_dir: {exc}") from None
        else:
            shutil.copytree(source, tok_dir)
    try:
        tokenizer = load_any_tokenizer(tok_dir)
    except TokenizerError as exc:
        raise ConfigError(str(exc)) from None
    prompts = read_prompts(cfg.train_file)
    settings = grpo_settings(cfg)
    new_tokens = settings.max_new_tokens
    bos = 1 if tokenizer.bos_id() > 0 else 0
    longest = max(len(tokenizer.EncodeAsIds(p.prompt)) + bos for p in prompts)
    room = cfg.max_seq_length - new_tokens
    max_prompt = min(-(-longest // PROMPT_ROUND) * PROMPT_ROUND, room)
    truncated = sum(len(tokenizer.EncodeAsIds(p.prompt)) + bos > max_prompt for p in prompts)
    steps = total_steps(len(prompts), cfg.batch_size, cfg.num_epochs, cfg.max_steps)
    warmup = cfg.warmup_steps if cfg.warmup_steps is not None else min(max(1, steps // 20), 50)
    return GrpoPrepared(
        cfg=cfg,
        out=out,
        init_dir=init_dir,
        init_meta=init_meta,
        tokenizer=tokenizer,
        tokenizer_info=tokenizer_info(tokenizer),
        prompts=prompts,
        max_prompt_length=max_prompt,
        truncated=truncated,
        settings=settings,
        total_steps=steps,
        steps_per_epoch=steps_per_epoch(len(prompts), cfg.batch_size),
        warmup_steps=min(warmup, max(0, steps - 1)),
    )


def write_resolved_config(prep: GrpoPrepared) -> None:
    (prep.out / RESOLVED_CONFIG).write_text(
        json.dumps(prep.resolved_config(), indent=2, sort_keys=True), encoding="utf-8"
    )


def dry_run_report(prep: GrpoPrepared) -> dict[str, Any]:
    """What a GRPO dry run reports: the start model, the prompts and the rollout sizes."""
    cfg = prep.cfg
    return {
        "run_id": cfg.run_id,
        "model_id": cfg.model_id,
        "algorithm": "grpo",
        "init_dir": str(prep.init_dir),
        "family": prep.arch["family"],
        "arch": prep.arch,
        "param_count": param_count(prep.arch),
        "tokenizer": prep.tokenizer_info,
        "train_examples": len(prep.prompts),
        "eval_examples": 0,
        "max_seq_length": cfg.max_seq_length,
        "max_prompt_length": prep.max_prompt_length,
        "truncated_examples": prep.truncated,
        "completions_per_step": cfg.batch_size * prep.settings.num_generations,
        "grpo": prep.settings.to_dict(),
        "total_steps": prep.total_steps,
        "steps_per_epoch": prep.steps_per_epoch,
        "warmup_steps": prep.warmup_steps,
    }


def dry_run_summary(report: dict[str, Any]) -> str:
    return (
        f"dry run ok: GRPO from {report['init_dir']} on {report['train_examples']} prompts "
        f"(≤ {report['max_prompt_length']} tokens, {report['truncated_examples']} truncated), "
        f"{report['completions_per_step']} completions per step, {report['total_steps']} steps"
    )


def train(prep: GrpoPrepared) -> dict[str, Any]:
    from tunix_rt.training.grpo import run_grpo  # jax: imported only to train

    return run_grpo(prep)


def done_summary(summary: dict[str, Any], prep: GrpoPrepared) -> str:
    return (
        f"done: step {summary['final_step']}, reward {summary['first_reward']} -> "
        f"{summary['final_reward']}, model saved to {prep.out / 'model'}"
    )
