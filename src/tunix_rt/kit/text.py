"""Text every database can store, and the constrained string types built on that check.

Every name, key, id and path an endpoint accepts is one of the types below (or ``Text``
with an explicit ``max_length``): never NUL, never a lone surrogate, always bounded. A
NUL reaching a query is a 500 on Postgres; these refuse it with a 422 naming the field.
Free-form JSON objects (a trace's ``meta``) are bounded in depth by ``check_json``.
"""

from __future__ import annotations

import math
from typing import Annotated, Any

from pydantic import AfterValidator, StringConstraints


def storable_text(value: str) -> str:
    """Reject text no database column can hold: NUL characters and lone surrogates."""
    if "\x00" in value:
        raise ValueError("must not contain NUL (\\u0000) characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError(f"is not valid Unicode (lone surrogate at position {exc.start})") from None
    return value


# Dataset names and versions, eval-set and baseline names, queue names: a letter or digit,
# then letters, digits, ".", "_" or "-" (safe in paths, URLs and dataset keys).
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]*$"

# A request string stored in the database or used in a query (give it a max_length).
Text = Annotated[str, AfterValidator(storable_text)]


# Constraints first, then the storable check (in this order the schema keeps the pattern).
_STORABLE = AfterValidator(storable_text)

# A user-chosen name (datasets, eval sets, baselines, run directories).
Name = Annotated[
    str, StringConstraints(min_length=1, max_length=128, pattern=NAME_PATTERN), _STORABLE
]
# A dataset version (the second half of a dataset key) or a queue name.
Label = Annotated[
    str, StringConstraints(min_length=1, max_length=64, pattern=NAME_PATTERN), _STORABLE
]
# A dataset key "{name}-{version}" or another identifier looked up by equality.
Key = Annotated[str, StringConstraints(min_length=1, max_length=200), _STORABLE]
# A model reference: a preset, a hub id or a checkpoint directory.
ModelRef = Annotated[str, StringConstraints(min_length=1, max_length=500), _STORABLE]
# A path relative to a run directory (artifact downloads).
RelPath = Annotated[str, StringConstraints(min_length=1, max_length=4096), _STORABLE]

# How deep a free-form JSON value (``meta``) may nest: far more than any real metadata,
# far less than what breaks a recursive encoder or a database's JSON functions.
MAX_JSON_DEPTH = 32


def json_problem(value: Any, path: str, *, max_depth: int = MAX_JSON_DEPTH) -> str | None:
    """What makes a decoded JSON value unstorable (None when it is fine): nesting deeper
    than ``max_depth``, non-finite numbers, NUL or lone surrogates in keys or strings.
    Iterative, so a hostile depth cannot exhaust the stack while checking."""
    stack: list[tuple[Any, str, int]] = [(value, path, 1)]
    while stack:
        item, where, depth = stack.pop()
        if isinstance(item, str):
            try:
                storable_text(item)
            except ValueError as exc:
                return f"{where} {exc}"
        elif isinstance(item, float):
            if not math.isfinite(item):
                return f"{where} is {item}; JSON numbers must be finite"
        elif isinstance(item, dict | list):
            if depth > max_depth:
                return f"{where} nests deeper than {max_depth} levels"
            if isinstance(item, dict):
                for key, child in item.items():
                    try:
                        storable_text(key)
                    except ValueError as exc:
                        return f"{where} key {key!r} {exc}"
                    stack.append((child, f"{where}.{key}", depth + 1))
            else:
                stack.extend((child, f"{where}[{i}]", depth + 1) for i, child in enumerate(item))
    return None


def too_deep(value: Any, max_depth: int = MAX_JSON_DEPTH) -> bool:
    """Whether a decoded JSON value nests deeper than ``max_depth`` (containers only)."""
    level = [value]
    for _ in range(max_depth):
        level = [
            child
            for item in level
            if isinstance(item, dict | list)
            for child in (item.values() if isinstance(item, dict) else item)
            if isinstance(child, dict | list)
        ]
        if not level:
            return False
    return True  # containers remain below level max_depth
