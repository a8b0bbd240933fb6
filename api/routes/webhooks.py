"""Webhook subscriptions of order systems, and their delivery log (admins)."""

from __future__ import annotations

import secrets
import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Body, Depends, Query
from sqlalchemy import select

from api import examples, repository
from api.auth import OrderSystem, Principal, require
from api.deps import Db, PathId, ReadDb, utc_now
from api.errors import NotFound
from api.json_body import StrictJsonRoute
from api.openapi import errors
from api.schemas import DeliveryPublic, WebhookIn, WebhookPublic
from api.tables import DeliveryRow, WebhookRow

router = APIRouter(tags=["webhooks"], route_class=StrictJsonRoute, responses=errors(401, 403, 503))
Admin = Annotated[Principal, Depends(require("admin"))]


def _public(row: WebhookRow, secret: str | None = None) -> WebhookPublic:
    return WebhookPublic(
        id=row.id, store_id=row.store_id, url=row.url, event_types=row.event_types, active=row.active,
        created_at=row.created_at, secret=secret,
    )


def _get(db, webhook_id: str) -> WebhookRow:
    row = db.get(WebhookRow, webhook_id)
    if row is None:
        raise NotFound(f"no webhook {webhook_id!r}")
    return row


@router.post(
    "/v1/stores/{store_id}/webhooks",
    response_model=WebhookPublic,
    status_code=201,
    summary="Subscribe a URL to the store's events",
    responses=errors(404, 413),
)
def create_webhook(
    store_id: PathId,
    body: Annotated[WebhookIn, Body(openapi_examples={"webhook": {"summary": "Three event types", "value": examples.WEBHOOK}})],
    _caller: OrderSystem,
    db: Db,
) -> WebhookPublic:
    """From now on, each event of these types is POSTed to `url`, signed with the secret
    (answered here once: keep it). See docs/API.md "Webhooks" for the headers and retries."""
    secret = body.secret or secrets.token_urlsafe(32)
    with db.begin():
        repository.get_store(db, store_id)
        row = WebhookRow(
            id=f"wh_{uuid.uuid4().hex[:20]}", store_id=store_id, url=body.url, event_types=list(dict.fromkeys(body.event_types)),
            secret=secret, active=True, created_at=utc_now(),
        )
        db.add(row)
    return _public(row, secret)


@router.get("/v1/stores/{store_id}/webhooks", response_model=list[WebhookPublic], summary="The store's webhooks", responses=errors(404))
def list_webhooks(store_id: PathId, _caller: OrderSystem, db: ReadDb) -> list[WebhookPublic]:
    """Every subscription of the store, deleted ones too (without their secrets)."""
    repository.get_store(db, store_id)
    rows = db.scalars(select(WebhookRow).where(WebhookRow.store_id == store_id).order_by(WebhookRow.created_at, WebhookRow.id))
    return [_public(r) for r in rows]


@router.delete("/v1/webhooks/{webhook_id}", response_model=WebhookPublic, summary="Stop a webhook", responses=errors(404))
def delete_webhook(webhook_id: PathId, _caller: OrderSystem, db: Db) -> WebhookPublic:
    """No more deliveries (pending ones end as failed); the subscription and its log are kept."""
    with db.begin():
        row = _get(db, webhook_id)
        row.active = False
    return _public(row)


@router.get(
    "/v1/webhooks/{webhook_id}/deliveries",
    response_model=list[DeliveryPublic],
    summary="A webhook's delivery log (admin)",
    responses=errors(404),
)
def deliveries(
    webhook_id: PathId,
    _caller: Admin,
    db: ReadDb,
    status: Annotated[Literal["pending", "delivered", "failed"] | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
) -> list[DeliveryPublic]:
    """The latest deliveries first: attempts, the receiver's last status or error, the next try."""
    _get(db, webhook_id)
    query = select(DeliveryRow).where(DeliveryRow.webhook_id == webhook_id)
    if status is not None:
        query = query.where(DeliveryRow.status == status)
    rows = db.scalars(query.order_by(DeliveryRow.id.desc()).limit(limit))
    return [DeliveryPublic.model_validate(r, from_attributes=True) for r in rows]
