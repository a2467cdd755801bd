"""Model registry rules (SPEC §11): create models, promote runs to immutable versions,
move aliases, resolve ``name@version|alias`` for runs, evaluations and baselines.

The registry reads runs, datasets and evaluations through their tables only (it imports
no other domain's service), so runs and evals can resolve registered models through it
without an import circle.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tunix_rt.config import Settings
from tunix_rt.db import utcnow
from tunix_rt.kit.errors import BadRequest, Conflict, NotFound, Unprocessable
from tunix_rt.kit.text import NAME_PATTERN
from tunix_rt.models.dataset import Dataset
from tunix_rt.models.evaluation import Evaluation
from tunix_rt.models.registry import ModelAlias, ModelVersion, RegisteredModel
from tunix_rt.models.run import Run
from tunix_rt.registry import schemas, store
from tunix_rt.training.config import FINAL_MODEL_FILE

_VERSION = re.compile(r"^v([0-9]+)$")
_NAME = re.compile(NAME_PATTERN)
RESOLVED_CONFIG = "resolved_config.json"


@dataclass(frozen=True)
class ModelRef:
    name: str
    ref: str  # a version name or an alias


def parse_ref(value: str) -> ModelRef | None:
    """``name@version`` / ``name@alias`` → ModelRef; None for anything else (a preset,
    a path, a hub id)."""
    name, sep, ref = value.strip().partition("@")
    if not sep or not _NAME.match(name) or not _NAME.match(ref) or "@" in ref:
        return None
    return ModelRef(name, ref)


@dataclass(frozen=True)
class Resolved:
    """A registered version: its canonical ``name@version`` and weights directory."""

    ref: str
    version: ModelVersion
    directory: Path


# --- models ---------------------------------------------------------------------------------


async def get_model(session: AsyncSession, name: str) -> RegisteredModel:
    row = await session.scalar(select(RegisteredModel).where(RegisteredModel.name == name))
    if row is None:
        raise NotFound(f"model {name!r} not found")
    return row


async def create_model(
    session: AsyncSession, name: str, description: str | None
) -> RegisteredModel:
    taken = await session.scalar(select(RegisteredModel.id).where(RegisteredModel.name == name))
    if taken is not None:
        raise Conflict(f"model {name!r} exists already")
    now = utcnow()
    row = RegisteredModel(name=name, description=description, created_at=now, updated_at=now)
    session.add(row)
    try:
        await session.flush()
    except IntegrityError:  # a concurrent create of the same name
        raise Conflict(f"model {name!r} exists already") from None
    return row


async def list_models(session: AsyncSession) -> list[RegisteredModel]:
    stmt = select(RegisteredModel).order_by(RegisteredModel.updated_at.desc(), RegisteredModel.id)
    return list((await session.scalars(stmt)).all())


async def versions_of(session: AsyncSession, model: RegisteredModel) -> list[ModelVersion]:
    stmt = (
        select(ModelVersion)
        .where(ModelVersion.model_id == model.id)
        .order_by(ModelVersion.created_at.desc(), ModelVersion.id.desc())
    )
    return list((await session.scalars(stmt)).all())


async def aliases_of(session: AsyncSession, model: RegisteredModel) -> dict[str, ModelAlias]:
    stmt = select(ModelAlias).where(ModelAlias.model_id == model.id).order_by(ModelAlias.alias)
    return {a.alias: a for a in (await session.scalars(stmt)).all()}


async def model_summaries(session: AsyncSession) -> list[schemas.ModelSummary]:
    """Every model with its version count, newest version and aliases (three queries)."""
    models = await list_models(session)
    versions = (
        await session.execute(
            select(ModelVersion.id, ModelVersion.model_id, ModelVersion.version).order_by(
                ModelVersion.created_at, ModelVersion.id
            )
        )
    ).all()
    names = {version_id: version for version_id, _, version in versions}
    counts: dict[uuid.UUID, int] = {}
    latest: dict[uuid.UUID, str] = {}
    for _, model_id, version in versions:
        counts[model_id] = counts.get(model_id, 0) + 1
        latest[model_id] = version
    aliases: dict[uuid.UUID, dict[str, str]] = {}
    for row in (await session.scalars(select(ModelAlias).order_by(ModelAlias.alias))).all():
        aliases.setdefault(row.model_id, {})[row.alias] = names[row.version_id]
    return [
        schemas.ModelSummary(
            name=m.name,
            description=m.description,
            version_count=counts.get(m.id, 0),
            latest_version=latest.get(m.id),
            aliases=aliases.get(m.id, {}),
            created_at=m.created_at,
            updated_at=m.updated_at,
        )
        for m in models
    ]


async def delete_model(
    sessionmaker: async_sessionmaker[AsyncSession], settings: Settings, name: str
) -> None:
    """Delete a model with its versions and aliases, then (after the commit) the weights
    no other model's version uses."""
    async with sessionmaker() as session:
        model = await get_model(session, name)
        shas = {v.sha256 for v in await versions_of(session, model)}
        await session.execute(delete(ModelAlias).where(ModelAlias.model_id == model.id))
        await session.execute(delete(ModelVersion).where(ModelVersion.model_id == model.id))
        await session.delete(model)
        await session.commit()
        for sha in sorted(shas):
            await remove_if_unused(session, settings, sha)


# --- versions -------------------------------------------------------------------------------


async def _version_row(
    session: AsyncSession, model: RegisteredModel, version: str
) -> ModelVersion | None:
    stmt = select(ModelVersion).where(
        ModelVersion.model_id == model.id, ModelVersion.version == version
    )
    return await session.scalar(stmt)


async def get_version(session: AsyncSession, name: str, ref: str) -> ModelVersion:
    """A version by name or alias (404 naming what is unknown)."""
    model = await get_model(session, name)
    row = await _version_row(session, model, ref)
    if row is not None:
        return row
    alias = await session.get(ModelAlias, (model.id, ref))
    if alias is not None:
        target = await session.get(ModelVersion, alias.version_id)
        if target is not None:
            return target
    raise NotFound(f"model {name!r} has no version or alias {ref!r}")


def _check_promotable(run: Run, settings: Settings) -> Path:
    """400 naming why a run's model cannot be registered; its directory otherwise."""
    if run.kind != "train":
        raise BadRequest(f"run {run.id} is an {run.kind} job, not a training run")
    if run.mode == "dry-run":
        raise BadRequest(f"run {run.id} is a dry run: it trained no model to register")
    if run.mode != "local":
        raise BadRequest(f"run {run.id} is a {run.mode} run: only local runs keep weights here")
    if run.status != "completed":
        raise BadRequest(
            f"run {run.id} is {run.status}; only a completed run's final model can be registered"
        )
    run_dir = Path(run.output_dir).resolve()
    runs_root = (settings.data_dir / "runs").resolve()
    if runs_root not in run_dir.parents:
        raise BadRequest(f"run {run.id}'s directory is outside the runs folder")
    if not (run_dir / FINAL_MODEL_FILE).is_file():
        raise BadRequest(f"run {run.id} has no final model ({FINAL_MODEL_FILE} is missing)")
    return run_dir


async def _provenance(session: AsyncSession, run: Run, run_dir: Path) -> dict[str, Any]:
    dataset_sha = None
    if run.dataset_key:
        dataset_sha = await session.scalar(
            select(Dataset.sha256).where(Dataset.dataset_key == run.dataset_key)
        )
    config: dict[str, Any] = dict(run.config)
    resolved = run_dir / RESOLVED_CONFIG
    if resolved.is_file():
        try:
            loaded = json.loads(resolved.read_text(encoding="utf-8"))
            if isinstance(loaded, dict):
                config = loaded
        except (OSError, json.JSONDecodeError):
            pass
    return {
        "dataset_key": run.dataset_key,
        "dataset_sha256": dataset_sha,
        "model_id": run.model_id,
        "config": config,
    }


async def _latest_evaluation(session: AsyncSession, run: Run) -> Evaluation | None:
    stmt = (
        select(Evaluation)
        .where(Evaluation.run_id == run.id)
        .order_by(Evaluation.evaluated_at.desc(), Evaluation.id.desc())
        .limit(1)
    )
    return await session.scalar(stmt)


def _metrics(evaluation: Evaluation | None) -> dict[str, Any]:
    """The evaluation's score and metrics (numbers only)."""
    if evaluation is None:
        return {}
    return {"score": evaluation.score, **evaluation.metrics}


def _evaluation_ref(evaluation: Evaluation | None) -> dict[str, Any] | None:
    if evaluation is None:
        return None
    return {
        "evaluation_id": str(evaluation.id),
        "judge": evaluation.judge_name,
        "eval_set": evaluation.eval_set_name,
        "item_count": evaluation.item_count,
        "evaluated_at": evaluation.evaluated_at.isoformat(),
    }


async def _next_version(session: AsyncSession, model: RegisteredModel) -> str:
    names = (
        await session.scalars(select(ModelVersion.version).where(ModelVersion.model_id == model.id))
    ).all()
    numbers = [int(m.group(1)) for n in names if (m := _VERSION.match(n))]
    return f"v{max(numbers, default=0) + 1}"


async def _referenced(session: AsyncSession, sha256: str) -> bool:
    found = await session.scalar(
        select(ModelVersion.id).where(ModelVersion.sha256 == sha256).limit(1)
    )
    return found is not None


@dataclass(frozen=True)
class Promotion:
    version: ModelVersion
    created: bool  # False: the same weights were registered already (200)
    new_blob: str | None  # a blob this promotion wrote (removed if its transaction fails)


async def check_promotion(
    session: AsyncSession, settings: Settings, name: str, run_id: uuid.UUID, version: str | None
) -> tuple[RegisteredModel, Run, Path]:
    """Every check of a promotion that needs no export (404/400/409/422)."""
    model = await get_model(session, name)
    run = await session.get(Run, run_id)
    if run is None:
        raise NotFound(f"run {run_id} not found")
    run_dir = _check_promotable(run, settings)
    if version is not None:
        if await _version_row(session, model, version) is not None:
            raise Conflict(f"model {name!r} has a version {version!r} already")
        if await session.get(ModelAlias, (model.id, version)) is not None:
            raise Unprocessable("version", f"{version!r} is an alias of model {name!r}")
    return model, run, run_dir


async def record_promotion(
    session: AsyncSession,
    settings: Settings,
    name: str,
    run_id: uuid.UUID,
    version: str | None,
    exported: store.Exported,
) -> Promotion:
    """Register an export of ``run_id``'s final model as a version of ``name`` (flushed;
    the caller commits and, when that fails, calls ``remove_if_unused``). The same weights already
    in ``name`` give back their version. The export is consumed either way."""
    try:
        model, run, run_dir = await check_promotion(session, settings, name, run_id, version)
        same = await session.scalar(
            select(ModelVersion).where(
                ModelVersion.model_id == model.id, ModelVersion.sha256 == exported.sha256
            )
        )
    except BaseException:
        store.discard(exported)
        raise
    if same is not None:
        store.discard(exported)
        return Promotion(same, created=False, new_blob=None)
    new_blob = exported.sha256 if store.keep(settings, exported) else None
    evaluation = await _latest_evaluation(session, run)
    now = utcnow()
    row = ModelVersion(
        model_id=model.id,
        version=version or await _next_version(session, model),
        run_id=run.id,
        sha256=exported.sha256,
        size_bytes=exported.size_bytes,
        metrics=_metrics(evaluation),
        provenance=await _provenance(session, run, run_dir)
        | {"evaluation": _evaluation_ref(evaluation)},
        created_at=now,
    )
    session.add(row)
    model.updated_at = now
    try:
        await session.flush()
    except IntegrityError:
        await session.rollback()
        await remove_if_unused(session, settings, new_blob)
        raise Conflict(
            f"model {name!r} got version {row.version!r} from a concurrent promotion; retry"
        ) from None
    return Promotion(row, created=True, new_blob=new_blob)


async def promote(
    sessionmaker: async_sessionmaker[AsyncSession],
    settings: Settings,
    name: str,
    run_id: uuid.UUID,
    version: str | None,
) -> tuple[schemas.Version, bool]:
    """Promote a run: check (no export when a check fails), export with the training child
    outside any transaction, record and commit; a failed write leaves no version row and
    no new files. Returns the version and whether it is new."""
    async with sessionmaker() as session:
        _, _, run_dir = await check_promotion(session, settings, name, run_id, version)
    exported = await store.export_run(settings, run_dir)
    async with sessionmaker() as session:
        promotion = await record_promotion(session, settings, name, run_id, version, exported)
        try:
            await session.commit()
        except BaseException:
            await session.rollback()
            await remove_if_unused(session, settings, promotion.new_blob)
            raise
        model = await get_model(session, name)
        return await version_view(session, model, promotion.version), promotion.created


async def remove_if_unused(session: AsyncSession, settings: Settings, sha: str | None) -> None:
    """Remove the weights directory ``sha`` unless a version references it (after a
    deletion, or a promotion whose write failed)."""
    if sha and not await _referenced(session, sha):
        store.remove_blob(settings, sha)


async def delete_version(
    sessionmaker: async_sessionmaker[AsyncSession], settings: Settings, name: str, version: str
) -> None:
    """Delete one version (409 while an alias points at it); after the commit its files
    go when no other version references the same weights."""
    async with sessionmaker() as session:
        sha = await _delete_version_row(session, name, version)
        await session.commit()
        await remove_if_unused(session, settings, sha)


async def _delete_version_row(session: AsyncSession, name: str, version: str) -> str:
    model = await get_model(session, name)
    row = await _version_row(session, model, version)
    if row is None:
        raise NotFound(f"model {name!r} has no version {version!r}")
    pointing = (
        await session.scalars(
            select(ModelAlias.alias)
            .where(ModelAlias.version_id == row.id)
            .order_by(ModelAlias.alias)
        )
    ).all()
    if pointing:
        raise Conflict(
            f"{name}@{version} is the target of alias {', '.join(pointing)}; move or delete "
            "the alias first"
        )
    sha = row.sha256
    await session.delete(row)
    model.updated_at = utcnow()
    await session.flush()
    return sha


# --- aliases --------------------------------------------------------------------------------


async def set_alias(
    session: AsyncSession, name: str, alias: str, version: str
) -> tuple[ModelAlias, ModelVersion]:
    if not _NAME.match(alias) or len(alias) > 64:
        raise Unprocessable("alias", "letters, digits, '.', '_' and '-' (≤ 64), starting alnum")
    if _VERSION.match(alias):
        raise Unprocessable("alias", f"{alias!r} looks like a version name; pick another alias")
    model = await get_model(session, name)
    if await _version_row(session, model, alias) is not None:
        raise Unprocessable("alias", f"{alias!r} is a version of model {name!r}")
    target = await _version_row(session, model, version)
    if target is None:
        raise NotFound(f"model {name!r} has no version {version!r}")
    now = utcnow()
    row = await session.get(ModelAlias, (model.id, alias))
    if row is None:
        row = ModelAlias(model_id=model.id, alias=alias, version_id=target.id, updated_at=now)
        session.add(row)
    else:
        row.version_id = target.id
        row.updated_at = now
    model.updated_at = now
    await session.flush()
    return row, target


async def delete_alias(session: AsyncSession, name: str, alias: str) -> None:
    model = await get_model(session, name)
    row = await session.get(ModelAlias, (model.id, alias))
    if row is None:
        raise NotFound(f"model {name!r} has no alias {alias!r}")
    await session.delete(row)
    model.updated_at = utcnow()
    await session.flush()


async def aliases_by_version(
    session: AsyncSession, versions: list[ModelVersion]
) -> dict[uuid.UUID, list[str]]:
    ids = [v.id for v in versions]
    if not ids:
        return {}
    rows = (
        await session.execute(
            select(ModelAlias.version_id, ModelAlias.alias)
            .where(ModelAlias.version_id.in_(ids))
            .order_by(ModelAlias.alias)
        )
    ).all()
    out: dict[uuid.UUID, list[str]] = {}
    for version_id, alias in rows:
        out.setdefault(version_id, []).append(alias)
    return out


# --- use elsewhere ----------------------------------------------------------------------------


async def resolve(
    session: AsyncSession, settings: Settings, value: str, *, field: str | tuple[str, ...]
) -> Resolved:
    """A registered model named ``name@version|alias`` (404 when unknown; 422 on ``field``
    when the value is not such a reference or its weights are missing)."""
    ref = parse_ref(value)
    if ref is None:
        raise Unprocessable(field, f"{value!r} is not a registered model (name@version|alias)")
    row = await get_version(session, ref.name, ref.ref)
    directory = store.blob_dir(settings, row.sha256)
    if not (directory / "config.json").is_file():
        raise Unprocessable(field, f"{ref.name}@{row.version}'s weights are missing from the store")
    return Resolved(f"{ref.name}@{row.version}", row, directory)


async def registered_names(
    session: AsyncSession, run_ids: list[uuid.UUID]
) -> dict[uuid.UUID, list[str]]:
    """``name@version`` of every version promoted from each of ``run_ids``."""
    if not run_ids:
        return {}
    rows = (
        await session.execute(
            select(ModelVersion.run_id, RegisteredModel.name, ModelVersion.version)
            .join(RegisteredModel, RegisteredModel.id == ModelVersion.model_id)
            .where(ModelVersion.run_id.in_(run_ids))
            .order_by(RegisteredModel.name, ModelVersion.created_at)
        )
    ).all()
    out: dict[uuid.UUID, list[str]] = {}
    for run_id, name, version in rows:
        if run_id is not None:
            out.setdefault(run_id, []).append(f"{name}@{version}")
    return out


# --- read shapes ----------------------------------------------------------------------------


def _view(
    model: RegisteredModel, row: ModelVersion, aliases: dict[uuid.UUID, list[str]]
) -> schemas.Version:
    return schemas.Version(
        name=model.name,
        version=row.version,
        ref=f"{model.name}@{row.version}",
        run_id=row.run_id,
        sha256=row.sha256,
        size_bytes=row.size_bytes,
        metrics=row.metrics,
        provenance=schemas.Provenance.model_validate(row.provenance),
        aliases=aliases.get(row.id, []),
        created_at=row.created_at,
    )


async def model_detail(session: AsyncSession, model: RegisteredModel) -> schemas.ModelDetail:
    versions = await versions_of(session, model)
    by_version = await aliases_by_version(session, versions)
    names = {v.id: v.version for v in versions}
    aliases = await aliases_of(session, model)
    return schemas.ModelDetail(
        name=model.name,
        description=model.description,
        version_count=len(versions),
        latest_version=versions[0].version if versions else None,
        aliases={a: names[row.version_id] for a, row in aliases.items()},
        created_at=model.created_at,
        updated_at=model.updated_at,
        versions=[_view(model, v, by_version) for v in versions],
    )


async def version_view(
    session: AsyncSession, model: RegisteredModel, row: ModelVersion
) -> schemas.Version:
    by_version = await aliases_by_version(session, [row])
    return _view(model, row, by_version)
