"""Health of the API, its database and RediAI (SPEC §2)."""

from __future__ import annotations

import asyncio
import logging

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine

from tunix_rt.integrations.rediai import RediAIClient, RediHealth

router = APIRouter(prefix="/api", tags=["health"])
log = logging.getLogger(__name__)


class Health(BaseModel):
    status: str
    db: str


async def database_reachable(engine: AsyncEngine, wait_s: float = 3.0) -> bool:
    try:
        async with asyncio.timeout(wait_s), engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
        return True
    except Exception as exc:  # any failure to reach the DB means "down"
        log.warning("database health check failed: %s", exc)
        return False


@router.get(
    "/health",
    operation_id="get_health",
    responses={503: {"model": Health, "description": "The database is unreachable."}},
)
async def get_health(request: Request, response: Response) -> Health:
    """API health; 503 with db=down when the database cannot be reached."""
    if await database_reachable(request.app.state.engine):
        return Health(status="healthy", db="up")
    response.status_code = 503
    return Health(status="degraded", db="down")


@router.get("/redi/health", operation_id="get_redi_health")
async def get_redi_health(request: Request) -> RediHealth:
    """RediAI health (always 200; ``status`` says healthy or down with the error)."""
    client: RediAIClient = request.app.state.rediai
    return await client.health()
