"""The dispatcher's view and actions: the store list, a store's board, moving and pinning orders."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body
from sqlalchemy import select

from api import board, dispatching, repository
from api.auth import OrderSystem
from api.deps import AppSettings, Db, PathId, ReadDb, Solver, service_options, utc_now
from api.json_body import StrictJsonRoute
from api.openapi import errors
from api.routes.stores import order_public, store_public
from api.schemas import Board, MoveApply, MoveCheck, MoveRequest, OrderPublic, PinRequest, StorePublic
from api.tables import StoreRow

router = APIRouter(tags=["dispatcher"], route_class=StrictJsonRoute, responses=errors(401, 403, 503))


@router.get("/v1/stores", response_model=list[StorePublic], summary="Every store")
def list_stores(_caller: OrderSystem, db: ReadDb) -> list[StorePublic]:
    """The stores, by id."""
    return [store_public(r) for r in db.scalars(select(StoreRow).order_by(StoreRow.id))]


@router.get("/v1/stores/{store_id}/board", response_model=Board, summary="The dispatcher's board of a store", responses=errors(404))
def store_board(store_id: PathId, _caller: OrderSystem, db: ReadDb, settings: AppSettings) -> dict[str, Any]:
    """Riders (state, stale positions), remaining routes with numbered stops and timelines, open
    and unassigned orders, the at-risk list by slack and the day's KPIs, as of now."""
    return board.store_board(db, store_id, utc_now(), settings.console_stale_s, settings.at_risk_slack_s)


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
    return dispatching.check_move(
        db, solver, store_id, body.order_id, body.rider_id, options, body.plan_time or utc_now(), utc_now, body.commit_lead_s
    )


@router.post(
    "/v1/stores/{store_id}/moves",
    summary="Apply a checked move",
    responses={200: {"description": "the new current plan"}, **errors(404, 409, 413)},
)
def apply_move(store_id: PathId, body: MoveApply, _caller: OrderSystem, db: Db, settings: AppSettings) -> dict[str, Any]:
    """Make the checked plan current, exactly as checked, and pin the order to its new rider so
    later re-plans keep it there; 409 if the store was dispatched since the check."""
    return dispatching.apply_move(db, store_id, body.plan_id, utc_now(), settings.event_rules())


@router.put("/v1/orders/{order_id}/pin", response_model=OrderPublic, summary="Pin an order to a rider", responses=errors(404, 409, 413))
def pin(order_id: PathId, body: PinRequest, _caller: OrderSystem, db: Db) -> OrderPublic:
    """Every dispatch from now on keeps the open order with this rider (committed) while the
    rider is on the road; the next dispatch applies it."""
    return order_public(dispatching.pin_order(db, order_id, body.rider_id))


@router.delete("/v1/orders/{order_id}/pin", response_model=OrderPublic, summary="Unpin an order", responses=errors(404, 409))
def unpin(order_id: PathId, _caller: OrderSystem, db: Db) -> OrderPublic:
    """Dispatches may give the order to any rider again."""
    return order_public(dispatching.pin_order(db, order_id, None))
