"""HTTP endpoints for the built-in trace generators (SPEC §4)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["generators"])
