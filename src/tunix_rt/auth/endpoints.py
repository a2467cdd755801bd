"""HTTP endpoints of API tokens (admin scope) and of the browser's sign-in (SPEC §12)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Request, Response, status
from fastapi import Path as PathParam

from tunix_rt.auth import schemas, service
from tunix_rt.auth.middleware import COOKIE
from tunix_rt.kit.deps import SessionDep, SettingsDep
from tunix_rt.kit.text import Name

router = APIRouter(tags=["auth"])

TokenName = Annotated[Name, PathParam(description="The token's name.")]
NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"description": "No live token of that name."}}


@router.get("/api/tokens", operation_id="list_tokens")
async def list_tokens(session: SessionDep) -> schemas.TokenList:
    """Every API token (revoked ones too), newest first; never the tokens themselves."""
    return schemas.TokenList(
        data=[service.describe(row) for row in await service.list_tokens(session)]
    )


@router.post(
    "/api/tokens",
    status_code=status.HTTP_201_CREATED,
    operation_id="create_token",
    responses={409: {"description": "A live token has that name."}},
)
async def create_token(body: schemas.TokenCreate, session: SessionDep) -> schemas.TokenCreated:
    """Create a token; the answer holds it this once (only its hash is stored)."""
    row, token = await service.create_token(session, body.name, body.scope)
    return schemas.TokenCreated(**service.describe(row).model_dump(), token=token)


@router.delete("/api/tokens/{name}", operation_id="revoke_token", responses=NOT_FOUND)
async def revoke_token(name: TokenName, session: SessionDep) -> schemas.Token:
    """Revoke the live token of that name: refused from the next request on."""
    return service.describe(await service.revoke_token(session, name))


@router.post("/api/auth/session", operation_id="sign_in")
async def sign_in(
    request: Request, response: Response, settings: SettingsDep
) -> schemas.AuthSession:
    """Check the Bearer token (any scope) and set the HttpOnly cookie that the browser's
    log stream and downloads send, since those cannot carry a header."""
    principal: service.Principal | None = getattr(request.state, "principal", None)
    if principal is None:  # auth is off
        return schemas.AuthSession(auth_required=settings.auth_required, name=None, scope=None)
    token = request.headers["authorization"].partition(" ")[2].strip()
    response.set_cookie(
        COOKIE,
        token,
        path="/api",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return schemas.AuthSession(
        auth_required=True,
        name=principal.name,
        scope=principal.scope,
    )


@router.delete("/api/auth/session", status_code=status.HTTP_204_NO_CONTENT, operation_id="sign_out")
async def sign_out() -> Response:
    """Forget the browser's sign-in cookie (the UI forgets its token itself)."""
    response = Response(status_code=status.HTTP_204_NO_CONTENT)
    response.delete_cookie(COOKIE, path="/api", httponly=True, samesite="strict")
    return response
