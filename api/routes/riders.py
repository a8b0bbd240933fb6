"""Riders: registration and location reports, and each rider's route."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Body, Query, Response
from fastapi.responses import JSONResponse
from sqlalchemy import select
from sqlalchemy.orm import Session

from api import examples, repository
from api.auth import AnyCaller, Principal
from api.deps import Db, PathId, ReadDb, Redispatch, same_id, utc_now
from api.json_body import StrictJsonRoute
from api.openapi import errors
from api.errors import Forbidden
from api.schemas import RiderPublic, RiderPut, RouteDocument
from api.store_state import remaining_stops, route_geojson, route_order_ids
from api.tables import OrderRow, RiderRow
from dispatch.intake import check_rider

router = APIRouter(prefix="/v1/riders", tags=["riders"], route_class=StrictJsonRoute, responses=errors(401, 403, 503))


def _may_see(caller: Principal, rider_id: str) -> None:
    if caller.role == "rider" and caller.rider_id != rider_id:
        raise Forbidden(f"this key speaks for rider {caller.rider_id!r}, not {rider_id!r}")


def _public(db: Session, row: RiderRow) -> RiderPublic:
    return RiderPublic(rider=repository.rider_document(db, row), on_duty=row.on_duty, updated_at=row.updated_at)


@router.put(
    "/{rider_id}",
    response_model=RiderPublic,
    summary="Register a rider, or report its location and duty status",
    responses={201: {"model": RiderPublic, "description": "created"}, **errors(409, 413)},
)
def put_rider(
    rider_id: PathId,
    rider: Annotated[RiderPut, Body(openapi_examples={"rider": {"summary": "A rider at the store", "value": examples.RIDER}})],
    caller: AnyCaller,
    db: Db,
    response: Response,
    redispatcher: Redispatch,
) -> RiderPublic:
    """The order system and admins register and edit riders; a rider's own key updates its
    location, duty and `heading_to` (a carried order it is riding to now; re-plans keep it first).

    With the home store's `redispatch.on_rider_event`, the report re-plans the store after the answer.
    """
    if caller.role == "rider":
        _may_see(caller, rider_id)
    same_id(rider_id, rider.id)
    with db.begin():
        if caller.role == "rider":
            # What the key may change is settled before anything else is looked up.
            repository.check_self_update(db, rider)
        check_rider(repository.home_store(db, rider), rider)
        created = repository.put_rider(db, rider, utc_now())
    response.status_code = 201 if created else 200
    redispatcher.trigger(rider.store_id, "rider_event")
    return _public(db, repository.get_rider(db, rider_id))


@router.get("/{rider_id}", response_model=RiderPublic, summary="A rider", responses=errors(404))
def get_rider(rider_id: PathId, caller: AnyCaller, db: ReadDb) -> RiderPublic:
    """The rider's document with the orders it carries now."""
    _may_see(caller, rider_id)
    return _public(db, repository.get_rider(db, rider_id))


@router.get(
    "/{rider_id}/route",
    response_model=RouteDocument,
    summary="The rider's stops with ETAs",
    responses={
        200: {"content": {"application/geo+json": {}}, "description": "the route document, or GeoJSON with ?format=geojson"},
        **errors(404),
    },
)
def get_route(
    rider_id: PathId,
    caller: AnyCaller,
    db: ReadDb,
    format: Annotated[Literal["json", "geojson"], Query(description="`geojson`: a FeatureCollection")] = "json",
):
    """The rider's remaining stops in its home store's current plan (done and cancelled stops drop out)."""
    _may_see(caller, rider_id)
    route = route_document(db, rider_id)
    if format == "geojson":
        doc = route.model_dump(mode="json")
        return JSONResponse(route_geojson(doc, repository.get_rider(db, rider_id).document["location"]), media_type="application/geo+json")
    return route


def route_document(db: Session, rider_id: str) -> RouteDocument:
    """The rider's remaining stops in its home store's current plan (404 for an unknown rider)."""
    rider = repository.get_rider(db, rider_id)
    store = repository.get_store(db, rider.store_id)
    plan = repository.get_plan(db, store.current_plan_id) if store.current_plan_id else None
    ids = route_order_ids(plan, rider_id)
    orders = {o.id: o for o in db.scalars(select(OrderRow).where(OrderRow.id.in_(ids)))} if ids else {}
    return RouteDocument(
        rider_id=rider_id,
        store_id=store.id,
        plan_id=plan.plan_id if plan else None,
        as_of=plan.plan_time if plan else None,
        stops=remaining_stops(plan, rider_id, orders),
    )
