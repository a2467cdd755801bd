"""Shared FastAPI dependencies."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tunix_rt.config import Settings


def sessionmaker_of(request: Request) -> async_sessionmaker[AsyncSession]:
    """The app's sessionmaker, for endpoints whose work spans several transactions (runs
    executed inline, live log streams)."""
    maker: async_sessionmaker[AsyncSession] = request.app.state.sessionmaker
    return maker


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """One transaction per request: services flush, this boundary commits or rolls back."""
    async with sessionmaker_of(request)() as session:
        try:
            yield session
        except BaseException:
            await session.rollback()
            raise
        else:
            await session.commit()


# scope="function": the transaction commits before the response is sent, so a failed
# commit becomes an error response rather than a lost write behind a 201.
SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


SettingsDep = Annotated[Settings, Depends(_settings)]

# For endpoints that commit themselves (e.g. to remove files only after a commit).
SessionmakerDep = Annotated[async_sessionmaker[AsyncSession], Depends(sessionmaker_of)]
