"""The dispatcher's view and actions: a store's board, moving and pinning orders."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body

from api import board, dispatching, examples, repository
from api.auth import OrderSystem
from api.deps import AppSettings, Db, PathId, ReadDb, Solver, service_options, utc_now
from api.json_body import StrictJsonRoute
from api.openapi import errors
from api.local_time import localize, store_zone
from api.schemas import Board, MoveApply, MoveCheck, MoveRequest, OrderPublic, PinRequest
from api.views import order_view

router = APIRouter(tags=["dispatcher"], route_class=StrictJsonRoute, responses=errors(401, 403, 503))


@router.get("/v1/stores/{store_id}/board", response_model=Board, summary="The dispatcher's board of a store", responses=errors(404))
def store_board(store_id: PathId, _caller: OrderSystem, db: ReadDb, settings: AppSettings) -> dict[str, Any]:
    """Riders (state, stale positions), remaining routes with numbered stops and timelines, open
    and unassigned orders, the at-risk list by slack and the day's KPIs, as of now."""
    view = board.store_board(db, store_id, utc_now(), settings.console_stale_s, settings.at_risk_slack_s)
    zone = store_zone(repository.get_store(db, store_id), settings.time_zone)
    return localize({**view, "now": datetime.fromisoformat(view["now"])}, zone)


@router.post(
    "/v1/stores/{store_id}/moves/check",
    response_model=MoveCheck,
    summary="Check moving an order to another rider (nothing is applied)",
    responses=errors(404, 409, 413, 504),
)
def check_move(
    store_id: PathId,
    body: Annotated[MoveRequest, Body(openapi_examples={"move": {"summary": "O7 to R2", "value": {"order_id": "O7", "rider_id": "R2"}}})],
    _caller: OrderSystem,
    db: Db,
    solver: Solver,
    settings: AppSettings,
) -> dict[str, Any]:
    """Re-plan the store with the order committed to the rider and answer the plan's verdict from
    the independent validator, the order's ETA and slack, and the plan's lateness and distance
    before and after. The checked plan is kept: POST its `plan_id` to `/moves` to apply it."""
    options = service_options(body.options, settings)
    verdict = dispatching.check_move(
        db, solver, store_id, body.order_id, body.rider_id, options, body.plan_time or utc_now(), utc_now, body.commit_lead_s
    )
    return localize(verdict, store_zone(repository.get_store(db, store_id), settings.time_zone))


@router.post(
    "/v1/stores/{store_id}/moves",
    summary="Apply a checked move",
    responses={200: examples.plan_response("the new current plan (with store_id)"), **errors(404, 409, 413)},
)
def apply_move(
    store_id: PathId,
    body: Annotated[MoveApply, Body(openapi_examples={"apply": {"summary": "The plan_id a check answered", "value": {"plan_id": "3f2a9c0e5b7d4e1f8a6b2c9d0e4f7a1b"}}})],
    _caller: OrderSystem, db: Db, settings: AppSettings) -> dict[str, Any]:
    """Make the checked plan current, exactly as checked, and pin the order to its new rider so
    later re-plans keep it there; 409 if the store was dispatched since the check."""
    plan = dispatching.apply_move(db, store_id, body.plan_id, utc_now(), settings.event_rules())
    return localize(plan, store_zone(repository.get_store(db, store_id), settings.time_zone))


@router.put("/v1/orders/{order_id}/pin", response_model=OrderPublic, summary="Pin an order to a rider", responses=errors(404, 409, 413))
def pin(
    order_id: PathId,
    body: Annotated[PinRequest, Body(openapi_examples={"pin": {"summary": "Keep it with R2", "value": {"rider_id": "R2"}}})],
    _caller: OrderSystem, db: Db, settings: AppSettings) -> OrderPublic:
    """Every dispatch from now on keeps the open order with this rider (committed) while the
    rider is on the road; the next dispatch applies it."""
    return order_view(db, dispatching.pin_order(db, order_id, body.rider_id), settings.time_zone)


@router.delete("/v1/orders/{order_id}/pin", response_model=OrderPublic, summary="Unpin an order", responses=errors(404, 409))
def unpin(order_id: PathId, _caller: OrderSystem, db: Db, settings: AppSettings) -> OrderPublic:
    """Dispatches may give the order to any rider again."""
    return order_view(db, dispatching.pin_order(db, order_id, None), settings.time_zone)
