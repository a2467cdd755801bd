"""The child's config file (TEAM contract / docs/training.md), parsed and validated (jax-free)."""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

Task = Literal["train", "dry_run", "generate"]


class ConfigError(ValueError):
    """The config, its data or its model is invalid; the child exits with code 2."""


@dataclass
class TrainConfig:
    task: Literal["train", "dry_run"]
    run_id: str
    model_id: str
    output_dir: str
    train_file: str
    eval_file: str | None = None
    learning_rate: float = 2e-5
    num_epochs: int = 3
    batch_size: int = 8
    max_seq_length: int = 2048
    max_steps: int | None = None
    seed: int = 0
    lora_rank: int = 0
    lora_alpha: float | None = None
    eval_every: int | None = None
    checkpoint_every: int | None = None
    warmup_steps: int | None = None
    weight_decay: float = 0.0
    vocab_size: int | None = None
    model_cache_dirs: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class GenerateConfig:
    task: Literal["generate"]
    run_dir: str
    input_file: str
    output_file: str
    batch_size: int = 32
    max_new_tokens: int = 256
    temperature: float = 0.0
    top_p: float | None = None
    seed: int = 0
    run_id: str | None = None
    max_prompt_length: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _int(raw: dict[str, Any], key: str, default: int | None, lo: int, hi: int) -> int | None:
    value = raw.get(key, default)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{key} must be an integer, got {value!r}")
    if not lo <= value <= hi:
        raise ConfigError(f"{key} must be from {lo} to {hi}, got {value}")
    return value


def _float(
    raw: dict[str, Any],
    key: str,
    default: float | None,
    lo: float,
    hi: float,
    *,
    lo_open: bool = False,
) -> float | None:
    value = raw.get(key, default)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ConfigError(f"{key} must be a number, got {value!r}")
    if value > hi or value < lo or (lo_open and value == lo):
        bound = f"({lo}, {hi}]" if lo_open else f"[{lo}, {hi}]"
        raise ConfigError(f"{key} must be in {bound}, got {value}")
    return float(value)


def _str(raw: dict[str, Any], key: str, *, required: bool = True) -> str | None:
    value = raw.get(key)
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{key} must be a non-empty string, got {value!r}")
    return value


def _abs_path(raw: dict[str, Any], key: str, *, required: bool = True) -> str | None:
    value = _str(raw, key, required=required)
    if value is None:
        return None
    if not Path(value).is_absolute():
        raise ConfigError(f"{key} must be an absolute path, got {value!r}")
    return value


def parse_config(raw: Any) -> TrainConfig | GenerateConfig:
    """Validate a decoded config object; ``ConfigError`` names the first bad field."""
    if not isinstance(raw, dict):
        raise ConfigError("the config must be a JSON object")
    task = raw.get("task")
    if task in ("train", "dry_run"):
        cache_dirs = raw.get("model_cache_dirs") or []
        if not isinstance(cache_dirs, list) or not all(isinstance(d, str) for d in cache_dirs):
            raise ConfigError("model_cache_dirs must be a list of paths")
        max_steps = _int(raw, "max_steps", None, 1, 10_000_000)
        return TrainConfig(
            task=task,
            run_id=str(raw.get("run_id") or "run"),
            model_id=_str(raw, "model_id") or "",
            output_dir=_abs_path(raw, "output_dir") or "",
            train_file=_abs_path(raw, "train_file") or "",
            eval_file=_abs_path(raw, "eval_file", required=False),
            learning_rate=_float(raw, "learning_rate", 2e-5, 0.0, 1.0, lo_open=True) or 2e-5,
            num_epochs=_int(raw, "num_epochs", 3, 1, 100_000) or 3,
            batch_size=_int(raw, "batch_size", 8, 1, 4096) or 8,
            max_seq_length=_int(raw, "max_seq_length", 2048, 8, 1 << 17) or 2048,
            max_steps=max_steps,
            seed=_int(raw, "seed", 0, -(2**31), 2**31 - 1) or 0,
            lora_rank=_int(raw, "lora_rank", 0, 0, 4096) or 0,
            lora_alpha=_float(raw, "lora_alpha", None, 0.0, 1e6, lo_open=True),
            eval_every=_int(raw, "eval_every", None, 1, 10_000_000),
            checkpoint_every=_int(raw, "checkpoint_every", None, 1, 10_000_000),
            warmup_steps=_int(raw, "warmup_steps", None, 0, 10_000_000),
            weight_decay=_float(raw, "weight_decay", 0.0, 0.0, 1.0) or 0.0,
            vocab_size=_int(raw, "vocab_size", None, 300, 1 << 18),
            model_cache_dirs=list(cache_dirs),
        )
    if task == "generate":
        return GenerateConfig(
            task="generate",
            run_dir=_abs_path(raw, "run_dir") or "",
            input_file=_abs_path(raw, "input_file") or "",
            output_file=_abs_path(raw, "output_file") or "",
            batch_size=_int(raw, "batch_size", 32, 1, 4096) or 32,
            max_new_tokens=_int(raw, "max_new_tokens", 256, 1, 1 << 16) or 256,
            temperature=_float(raw, "temperature", 0.0, 0.0, 100.0) or 0.0,
            top_p=_float(raw, "top_p", None, 0.0, 1.0, lo_open=True),
            seed=_int(raw, "seed", 0, -(2**31), 2**31 - 1) or 0,
            run_id=None if raw.get("run_id") is None else str(raw["run_id"]),
            max_prompt_length=_int(raw, "max_prompt_length", None, 1, 1 << 16),
        )
    raise ConfigError(f"task must be 'train', 'dry_run' or 'generate', got {task!r}")


def load_config(path: str | Path) -> TrainConfig | GenerateConfig:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read config {path}: {exc.strerror}") from None
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"config {path} is not valid JSON: {exc}") from None
    return parse_config(raw)
