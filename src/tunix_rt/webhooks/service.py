"""Webhook rules: register endpoints, record a delivery for every subscribed webhook in the
transaction that ends a run (outbox), and send due deliveries with HMAC-signed bodies,
retried with exponential back-off.

Each delivery is a POST of the JSON payload with headers ``X-TunixRT-Event``,
``X-TunixRT-Delivery`` (its id: receivers deduplicate on it, a retry may repeat a
delivery the receiver already got) and ``X-TunixRT-Signature: sha256=<hex>``, the
HMAC-SHA256 of the exact body bytes with the webhook's secret.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import uuid
from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from tunix_rt.db import utcnow
from tunix_rt.kit.errors import Conflict, NotFound
from tunix_rt.models.run import Run
from tunix_rt.models.webhook import Webhook, WebhookDelivery
from tunix_rt.webhooks.schemas import WebhookCreate

log = logging.getLogger(__name__)

KIND_EVENTS = {"train": "run", "evaluate": "evaluation", "tune": "tuning"}
MAX_ATTEMPTS = 6
FIRST_RETRY_SECONDS = 5.0  # then ×3 each time: 5 s, 15 s, 45 s, 135 s, 405 s
SEND_TIMEOUT_SECONDS = 10.0
CLAIM_SECONDS = 60.0  # a claimed delivery is retried by another sender after this


def signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


# --- webhooks ---------------------------------------------------------------------------------


async def create_webhook(session: AsyncSession, body: WebhookCreate) -> Webhook:
    if await session.scalar(select(Webhook.id).where(Webhook.name == body.name)) is not None:
        raise Conflict(f"webhook {body.name!r} exists already")
    row = Webhook(
        name=body.name,
        url=body.url,
        secret=body.secret,
        events=list(dict.fromkeys(body.events)),
        active=True,
        created_at=utcnow(),
    )
    try:
        async with session.begin_nested():
            session.add(row)
    except IntegrityError:
        raise Conflict(f"webhook {body.name!r} exists already") from None
    return row


async def list_webhooks(session: AsyncSession) -> list[Webhook]:
    return list((await session.scalars(select(Webhook).order_by(Webhook.name))).all())


async def get_webhook(session: AsyncSession, name: str) -> Webhook:
    row = await session.scalar(select(Webhook).where(Webhook.name == name))
    if row is None:
        raise NotFound(f"webhook {name!r} not found")
    return row


async def delete_webhook(session: AsyncSession, name: str) -> None:
    await session.delete(await get_webhook(session, name))
    await session.flush()


async def list_deliveries(
    session: AsyncSession, name: str, *, limit: int = 50
) -> list[WebhookDelivery]:
    hook = await get_webhook(session, name)
    stmt = (
        select(WebhookDelivery)
        .where(WebhookDelivery.webhook_id == hook.id)
        .order_by(WebhookDelivery.created_at.desc(), WebhookDelivery.id.desc())
        .limit(limit)
    )
    return list((await session.scalars(stmt)).all())


def _delivery(hook: Webhook, event: str, payload: dict[str, Any]) -> WebhookDelivery:
    return WebhookDelivery(
        webhook_id=hook.id,
        event=event,
        payload=payload,
        status="pending",
        attempts=0,
        next_attempt_at=utcnow(),
        created_at=utcnow(),
    )


async def ping(session: AsyncSession, name: str) -> WebhookDelivery:
    """Queue a ``ping`` delivery to check the endpoint and the secret."""
    hook = await get_webhook(session, name)
    row = _delivery(hook, "ping", {"event": "ping", "webhook": hook.name, "at": _iso(utcnow())})
    session.add(row)
    await session.flush()
    return row


# --- the outbox: called in the transaction that ends a run -------------------------------------


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def run_payload(run: Run, event: str) -> dict[str, Any]:
    return {
        "event": event,
        "run": {
            "run_id": str(run.id),
            "kind": run.kind,
            "status": run.status,
            "mode": run.mode,
            "model_id": run.model_id,
            "dataset_key": run.dataset_key,
            "parent_run_id": str(run.parent_run_id) if run.parent_run_id else None,
            "message": run.message,
            "exit_code": run.exit_code,
            "created_at": _iso(run.created_at),
            "completed_at": _iso(run.completed_at),
            "duration_seconds": run.duration_seconds,
        },
    }


async def on_run_ended(session: AsyncSession, run_id: uuid.UUID) -> None:
    """The runs end hook: one pending delivery per active webhook subscribed to the event."""
    hooks = (await session.scalars(select(Webhook).where(Webhook.active.is_(True)))).all()
    if not hooks:
        return
    run = await session.get(Run, run_id, populate_existing=True)
    if run is None or run.kind not in KIND_EVENTS:
        return
    event = f"{KIND_EVENTS[run.kind]}.{run.status}"
    payload = run_payload(run, event)
    for hook in hooks:
        if not hook.events or event in hook.events:
            session.add(_delivery(hook, event, payload))
    await session.flush()


# --- sending ----------------------------------------------------------------------------------


async def _claim(
    sessionmaker: async_sessionmaker[AsyncSession], batch: int
) -> list[tuple[WebhookDelivery, Webhook]]:
    """Due deliveries, each claimed by moving its next attempt CLAIM_SECONDS ahead (a
    conditional update: two senders never both claim one)."""
    now = utcnow()
    claimed: list[tuple[WebhookDelivery, Webhook]] = []
    async with sessionmaker() as session:
        rows = (
            await session.execute(
                select(WebhookDelivery, Webhook)
                .join(Webhook, Webhook.id == WebhookDelivery.webhook_id)
                .where(WebhookDelivery.status == "pending", WebhookDelivery.next_attempt_at <= now)
                .order_by(WebhookDelivery.next_attempt_at)
                .limit(batch)
            )
        ).all()
        for delivery, hook in rows:
            won = await session.execute(
                update(WebhookDelivery)
                .where(
                    WebhookDelivery.id == delivery.id,
                    WebhookDelivery.status == "pending",
                    WebhookDelivery.next_attempt_at == delivery.next_attempt_at,
                )
                .values(next_attempt_at=now + timedelta(seconds=CLAIM_SECONDS))
            )
            if getattr(won, "rowcount", 0):
                claimed.append((delivery, hook))
        await session.commit()
    return claimed


async def _send(
    client: httpx.AsyncClient, delivery: WebhookDelivery, hook: Webhook
) -> tuple[int | None, str | None]:
    body = json.dumps(delivery.payload, sort_keys=True, separators=(",", ":")).encode()
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "tunix-rt-webhooks",
        "X-TunixRT-Event": delivery.event,
        "X-TunixRT-Delivery": str(delivery.id),
        "X-TunixRT-Signature": signature(hook.secret, body),
    }
    try:
        response = await client.post(hook.url, content=body, headers=headers)
    except httpx.HTTPError as exc:
        return None, f"{type(exc).__name__}: {exc}"[:500]
    if 200 <= response.status_code < 300:
        return response.status_code, None
    return response.status_code, f"HTTP {response.status_code}: {response.text[:200]}"


async def deliver_due(
    sessionmaker: async_sessionmaker[AsyncSession],
    *,
    batch: int = 20,
    client: httpx.AsyncClient | None = None,
) -> int:
    """Send every due delivery once; returns how many were attempted."""
    claimed = await _claim(sessionmaker, batch)
    if not claimed:
        return 0
    own = client is None
    http = client or httpx.AsyncClient(timeout=SEND_TIMEOUT_SECONDS, follow_redirects=False)
    try:
        for delivery, hook in claimed:
            code, error = await _send(http, delivery, hook)
            attempts = delivery.attempts + 1
            now = utcnow()
            values: dict[str, Any] = {
                "attempts": attempts,
                "last_status_code": code,
                "last_error": error,
            }
            if error is None:
                values |= {"status": "delivered", "delivered_at": now, "next_attempt_at": None}
            elif attempts >= MAX_ATTEMPTS:
                values |= {"status": "failed", "next_attempt_at": None}
                log.warning(
                    "webhook %s: delivery %s failed for good: %s", hook.name, delivery.id, error
                )
            else:
                wait = FIRST_RETRY_SECONDS * 3 ** (attempts - 1)
                values["next_attempt_at"] = now + timedelta(seconds=wait)
            async with sessionmaker() as session:
                await session.execute(
                    update(WebhookDelivery)
                    .where(WebhookDelivery.id == delivery.id)
                    .values(**values)
                )
                await session.commit()
    finally:
        if own:
            await http.aclose()
    return len(claimed)
