"""HTTP endpoints for datasets and exports (SPEC §5)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["datasets"])
