"""The shared-host middleware (docs/operations.md): request ids, security headers, CORS
and the write rate limit, in that order from the outside in."""

from __future__ import annotations

from fastapi import FastAPI
from starlette.middleware.cors import CORSMiddleware

from tunix_rt.config import Settings
from tunix_rt.kit.rate_limit import RateLimitMiddleware
from tunix_rt.kit.request_id import RequestIdMiddleware
from tunix_rt.kit.security_headers import SecurityHeadersMiddleware

CORS_METHODS = ["GET", "POST", "PUT", "PATCH", "DELETE"]
CORS_HEADERS = ["Authorization", "Content-Type", "Last-Event-ID", "X-Request-ID"]
CORS_EXPOSED = ["Retry-After", "X-Request-ID", "Content-Disposition"]


def install_hardening(app: FastAPI, settings: Settings) -> None:
    """Add the middleware. Starlette runs the last added first, so it goes in inside-out:
    the rate limit sits inside CORS (a preflight is never limited) and the request id
    is outermost (every answer carries it, refusals of the inner layers included)."""
    app.add_middleware(
        RateLimitMiddleware, writes_per_minute=lambda: settings.rate_limit_writes_per_minute
    )
    origins = settings.cors_origin_list
    if origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=origins,
            allow_methods=CORS_METHODS,
            allow_headers=CORS_HEADERS,
            expose_headers=CORS_EXPOSED,
            allow_credentials=False,  # tokens travel in a header, never in cookies
            max_age=600,
        )
    app.add_middleware(SecurityHeadersMiddleware)
    app.add_middleware(RequestIdMiddleware)
