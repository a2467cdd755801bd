"""HTTP API of hyperparameter tuning (SPEC §9)."""

from __future__ import annotations

import uuid
from typing import Annotated

from fastapi import APIRouter, Query, status

from tunix_rt.kit.deps import SessionDep, SettingsDep
from tunix_rt.kit.pagination import Offset, Page, Pagination
from tunix_rt.runs import queue
from tunix_rt.runs.schemas import RunMessage
from tunix_rt.tuning import schemas, service

router = APIRouter(prefix="/api/tuning", tags=["tuning"])


@router.post(
    "/jobs",
    status_code=status.HTTP_201_CREATED,
    operation_id="create_tuning_job",
    responses={
        404: {"description": "Unknown dataset (nothing is stored)."},
        501: {"description": "Tunix is not installed."},
    },
)
async def create_tuning_job(
    body: schemas.TuningJobCreate, session: SessionDep, settings: SettingsDep
) -> schemas.TuningJob:
    """Queue a search over run parameters; a worker runs it on Ray Tune, one run per trial."""
    job = await service.create_job(session, settings, body)
    await queue.enqueue(session)
    return await service.job_detail(session, job)


@router.get("/jobs", operation_id="list_tuning_jobs")
async def list_tuning_jobs(
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    offset: Offset = 0,
) -> Page[schemas.TuningJobSummary]:
    """Tuning jobs, newest first."""
    page = await service.list_jobs(session, limit=limit, offset=offset)
    return Page[schemas.TuningJobSummary](
        data=page.rows,
        pagination=Pagination(limit=limit, offset=offset, next_offset=page.next_offset),
    )


@router.get("/jobs/{job_id}", operation_id="get_tuning_job")
async def get_tuning_job(job_id: uuid.UUID, session: SessionDep) -> schemas.TuningJob:
    """A job with its trials (each linking to its run) and the best trial so far."""
    return await service.job_detail(session, await service.get_job(session, job_id))


@router.post(
    "/jobs/{job_id}/cancel",
    operation_id="cancel_tuning_job",
    responses={400: {"description": "The job already finished."}},
)
async def cancel_tuning_job(job_id: uuid.UUID, session: SessionDep) -> RunMessage:
    """Stop the job: running trials' runs end ``cancelled`` within seconds."""
    return RunMessage(message=await service.cancel_job(session, job_id))
