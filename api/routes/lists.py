"""Lists with paging and filters: the stores, a store's riders with their state, a store's plans.
(A store's orders are listed in api.routes.stores.)"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from sqlalchemy import and_, func, or_, select

from api import repository
from api.auth import OrderSystem
from api.deps import AppSettings, PathId, ReadDb
from api.json_body import StrictJsonRoute
from api.local_time import localize, store_zone
from api.openapi import errors
from api.paging import PAGE_HEADERS, Cursor, Limit, decode_cursor, page
from api.schemas import PlanSummary, RiderListItem, RiderState, StorePublic
from api.store_state import remaining_stops, route_order_ids
from api.tables import OrderRow, PlanRow, RiderRow, StoreRow
from api.views import _utc, store_public
from dispatch.schema import Time

router = APIRouter(prefix="/v1/stores", tags=["stores"], route_class=StrictJsonRoute, responses=errors(401, 403, 503))


def _page_responses(what: str) -> dict:
    return {200: {"description": what, "headers": PAGE_HEADERS}}


@router.get("", response_model=list[StorePublic], summary="The stores, a page at a time", responses=_page_responses("a page of stores, by id"))
def list_stores(
    _caller: OrderSystem, db: ReadDb, settings: AppSettings, request: Request, response: Response, limit: Limit = 100, cursor: Cursor = None
) -> list[StorePublic]:
    """Every store, ordered by id; `limit` a page, the next in `X-Next-Cursor`."""
    after = decode_cursor(cursor, 1)
    query = select(StoreRow).order_by(StoreRow.id).limit(limit + 1)
    if after is not None:
        query = query.where(StoreRow.id > after[0])
    rows = page(list(db.scalars(query)), limit, lambda r: [r.id], request, response)
    return [store_public(r, settings.time_zone) for r in rows]


def _state(on_duty: bool, carrying: int, stops: int) -> RiderState:
    if carrying:
        return "carrying"
    if stops:
        return "assigned"
    return "idle" if on_duty else "off_duty"


@router.get(
    "/{store_id}/riders",
    response_model=list[RiderListItem],
    summary="A store's riders with their state, a page at a time",
    responses={**_page_responses("a page of the store's riders, by id"), **errors(404)},
)
def list_riders(
    store_id: PathId,
    _caller: OrderSystem,
    db: ReadDb,
    settings: AppSettings,
    request: Request,
    response: Response,
    state: Annotated[RiderState | None, Query(description="only riders in this state")] = None,
    on_duty: Annotated[bool | None, Query(description="only riders on (true) or off (false) duty")] = None,
    limit: Limit = 100,
    cursor: Cursor = None,
) -> list[RiderListItem]:
    """The riders whose home is the store, by id, each with what it carries, its remaining stops
    in the current plan and its state (`carrying`, `assigned`, `idle`, `off_duty`)."""
    store = repository.get_store(db, store_id)
    after = decode_cursor(cursor, 1)
    query = select(RiderRow).where(RiderRow.store_id == store_id).order_by(RiderRow.id)
    if after is not None:
        query = query.where(RiderRow.id > after[0])
    if on_duty is not None:
        query = query.where(RiderRow.on_duty == on_duty)
    riders = list(db.scalars(query))
    plan = repository.get_plan(db, store.current_plan_id) if store.current_plan_id else None
    carried = dict(
        db.execute(
            select(OrderRow.rider_id, func.count())
            .where(OrderRow.rider_id.in_([r.id for r in riders]), OrderRow.status == "picked_up")
            .group_by(OrderRow.rider_id)
        ).all()
    ) if riders else {}
    planned_ids = {oid for r in riders for oid in route_order_ids(plan, r.id)}
    orders = {o.id: o for o in db.scalars(select(OrderRow).where(OrderRow.id.in_(planned_ids)))} if planned_ids else {}
    zone = store_zone(store, settings.time_zone)
    items = []
    for row in riders:
        stops = len(remaining_stops(plan, row.id, orders))
        rider_state = _state(row.on_duty, carried.get(row.id, 0), stops)
        if state is not None and rider_state != state:
            continue
        items.append(
            RiderListItem(
                rider=repository.rider_document(db, row), on_duty=row.on_duty, updated_at=_utc(row.updated_at),
                location_at=_utc(row.location_at), heading_deg=row.heading_deg, speed_mps=row.ground_speed_mps,
                state=rider_state, stops=stops,
            )
        )
        if len(items) > limit:
            break
    return [localize(item, zone) for item in page(items, limit, lambda r: [r.rider.id], request, response)]


@router.get(
    "/{store_id}/plans",
    response_model=list[PlanSummary],
    summary="A store's plans, newest first, a page at a time",
    responses={**_page_responses("a page of the store's plans, newest first"), **errors(404)},
)
def list_plans(
    store_id: PathId,
    _caller: OrderSystem,
    db: ReadDb,
    settings: AppSettings,
    request: Request,
    response: Response,
    created_from: Annotated[Time | None, Query(description="only plans made at or after this time")] = None,
    created_to: Annotated[Time | None, Query(description="only plans made before this time")] = None,
    limit: Limit = 100,
    cursor: Cursor = None,
) -> list[PlanSummary]:
    """The store's dispatch plans (by request and the service's own re-plans), newest first,
    without their stops (`GET /v1/plans/{plan_id}` has the whole document)."""
    store = repository.get_store(db, store_id)
    after = decode_cursor(cursor, 2, times=(0,))
    columns = select(PlanRow.plan_id, PlanRow.kind, PlanRow.plan_time, PlanRow.created_at, PlanRow.plan).where(PlanRow.store_id == store_id)
    if created_from is not None:
        columns = columns.where(PlanRow.created_at >= created_from)
    if created_to is not None:
        columns = columns.where(PlanRow.created_at < created_to)
    if after is not None:
        at, last_id = datetime.fromisoformat(after[0]), after[1]
        columns = columns.where(or_(PlanRow.created_at < at, and_(PlanRow.created_at == at, PlanRow.plan_id < last_id)))
    rows = db.execute(columns.order_by(PlanRow.created_at.desc(), PlanRow.plan_id.desc()).limit(limit + 1)).all()
    rows = page(rows, limit, lambda r: [r.created_at.isoformat(), r.plan_id], request, response)
    zone = store_zone(store, settings.time_zone)
    return [
        localize(
            PlanSummary(
                plan_id=r.plan_id, store_id=store_id, kind=r.kind, plan_time=r.plan_time, created_at=r.created_at,
                current=r.plan_id == store.current_plan_id, metrics=(r.plan or {}).get("metrics", {}),
            ),
            zone,
        )
        for r in rows
    ]
