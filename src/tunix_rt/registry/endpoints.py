"""HTTP endpoints of the model registry (SPEC §11)."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Response, status
from fastapi import Path as PathParam
from fastapi.responses import FileResponse
from starlette.background import BackgroundTask

from tunix_rt.kit.deps import SessionDep, SessionmakerDep, SettingsDep
from tunix_rt.kit.text import Label, Name
from tunix_rt.registry import schemas, service, store

router = APIRouter(tags=["models"])

ModelName = Annotated[Name, PathParam(description="Registered model name.")]
VersionRef = Annotated[Label, PathParam(description="A version (v1, …) or an alias.")]
AliasName = Annotated[Label, PathParam(description="An alias (champion, staging, …).")]
NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"description": "Unknown model, version or alias."}
}


@router.post(
    "/api/models",
    status_code=status.HTTP_201_CREATED,
    operation_id="create_model",
    responses={409: {"description": "The name is taken."}},
)
async def create_model(body: schemas.ModelCreate, session: SessionDep) -> schemas.ModelDetail:
    """Register a model name; versions are promoted into it from runs."""
    model = await service.create_model(session, body.name, body.description)
    return await service.model_detail(session, model)


@router.get("/api/models", operation_id="list_models")
async def list_models(session: SessionDep) -> schemas.ModelList:
    """Registered models, most recently changed first."""
    return schemas.ModelList(data=await service.model_summaries(session))


@router.get("/api/models/{name}", operation_id="get_model", responses=NOT_FOUND)
async def get_model(name: ModelName, session: SessionDep) -> schemas.ModelDetail:
    """A model with its versions (newest first) and aliases."""
    return await service.model_detail(session, await service.get_model(session, name))


@router.delete(
    "/api/models/{name}",
    status_code=status.HTTP_204_NO_CONTENT,
    operation_id="delete_model",
    responses=NOT_FOUND,
)
async def delete_model(
    name: ModelName, sessionmaker: SessionmakerDep, settings: SettingsDep
) -> Response:
    """Delete a model, its versions and aliases; weights no other version uses are removed."""
    await service.delete_model(sessionmaker, settings, name)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post(
    "/api/models/{name}/versions",
    status_code=status.HTTP_201_CREATED,
    operation_id="promote_run",
    responses={
        200: {
            "description": "These weights are this model's version already.",
            "model": schemas.Version,
        },
        400: {"description": "The run has no final model to register (says why)."},
        **NOT_FOUND,
        409: {"description": "The version name is taken."},
    },
)
async def promote_run(
    name: ModelName,
    body: schemas.VersionCreate,
    response: Response,
    sessionmaker: SessionmakerDep,
    settings: SettingsDep,
) -> schemas.Version:
    """Promote a completed local run's final model: its weights are exported in the
    Hugging Face layout into the registry store and hashed (SHA-256)."""
    view, created = await service.promote(sessionmaker, settings, name, body.run_id, body.version)
    if not created:
        response.status_code = status.HTTP_200_OK
    return view


@router.get(
    "/api/models/{name}/versions/{ref}", operation_id="get_model_version", responses=NOT_FOUND
)
async def get_model_version(
    name: ModelName, ref: VersionRef, session: SessionDep
) -> schemas.Version:
    """One version, by version name or alias."""
    row = await service.get_version(session, name, ref)
    return await service.version_view(session, await service.get_model(session, name), row)


@router.delete(
    "/api/models/{name}/versions/{version}",
    status_code=status.HTTP_204_NO_CONTENT,
    operation_id="delete_model_version",
    responses={**NOT_FOUND, 409: {"description": "An alias points at the version."}},
)
async def delete_model_version(
    name: ModelName, version: VersionRef, sessionmaker: SessionmakerDep, settings: SettingsDep
) -> Response:
    """Delete a version (409 while an alias points at it); its files go when no other
    version uses the same weights."""
    await service.delete_version(sessionmaker, settings, name, version)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.put(
    "/api/models/{name}/aliases/{alias}", operation_id="set_model_alias", responses=NOT_FOUND
)
async def set_model_alias(
    name: ModelName,
    alias: AliasName,
    body: schemas.AliasSet,
    session: SessionDep,
) -> schemas.Alias:
    """Point ``alias`` at one version (moving it if it pointed elsewhere)."""
    row, target = await service.set_alias(session, name, alias, body.version)
    return schemas.Alias(alias=row.alias, version=target.version, updated_at=row.updated_at)


@router.delete(
    "/api/models/{name}/aliases/{alias}",
    status_code=status.HTTP_204_NO_CONTENT,
    operation_id="delete_model_alias",
    responses=NOT_FOUND,
)
async def delete_model_alias(name: ModelName, alias: AliasName, session: SessionDep) -> Response:
    await service.delete_alias(session, name, alias)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get(
    "/api/models/{name}/versions/{ref}/download",
    operation_id="download_model_version",
    response_class=FileResponse,
    responses={
        200: {"content": {"application/gzip": {"schema": {"type": "string"}}}},
        **NOT_FOUND,
    },
)
async def download_model_version(
    name: ModelName, ref: VersionRef, session: SessionDep, settings: SettingsDep
) -> FileResponse:
    """A Hugging Face–layout ``.tar.gz`` (config.json, model.safetensors, tokenizer
    files) under ``{name}-{version}/``."""
    resolved = await service.resolve(session, settings, f"{name}@{ref}", field="ref")
    folder = f"{name}-{resolved.version.version}"
    path: Path = await asyncio.to_thread(store.write_archive, resolved.directory, folder)
    return FileResponse(
        path,
        media_type="application/gzip",
        filename=f"{folder}.tar.gz",
        headers={"X-Model-SHA256": resolved.version.sha256},
        background=BackgroundTask(path.unlink, missing_ok=True),
    )
