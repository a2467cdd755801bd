"""The product's Hugging Face writer/reader for Gemma-family models (training.hf_format)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("tunix")

from safetensors.numpy import load_file

from tests.training.hf_checkpoint import write_tiny_gemma2
from tunix_rt.training import model as model_lib
from tunix_rt.training.hf_format import (
    ExportError,
    _flat_params,
    export_run,
    from_hf_tensors,
    to_hf_tensors,
)
from tunix_rt.training.presets import PRESETS
from tunix_rt.training.resolve import resolve_model
from tunix_rt.training.tokenizer import fit_tokenizer, load_tokenizer

TEXTS = [f"What is {a} + {b}?\n{a + b}" for a in range(20) for b in range(5)]


def _assert_same(a: dict, b: dict) -> None:
    assert set(a) == set(b)
    for key in a:
        np.testing.assert_array_equal(np.asarray(a[key]), np.asarray(b[key]), err_msg=str(key))


def test_gemma2_names_match_tunixs_own_loader(tmp_path: Path) -> None:
    """Tunix's Gemma 2 safetensors loader reads a checkpoint; writing that model back gives
    the same tensors (grouped-query attention: 2 heads, 1 kv head)."""
    original = write_tiny_gemma2(tmp_path / "g2", TEXTS)
    resolved = resolve_model(str(tmp_path / "g2"), [tmp_path])
    model = model_lib.load_hf_checkpoint(resolved)
    written = to_hf_tensors(_flat_params(model), resolved.arch)
    _assert_same(written, original)


@pytest.mark.parametrize("kv_heads", [4, 2])
def test_gemma_round_trip(kv_heads: int) -> None:
    arch = PRESETS["tunix-rt/tiny-gemma"].arch(vocab_size=300) | {"num_kv_heads": kv_heads}
    flat = _flat_params(model_lib.build_from_scratch(arch, seed=3))
    _assert_same(from_hf_tensors(to_hf_tensors(flat, arch), arch), flat)


def test_export_then_load_gives_the_same_model(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    fit_tokenizer(TEXTS, run_dir / "tokenizer", vocab_size=300)
    vocab = int(load_tokenizer(run_dir / "tokenizer").GetPieceSize())
    arch = PRESETS["tunix-rt/tiny-gemma"].arch(vocab_size=vocab)
    model = model_lib.build_from_scratch(arch, seed=1)
    model_lib.save_final(model, run_dir, {"arch": arch, "final_step": 0})

    out = tmp_path / "store" / "v1"
    result = export_run(run_dir, out)
    assert sorted(p.name for p in out.iterdir()) == result["files"]
    config = json.loads((out / "config.json").read_text())
    assert config["model_type"] == "gemma" and config["vocab_size"] == vocab
    assert len(result["sha256"]) == 64 and result["size_bytes"] > 0
    tensors = load_file(str(out / "model.safetensors"))
    assert tensors["model.layers.0.self_attn.q_proj.weight"].shape == (4 * 32, 128)

    resolved = resolve_model(str(out), [tmp_path / "store"])
    assert resolved.kind == "local" and resolved.tokenizer == "sentencepiece"
    assert resolved.arch == arch
    loaded = model_lib.load_hf_checkpoint(resolved)
    _assert_same(_flat_params(loaded), _flat_params(model))
    tokens = np.array([[2, 5, 6, 7]], dtype=np.int32)
    positions = np.arange(4)[None]
    mask = np.tril(np.ones((1, 4, 4), dtype=bool))
    want = model(tokens, positions, None, mask)[0]
    got = loaded(tokens, positions, None, mask)[0]
    np.testing.assert_array_equal(np.asarray(got), np.asarray(want))

    # The same weights give the same file, byte for byte.
    again = export_run(run_dir, tmp_path / "store" / "v2")
    assert again["sha256"] == result["sha256"]


def test_a_lora_run_is_refused(tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    (run_dir / "model").mkdir(parents=True)
    arch = PRESETS["tunix-rt/tiny-gemma"].arch(vocab_size=300)
    (run_dir / "model" / "model.json").write_text(json.dumps({"arch": arch, "lora_rank": 4}))
    with pytest.raises(ExportError, match="LoRA"):
        export_run(run_dir, tmp_path / "out")


def test_unsupported_family_is_refused(tmp_path: Path) -> None:
    from tunix_rt.training.hf_format import hf_config

    with pytest.raises(ExportError, match="llama3"):
        hf_config({"family": "llama3"}, {})
