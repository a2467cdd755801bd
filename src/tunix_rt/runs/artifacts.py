"""A run directory's files: recursive listing and safe resolution of a requested path.

Any path that could leave the run directory is refused with 403: ``..`` segments,
absolute paths, percent-encoded forms of either (decoded repeatedly), backslashes,
NUL bytes, and symlinks whose target lies outside the directory.
"""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath
from urllib.parse import unquote

from tunix_rt.kit.errors import DomainError, NotFound
from tunix_rt.runs.schemas import Artifact

MAX_ARTIFACTS = 10_000


class Forbidden(DomainError):
    status_code = 403


def _inside(root: Path, path: Path) -> bool:
    return path == root or path.is_relative_to(root)


def list_artifacts(run_dir: str) -> list[Artifact]:
    """Every regular file under the run directory (symlinks only when they stay inside)."""
    root = Path(run_dir).resolve()
    if not root.is_dir():
        return []
    found: list[Artifact] = []
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        here = Path(dirpath)
        dirnames.sort()
        for name in sorted(filenames):
            path = here / name
            real = path.resolve()
            if not _inside(root, real) or not real.is_file():
                continue
            found.append(
                Artifact(
                    name=name,
                    size=real.stat().st_size,
                    path=path.relative_to(root).as_posix(),
                )
            )
            if len(found) >= MAX_ARTIFACTS:
                return found
    return found


def _decoded(raw: str) -> str:
    text = raw
    for _ in range(5):  # %252e%252e → %2e%2e → ..
        decoded = unquote(text)
        if decoded == text:
            return text
        text = decoded
    raise Forbidden("path is encoded too many times")


def resolve_artifact(run_dir: str, requested: str) -> Path:
    """The file for ``requested`` inside the run directory; 403 if it escapes, 404 if absent."""
    text = _decoded(requested)
    if not text or "\x00" in text or "\\" in text:
        raise Forbidden("invalid artifact path")
    pure = PurePosixPath(text)
    if pure.is_absolute() or text.startswith("~") or ".." in pure.parts:
        raise Forbidden("artifact paths must stay inside the run directory")
    if len(pure.parts) and ":" in pure.parts[0]:
        raise Forbidden("artifact paths must stay inside the run directory")
    root = Path(run_dir).resolve()
    target = (root / pure).resolve()
    if not _inside(root, target):
        raise Forbidden("artifact path leads outside the run directory")
    if not target.is_file():
        raise NotFound(f"no artifact {text!r} in this run")
    return target
