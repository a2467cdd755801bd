"""HTTP endpoints for evaluation, leaderboard and regression gates (SPEC §7)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(tags=["evaluation"])
