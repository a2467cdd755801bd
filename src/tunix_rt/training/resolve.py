"""``model_id`` resolution (jax-free): built-in presets, a local Hugging Face–layout
directory of a Tunix-supported family, or a hub id found in the local HF cache.

Nothing here downloads anything: a hub id that is not in the cache raises ``ModelNotFound``
with a message saying where to put the weights.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal

from tunix_rt.training.presets import PRESETS

# HF ``model_type`` → Tunix family whose safetensors loader we use.
SUPPORTED_MODEL_TYPES = {
    "gemma": "gemma",  # read by the product's own loader (training.hf_format)
    "gemma2": "gemma2",
    "llama": "llama3",
    "qwen2": "qwen2",
    "qwen3": "qwen3",
}
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


class ModelNotFound(ValueError):
    """The model cannot be resolved; the message says what to do."""


@dataclass
class ResolvedModel:
    model_id: str
    kind: Literal["preset", "local", "hub"]
    family: str
    arch: dict[str, Any] = field(default_factory=dict)  # vocab_size is None for presets
    path: str | None = None  # checkpoint directory (local / hub)
    tokenizer: str = "fitted"  # "fitted" (preset) | "sentencepiece" | "huggingface"
    description: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def default_cache_dirs() -> list[str]:
    """The Hugging Face hub caches named by the environment, then the default one."""
    dirs: list[str] = []
    for var in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE"):
        if os.environ.get(var):
            dirs.append(os.environ[var])
    if os.environ.get("HF_HOME"):
        dirs.append(str(Path(os.environ["HF_HOME"]) / "hub"))
    dirs.append(str(Path.home() / ".cache" / "huggingface" / "hub"))
    return list(dict.fromkeys(dirs))


def _arch_from_hf_config(cfg: dict[str, Any], where: str) -> tuple[str, dict[str, Any]]:
    model_type = cfg.get("model_type")
    family = SUPPORTED_MODEL_TYPES.get(str(model_type))
    if family is None:
        raise ModelNotFound(
            f"{where}: model_type {model_type!r} is not supported; supported Hugging Face "
            f"model types: {', '.join(sorted(SUPPORTED_MODEL_TYPES))}"
        )
    try:
        heads = int(cfg["num_attention_heads"])
        embed = int(cfg["hidden_size"])
        arch: dict[str, Any] = {
            "family": family,
            "num_layers": int(cfg["num_hidden_layers"]),
            "vocab_size": int(cfg["vocab_size"]),
            "embed_dim": embed,
            "hidden_dim": int(cfg["intermediate_size"]),
            "num_heads": heads,
            "head_dim": int(cfg.get("head_dim") or embed // heads),
            "num_kv_heads": int(cfg.get("num_key_value_heads") or heads),
        }
    except (KeyError, TypeError, ValueError) as exc:
        raise ModelNotFound(f"{where}: config.json lacks a usable {exc} field") from None
    if family == "gemma2":
        arch.update(
            post_norms=True,
            final_logit_softcap=cfg.get("final_logit_softcapping"),
            attn_logits_soft_cap=cfg.get("attn_logit_softcapping"),
            sliding_window_size=cfg.get("sliding_window"),
            query_pre_attn_scalar=cfg.get("query_pre_attn_scalar"),
        )
    elif family != "gemma":
        arch.update(
            rope_theta=int(cfg.get("rope_theta", 10_000)),
            norm_eps=float(cfg.get("rms_norm_eps", 1e-6)),
            tied_embedding=bool(cfg.get("tie_word_embeddings", False)),
            untied_lm_head=not bool(cfg.get("tie_word_embeddings", False)),
            qk_norm=family == "qwen3",
        )
    return family, arch


def inspect_hf_dir(path: Path, model_id: str, kind: Literal["local", "hub"]) -> ResolvedModel:
    """Check a directory holds config.json, safetensors and a tokenizer of a supported family."""
    config_file = path / "config.json"
    if not config_file.is_file():
        raise ModelNotFound(f"{path} has no config.json (expected a Hugging Face checkpoint)")
    try:
        cfg = json.loads(config_file.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ModelNotFound(f"{config_file} cannot be read: {exc}") from None
    if not isinstance(cfg, dict):
        raise ModelNotFound(f"{config_file} is not a JSON object")
    if not any(path.glob("*.safetensors")):
        raise ModelNotFound(f"{path} has no *.safetensors weight files")
    if (path / "tokenizer.model").is_file():
        tokenizer = "sentencepiece"
    elif (path / "tokenizer.json").is_file():
        tokenizer = "huggingface"
    else:
        raise ModelNotFound(f"{path} has no tokenizer.model or tokenizer.json")
    family, arch = _arch_from_hf_config(cfg, str(path))
    return ResolvedModel(
        model_id=model_id,
        kind=kind,
        family=family,
        arch=arch,
        path=str(path),
        tokenizer=tokenizer,
        description=f"{cfg.get('model_type')} checkpoint at {path}",
    )


def find_in_hf_cache(model_id: str, cache_dirs: Sequence[str]) -> Path | None:
    """The snapshot directory of ``org/name`` in a hub cache (``refs/main`` first)."""
    folder = "models--" + model_id.replace("/", "--")
    for base in cache_dirs:
        repo = Path(base) / folder
        snapshots = repo / "snapshots"
        if not snapshots.is_dir():
            continue
        ref = repo / "refs" / "main"
        if ref.is_file():
            snap = snapshots / ref.read_text(encoding="utf-8").strip()
            if (snap / "config.json").is_file():
                return snap
        for snap in sorted(snapshots.iterdir()):
            if (snap / "config.json").is_file():
                return snap
    return None


def _inside(path: Path, directory: Path) -> bool:
    return path == directory or directory in path.parents


def _local_checkpoint(model_id: str, model_dirs: Sequence[Path]) -> Path | None:
    """The checkpoint directory ``model_id`` names inside a model directory, or None when it
    names no local directory. Paths outside every model directory are refused without
    looking at them, so an error never tells what exists elsewhere on the machine."""
    where = ", ".join(str(d) for d in model_dirs) or "(none configured)"
    if model_id.startswith((".", "~")) or "\\" in model_id:
        raise ModelNotFound(
            f"model_id {model_id!r}: give a checkpoint as an absolute path inside a model "
            f"directory or as a directory name inside one (TUNIX_RT_MODEL_DIRS: {where})"
        )
    if Path(model_id).is_absolute():
        target = Path(model_id).resolve()  # symlinks followed: they cannot lead out
        for directory in model_dirs:
            if _inside(target, directory):
                if not target.is_dir():
                    raise ModelNotFound(f"model directory {model_id} does not exist")
                return target
        raise ModelNotFound(
            f"model_id {model_id!r} is not inside a model directory; local checkpoints are "
            f"read only from TUNIX_RT_MODEL_DIRS ({where})"
        )
    if ".." in Path(model_id).parts:
        raise ModelNotFound(f"model_id {model_id!r} must not contain '..'")
    for directory in model_dirs:
        candidate = directory / model_id
        if candidate.is_dir() and _inside(candidate.resolve(), directory):
            return candidate.resolve()
    return None


def resolve_model(
    model_id: str,
    model_dirs: Sequence[str | Path] = (),
    cache_dirs: Sequence[str] | None = None,
) -> ResolvedModel:
    """Resolve ``model_id`` or raise ``ModelNotFound`` saying where to put the weights.

    ``model_dirs`` are the directories local checkpoints may come from; hub ids are looked
    up in ``cache_dirs`` and then the environment's Hugging Face caches."""
    model_id = model_id.strip()
    if not model_id:
        raise ModelNotFound("model_id is empty")
    preset = PRESETS.get(model_id)
    if preset is not None:
        return ResolvedModel(
            model_id=model_id,
            kind="preset",
            family=preset.family,
            arch=preset.arch(vocab_size=0) | {"vocab_size": None},
            description=preset.description,
        )
    if model_id.startswith("tunix-rt/"):
        raise ModelNotFound(f"unknown preset {model_id!r}; presets: {', '.join(sorted(PRESETS))}")
    roots = [Path(d).resolve() for d in model_dirs]
    local = _local_checkpoint(model_id, roots)
    if local is not None:
        return inspect_hf_dir(local, model_id, "local")
    if _HUB_ID.match(model_id):
        dirs = list(dict.fromkeys([*(cache_dirs or ()), *default_cache_dirs()]))
        snapshot = find_in_hf_cache(model_id, dirs)
        if snapshot is None:
            folder = "models--" + model_id.replace("/", "--")
            raise ModelNotFound(
                f"model {model_id!r} is not in the local Hugging Face cache and Tunix RT never "
                f"downloads weights. Download it yourself (e.g. `huggingface-cli download "
                f"{model_id}`) so it lands in {dirs[0]}/{folder}/, or put a checkpoint "
                f"directory (config.json + *.safetensors + tokenizer) in a model directory "
                f"(TUNIX_RT_MODEL_DIRS) and pass its name. Searched: {', '.join(dirs)}"
            )
        return inspect_hf_dir(snapshot, model_id, "hub")
    raise ModelNotFound(
        f"cannot resolve model_id {model_id!r}: use a preset "
        f"({', '.join(sorted(PRESETS))}), a Hugging Face checkpoint directory inside a model "
        "directory (TUNIX_RT_MODEL_DIRS), or a hub id like google/gemma-2-2b-it that is in "
        "the local cache"
    )
