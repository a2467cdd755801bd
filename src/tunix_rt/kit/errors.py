"""Domain errors carry their HTTP status; one handler renders them all."""

from __future__ import annotations

import math
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse


class DomainError(Exception):
    """Base for errors a user can cause; ``status_code`` picks the HTTP status."""

    status_code = 400

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class BadRequest(DomainError):
    status_code = 400


class NotFound(DomainError):
    status_code = 404


class Conflict(DomainError):
    status_code = 409


class PayloadTooLarge(DomainError):
    status_code = 413


Field = str | tuple[str | int, ...]


class Unprocessable(DomainError):
    """A 422 for a rule that a schema cannot express, naming the field (``"seed"``,
    ``("items", 3, "id")``, or ``()`` for the whole input). Services know fields, not
    HTTP: the handler finds whether the field came in the query, the path or the body."""

    status_code = 422

    def __init__(self, field: Field, msg: str) -> None:
        super().__init__(msg)
        self.field: tuple[str | int, ...] = (field,) if isinstance(field, str) else field


def _location(request: Request, field: tuple[str | int, ...]) -> list[str | int]:
    route = request.scope.get("route")
    dependant = getattr(route, "dependant", None)
    pending = [dependant] if field and dependant is not None else []
    while pending:  # the endpoint's parameters and those of its dependencies
        current = pending.pop()
        for source in ("query", "path", "header"):
            params = getattr(current, f"{source}_params", [])
            if any(field[0] in (p.name, p.alias) for p in params):
                return [source, *field]
        pending.extend(getattr(current, "dependencies", []))
    if field and isinstance(field[0], str) and field[0] in request.query_params:
        return ["query", *field]  # a dynamic query parameter (meta.<key> filters)
    return ["body", *field]


def _printable(text: str) -> str:
    # Lone surrogates cannot be encoded as UTF-8; show them escaped instead of failing.
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _clean_error(err: Any) -> dict[str, Any]:
    # Echoing the offending input back can mean echoing a megabyte; keep it short.
    loc = [_printable(p) if isinstance(p, str) else p for p in err.get("loc", ())]
    out: dict[str, Any] = {
        "loc": loc,
        "msg": _printable(str(err.get("msg", ""))),
        "type": err.get("type", ""),
    }
    value = err.get("input")
    if isinstance(value, float) and not math.isfinite(value):
        out["input"] = repr(value)
    elif isinstance(value, str):
        out["input"] = _printable(value if len(value) <= 200 else value[:200] + "…")
    elif isinstance(value, (int, float, bool)) or value is None:
        out["input"] = value
    return out


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(DomainError)
    async def _domain(request: Request, exc: DomainError) -> JSONResponse:
        if isinstance(exc, Unprocessable):
            loc = _location(request, exc.field)
            body: Any = [{"loc": loc, "msg": exc.detail, "type": "value_error"}]
            return JSONResponse({"detail": body}, status_code=422)
        return JSONResponse({"detail": exc.detail}, status_code=exc.status_code)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse({"detail": [_clean_error(e) for e in exc.errors()]}, status_code=422)
