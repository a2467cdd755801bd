"""model_id resolution (jax-free) and training/generation from a local Hugging Face–layout
checkpoint written by the test itself, directly and through a local hub cache."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from tests.training.helpers import (
    generate_config,
    run_child,
    train_config,
    training_texts,
    write_arithmetic,
)
from tests.training.hf_checkpoint import write_tiny_gemma2, write_tiny_llama_like
from tunix_rt.training import available
from tunix_rt.training.presets import PRESETS, param_count
from tunix_rt.training.resolve import ModelNotFound, resolve_model


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, np.ndarray]]:
    root = tmp_path_factory.mktemp("hf")
    traces = write_arithmetic(root / "train.jsonl", 64, seed=5)
    texts = training_texts(root / "train.jsonl")
    assert traces
    tensors = write_tiny_gemma2(root / "tiny-gemma2", texts)
    return root, tensors


@pytest.fixture(scope="module")
def llama_like(
    checkpoint: tuple[Path, dict[str, np.ndarray]],
) -> dict[str, tuple[Path, dict[str, np.ndarray]]]:
    """Tiny ``llama`` and ``qwen2`` checkpoints next to the Gemma 2 one (same texts)."""
    root, _ = checkpoint
    texts = training_texts(root / "train.jsonl")
    out = {}
    for model_type in ("llama", "qwen2"):
        directory = root / f"tiny-{model_type}"
        out[model_type] = (directory, write_tiny_llama_like(directory, texts, model_type))
    return out


def test_available_reports_the_installed_tunix() -> None:
    ok, version, message = available()
    assert ok and version.startswith("0.") and "tunix" in message


def test_presets_resolve_without_a_vocabulary() -> None:
    tiny = resolve_model("tunix-rt/tiny-gemma")
    assert tiny.kind == "preset" and tiny.family == "gemma" and tiny.tokenizer == "fitted"
    assert tiny.arch["num_layers"] == 2 and tiny.arch["embed_dim"] == 128
    small = PRESETS["tunix-rt/small-gemma"].arch(vocab_size=512)
    assert 1_000_000 < param_count(small) < 10_000_000
    assert param_count(PRESETS["tunix-rt/tiny-gemma"].arch(vocab_size=512)) < 1_000_000


@pytest.mark.parametrize(
    ("model_id", "message"),
    [
        ("tunix-rt/nope", "unknown preset"),
        ("/does/not/exist", "not inside a model directory"),
        ("not a model", "cannot resolve model_id"),
        ("", "empty"),
    ],
)
def test_unresolvable_ids(model_id: str, message: str) -> None:
    with pytest.raises(ModelNotFound, match=message):
        resolve_model(model_id)


def test_local_checkpoints_come_only_from_model_directories(tmp_path: Path) -> None:
    allowed = tmp_path / "models"
    (allowed / "ckpt").mkdir(parents=True)
    secret = tmp_path / "secret"
    secret.mkdir()
    (secret / "config.json").write_text("{}")
    (allowed / "escape").symlink_to(secret)
    # Outside every model directory: the same answer whether the path exists or not.
    messages = []
    for outside in (secret, tmp_path / "nothing-here", Path("/root/.ssh"), allowed / "escape"):
        with pytest.raises(ModelNotFound) as info:
            resolve_model(str(outside), [allowed])
        messages.append(str(info.value).replace(str(outside), "X"))
    assert len(set(messages)) == 1
    assert "not inside a model directory" in messages[0]
    assert "config.json" not in messages[0]
    for sneaky in ("../secret", "./ckpt", "~/x", "escape"):
        with pytest.raises(ModelNotFound) as info:
            resolve_model(sneaky, [allowed])
        assert "config.json" not in str(info.value)
    # Inside: by absolute path, or by name relative to the model directory.
    for inside in (str(allowed / "ckpt"), "ckpt"):
        with pytest.raises(ModelNotFound, match=r"no config\.json"):
            resolve_model(inside, [allowed])


def test_hub_id_not_cached_says_where_to_put_the_weights(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.delenv("HUGGINGFACE_HUB_CACHE", raising=False)
    with pytest.raises(ModelNotFound) as info:
        resolve_model("google/gemma-2b-it", cache_dirs=[str(tmp_path / "extra")])
    message = str(info.value)
    assert "never downloads" in message
    assert "huggingface-cli download google/gemma-2b-it" in message
    assert f"{tmp_path / 'extra'}/models--google--gemma-2b-it/" in message
    assert str(tmp_path / "hf-home" / "hub") in message


def test_local_directory_must_be_a_supported_checkpoint(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(ModelNotFound, match=r"no config\.json"):
        resolve_model(str(tmp_path / "empty"), [tmp_path])
    bad = tmp_path / "bert"
    bad.mkdir()
    (bad / "config.json").write_text(json.dumps({"model_type": "bert"}))
    (bad / "model.safetensors").write_bytes(b"")
    (bad / "tokenizer.json").write_text("{}")
    with pytest.raises(ModelNotFound, match="model_type 'bert' is not supported"):
        resolve_model(str(bad), [tmp_path])


def test_local_checkpoint_loads_with_tunix_loader(
    checkpoint: tuple[Path, dict[str, np.ndarray]],
) -> None:
    root, tensors = checkpoint
    resolved = resolve_model(str(root / "tiny-gemma2"), [root])
    assert resolved.kind == "local" and resolved.family == "gemma2"
    assert resolved.tokenizer == "sentencepiece"
    from tunix_rt.training import model as model_lib

    model = model_lib.load_hf_checkpoint(resolved)
    embed = np.asarray(model.embedder.input_embedding[...])  # type: ignore[attr-defined]
    assert np.array_equal(embed, tensors["model.embed_tokens.weight"])
    q = np.asarray(model.layers[0].attn.q_einsum.w[...])  # type: ignore[attr-defined]
    expected_q = tensors["model.layers.0.self_attn.q_proj.weight"].T.reshape(64, 2, 32)
    assert np.allclose(q, expected_q.transpose(1, 0, 2))
    down = np.asarray(model.layers[1].mlp.down_proj.kernel[...])  # type: ignore[attr-defined]
    assert np.array_equal(down, tensors["model.layers.1.mlp.down_proj.weight"].T)


@pytest.mark.parametrize(("model_type", "family"), [("llama", "llama3"), ("qwen2", "qwen2")])
def test_llama_and_qwen_checkpoints_load_with_tunix_loaders(
    llama_like: dict[str, tuple[Path, dict[str, np.ndarray]]], model_type: str, family: str
) -> None:
    directory, tensors = llama_like[model_type]
    resolved = resolve_model(str(directory), [directory.parent])
    assert resolved.kind == "local" and resolved.family == family
    assert resolved.arch["untied_lm_head"] is True
    from tunix_rt.training import model as model_lib

    model = model_lib.load_hf_checkpoint(resolved)
    embed = np.asarray(model.embedder.input_embedding[...])  # type: ignore[attr-defined]
    assert np.array_equal(embed, tensors["model.embed_tokens.weight"])
    down = np.asarray(model.layers[1].mlp.down_proj.kernel[...])  # type: ignore[attr-defined]
    assert np.array_equal(down, tensors["model.layers.1.mlp.down_proj.weight"].T)
    head = np.asarray(model.lm_head.w[...])  # type: ignore[attr-defined]
    assert np.array_equal(head, tensors["lm_head.weight"].T)
    # Every tensor of the checkpoint went somewhere: the parameter counts agree.
    assert model_lib.param_count(model) == sum(t.size for t in tensors.values())


def test_train_from_local_llama_checkpoint(
    llama_like: dict[str, tuple[Path, dict[str, np.ndarray]]],
    checkpoint: tuple[Path, dict[str, np.ndarray]],
    tmp_path: Path,
) -> None:
    root, _ = checkpoint
    directory, _ = llama_like["llama"]
    out = tmp_path / "out"
    config = train_config(
        out,
        root / "train.jsonl",
        model_id=str(directory),
        model_dirs=[str(directory.parent)],
        max_steps=8,
        batch_size=4,
    )
    result = run_child(config, tmp_path / "train.json")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "(local, llama3)" in result.stdout
    done = result.of("done")[-1]
    assert done["final_step"] == 8
    assert done["final_loss"] < done["first_loss"]


def test_train_and_generate_from_local_checkpoint(
    checkpoint: tuple[Path, dict[str, np.ndarray]], tmp_path: Path
) -> None:
    root, _ = checkpoint
    out = tmp_path / "out"
    config = train_config(
        out,
        root / "train.jsonl",
        model_id=str(root / "tiny-gemma2"),
        model_dirs=[str(root)],
        max_steps=6,
        batch_size=4,
        learning_rate=1e-3,
    )
    result = run_child(config, tmp_path / "train.json")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "(local, gemma2)" in result.stdout
    assert result.of("done")[-1]["final_step"] == 6
    # The checkpoint's own tokenizer is used, not a fitted one.
    assert (out / "tokenizer" / "tokenizer.model").read_bytes() == (
        root / "tiny-gemma2" / "tokenizer.model"
    ).read_bytes()
    prompts = tmp_path / "prompts.jsonl"
    write_arithmetic(prompts, 3, seed=9, with_completion=False)
    gen = run_child(
        generate_config(out, prompts, tmp_path / "outputs.jsonl", batch_size=3, max_new_tokens=8),
        tmp_path / "gen.json",
    )
    assert gen.returncode == 0, gen.stderr[-3000:]
    assert len((tmp_path / "outputs.jsonl").read_text().splitlines()) == 3


def test_hub_id_found_in_the_local_cache(
    checkpoint: tuple[Path, dict[str, np.ndarray]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    root, _ = checkpoint
    hub = tmp_path / "hf-home" / "hub" / "models--acme--tiny-gemma2"
    shutil.copytree(root / "tiny-gemma2", hub / "snapshots" / "abc123")
    (hub / "refs").mkdir()
    (hub / "refs" / "main").write_text("abc123")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf-home"))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.delenv("HUGGINGFACE_HUB_CACHE", raising=False)
    resolved = resolve_model("acme/tiny-gemma2")
    assert resolved.kind == "hub" and resolved.path == str(hub / "snapshots" / "abc123")
    out = tmp_path / "out"
    config = train_config(
        out, root / "train.jsonl", model_id="acme/tiny-gemma2", task="dry_run", batch_size=4
    )
    result = run_child(config, tmp_path / "dry.json")
    assert result.returncode == 0, result.stderr
    report = result.of("dry_run")[0]
    assert report["model_kind"] == "hub" and report["family"] == "gemma2"
    assert report["tokenizer"]["vocab_size"] == report["arch"]["vocab_size"]
