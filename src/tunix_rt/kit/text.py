"""Text every database can store (the check, and the pydantic string type that applies
it), and the one pattern for user-chosen names."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator


def storable_text(value: str) -> str:
    """Reject text no database column can hold: NUL characters and lone surrogates."""
    if "\x00" in value:
        raise ValueError("must not contain NUL (\\u0000) characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError(f"is not valid Unicode (lone surrogate at position {exc.start})") from None
    return value


# A request string field stored in the database (traces, dataset meta, eval sets).
Text = Annotated[str, AfterValidator(storable_text)]


# Dataset names and versions, eval-set and baseline names, queue names: a letter or digit,
# then letters, digits, ".", "_" or "-" (safe in paths, URLs and dataset keys).
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]*$"
