"""Training and generation with Tunix, run in a child process (``python -m tunix_rt.training``).

This package's top level and its ``config``, ``presets``, ``resolve``, ``tokenizer`` and
``data`` modules never import jax or tunix, so the API server can use them; ``model``,
``train`` and ``generate`` do and are only imported inside the child.
"""

from __future__ import annotations

from importlib import metadata
from importlib.util import find_spec

__all__ = ["available"]


def available() -> tuple[bool, str, str]:
    """``(available, version, message)`` for Tunix, from package metadata (no heavy import)."""
    versions: dict[str, str] = {}
    for dist in ("google-tunix", "jax", "sentencepiece"):
        try:
            versions[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            return (
                False,
                "",
                f"{dist} is not installed; install the project with its dependencies "
                "(pip install -e .) to train models",
            )
    for module in ("tunix", "jax", "flax", "optax", "orbax.checkpoint"):
        if find_spec(module.split(".")[0]) is None:
            return False, versions["google-tunix"], f"module {module} cannot be found"
    return (
        True,
        versions["google-tunix"],
        f"tunix {versions['google-tunix']} with jax {versions['jax']} (CPU)",
    )
