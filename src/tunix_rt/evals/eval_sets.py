"""Named eval sets: JSONL of ``{id, prompt, expected_answer, category?}``, validated per line."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import defer

from tunix_rt.db import utcnow
from tunix_rt.evals.schemas import EvalSetCreate, EvalSetItem
from tunix_rt.evals.service import get_eval_set_row
from tunix_rt.kit.errors import Conflict, NotFound, Unprocessable
from tunix_rt.models.evaluation import EvalSet

MAX_REPORTED = 20
# Eval sets shipped with the product: {name: description}; items in builtin/{name}.jsonl.
BUILTIN_DIR = Path(__file__).parent / "builtin"
BUILTIN_SETS = {
    "starter-v1": (
        "31 problems written by the product's generators with seeds of their own: "
        "1-, 2- and 3-digit addition, 3-digit subtraction (negative results included), "
        "2-digit multiplication and High Card Duel"
    ),
}


@dataclass(frozen=True)
class LineError:
    line: int
    message: str

    def __str__(self) -> str:
        return f"line {self.line}: {self.message}"


def _describe(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"]) or "(item)"
        parts.append(f"{loc}: {err['msg']}")
    return "; ".join(parts)


def parse_jsonl(lines: Iterable[str]) -> tuple[list[EvalSetItem], list[LineError]]:
    """Validate every non-blank line; errors carry 1-based line numbers."""
    items: list[EvalSetItem] = []
    errors: list[LineError] = []
    seen: dict[str, int] = {}
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
        except json.JSONDecodeError as exc:
            errors.append(LineError(number, f"invalid JSON: {exc.msg}"))
            continue
        if not isinstance(data, dict):
            errors.append(LineError(number, "expected a JSON object"))
            continue
        try:
            item = EvalSetItem.model_validate(data)
        except ValidationError as exc:
            errors.append(LineError(number, _describe(exc)))
            continue
        if item.id in seen:
            errors.append(
                LineError(number, f"duplicate id {item.id!r} (first on line {seen[item.id]})")
            )
            continue
        seen[item.id] = number
        items.append(item)
    return items, errors


def raise_line_errors(errors: list[LineError]) -> None:
    """A 422 listing the first problems by line number."""
    shown = "; ".join(str(e) for e in errors[:MAX_REPORTED])
    more = f" (and {len(errors) - MAX_REPORTED} more)" if len(errors) > MAX_REPORTED else ""
    raise Unprocessable((), f"{len(errors)} invalid line(s): {shown}{more}")


def content_sha256(items: list[EvalSetItem]) -> str:
    digest = hashlib.sha256()
    for item in items:
        digest.update(item.model_dump_json(exclude_none=True).encode() + b"\n")
    return digest.hexdigest()


async def create_eval_set(session: AsyncSession, body: EvalSetCreate) -> EvalSet:
    """Register a set; 409 when the name is taken (sets are immutable, like datasets)."""
    seen: set[str] = set()
    for index, item in enumerate(body.items):
        if item.id in seen:
            raise Unprocessable(("items", index, "id"), f"duplicate id {item.id!r}")
        seen.add(item.id)
    if await session.scalar(select(EvalSet.id).where(EvalSet.name == body.name)) is not None:
        raise Conflict(f"eval set {body.name!r} already exists; delete it or pick another name")
    row = EvalSet(
        name=body.name,
        description=body.description,
        items=[item.model_dump(exclude_none=True) for item in body.items],
        item_count=len(body.items),
        sha256=content_sha256(body.items),
        created_at=utcnow(),
    )
    try:
        async with session.begin_nested():
            session.add(row)
    except IntegrityError:
        raise Conflict(f"eval set {body.name!r} already exists") from None
    return row


def builtin_eval_set(name: str) -> EvalSetCreate:
    """A shipped eval set by name (404 naming the known ones)."""
    if name not in BUILTIN_SETS:
        raise NotFound(
            f"no built-in eval set {name!r}; built-in sets: {', '.join(sorted(BUILTIN_SETS))}"
        )
    with (BUILTIN_DIR / f"{name}.jsonl").open(encoding="utf-8") as handle:
        items, errors = parse_jsonl(handle)
    if errors:  # pragma: no cover - the shipped files are checked by tests
        raise RuntimeError(f"built-in eval set {name}: {errors[0]}")
    return EvalSetCreate(name=name, description=BUILTIN_SETS[name], items=items)


async def list_eval_sets(session: AsyncSession) -> list[EvalSet]:
    stmt = select(EvalSet).options(defer(EvalSet.items, raiseload=True)).order_by(EvalSet.name)
    return list((await session.scalars(stmt)).all())


async def get_eval_set(session: AsyncSession, name: str) -> EvalSet:
    return await get_eval_set_row(session, name)


async def delete_eval_set(session: AsyncSession, name: str) -> None:
    """Delete a set; evaluations made with it keep their results and its name."""
    await session.delete(await get_eval_set_row(session, name))
    await session.flush()
