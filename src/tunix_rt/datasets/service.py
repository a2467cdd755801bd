"""Dataset rules: build immutable versions, read them back, export and delete them.

A built version is a directory ``{data_dir}/datasets/{key}/`` holding ``traces.jsonl``
(one stored record per line, keys sorted, so the bytes do not depend on the database)
and ``manifest.json``. The ``datasets`` row indexes it; a directory without a row is
left-over garbage (a build whose transaction did not commit) and is replaced by the next
build of that key. Files follow the transaction: a build's directory is removed when its
transaction rolls back, a deleted dataset's directory only once the delete commits.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import random
import re
import shutil
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import ColumnElement, and_, event, exists, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from tunix_rt.config import Settings
from tunix_rt.datasets.schemas import DatasetBuilt
from tunix_rt.db import new_id, utcnow
from tunix_rt.kit.errors import Conflict, NotFound, Unprocessable
from tunix_rt.kit.text import storable_text
from tunix_rt.models import Trace
from tunix_rt.models.dataset import Dataset
from tunix_rt.models.run import Run
from tunix_rt.traces.scoring import baseline_score
from tunix_rt.traces.service import META_KEY, TraceFilter, filter_clauses

DATASET_SCHEMA_VERSION = "1.0"
TRACES_FILE = "traces.jsonl"
MANIFEST_FILE = "manifest.json"
KEY_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$")
ID_CHUNK = 5000
FETCH_CHUNK = 500

SplitName = Literal["train", "eval", "all"]


@dataclass
class BuildSpec:
    dataset_name: str
    dataset_version: str
    filters: dict[str, Any] = field(default_factory=dict)
    limit: int = 100
    selection_strategy: Literal["latest", "random"] = "latest"
    seed: int | None = None
    eval_fraction: float = 0.0
    session_id: str | None = None
    parent_dataset_id: str | None = None
    training_run_id: str | None = None

    @property
    def key(self) -> str:
        return f"{self.dataset_name}-{self.dataset_version}"


# --- paths ------------------------------------------------------------------------------


def datasets_root(settings: Settings) -> Path:
    return (settings.data_dir / "datasets").resolve()


def dataset_dir(settings: Settings, key: str) -> Path:
    """The directory of a key; a key that could escape the data directory is unknown."""
    if not KEY_RE.match(key) or ".." in key:
        raise NotFound(f"dataset {key} not found")
    return datasets_root(settings) / key


# --- transaction hooks ----------------------------------------------------------------------


def _after_outcome(
    session: AsyncSession,
    *,
    on_commit: Callable[[], None] | None = None,
    on_rollback: Callable[[], None] | None = None,
) -> None:
    """Run file work once the session's transaction commits or rolls back, not before."""
    done = False

    def fire(action: Callable[[], None] | None) -> Callable[[Any], None]:
        def listener(_session: Any) -> None:
            nonlocal done
            if done:
                return
            done = True
            if action is not None:
                action()

        return listener

    sync = session.sync_session
    event.listen(sync, "after_commit", fire(on_commit), once=True)
    event.listen(sync, "after_rollback", fire(on_rollback), once=True)


def _rmtree(path: Path) -> Callable[[], None]:
    return lambda: shutil.rmtree(path, ignore_errors=True)


# --- build ------------------------------------------------------------------------------


def _filter(spec: BuildSpec) -> TraceFilter:
    meta: dict[str, str] = {}
    for key, value in spec.filters.items():
        if not META_KEY.match(key):
            raise Unprocessable(
                ("filters", key), "filter keys are 1-64 letters, digits, '_' or '-'"
            )
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise Unprocessable(("filters", key), "filter values are strings or numbers")
        text = value if isinstance(value, str) else json.dumps(value)
        try:
            meta[key] = storable_text(text)
        except ValueError as exc:
            raise Unprocessable(("filters", key), f"filter value {exc}") from None
    return TraceFilter(meta=meta)


def _validate(spec: BuildSpec) -> None:
    if spec.selection_strategy == "random" and spec.seed is None:
        raise Unprocessable("seed", "seed is required when selection_strategy is random")
    if not 0 <= spec.eval_fraction <= 0.5:
        raise Unprocessable("eval_fraction", "eval_fraction must be from 0 to 0.5")
    if not KEY_RE.match(spec.key):
        raise Unprocessable("dataset_name", "name and version must be path-safe")


async def _select_latest(
    session: AsyncSession, clauses: Sequence[ColumnElement[bool]], limit: int
) -> list[tuple[uuid.UUID, datetime]]:
    stmt = (
        select(Trace.id, Trace.created_at)
        .where(*clauses)
        .order_by(Trace.created_at.desc(), Trace.id.desc())
        .limit(limit)
    )
    return [(row[0], row[1]) for row in (await session.execute(stmt)).all()]


async def _select_random(
    session: AsyncSession, clauses: Sequence[ColumnElement[bool]], limit: int, seed: int
) -> list[tuple[uuid.UUID, datetime]]:
    """Sample positions with a local RNG, then walk all matching ids in id order."""
    count_stmt = select(func.count()).select_from(Trace)
    if clauses:
        count_stmt = count_stmt.where(and_(*clauses))
    total = int((await session.execute(count_stmt)).scalar_one())
    wanted = sorted(random.Random(seed).sample(range(total), min(limit, total)))
    picked: list[tuple[uuid.UUID, datetime]] = []
    position = 0
    after: uuid.UUID | None = None
    cursor = 0
    while cursor < len(wanted):
        stmt = select(Trace.id, Trace.created_at).where(*clauses)
        if after is not None:
            stmt = stmt.where(Trace.id > after)
        rows = (await session.execute(stmt.order_by(Trace.id).limit(ID_CHUNK))).all()
        for row in rows:
            if cursor < len(wanted) and position == wanted[cursor]:
                picked.append((row[0], row[1]))
                cursor += 1
            position += 1
        if len(rows) < ID_CHUNK:
            break
        after = rows[-1][0]
    return picked


def _eval_ids(ids: Sequence[str], fraction: float, seed: int | None) -> set[str]:
    """A deterministic hold-out: the ids whose hash with the seed sorts first."""
    if fraction <= 0 or len(ids) < 2:
        return set()
    n_eval = max(1, math.floor(len(ids) * fraction + 0.5))
    salt = str(seed if seed is not None else 0)
    ranked = sorted(ids, key=lambda i: hashlib.sha256(f"{salt}:{i}".encode()).hexdigest())
    return set(ranked[:n_eval])


@dataclass
class _Stats:
    count: int = 0
    steps_total: int = 0
    steps_min: int | None = None
    steps_max: int = 0
    chars_total: int = 0

    def add(self, payload: dict[str, Any]) -> None:
        score = baseline_score(payload)
        self.count += 1
        self.steps_total += score.step_count
        self.steps_min = (
            score.step_count if self.steps_min is None else min(self.steps_min, score.step_count)
        )
        self.steps_max = max(self.steps_max, score.step_count)
        self.chars_total += score.total_chars

    def as_dict(self) -> dict[str, Any]:
        n = self.count or 1
        return {
            "trace_count": self.count,
            "avg_step_count": round(self.steps_total / n, 4),
            "min_step_count": self.steps_min or 0,
            "max_step_count": self.steps_max,
            "avg_total_chars": round(self.chars_total / n, 4),
        }


def record_line(trace: Trace) -> str:
    """The stored form of one trace: sorted keys, so the bytes are backend-independent."""
    record = {
        "id": str(trace.id),
        "created_at": trace.created_at.isoformat(),
        "trace_version": trace.trace_version,
        "payload": trace.payload,
    }
    return json.dumps(record, ensure_ascii=False, sort_keys=True) + "\n"


async def _materialize(
    session: AsyncSession, selected: list[tuple[uuid.UUID, datetime]], path: Path
) -> tuple[str, _Stats]:
    """Write the selected traces oldest first; return the content's SHA-256 and stats."""
    ordered = [tid for tid, _ in sorted(selected, key=lambda pair: (pair[1], str(pair[0])))]
    digest = hashlib.sha256()
    stats = _Stats()
    with path.open("w", encoding="utf-8", newline="\n") as handle:
        for start in range(0, len(ordered), FETCH_CHUNK):
            chunk = ordered[start : start + FETCH_CHUNK]
            rows = {
                t.id: t for t in (await session.scalars(select(Trace).where(Trace.id.in_(chunk))))
            }
            for tid in chunk:
                trace = rows.get(tid)
                if trace is None:  # deleted since it was selected
                    continue
                line = record_line(trace)
                handle.write(line)
                digest.update(line.encode("utf-8"))
                stats.add(trace.payload)
            session.expunge_all()
    return digest.hexdigest(), stats


def _manifest(
    spec: BuildSpec,
    build_id: uuid.UUID,
    ids: list[str],
    eval_ids: set[str],
    sha: str,
    stats: _Stats,
) -> dict[str, Any]:
    return {
        "dataset_key": spec.key,
        "build_id": str(build_id),
        "dataset_name": spec.dataset_name,
        "dataset_version": spec.dataset_version,
        "dataset_schema_version": DATASET_SCHEMA_VERSION,
        "created_at": utcnow().isoformat(),
        "filters": _filter(spec).meta,
        "selection_strategy": spec.selection_strategy,
        "seed": spec.seed,
        "eval_fraction": spec.eval_fraction,
        "trace_ids": ids,
        "trace_count": len(ids),
        "stats": stats.as_dict(),
        "splits": {
            "train": [i for i in ids if i not in eval_ids],
            "eval": [i for i in ids if i in eval_ids],
        },
        "sha256": sha,
        "session_id": spec.session_id,
        "parent_dataset_id": spec.parent_dataset_id,
        "training_run_id": spec.training_run_id,
    }


def _ids_in(path: Path) -> list[str]:
    with path.open(encoding="utf-8") as handle:
        return [json.loads(line)["id"] for line in handle]


async def _check_free(session: AsyncSession, key: str) -> None:
    if await session.scalar(select(exists().where(Dataset.dataset_key == key))):
        raise Conflict(f"dataset {key} already exists; versions are immutable, pick a new version")


async def build_dataset(session: AsyncSession, settings: Settings, spec: BuildSpec) -> DatasetBuilt:
    """Select, snapshot and register a dataset version; all or nothing."""
    _validate(spec)
    clauses = filter_clauses(_filter(spec), session.get_bind().dialect.name)
    await _check_free(session, spec.key)
    if spec.selection_strategy == "random":
        assert spec.seed is not None
        selected = await _select_random(session, clauses, spec.limit, spec.seed)
    else:
        selected = await _select_latest(session, clauses, spec.limit)

    root = datasets_root(settings)
    root.mkdir(parents=True, exist_ok=True)
    build_id = new_id()
    staging = root / f".build-{build_id}"
    final = root / spec.key
    staging.mkdir()
    moved = False
    try:
        sha, stats = await _materialize(session, selected, staging / TRACES_FILE)
        ids = _ids_in(staging / TRACES_FILE)
        eval_ids = _eval_ids(ids, spec.eval_fraction, spec.seed)
        manifest = _manifest(spec, build_id, ids, eval_ids, sha, stats)
        (staging / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2) + "\n")
        session.add(_row(spec, build_id, manifest, final / MANIFEST_FILE))
        try:
            await session.flush()
        except IntegrityError:
            raise Conflict(
                f"dataset {spec.key} already exists; versions are immutable, pick a new version"
            ) from None
        # The key is ours now (unique row flushed): whatever sits at the path is garbage.
        shutil.rmtree(final, ignore_errors=True)
        os.replace(staging, final)
        moved = True
        _after_outcome(session, on_rollback=_rmtree(final))
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        if moved:
            shutil.rmtree(final, ignore_errors=True)
        raise
    return DatasetBuilt(
        dataset_key=spec.key,
        build_id=build_id,
        trace_count=len(ids),
        train_count=len(ids) - len(eval_ids),
        eval_count=len(eval_ids),
        sha256=sha,
        manifest_path=str(final / MANIFEST_FILE),
    )


def _row(spec: BuildSpec, build_id: uuid.UUID, manifest: dict[str, Any], path: Path) -> Dataset:
    return Dataset(
        id=build_id,
        dataset_key=spec.key,
        dataset_name=spec.dataset_name,
        dataset_version=spec.dataset_version,
        created_at=datetime.fromisoformat(manifest["created_at"]),
        selection_strategy=spec.selection_strategy,
        seed=spec.seed,
        eval_fraction=spec.eval_fraction,
        filters=manifest["filters"],
        trace_count=manifest["trace_count"],
        train_count=len(manifest["splits"]["train"]),
        eval_count=len(manifest["splits"]["eval"]),
        stats=manifest["stats"],
        sha256=manifest["sha256"],
        manifest_path=str(path),
        session_id=spec.session_id,
        parent_dataset_id=spec.parent_dataset_id,
        training_run_id=spec.training_run_id,
    )


# --- read -------------------------------------------------------------------------------


async def get_dataset(session: AsyncSession, key: str) -> Dataset:
    row = await session.scalar(select(Dataset).where(Dataset.dataset_key == key))
    if row is None:
        raise NotFound(f"dataset {key} not found")
    return row


def read_manifest(settings: Settings, key: str) -> dict[str, Any]:
    path = dataset_dir(settings, key) / MANIFEST_FILE
    try:
        manifest: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise NotFound(f"dataset {key} has no files under {path.parent}") from None
    return manifest


async def get_manifest(session: AsyncSession, settings: Settings, key: str) -> dict[str, Any]:
    """The manifest of a registered dataset (NotFound if unknown)."""
    await get_dataset(session, key)
    return read_manifest(settings, key)


async def list_datasets(
    session: AsyncSession, *, limit: int, offset: int = 0
) -> tuple[list[Dataset], bool]:
    """Newest first; the flag says whether more rows follow."""
    stmt = (
        select(Dataset)
        .order_by(Dataset.created_at.desc(), Dataset.id.desc())
        .limit(limit + 1)
        .offset(offset)
    )
    rows = list((await session.scalars(stmt)).all())
    return rows[:limit], len(rows) > limit


def iter_records(settings: Settings, key: str) -> Iterator[dict[str, Any]]:
    """Every stored record of a dataset, in file order, one line at a time."""
    path = dataset_dir(settings, key) / TRACES_FILE
    if not path.is_file():
        raise NotFound(f"dataset {key} has no files under {path.parent}")
    return _read_lines(path)


def _read_lines(path: Path) -> Iterator[dict[str, Any]]:
    with path.open(encoding="utf-8") as handle:
        for line in handle:
            yield json.loads(line)


def iter_split(settings: Settings, key: str, split: SplitName) -> Iterator[dict[str, Any]]:
    """Stored trace records of one split, streamed from traces.jsonl (no database)."""
    records = iter_records(settings, key)
    if split == "all":
        return records
    held_out = set(read_manifest(settings, key)["splits"]["eval"])
    if split == "eval":
        return (r for r in records if r["id"] in held_out)
    return (r for r in records if r["id"] not in held_out)


# --- delete -----------------------------------------------------------------------------


async def delete_dataset(session: AsyncSession, settings: Settings, key: str) -> None:
    """Remove a dataset version; refused while a run references it."""
    row = await get_dataset(session, key)
    referencing = await session.scalar(
        select(func.count()).select_from(Run).where(Run.dataset_key == key)
    )
    if referencing:
        raise Conflict(f"dataset {key} is used by {referencing} run(s); delete those runs first")
    await session.delete(row)
    await session.flush()
    directory = dataset_dir(settings, key)
    if not directory.exists():
        return
    # Move aside now, so a concurrent rebuild of the key cannot lose its new files to us.
    trash = datasets_root(settings) / f".trash-{uuid.uuid4()}"
    os.replace(directory, trash)

    def restore() -> None:
        if not directory.exists():
            os.replace(trash, directory)

    _after_outcome(session, on_commit=_rmtree(trash), on_rollback=restore)
