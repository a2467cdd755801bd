"""Wire API tokens into the app: the middleware, the token/sign-in routes, a log line."""

from __future__ import annotations

from fastapi import FastAPI
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tunix_rt.auth.endpoints import router
from tunix_rt.auth.middleware import AuthMiddleware, log_auth_mode
from tunix_rt.config import Settings


def install_auth(app: FastAPI, settings: Settings) -> None:
    """Add after the request guard, so a request without a token is refused before its
    body is buffered."""

    def sessionmaker() -> async_sessionmaker[AsyncSession]:
        maker: async_sessionmaker[AsyncSession] = app.state.sessionmaker
        return maker

    app.add_middleware(AuthMiddleware, settings=settings, sessionmaker=sessionmaker)
    app.include_router(router)
    log_auth_mode(settings)
