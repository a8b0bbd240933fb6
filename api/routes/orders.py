"""Order life: read an order, report what happened to it."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body

from api import examples, repository
from api.auth import AnyCaller
from api.deps import Db, Redispatch, utc_now
from api.errors import Forbidden
from api.routes.stores import order_public
from api.schemas import OrderEventIn, OrderPublic

router = APIRouter(prefix="/v1/orders", tags=["orders"])


@router.get("/{order_id}", response_model=OrderPublic, summary="An order and its status")
def get_order(order_id: str, caller: AnyCaller, db: Db) -> OrderPublic:
    """The order; a rider key sees only the orders it carries or delivered."""
    row = repository.get_order(db, order_id)
    if caller.role == "rider" and row.rider_id != caller.rider_id:
        raise Forbidden(f"order {order_id!r} is not carried by rider {caller.rider_id!r}")
    return order_public(row)


@router.post(
    "/{order_id}/events",
    response_model=OrderPublic,
    summary="Report a pickup, a delivery or a cancellation",
    responses={409: {"description": "a transition that makes no sense (e.g. delivered before picked up)"}},
)
def post_event(
    order_id: str,
    event: Annotated[OrderEventIn, Body(openapi_examples=examples.EVENTS)],
    caller: AnyCaller,
    db: Db,
    redispatcher: Redispatch,
) -> OrderPublic:
    """Move the order on: `picked_up` and `delivered` by its rider, `cancelled` by the order system; an admin may do any.

    Sending the same event again changes nothing and answers 200. With the store's
    `redispatch.on_rider_event`, a recorded event re-plans the store after the answer.
    """
    with db.begin():
        outcome = repository.apply_event(db, order_id, event, caller, utc_now())
    if outcome.applied:
        redispatcher.trigger(outcome.order.store_id, "rider_event")
    return order_public(outcome.order)
