"""HTTP endpoints for training runs (SPEC §6)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["runs"])
