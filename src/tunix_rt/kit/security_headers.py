"""Security headers on every response.

All responses: ``X-Content-Type-Options: nosniff`` (a downloaded artifact is never run
as a script or page), ``X-Frame-Options: DENY`` and ``Referrer-Policy: no-referrer``.

``Content-Security-Policy``:

- the web UI gets ``UI_POLICY``: the built Vite app is one module script, module
  preloads and a stylesheet, all from this origin; React sets inline styles through the
  CSSOM (allowed without ``'unsafe-inline'``); charts are inline SVG; the API and the log
  stream (EventSource) are same-origin fetches;
- API and ``/metrics`` answers get ``API_POLICY`` (nothing may load; JSON and files are
  not documents);
- ``/docs`` and ``/redoc`` (FastAPI's Swagger UI and ReDoc load their script from a CDN
  and start it with an inline one) get none, rather than a policy that would break them.

A header the app already set is left alone.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

UI_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data: blob:",
        "font-src 'self' data:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)
API_POLICY = "default-src 'none'; frame-ancestors 'none'"
COMMON: tuple[tuple[bytes, bytes], ...] = (
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
)
NO_POLICY_PREFIXES = ("/docs", "/redoc")


def policy_for(path: str) -> str | None:
    if path.startswith(NO_POLICY_PREFIXES):
        return None
    if path.startswith("/api/") or path == "/api" or path in ("/metrics", "/openapi.json"):
        return API_POLICY
    return UI_POLICY


class SecurityHeadersMiddleware:
    """Pure ASGI: adds the headers to ``http.response.start`` (streams pass through)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        policy = policy_for(scope["path"])
        extra = list(COMMON)
        if policy is not None:
            extra.append((b"content-security-policy", policy.encode()))

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {k.lower() for k, _ in headers}
                headers += [(k, v) for k, v in extra if k not in present]
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_headers)
