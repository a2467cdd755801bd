"""A request id on every response (``X-Request-ID``) and in every log line of the request.

The id is the client's ``X-Request-ID`` when it is a plausible one (≤ 128 characters of
letters, digits, ``.``, ``_`` and ``-``: it goes into logs and headers, so nothing else
is echoed), else a new random one. It lives in a context variable for the duration of
the request; ``RequestIdFilter`` copies it onto every log record (``%(request_id)s``,
``-`` outside a request) and ``log_config`` wires that filter into the server's logging.
"""

from __future__ import annotations

import contextvars
import json
import logging
import re
import uuid
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

HEADER = b"x-request-id"
VALID_ID = re.compile(r"^[A-Za-z0-9._-]{1,128}$")
NO_REQUEST = "-"
log = logging.getLogger(__name__)

current_request_id: contextvars.ContextVar[str] = contextvars.ContextVar(
    "tunix_rt_request_id", default=NO_REQUEST
)


def new_request_id() -> str:
    return uuid.uuid4().hex


def accepted_request_id(given: bytes | None) -> str:
    """The client's id when it is valid, else a fresh one."""
    if given:
        text = given.decode("latin-1")
        if VALID_ID.match(text):
            return text
    return new_request_id()


class RequestIdMiddleware:
    """Pure ASGI: sets the id before anything else runs and adds it to the response."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = next((v for k, v in scope.get("headers", []) if k == HEADER), None)
        request_id = accepted_request_id(given)
        scope.setdefault("state", {})["request_id"] = request_id
        token = current_request_id.set(request_id)

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != HEADER]
                headers.append((HEADER, request_id.encode()))
                message = {**message, "headers": headers}
            await send(message)

        started = False

        async def send_tracked(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send_with_id(message)

        try:
            await self.app(scope, receive, send_tracked)
        except Exception:
            # Logged here, where the id is still set, and answered with it; a failure in
            # the middle of a stream can only be logged (the status has gone out).
            log.exception("unhandled error in %s %s", scope["method"], scope["path"])
            if started:
                raise
            await _server_error(send_with_id, request_id)
        finally:
            current_request_id.reset(token)


async def _server_error(send: Send, request_id: str) -> None:
    body = json.dumps({"detail": "Internal Server Error", "request_id": request_id}).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 500,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


class RequestIdFilter(logging.Filter):
    """Adds ``request_id`` to every record (attach it to handlers, so records propagated
    from any logger get it)."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = current_request_id.get()
        return True


LOG_FORMAT = "%(asctime)s %(levelname)s [%(request_id)s] %(name)s: %(message)s"


def log_config(level: str) -> dict[str, Any]:
    """``logging.config.dictConfig`` for the server: uvicorn's loggers and the app's
    (root) on one stderr handler, each line with the request id."""
    handler = {
        "class": "logging.StreamHandler",
        "stream": "ext://sys.stderr",
        "formatter": "plain",
        "filters": ["request_id"],
    }
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"request_id": {"()": RequestIdFilter}},
        "formatters": {"plain": {"format": LOG_FORMAT}},
        "handlers": {"default": handler},
        "root": {"handlers": ["default"], "level": level.upper()},
        "loggers": {
            "uvicorn": {"level": level.upper()},
            "uvicorn.error": {"level": level.upper()},
            "uvicorn.access": {"level": level.upper()},
        },
    }
