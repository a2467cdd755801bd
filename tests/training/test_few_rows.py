"""The few-row product kernel (training/few_rows.py, native/few_rows.cc): its results
against numpy's over the shapes its tiles split into, its packing rules, its build cache
and its fallbacks. In-process (imports jax)."""

from __future__ import annotations

import logging
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from tunix_rt.training import few_rows

pytestmark = pytest.mark.skipif(
    not few_rows.available(),
    reason="few-row products cannot be built here (not x86-64 with AVX2/FMA, or no g++)",
)


def _reference(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    return (x.astype(np.float64) @ w.astype(np.float64)).astype(np.float32)


@pytest.mark.parametrize("threads", [1, 2, 3])
@pytest.mark.parametrize("k", [1, 7, 64, 256])
def test_products_match_numpy_for_every_row_count_and_panel_count(k: int, threads: int) -> None:
    """Rows 1–17 and 33 cover full blocks of 8 and every partial block (tiles of 1–7 rows);
    1–13 and 40 panels cover tiles 1–4 panels wide, their leftovers and several chunks."""
    rng = np.random.default_rng(k)
    for panels in (1, 2, 3, 4, 5, 13, 40):
        w = rng.standard_normal((k, 8 * panels)).astype(np.float32)
        packed = few_rows.pack(jnp.asarray(w))
        assert packed.shape == (panels, k, 8)
        for m in (*range(1, 18), 33):
            x = rng.standard_normal((m, k)).astype(np.float32)
            got = np.asarray(few_rows.matmul(jnp.asarray(x), packed, threads))
            np.testing.assert_allclose(got, _reference(x, w), rtol=1e-5, atol=1e-4)


def test_leading_dimensions_and_compiled_programs() -> None:
    rng = np.random.default_rng(0)
    w = rng.standard_normal((32, 24)).astype(np.float32)
    x = rng.standard_normal((2, 3, 32)).astype(np.float32)
    packed = few_rows.pack(jnp.asarray(w))

    @jax.jit
    def product(x: jax.Array, packed: jax.Array) -> jax.Array:
        return few_rows.matmul(x, packed, 2) * 2.0

    got = np.asarray(product(jnp.asarray(x), packed))
    assert got.shape == (2, 3, 24)
    expected = 2 * _reference(x.reshape(6, 32), w).reshape(2, 3, 24)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-4)
    empty = few_rows.matmul(jnp.zeros((0, 32), jnp.float32), packed)
    assert empty.shape == (0, 24)
    nothing = few_rows.pack(jnp.zeros((0, 16), jnp.float32))  # K = 0: an empty sum
    np.testing.assert_array_equal(few_rows.matmul(jnp.ones((3, 0), jnp.float32), nothing), 0)


def test_only_float32_matrices_of_whole_panels_are_packed() -> None:
    assert few_rows.packable(jnp.zeros((4, 16), jnp.float32))
    assert not few_rows.packable(jnp.zeros((4, 12), jnp.float32))  # 1.5 panels
    assert not few_rows.packable(jnp.zeros((4, 16), jnp.bfloat16))
    assert not few_rows.packable(jnp.zeros((2, 4, 16), jnp.float32))
    with pytest.raises(ValueError, match=r"cannot pack a float32 \(4, 12\) weight"):
        few_rows.pack(jnp.zeros((4, 12), jnp.float32))


def test_a_product_whose_rows_do_not_match_the_packed_weight_is_refused() -> None:
    packed = few_rows.pack(jnp.zeros((16, 8), jnp.float32))
    with pytest.raises(Exception, match="last dimension is not packed's K"):
        jax.block_until_ready(few_rows.matmul(jnp.zeros((2, 15), jnp.float32), packed))


def test_the_library_is_built_once_per_source_and_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    compiler = few_rows._compiler()
    assert compiler is not None
    first = few_rows.build(compiler)
    assert first.parent == tmp_path / "tunix-rt" / "native" and first.exists()
    built_at = first.stat().st_mtime_ns
    assert few_rows.build(compiler) == first
    assert first.stat().st_mtime_ns == built_at  # not compiled again
    assert not list(first.parent.glob("*.partial"))


def test_a_failed_build_or_a_switch_falls_back_to_xla(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    check = few_rows.available.__wrapped__  # the uncached check
    monkeypatch.setenv("TUNIX_RT_FEW_ROWS", "0")
    assert check() is False
    monkeypatch.delenv("TUNIX_RT_FEW_ROWS")

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    broken = tmp_path / "cxx"
    broken.write_text("#!/bin/sh\necho 'cxx: no such luck' >&2\nexit 1\n")
    broken.chmod(0o755)
    monkeypatch.setenv("CXX", str(broken))
    with caplog.at_level(logging.WARNING, logger=few_rows.__name__):
        assert check() is False
    assert "build failed" in caplog.text and "no such luck" in caplog.text
    assert not list((tmp_path / "tunix-rt" / "native").glob("*"))  # nothing half-written
