"""HTTP endpoints for webhooks and their delivery log."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Response, status

from tunix_rt.kit.deps import SessionDep
from tunix_rt.kit.text import Name
from tunix_rt.webhooks import schemas, service

router = APIRouter(tags=["webhooks"])
NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"description": "Unknown webhook."}}


@router.post(
    "/api/webhooks",
    status_code=status.HTTP_201_CREATED,
    operation_id="create_webhook",
    responses={409: {"description": "The name is taken."}},
)
async def create_webhook(body: schemas.WebhookCreate, session: SessionDep) -> schemas.Webhook:
    """Notify ``url`` (HMAC-SHA256-signed JSON) when runs, evaluations or tuning jobs end."""
    return schemas.Webhook.model_validate(await service.create_webhook(session, body))


@router.get("/api/webhooks", operation_id="list_webhooks")
async def list_webhooks(session: SessionDep) -> schemas.WebhookList:
    """Every webhook (secrets are never returned)."""
    rows = await service.list_webhooks(session)
    return schemas.WebhookList(data=[schemas.Webhook.model_validate(r) for r in rows])


@router.delete(
    "/api/webhooks/{name}",
    status_code=status.HTTP_204_NO_CONTENT,
    operation_id="delete_webhook",
    responses=NOT_FOUND,
)
async def delete_webhook(name: Name, session: SessionDep) -> Response:
    """Delete a webhook and its delivery log."""
    await service.delete_webhook(session, name)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.get(
    "/api/webhooks/{name}/deliveries",
    operation_id="list_webhook_deliveries",
    responses=NOT_FOUND,
)
async def list_webhook_deliveries(
    name: Name, session: SessionDep, limit: Annotated[int, Query(ge=1, le=500)] = 50
) -> schemas.DeliveryList:
    """The delivery log, newest first: status, attempts, last HTTP status or error."""
    rows = await service.list_deliveries(session, name, limit=limit)
    return schemas.DeliveryList(data=[schemas.Delivery.model_validate(r) for r in rows])


@router.post(
    "/api/webhooks/{name}/ping",
    status_code=status.HTTP_202_ACCEPTED,
    operation_id="ping_webhook",
    responses=NOT_FOUND,
)
async def ping_webhook(name: Name, session: SessionDep) -> schemas.Delivery:
    """Queue a ``ping`` delivery (sent within seconds by the worker's sender)."""
    return schemas.Delivery.model_validate(await service.ping(session, name))
