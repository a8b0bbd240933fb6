"""Order life: read an order, report what happened to it."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body

from api import events, examples, repository
from api.auth import AnyCaller
from api.deps import AppSettings, Db, PathId, ReadDb, Redispatch, utc_now
from api.errors import Forbidden, NotFound
from api.json_body import StrictJsonRoute
from api.openapi import errors
from api.schemas import OrderEventIn, OrderPublic
from api.views import order_view

router = APIRouter(prefix="/v1/orders", tags=["orders"], route_class=StrictJsonRoute, responses=errors(401, 403, 503))


@router.get("/{order_id}", response_model=OrderPublic, summary="An order, its status, rider and ETAs", responses=errors(404))
def get_order(order_id: PathId, caller: AnyCaller, db: ReadDb, settings: AppSettings) -> OrderPublic:
    """The order with its status and promise, and from the store's current plan its rider and
    pickup and drop-off ETAs (`plan`), every time in the store's zone. A rider key sees only the
    orders it carries or delivered (403 for any other id, known or not: the answer tells a rider
    nothing about other riders' orders)."""
    row = repository.find_order(db, order_id)
    if caller.role == "rider" and (row is None or row.rider_id != caller.rider_id):
        raise Forbidden(f"order {order_id!r} is not one rider {caller.rider_id!r} carries or delivered")
    if row is None:
        raise NotFound(f"no order {order_id!r}")
    return order_view(db, row, settings.time_zone)


@router.post(
    "/{order_id}/events",
    response_model=OrderPublic,
    summary="Report a pickup, a delivery or a cancellation",
    responses=errors(404, 409, 413),
)
def post_event(
    order_id: PathId,
    event: Annotated[OrderEventIn, Body(openapi_examples=examples.EVENTS)],
    caller: AnyCaller,
    db: Db,
    redispatcher: Redispatch,
    settings: AppSettings,
) -> OrderPublic:
    """Move the order on: `picked_up` and `delivered` by its rider, `cancelled` by the order system; an admin may do any.

    Sending the same event again changes nothing and answers 200. With the store's
    `redispatch.on_rider_event`, a recorded event re-plans the store after the answer.
    """
    with db.begin():
        now = utc_now()
        outcome = repository.apply_event(db, order_id, event, caller, now)
        if outcome.applied:
            order = outcome.order
            store = repository.get_store(db, order.store_id)
            plan = repository.get_plan(db, store.current_plan_id) if store.current_plan_id else None
            at = {"picked_up": order.picked_up_at, "delivered": order.delivered_at, "cancelled": order.cancelled_at}[event.type]
            events.order_changed(db, order, event.type, at, now, plan)
        view = order_view(db, outcome.order, settings.time_zone)  # read in the same transaction
    if outcome.applied:
        redispatcher.trigger(outcome.order.store_id, "rider_event")
    return view
