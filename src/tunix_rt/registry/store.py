"""The registry store on disk: one Hugging Face–layout directory per distinct set of
weights, ``{data_dir}/registry/blobs/{sha256}``, written by the training child's export
task and shared by every version with those weights (jax-free).

A promotion exports into ``registry/tmp/<random>`` first and renames the finished
directory into place, so a failed or interrupted export never leaves a partial blob.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import sys
import tarfile
import tempfile
import uuid
from pathlib import Path
from typing import Any

from tunix_rt.config import Settings
from tunix_rt.kit.errors import BadRequest
from tunix_rt.training.protocol import parse_event

REGISTRY_DIR = "registry"
EXPORT_TIMEOUT_SECONDS = 1800


def registry_root(settings: Settings) -> Path:
    return (settings.data_dir / REGISTRY_DIR).resolve()


def blobs_root(settings: Settings) -> Path:
    return registry_root(settings) / "blobs"


def blob_dir(settings: Settings, sha256: str) -> Path:
    return blobs_root(settings) / sha256


def _tmp_root(settings: Settings) -> Path:
    return registry_root(settings) / "tmp"


class Exported:
    """A finished export in its temporary directory."""

    def __init__(self, directory: Path, sha256: str, size_bytes: int) -> None:
        self.directory = directory
        self.sha256 = sha256
        self.size_bytes = size_bytes


async def export_run(settings: Settings, run_dir: Path) -> Exported:
    """Export ``run_dir``'s final model with the training child (it imports JAX, so the
    server does not); 400 with the child's reason when the model cannot be exported."""
    tmp = _tmp_root(settings) / uuid.uuid4().hex
    tmp.mkdir(parents=True)
    config = tmp.with_suffix(".json")
    out = tmp / "export"
    config.write_text(
        json.dumps({"task": "export", "run_dir": str(run_dir), "out_dir": str(out)}),
        encoding="utf-8",
    )
    try:
        env = dict(os.environ, JAX_PLATFORMS=os.environ.get("JAX_PLATFORMS", "cpu"))
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "tunix_rt.training",
            "--config",
            str(config),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=env,
        )
        try:
            stdout, stderr = await asyncio.wait_for(
                proc.communicate(), timeout=EXPORT_TIMEOUT_SECONDS
            )
        except (TimeoutError, asyncio.CancelledError):
            proc.kill()
            await proc.wait()
            raise
        done: dict[str, Any] | None = None
        for line in stdout.decode("utf-8", "replace").splitlines():
            event = parse_event(line)
            if event is not None and event.get("event") == "done":
                done = event
        if proc.returncode != 0 or done is None:
            lines = stderr.decode("utf-8", "replace").strip().splitlines()
            reason = next((ln[7:] for ln in lines if ln.startswith("error: ")), None)
            if proc.returncode == 2 and reason:
                raise BadRequest(f"the run's model cannot be registered: {reason}")
            tail = " | ".join(lines[-3:]) or "no output"
            raise RuntimeError(f"model export failed (exit {proc.returncode}): {tail}")
        return Exported(out, str(done["sha256"]), int(done["size_bytes"]))
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    finally:
        config.unlink(missing_ok=True)


def keep(settings: Settings, exported: Exported) -> bool:
    """Move an export to its blob directory; False when that blob exists already (the
    export is discarded). Returns whether this call created the blob."""
    target = blob_dir(settings, exported.sha256)
    target.parent.mkdir(parents=True, exist_ok=True)
    created = False
    if not target.is_dir():
        try:
            exported.directory.rename(target)
            created = True
        except OSError:  # another promotion of the same weights won the rename
            created = False
    discard(exported)
    return created


def discard(exported: Exported) -> None:
    shutil.rmtree(exported.directory.parent, ignore_errors=True)


def remove_blob(settings: Settings, sha256: str) -> None:
    shutil.rmtree(blob_dir(settings, sha256), ignore_errors=True)


def write_archive(directory: Path, folder: str) -> Path:
    """A ``.tar.gz`` of ``directory``'s files under ``folder/`` in a temporary file (the
    caller deletes it after sending)."""
    handle, name = tempfile.mkstemp(prefix="tunix-rt-model-", suffix=".tar.gz")
    os.close(handle)
    path = Path(name)
    try:
        with tarfile.open(path, "w:gz", compresslevel=1) as archive:
            for file in sorted(directory.iterdir()):
                if file.is_file():
                    archive.add(file, arcname=f"{folder}/{file.name}", recursive=False)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return path
