"""Running the store network: the delivery grid of a store, its staffing by the slot, its speeds by the period."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.orm import Session

from api import history, repository
from api.auth import OrderSystem
from api.db import read_transaction
from api.deps import AppSettings, PathId, ReadDb, utc_now
from api.errors import NotFound, SolveTimeout
from api.json_body import StrictJsonRoute
from api.local_time import localize, store_zone, store_zone_name
from api.openapi import RETRY_AFTER, errors
from api.schemas import StaffingRunning
from api.settings import Settings
from api.staffing_jobs import StaffingJob, StaffingJobs, job_key
from dispatch.errors import InvalidProblem
from dispatch.grid import aggregate, grid_geojson, parse_hours
from dispatch.live.fit_speeds import FitOptions, fit_speeds
from dispatch.live.rides import rides_from_deliveries
from dispatch.live.simulate import live_options
from dispatch.live.staffing import StaffingOptions
from dispatch.schema import StoreDoc

router = APIRouter(prefix="/v1/stores", tags=["operations"], route_class=StrictJsonRoute, responses=errors(401, 403, 503))

STAFFING_CLOCK_S = 5.0  # a simulated re-plan's clock: far above what its work limit takes
_FIGURES = {"orders": 2, "delivered": 2, "on_time_rate": 0.5, "click_to_door_mean_min": 45.0, "late_mean_min": 7.5,
            "third_party_share": 0.0}
GRID_EXAMPLE = {"type": "FeatureCollection", "features": [
    {"type": "Feature", "geometry": {"type": "Polygon", "coordinates": [[
        [121.4771, 31.2413], [121.4757, 31.2399], [121.4765, 31.2381], [121.4788, 31.2377], [121.4802, 31.2391],
        [121.4794, 31.2409], [121.4771, 31.2413]]]},
     "properties": {"kind": "cell", "cell": "89309959d0bffff", "resolution": 9, "centre": {"lat": 31.2395, "lon": 121.4779},
                    "store_ids": ["S1"], **_FIGURES, "hours": {"9": _FIGURES}}},
    {"type": "Feature", "geometry": {"type": "Point", "coordinates": [121.4737, 31.2304]}, "properties": {"kind": "store", "store_id": "S1"}},
]}


STAFFING_RUNNING_EXAMPLE = {"status": "running", "job": "5f0c2a9e41d7b3c8", "started_at": "2026-11-23T02:00:00+00:00",
                            "running_s": 10.2, "retry_after_s": 2, "time_limit_s": 600.0}
STAFFING_EXAMPLE = {
    "store_id": "S1",
    "options": {"target": 0.95, "slot_s": 1800, "min_shift_s": 7200, "max_shift_s": 28800},
    "summary": {"target": 0.95, "days": 7, "riders": 5, "rider_hours_per_day": 24.5, "orders": 840, "delivered": 840,
                "on_time_rate": 0.962, "share_late_of_delivered": 0.038, "click_to_door_mean_min": 31.4, "simulations": 35,
                "target_met": True, "optimal_cover": True},
    "slots": [{"store_id": "S1", "slot_start": "2026-11-23T11:30+08:00", "orders": 7.3, "riders_needed": 3,
               "riders_scheduled": 3, "on_time_rate": 0.98}],
    "riders": [{"id": "S1-staff-001", "store_id": "S1", "location": {"lat": 31.2304, "lon": 121.4737},
                "available_at": "2026-11-23T10:00:00+08:00", "shift_end": "2026-11-23T14:00:00+08:00", "speed_mps": 4.5}],
}
_PERIOD = {"rides": 41, "ride_share": 33.6, "factor_se": 0.012, "mae_s": 38.5, "mean_relative_error": 0.061}
SPEED_PROFILE_EXAMPLE = {
    "store_id": "S1", "days": 14, "time_zone": "Asia/Shanghai",
    "speed_profile": {"period_min": 360, "factors": [1.0, 0.72, 0.98, 0.61]},
    "speed_mps": 4.31, "speed_source": "median", "detour_factor": 1.3, "rides": 208,
    "skipped": {"not_delivered": 12, "too_short": 1, "implausible_speed": 0}, "mae_s": 41.2, "mean_relative_error": 0.066,
    "periods": [
        {"period": 0, "start": "00:00", "factor": 1.0, "source": "neighbours", "rides": 0, "ride_share": 0.0,
         "factor_se": None, "mae_s": None, "mean_relative_error": None},
        {"period": 1, "start": "06:00", "factor": 0.72, "source": "fitted", **_PERIOD},
        {"period": 2, "start": "12:00", "factor": 0.98, "source": "fitted", **_PERIOD},
        {"period": 3, "start": "18:00", "factor": 0.61, "source": "fitted", **_PERIOD},
    ],
}


def _example(description: str, example: dict) -> dict:
    return {200: {"description": description, "content": {"application/json": {"example": example}}}}


Days = Annotated[int, Query(ge=1, le=28, description="how many days back from now the history reaches")]


@router.get("/{store_id}/grid", summary="The store's delivery grid (GeoJSON)",
            responses={**_example("H3 cells with their figures, and the store", GRID_EXAMPLE), **errors(404)})
def store_grid(
    store_id: PathId,
    _caller: OrderSystem,
    db: ReadDb,
    hours: Annotated[str | None, Query(max_length=100, description="hours of the day to count: 11-14, 11-13,18 (default all)")] = None,
    resolution: Annotated[int, Query(ge=5, le=12, description="H3 resolution (9: cells of about 0.1 km2)")] = 9,
    days: Days = 7,
) -> dict[str, Any]:
    """Per H3 cell around the store: orders, on-time rate, mean click-to-door and lateness,
    third-party share, in all and per hour of the day, from the store's orders of the last `days`."""
    chosen = parse_hours(hours)
    with read_transaction(db):
        store = repository.read_document(StoreDoc, repository.get_store(db, store_id).document)
        rows = repository.store_history(db, store_id, utc_now() - timedelta(days=days))
        records = history.outcomes(rows)
    cells = aggregate(records, resolution, chosen)
    return grid_geojson(cells, resolution, [store.model_dump(mode="json", include={"id", "location"})])


@router.get("/{store_id}/staffing", summary="Riders needed per slot and the shifts covering them",
            responses={**_example("demand, needs and schedule per slot; the riders", STAFFING_EXAMPLE),
                       202: {"model": StaffingRunning, "headers": RETRY_AFTER,
                             "description": "the staffing is being computed: ask the same URL again after Retry-After",
                             "content": {"application/json": {"example": STAFFING_RUNNING_EXAMPLE}}},
                       **errors(404, 504)})
def store_staffing(
    request: Request,
    store_id: PathId,
    _caller: OrderSystem,
    db: ReadDb,
    settings: AppSettings,
    target: Annotated[float, Query(gt=0, le=1, description="on-time rate to keep")] = 0.95,
    max_click_to_door_min: Annotated[float | None, Query(gt=0, le=1440, description="and a mean click-to-door not to exceed, minutes")] = None,
    slot_min: Annotated[int, Query(ge=5, le=240, description="slot length, minutes (divides the day)")] = 30,
    min_shift_h: Annotated[float, Query(gt=0, le=24)] = 2.0,
    max_shift_h: Annotated[float, Query(gt=0, le=24)] = 8.0,
    days: Days = 7,
) -> Any:
    """From the store's orders of the last `days`: demand per slot, the riders each slot needs
    for `target` on time (by simulating the rolling dispatcher over those days), and shifts
    covering them with the fewest rider-hours, as contract rider documents. It runs as a
    background job: the answer is 202 with Retry-After until it is there."""
    options = StaffingOptions(
        target=target, slot_s=slot_min * 60, min_shift_s=int(round(min_shift_h * 3600)),
        max_click_to_door_mean_s=None if max_click_to_door_min is None else max_click_to_door_min * 60,
        max_shift_s=int(round(max_shift_h * 3600)), bisection_steps=settings.staffing_simulations,
        balance_rounds=1,
    )
    try:
        options.check()
    except ValueError as exc:
        raise InvalidProblem.one("query", str(exc)) from None
    jobs: StaffingJobs = request.app.state.staffing
    with read_transaction(db):
        row = repository.get_store(db, store_id)  # 404 before anything else
        zone = store_zone(row, settings.time_zone)
    key = job_key(store_id, {"target": target, "max_click_to_door_min": max_click_to_door_min, "slot_min": slot_min, "min_shift_h": min_shift_h, "max_shift_h": max_shift_h,
                             "days": days, "iterations": settings.staffing_replan_iterations,
                             "simulations": settings.staffing_simulations})
    job = jobs.find(key) or _start_staffing(db, jobs, key, store_id, days, options, settings)
    if not job.wait(settings.staffing_wait_s):
        return JSONResponse(jobs.describe(job), status_code=202,
                            headers={"Retry-After": str(jobs.retry_after_s), "Location": str(request.url)})
    try:
        result = job.result()
    except SolveTimeout:
        raise SolveTimeout(f"staffing {job.orders} orders of {job.days} days did not finish within "
                           f"{jobs.time_limit_s:g} s; ask for fewer days") from None
    except Exception:
        jobs.forget(key)  # a worker that died, an error: the next ask tries again
        raise
    return localize({"store_id": store_id, **result}, zone)  # the store's times in its zone


def _start_staffing(db: Session, jobs: StaffingJobs, key: str, store_id: str, days: int, options: StaffingOptions,
                    settings: Settings) -> StaffingJob:
    """Read the store's history and start its staffing job (404 without orders, 422 if too many)."""
    with read_transaction(db):
        store = repository.read_document(StoreDoc, repository.get_store(db, store_id).document)
        rows = repository.store_history(db, store_id, utc_now() - timedelta(days=days))
        riders = repository.store_riders(db, store_id)
        scenarios = history.day_scenarios(store, rows, riders)
    if not scenarios:
        raise NotFound(f"store {store_id!r} has no orders in the last {days} days to staff for")
    orders = sum(len(s["orders"]) for s in scenarios)
    if orders > settings.staffing_max_orders:
        raise InvalidProblem.one("days", f"the last {days} days hold {orders} orders, more than the "
                                 f"{settings.staffing_max_orders} a staffing may simulate: ask for fewer days")
    # The work limit binds, not the clock (a busy machine gives the same answer); it bounds the time.
    sim = replace(live_options(scenarios[0]), max_iterations=settings.staffing_replan_iterations, budget_s=STAFFING_CLOCK_S)
    return jobs.start(key, scenarios, replace(options, sim=sim))


@router.get("/{store_id}/speed-profile", summary="A speed profile fitted to the store's delivered orders",
            responses={**_example("the profile to paste into options.travel.speed_profile, its base speed, and the fit's "
                                  "errors overall and per period", SPEED_PROFILE_EXAMPLE), **errors(404)})
def store_speed_profile(
    store_id: PathId,
    _caller: OrderSystem,
    db: ReadDb,
    settings: AppSettings,
    days: Days = 14,
    period_min: Annotated[int, Query(ge=1, le=1440, description="a period's minutes; must divide 1440 (a day)")] = 30,
    speed_mps: Annotated[float | None, Query(ge=0.5, le=50, description="the base speed the factors multiply, m/s "
                                             "(default: the median of the rides' speeds)")] = None,
    detour_factor: Annotated[float, Query(ge=1, le=5, description="road metres per great-circle metre, as in options.travel")] = 1.3,
    min_rides: Annotated[float, Query(gt=0, le=1e6, description="rides (counted by their time in it) a period needs for "
                                      "a factor of its own; others take their neighbours'")] = 5.0,
) -> dict[str, Any]:
    """From the store's orders delivered in the last `days`: each ride (pickup to door, or door to
    door within a trip) timed on the store's clock, and the speed factor per period of the local
    day that best times them under the travel model (rides crossing periods count by their time in
    each). A store with no delivered orders answers a flat profile with `rides: 0`."""
    options = FitOptions(period_s=period_min * 60, speed_mps=speed_mps, detour_factor=detour_factor, min_rides=min_rides)
    try:
        options.check()
    except InvalidProblem as exc:  # a query parameter: named where FastAPI names its own
        raise RequestValidationError([{"loc": ("query", exc.field), "msg": exc.reason, "type": "value_error"}]) from None
    with read_transaction(db):
        row = repository.get_store(db, store_id)
        store = repository.read_document(StoreDoc, row.document)
        zone = store_zone(row, settings.time_zone)
        rows = repository.store_history(db, store_id, utc_now() - timedelta(days=days))
        deliveries, undelivered = history.deliveries(store, rows, zone)
        zone_name = store_zone_name(row, settings.time_zone)
    fit = fit_speeds(rides_from_deliveries(deliveries, undelivered), options)
    return {"store_id": store_id, "days": days, "time_zone": zone_name, **fit.to_document()}
