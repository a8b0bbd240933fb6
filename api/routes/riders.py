"""Riders: registration and location reports, and each rider's route."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Body, Query, Request, Response
from fastapi.responses import JSONResponse
from sqlalchemy import select
from sqlalchemy.orm import Session

from api import examples, repository
from api.auth import AnyCaller, Principal
from api.deps import AppSettings, Db, PathId, ReadDb, Redispatch, same_id, utc_now
from api.json_body import StrictJsonRoute
from api.local_time import localize, store_zone
from api.openapi import errors
from api.errors import Forbidden, TooManyRequests
from api.rate_limit import TokenBuckets, retry_after_s
from api.schemas import LocationAck, LocationReport, RiderPublic, RiderPut, RouteDocument
from api.store_state import remaining_stops, route_geojson, route_order_ids
from api.tables import OrderRow
from api.views import rider_public, rider_zone
from dispatch.errors import InvalidProblem
from dispatch.intake import check_rider
from dispatch.schema import LocationDoc

# A report taken this far ahead of the service's clock is a wrong clock, not a position.
MAX_CLOCK_AHEAD_S = 300

router = APIRouter(prefix="/v1/riders", tags=["riders"], route_class=StrictJsonRoute, responses=errors(401, 403, 503))


def _may_see(caller: Principal, rider_id: str) -> None:
    if caller.role == "rider" and caller.rider_id != rider_id:
        raise Forbidden(f"this key speaks for rider {caller.rider_id!r}, not {rider_id!r}")


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
    settings: AppSettings,
) -> RiderPublic:
    """The order system and admins register and edit riders; a rider's own key updates its
    location, duty and `heading_to` (a carried order it is riding to now; re-plans keep it first):
    fields it leaves out keep their stored values. For frequent position reports use
    `POST /v1/riders/{rider_id}/location`.

    With the home store's `redispatch.on_rider_event`, the report re-plans the store after the answer.
    """
    if caller.role == "rider":
        _may_see(caller, rider_id)
    same_id(rider_id, rider.id)
    with db.begin():
        if caller.role == "rider":
            # What the key may change is settled before anything else is looked up.
            rider = repository.check_self_update(db, rider)
        check_rider(repository.home_store(db, rider), rider)
        created = repository.put_rider(db, rider, utc_now())
        row = repository.get_rider(db, rider_id)
        view = rider_public(db, row, rider_zone(db, row, settings.time_zone))
    response.status_code = 201 if created else 200
    redispatcher.trigger(rider.store_id, "rider_event")
    return view


@router.post(
    "/{rider_id}/location",
    response_model=LocationAck,
    summary="Report where the rider is now (rider apps, every few seconds)",
    responses=errors(404, 413, 429),
)
def report_location(
    rider_id: PathId,
    report: Annotated[LocationReport, Body(openapi_examples={"ping": {"summary": "A position with heading and speed", "value": examples.LOCATION}})],
    caller: AnyCaller,
    db: Db,
    request: Request,
    settings: AppSettings,
) -> LocationAck:
    """Record the rider's position: one small write, no re-plan (the next dispatch or re-plan of
    its store plans from it). A rider key reports for itself; admins and the order system for any
    rider. A report older than the one recorded is acknowledged and ignored (`applied: false`).
    Beyond DISPATCH_LOCATION_BURST reports at once, one per DISPATCH_LOCATION_MIN_INTERVAL_S:
    429 with Retry-After."""
    _may_see(caller, rider_id)
    wait_s = _location_buckets(request, settings).take(rider_id)
    metrics = request.app.state.metrics
    if wait_s > 0:
        metrics.location_reports.labels("refused").inc()
        retry = retry_after_s(wait_s)
        raise TooManyRequests(
            f"rider {rider_id!r} reports its location more often than this service takes "
            f"({settings.location_burst} at once, then one per {settings.location_min_interval_s:g} s); retry after {retry} s",
            headers={"Retry-After": str(retry)},
        )
    now = utc_now()
    at = report.at or now
    if (at - now).total_seconds() > MAX_CLOCK_AHEAD_S:
        raise InvalidProblem.one("at", f"is {int((at - now).total_seconds())} s ahead of the service's clock", rider_id)
    with db.begin():
        row = repository.get_rider(db, rider_id)
        applied = row.location_at is None or at >= row.location_at
        if applied:
            row.document = {**row.document, "location": {"lat": report.lat, "lon": report.lon}}
            row.location_at, row.heading_deg, row.ground_speed_mps = at, report.heading_deg, report.speed_mps
            row.updated_at = now
        ack = LocationAck(
            rider_id=rider_id,
            applied=applied,
            location=LocationDoc.model_validate(row.document["location"]),
            location_at=row.location_at,
            heading_deg=row.heading_deg,
            speed_mps=row.ground_speed_mps,
        )
        zone = rider_zone(db, row, settings.time_zone)
    metrics.location_reports.labels("applied" if applied else "stale").inc()
    return localize(ack, zone)


def _location_buckets(request: Request, settings) -> TokenBuckets:
    state = request.app.state
    buckets = getattr(state, "location_buckets", None)
    if buckets is None:  # made on first use, from the app's settings
        buckets = state.location_buckets = TokenBuckets(settings.location_burst, settings.location_min_interval_s)
    return buckets


@router.get("/{rider_id}", response_model=RiderPublic, summary="A rider", responses=errors(404))
def get_rider(rider_id: PathId, caller: AnyCaller, db: ReadDb, settings: AppSettings) -> RiderPublic:
    """The rider's document with the orders it carries now and its last location report."""
    _may_see(caller, rider_id)
    row = repository.get_rider(db, rider_id)
    return rider_public(db, row, rider_zone(db, row, settings.time_zone))


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
    settings: AppSettings,
    format: Annotated[Literal["json", "geojson"], Query(description="`geojson`: a FeatureCollection")] = "json",
):
    """The rider's remaining stops in its home store's current plan (done and cancelled stops
    drop out), times in the store's zone."""
    _may_see(caller, rider_id)
    route = route_document(db, rider_id, settings.time_zone)
    if format == "geojson":
        doc = route.model_dump(mode="json")
        return JSONResponse(route_geojson(doc, repository.get_rider(db, rider_id).document["location"]), media_type="application/geo+json")
    return route


def route_document(db: Session, rider_id: str, default_zone: str | None) -> RouteDocument:
    """The rider's remaining stops in its home store's current plan, times in the store's zone
    (404 for an unknown rider)."""
    rider = repository.get_rider(db, rider_id)
    store = repository.get_store(db, rider.store_id)
    plan = repository.get_plan(db, store.current_plan_id) if store.current_plan_id else None
    ids = route_order_ids(plan, rider_id)
    orders = {o.id: o for o in db.scalars(select(OrderRow).where(OrderRow.id.in_(ids)))} if ids else {}
    route = RouteDocument(
        rider_id=rider_id,
        store_id=store.id,
        plan_id=plan.plan_id if plan else None,
        as_of=plan.plan_time if plan else None,
        stops=remaining_stops(plan, rider_id, orders),
    )
    return localize(route, store_zone(store, default_zone))
