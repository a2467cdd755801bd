"""Matrix products of a few rows by a fixed weight matrix on x86 CPUs (imports jax: child only).

A decode step multiplies a handful of rows (one per sequence of the batch) by every
weight matrix of the model. XLA:CPU's general matrix product copies ("packs") the
weights into its own panel layout on every call; with few rows that copy costs as much
as the arithmetic, and a batch of 8–16 rows ran at ≈ 25–30 GFLOP/s a core
(docs/performance.md). Here the weights are packed once, when the decoder is built, as
panels ``[N / 8, K, 8]`` (``pack``), and ``native/few_rows.cc`` multiplies rows by them with
AVX2 fused multiply-adds straight from that layout (``matmul``), through an XLA FFI custom
call, so it runs inside the compiled decode loop like any other operation.

The C++ source is compiled with the machine's C++ compiler the first time a process asks
for it (``available``) and kept under ``$XDG_CACHE_HOME/tunix-rt/native`` (default
``~/.cache``), one file per source, compiler flags and jaxlib version; processes that
build it at the same time each write their own file and rename it into place. Where it
cannot be used — not x86-64, no AVX2 or FMA, no compiler, a build error, or
``TUNIX_RT_FEW_ROWS=0`` — ``available`` says False (logging why, once) and the decoder keeps
XLA's own products.
"""

from __future__ import annotations

import ctypes
import functools
import hashlib
import logging
import os
import platform
import shutil
import subprocess
import tempfile
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

log = logging.getLogger(__name__)

SOURCE = Path(__file__).parent / "native" / "few_rows.cc"
_TARGET = "tunix_rt_few_rows_matmul"
_SYMBOL = "TunixRtFewRowsMatmul"
# -march=native: this machine's vector units and tuning (the generic tuning splits every
# unaligned 256-bit load in two, which made a one-row product 2.6× slower); the library
# is cached per CPU model and flags, so a home directory shared by other machines is safe.
_FLAGS = ("-O3", "-march=native", "-std=c++17", "-shared", "-fPIC", "-pthread", "-w")
PANEL = 8  # columns per panel: one AVX register of float32


@functools.cache
def _cpu() -> dict[str, str]:
    """The first processor's ``/proc/cpuinfo`` entries (empty when unreadable; read once:
    the CPU check and the library's cache key both ask)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return {}
    entries: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip():
            break
        name, _, value = line.partition(":")
        entries[name.strip()] = value.strip()
    return entries


def _compiler() -> str | None:
    return os.environ.get("CXX") or shutil.which("g++") or shutil.which("c++")


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "tunix-rt" / "native"


def _library_path(compiler: str) -> Path:
    key = hashlib.sha256()
    key.update(SOURCE.read_bytes())
    cpu = _cpu()
    key.update(" ".join((compiler, *_FLAGS, jax.__version__)).encode())
    key.update(f"{cpu.get('model name')} {cpu.get('flags')}".encode())
    return cache_dir() / f"few_rows-{key.hexdigest()[:16]}.so"


def build(compiler: str) -> Path:
    """The compiled library, building it when this machine has not yet (raises
    ``RuntimeError`` with the compiler's message when the build fails)."""
    target = _library_path(compiler)
    if target.exists():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, partial = tempfile.mkstemp(dir=target.parent, suffix=".so.partial")
    os.close(fd)
    command = [compiler, *_FLAGS, f"-I{jax.ffi.include_dir()}", str(SOURCE), "-o", partial]
    try:
        done = subprocess.run(command, capture_output=True, text=True, timeout=300)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(command)} failed: {done.stderr.strip()[-2000:]}")
        os.replace(partial, target)  # atomic: a concurrent build lands the same bytes
    finally:
        Path(partial).unlink(missing_ok=True)
    return target


@functools.cache
def available() -> bool:
    """Whether ``matmul`` can run here (built and registered with XLA on the first call)."""
    if os.environ.get("TUNIX_RT_FEW_ROWS", "1") == "0":
        return False
    if platform.machine().lower() not in ("x86_64", "amd64"):
        return False
    if not {"avx2", "fma"} <= set(_cpu().get("flags", "").split()):
        log.info("few-row products: this CPU lacks AVX2 or FMA; using XLA's")
        return False
    compiler = _compiler()
    if compiler is None:
        log.warning("few-row products: no C++ compiler (g++ or $CXX); using XLA's")
        return False
    try:
        library = ctypes.CDLL(str(build(compiler)))
    except (OSError, RuntimeError, subprocess.SubprocessError) as exc:
        log.warning("few-row products: build failed, using XLA's: %s", exc)
        return False
    handler = getattr(library, _SYMBOL)
    capsule = jax.ffi.pycapsule(handler)  # type: ignore[no-untyped-call]
    jax.ffi.register_ffi_target(_TARGET, capsule, platform="cpu")
    return True


def packable(weight: jax.Array) -> bool:
    """Whether ``pack`` takes ``weight``: a float32 matrix of whole panels."""
    return weight.ndim == 2 and weight.dtype == jnp.float32 and weight.shape[1] % PANEL == 0


def pack(weight: jax.Array) -> jax.Array:
    """``weight`` [K, N] (see ``packable``) as panels [N / 8, K, 8]."""
    if not packable(weight):
        raise ValueError(f"cannot pack a {weight.dtype} {weight.shape} weight in panels of 8")
    k, n = weight.shape
    return jnp.transpose(weight.reshape(k, n // PANEL, PANEL), (1, 0, 2))


def matmul(x: jax.Array, packed: jax.Array, threads: int = 1) -> jax.Array:
    """``x @ weight`` for ``x`` [..., K] float32 and ``packed = pack(weight)``, on the calling
    thread and up to ``threads`` - 1 helper threads."""
    width = packed.shape[0] * PANEL
    out_type = jax.ShapeDtypeStruct((*x.shape[:-1], width), jnp.float32)  # type: ignore[no-untyped-call]
    call = jax.ffi.ffi_call(_TARGET, out_type)
    out: jax.Array = call(x, packed, threads=np.int64(threads))
    return out
