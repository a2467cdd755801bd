"""HTTP endpoints for datasets and exports (SPEC §5)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Response, status
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse

from tunix_rt.datasets import exports, formats, preview, schemas, service
from tunix_rt.datasets.formats import ExportFormat
from tunix_rt.kit.deps import SessionDep, SettingsDep
from tunix_rt.kit.errors import BadRequest
from tunix_rt.kit.pagination import Offset, Page, Pagination
from tunix_rt.kit.text import Key
from tunix_rt.models.dataset import Dataset
from tunix_rt.training.params import MaxSeqLength

router = APIRouter(tags=["datasets"])

NDJSON = "application/x-ndjson"
NDJSON_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {"content": {NDJSON: {"schema": {"type": "string"}}}}
}


def _summary(row: Dataset) -> schemas.DatasetSummary:
    return schemas.DatasetSummary(
        dataset_key=row.dataset_key,
        build_id=row.id,
        dataset_name=row.dataset_name,
        dataset_version=row.dataset_version,
        created_at=row.created_at,
        selection_strategy=row.selection_strategy,
        seed=row.seed,
        eval_fraction=row.eval_fraction,
        filters=row.filters,
        trace_count=row.trace_count,
        train_count=row.train_count,
        eval_count=row.eval_count,
        sha256=row.sha256,
    )


@router.post(
    "/api/datasets/build", status_code=status.HTTP_201_CREATED, operation_id="build_dataset"
)
async def build_dataset(
    body: schemas.DatasetBuild, session: SessionDep, settings: SettingsDep
) -> schemas.DatasetBuilt:
    """Select traces (filters applied in the database) and freeze them as a new version."""
    return await service.build_dataset(session, settings, service.BuildSpec(**body.model_dump()))


@router.get("/api/datasets", operation_id="list_datasets")
async def list_datasets(
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    offset: Offset = 0,
) -> Page[schemas.DatasetSummary]:
    """Built dataset versions, newest first."""
    rows, more = await service.list_datasets(session, limit=limit, offset=offset)
    return Page[schemas.DatasetSummary](
        data=[_summary(r) for r in rows],
        pagination=Pagination(
            limit=limit, offset=offset, next_offset=offset + limit if more else None
        ),
    )


@router.get("/api/datasets/{dataset_key}", operation_id="get_dataset")
async def get_dataset(
    dataset_key: Key, session: SessionDep, settings: SettingsDep
) -> schemas.DatasetManifest:
    """The dataset's manifest (ids, splits, stats, SHA-256)."""
    manifest = await service.get_manifest(session, settings, dataset_key)
    return schemas.DatasetManifest.model_validate(manifest)


@router.delete(
    "/api/datasets/{dataset_key}",
    status_code=status.HTTP_204_NO_CONTENT,
    operation_id="delete_dataset",
)
async def delete_dataset(dataset_key: Key, session: SessionDep, settings: SettingsDep) -> Response:
    """Delete a dataset version and its files; 409 while a run references it."""
    await service.delete_dataset(session, settings, dataset_key)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get(
    "/api/datasets/{dataset_key}/export.jsonl",
    operation_id="export_dataset",
    response_class=StreamingResponse,
    responses=NDJSON_RESPONSE,
)
async def export_dataset(
    dataset_key: Key,
    session: SessionDep,
    settings: SettingsDep,
    format: Annotated[ExportFormat, Query(description="Export format.")] = "trace",
    split: Annotated[schemas.Split, Query()] = "all",
) -> StreamingResponse:
    """Stream a split of the dataset as NDJSON in one of the export formats."""
    await service.get_dataset(session, dataset_key)
    lines = exports.export_lines(settings, dataset_key, format, split)
    return StreamingResponse(
        formats.chunked(lines),
        media_type=NDJSON,
        headers={
            "content-disposition": f'attachment; filename="{dataset_key}.{format}.{split}.jsonl"'
        },
    )


@router.get("/api/datasets/{dataset_key}/preview", operation_id="preview_dataset_example")
async def preview_dataset_example(
    dataset_key: Key,
    session: SessionDep,
    settings: SettingsDep,
    index: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
    split: Annotated[schemas.Split, Query()] = "train",
    max_seq_length: Annotated[MaxSeqLength, Query()] = 2048,
    completion_format: Annotated[schemas.CompletionFormat, Query()] = "reasoning",
) -> schemas.DatasetPreview:
    """One example as the trainer sees it: template, tokens, loss mask, truncation."""
    await service.get_dataset(session, dataset_key)
    from tunix_rt.training.tokenizer import TokenizerError

    try:
        return await run_in_threadpool(
            preview.preview_example,
            settings,
            dataset_key,
            split=split,
            index=index,
            max_seq_length=max_seq_length,
            completion_format=completion_format,
        )
    except TokenizerError as exc:
        raise BadRequest(str(exc)) from None


@router.post(
    "/api/tunix/sft/export",
    operation_id="export_tunix_sft",
    response_class=StreamingResponse,
    responses=NDJSON_RESPONSE,
)
async def export_tunix_sft(
    body: schemas.SFTExport, session: SessionDep, settings: SettingsDep
) -> StreamingResponse:
    """A dataset (all splits) or the named traces in the tunix_sft format, up to `limit`."""
    if body.dataset_key is not None:
        await service.get_dataset(session, body.dataset_key)
        lines = exports.export_lines(
            settings, body.dataset_key, "tunix_sft", "all", limit=body.limit
        )
        return StreamingResponse(formats.chunked(lines), media_type=NDJSON)
    if body.trace_ids:
        rendered = await exports.sft_lines_for_traces(session, body.trace_ids, body.limit)
        return StreamingResponse(formats.chunked(rendered), media_type=NDJSON)
    raise BadRequest("give dataset_key or trace_ids")


@router.post(
    "/api/tunix/sft/manifest",
    status_code=status.HTTP_201_CREATED,
    operation_id="create_tunix_sft_manifest",
)
async def create_tunix_sft_manifest(
    body: schemas.SFTManifestRequest, session: SessionDep, settings: SettingsDep
) -> schemas.SFTManifest:
    """Export the train split (tunix_sft) and return a run request YAML that trains on it."""
    await service.get_dataset(session, body.dataset_key)
    data_path = await run_in_threadpool(exports.sft_train_file, settings, body.dataset_key)
    return schemas.SFTManifest(
        manifest_yaml=exports.run_request_yaml(body.model_dump(), data_path),
        dataset_key=body.dataset_key,
        model_id=body.model_id,
        data_path=str(data_path),
        message=exports.manifest_message(body.dataset_key, data_path),
    )
