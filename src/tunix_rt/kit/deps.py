"""Shared FastAPI dependencies."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from tunix_rt.config import Settings
from tunix_rt.db import get_session

# scope="function": the transaction commits before the response is sent, so a failed
# commit becomes an error response rather than a lost write behind a 201.
SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


SettingsDep = Annotated[Settings, Depends(_settings)]
