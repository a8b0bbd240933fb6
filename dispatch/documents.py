"""Contract documents in, validated domain objects out: every rule names its field and id."""

from __future__ import annotations

import json
import math
from collections import Counter
from datetime import datetime
from typing import Any

import numpy as np
from pydantic import ValidationError

from dispatch.errors import FieldError, InvalidProblem
from dispatch.geofence import GeofenceError, service_area
from dispatch.model import (
    DEFAULT_PROMISE_S,
    Location,
    MatrixTravel,
    SpeedProfile,
    Uncertainty,
    Options,
    Order,
    Problem,
    Rider,
    Store,
    ThirdParty,
    TravelOptions,
    Zone,
)
from dispatch.schema import LocationDoc, MatrixTravelDoc, OptionsDoc, OrderDoc, ProblemDoc, RiderDoc, StoreDoc
from dispatch.travel import matrix_index_of_points, problem_points

# A day past the plan is far beyond any store's horizon; it keeps every time a small integer.
MAX_HORIZON_S = 7 * 24 * 3600
# One leg of a matrix: at most the horizon, and no longer than the Earth's circumference.
MAX_LEG_S = MAX_HORIZON_S
MAX_LEG_M = 4.1e7


def _seconds(at: datetime, epoch: datetime) -> int:
    return int(round((at - epoch).total_seconds()))


def _loc(doc: LocationDoc) -> Location:
    return Location(lat=float(doc.lat), lon=float(doc.lon))


def _field_name(loc: tuple[Any, ...], raw: Any) -> tuple[str, str | None]:
    """Turn pydantic's error location into `orders[3].items` and the id of orders[3]."""
    parts: list[str] = []
    entity_id = None
    node = raw
    for step in loc:
        if isinstance(step, int):
            parts[-1] = f"{parts[-1]}[{step}]" if parts else f"[{step}]"
            node = node[step] if isinstance(node, list) and step < len(node) else None
            if isinstance(node, dict) and isinstance(node.get("id"), str):
                entity_id = node["id"]
        else:
            parts.append(str(step))
            node = node.get(step) if isinstance(node, dict) else None
    return ".".join(parts) or "(document)", entity_id


def parse_problem_document(document: dict | str | bytes) -> ProblemDoc:
    """Check a problem document's shape and types; raise InvalidProblem naming each bad field."""
    raw = json.loads(document) if isinstance(document, (str, bytes)) else document
    if not isinstance(raw, dict):
        raise InvalidProblem.one("(document)", "a problem document must be a JSON object")
    try:
        return ProblemDoc.model_validate(raw)
    except ValidationError as exc:
        errors = []
        for err in exc.errors():
            field, entity_id = _field_name(tuple(err["loc"]), raw)
            errors.append(FieldError(field, err["msg"], entity_id, err["type"]))
        raise InvalidProblem(errors) from None


def problem_from_document(document: dict | str | bytes | ProblemDoc) -> Problem:
    """Validate a contract problem document and build the immutable domain `Problem`."""
    doc = document if isinstance(document, ProblemDoc) else parse_problem_document(document)
    errors: list[FieldError] = []
    _check_unique_ids(doc, errors)
    stores = [_store(s, doc, errors) for s in doc.stores]
    orders = [_order(o, doc.plan_time, errors) for o in doc.orders]
    riders, carried_by = _riders(doc, {s.id for s in stores}, {o.id: o for o in orders}, errors)
    _check_commitments(doc, carried_by, errors)
    travel = _travel_options(doc, errors)
    if errors:
        raise InvalidProblem(errors)
    problem = Problem(
        plan_time=doc.plan_time,
        stores=tuple(stores),
        riders=tuple(riders),
        orders=tuple(orders),
        options=_options(doc.options, travel),
        initial_routes=_initial_routes(doc),
    )
    if travel.model == "matrix":
        # Fails with a field error if a stop is not one of the matrix's points.
        matrix_index_of_points(travel.matrix, problem_points(problem))
    return problem


def _check_unique_ids(doc: ProblemDoc, errors: list[FieldError]) -> None:
    """Each store, rider and order id appears once in its list."""
    for kind, items in (("stores", doc.stores), ("riders", doc.riders), ("orders", doc.orders)):
        for dup, count in Counter(x.id for x in items).items():
            if count > 1:
                errors.append(FieldError(f"{kind}.id", f"id appears {count} times", dup))


def _store(s: StoreDoc, doc: ProblemDoc, errors: list[FieldError]) -> Store:
    """A store, its geofence and third party checked."""
    if s.geofence is not None:
        try:
            service_area(s.geofence, _loc(s.location), s.service_radius_m)
        except GeofenceError as exc:
            errors.append(FieldError(f"stores[{s.id}].geofence", str(exc), s.id))
    return Store(
        id=s.id,
        location=_loc(s.location),
        service_radius_m=float(s.service_radius_m),
        geofence=s.geofence,
        pickup_service_s=int(s.pickup_service_s),
        third_party=_third_party(s, doc, errors),
    )


def _order(o: OrderDoc, epoch: datetime, errors: list[FieldError]) -> Order:
    """An order with its times in seconds from the plan, checked in order and against the horizon."""
    created = _seconds(o.created_at, epoch)
    ready = _seconds(o.ready_at, epoch) if o.ready_at is not None else created
    promised = _seconds(o.promised_at, epoch) if o.promised_at is not None else created + DEFAULT_PROMISE_S
    if ready < created:
        errors.append(FieldError(f"orders[{o.id}].ready_at", "is before created_at", o.id))
    if promised < created:
        errors.append(FieldError(f"orders[{o.id}].promised_at", "is before created_at", o.id))
    deliver_after = _seconds(o.deliver_after, epoch) if o.deliver_after is not None else None
    if deliver_after is not None and deliver_after > promised:
        errors.append(FieldError(f"orders[{o.id}].deliver_after", "is after promised_at", o.id))
    deadline = _seconds(o.deadline_at, epoch) if o.deadline_at is not None else None
    if deadline is not None and deadline < max(ready, deliver_after or ready):
        errors.append(FieldError(f"orders[{o.id}].deadline_at", "is before ready_at or deliver_after", o.id))
    if deadline is not None and abs(deadline) > MAX_HORIZON_S:
        errors.append(FieldError(f"orders[{o.id}].deadline_at", "is more than 7 days from plan_time", o.id))
    for name, value in (("created_at", created), ("ready_at", ready), ("promised_at", promised)):
        if abs(value) > MAX_HORIZON_S:
            errors.append(FieldError(f"orders[{o.id}].{name}", "is more than 7 days from plan_time", o.id))
    return Order(
        id=o.id,
        store_id=o.store_id,
        dropoff=_loc(o.dropoff),
        created_at_s=created,
        ready_at_s=ready,
        promised_at_s=promised,
        items=int(o.items),
        dropoff_service_s=int(o.dropoff_service_s),
        priority=int(o.priority),
        max_ride_s=o.max_ride_s,
        deliver_after_s=deliver_after,
        deadline_s=deadline,
        assigned_rider_id=o.assigned_rider_id,
        committed=bool(o.committed),
    )


def _riders(
    doc: ProblemDoc, store_ids: set[str], order_by_id: dict[str, Order], errors: list[FieldError]
) -> tuple[list[Rider], dict[str, str]]:
    """The riders, and which rider carries each carried order (the first that says so)."""
    carried_by: dict[str, str] = {}
    riders = []
    for r in doc.riders:
        riders.append(_rider(r, doc, store_ids, errors))
        _check_carrying(r, store_ids, order_by_id, carried_by, errors)
    return riders, carried_by


def _rider(r: RiderDoc, doc: ProblemDoc, store_ids: set[str], errors: list[FieldError]) -> Rider:
    """A rider with its shift in seconds from the plan, checked in order and against the horizon."""
    epoch = doc.plan_time
    available = max(0, _seconds(r.available_at, epoch)) if r.available_at is not None else 0
    shift_end = _seconds(r.shift_end, epoch) if r.shift_end is not None else None
    if shift_end is not None and r.available_at is not None and shift_end < _seconds(r.available_at, epoch):
        errors.append(FieldError(f"riders[{r.id}].shift_end", "is before available_at", r.id))
    if shift_end is not None and abs(shift_end) > MAX_HORIZON_S:
        errors.append(FieldError(f"riders[{r.id}].shift_end", "is more than 7 days from plan_time", r.id))
    if available > MAX_HORIZON_S:
        errors.append(FieldError(f"riders[{r.id}].available_at", "is more than 7 days after plan_time", r.id))
    if r.store_id is not None and r.store_id not in store_ids:
        errors.append(FieldError(f"riders[{r.id}].store_id", f"unknown store {r.store_id!r}", r.id))
    return Rider(
        id=r.id,
        location=_loc(r.location),
        available_at_s=available,
        shift_end_s=shift_end,
        capacity_items=int(r.capacity_items),
        max_orders=int(r.max_orders),
        speed_mps=float(r.speed_mps),
        carrying=tuple(r.carrying),
        store_id=r.store_id,
        heading_to=r.heading_to,
        shift_end_rule=r.shift_end_rule or doc.options.shift_end_rule,
        zone=_zone(r, errors),
    )


def _check_carrying(
    r: RiderDoc, store_ids: set[str], order_by_id: dict[str, Order], carried_by: dict[str, str], errors: list[FieldError]
) -> None:
    """A rider's carried orders exist, are carried by no other rider and name a known store; the
    order it is heading to is one of them. Records the carrier of each in `carried_by`."""
    field = f"riders[{r.id}].carrying"
    for oid in r.carrying:
        if oid not in order_by_id:
            errors.append(FieldError(field, f"carried order {oid!r} is not in orders", r.id))
        elif oid in carried_by:
            errors.append(FieldError(field, f"order {oid!r} is also carried by rider {carried_by[oid]!r}", r.id))
        elif order_by_id[oid].store_id not in store_ids:
            errors.append(FieldError(field, f"carried order {oid!r} names unknown store {order_by_id[oid].store_id!r}", r.id))
        carried_by.setdefault(oid, r.id)
    if r.heading_to is not None and r.heading_to not in r.carrying:
        errors.append(FieldError(f"riders[{r.id}].heading_to", f"order {r.heading_to!r} is not among the orders it carries", r.id))


def _check_commitments(doc: ProblemDoc, carried_by: dict[str, str], errors: list[FieldError]) -> None:
    """A committed order names a rider of the problem, and the one carrying it if it is carried."""
    rider_ids = {r.id for r in doc.riders}
    for o in doc.orders:
        if o.committed and o.assigned_rider_id not in rider_ids:
            errors.append(
                FieldError(f"orders[{o.id}].committed", "needs an assigned_rider_id naming a rider of this problem", o.id)
            )
        elif o.committed and o.id in carried_by and carried_by[o.id] != o.assigned_rider_id:
            errors.append(FieldError(f"orders[{o.id}].committed", f"the order is carried by rider {carried_by[o.id]!r}", o.id))


def _options(opt: OptionsDoc, travel: TravelOptions) -> Options:
    """How to solve: limits, seed, rules and the objective's weights."""
    return Options(
        time_limit_s=float(opt.time_limit_s),
        lateness=opt.lateness,
        return_to_store=bool(opt.return_to_store),
        travel=travel,
        seed=int(opt.seed),
        max_iterations=opt.max_iterations,
        travel_cost_per_s=int(opt.weights.travel_per_s),
        late_cost_per_s=int(opt.weights.late_per_s),
        unassigned_cost=int(opt.weights.unassigned),
        reassign_cost=int(opt.weights.reassign),
        click_to_door_cost_per_s=int(opt.weights.click_to_door_per_s),
        late_steep_after_s=int(opt.weights.late_steep_after_s),
        late_steep_cost_per_s=int(opt.weights.late_steep_per_s),
        late_fixed_cost=int(opt.weights.late_fixed),
        rider_cost_per_hour=opt.rider_cost_per_hour,
    )


def _initial_routes(doc: ProblemDoc) -> tuple[tuple[str, tuple[tuple[str, tuple[str, ...]], ...]], ...]:
    """The routes being followed, as (rider id, ((kind, order ids), ...))."""
    return tuple(
        (
            route.rider_id,
            tuple(
                (s.kind, tuple(s.order_ids) if s.kind == "pickup" else ((s.order_id,) if s.order_id else ()))
                for s in route.stops
            ),
        )
        for route in doc.initial_routes
    )


def _zone(rider, errors: list[FieldError]) -> Zone | None:
    """The rider's zone: valid H3 cells, or a valid GeoJSON polygon."""
    from dispatch.grid import is_cell
    from dispatch.zones import polygon_area

    z = rider.zone
    if z is None:
        return None
    if z.cells is not None:
        bad = [c for c in z.cells if not is_cell(c)]
        if bad:
            errors.append(FieldError(f"riders[{rider.id}].zone.cells", f"not H3 cells: {', '.join(bad[:3])}", rider.id))
        return Zone(cells=frozenset(z.cells))
    try:
        polygon_area(z.polygon)
    except (GeofenceError, IndexError, TypeError, KeyError) as exc:
        errors.append(FieldError(f"riders[{rider.id}].zone.polygon", str(exc) or "is not a GeoJSON polygon", rider.id))
    return Zone(polygon=z.polygon)


def _third_party(store, doc: ProblemDoc, errors: list[FieldError]) -> ThirdParty | None:
    """The store's third-party option; its fees need the riders' cost per hour to be priced."""
    tp = store.third_party
    if tp is None:
        return None
    if doc.options.rider_cost_per_hour is None:
        errors.append(FieldError(
            "options.rider_cost_per_hour",
            f"is needed when a store has a third_party (store {store.id}): fees and rider time are priced in one currency",
            store.id,
        ))
    return ThirdParty(
        fee_per_order=float(tp.fee_per_order), fee_per_extra_km=float(tp.fee_per_extra_km),
        included_km=float(tp.included_km), arrival_s=int(tp.arrival_s), speed_mps=float(tp.speed_mps),
        orders_per_courier=int(tp.orders_per_courier),
        fee_per_added_order=None if tp.fee_per_added_order is None else float(tp.fee_per_added_order),
    )


def _is_square(rows: list[list[float]], n: int) -> bool:
    """Whether `rows` is an n x n matrix (a ragged one would not become an array)."""
    return len(rows) == n and all(len(row) == n for row in rows)


def _speed_profile(doc: ProblemDoc, errors: list[FieldError]) -> SpeedProfile | None:
    """The speed profile, its periods counted from plan_time's local midnight; None without one."""
    given = doc.options.travel.speed_profile
    if given is None:
        return None
    field = "options.travel.speed_profile"
    if not _divides_the_day(given.period_min, field, errors):
        return None
    if not _one_per_period(given.factors, given.period_min, f"{field}.factors", errors):
        return None
    return SpeedProfile(
        period_s=given.period_min * 60,
        factors=tuple(float(f) for f in given.factors),
        midnight_s=_midnight_s(doc),
    )


def _one_per_period(values: list, period_min: int, field: str, errors: list[FieldError], or_one: bool = False) -> bool:
    """Whether `values` has one value per period of the day (else an error naming the field)."""
    periods = 1440 // period_min
    if len(values) == periods:
        return True
    needed = f"one number, or 1440 / period_min = {periods} of them, are needed" if or_one else (
        f"1440 / period_min = {periods} are needed")
    errors.append(FieldError(field, f"has {len(values)}: {needed}"))
    return False


def _divides_the_day(period_min: int, field: str, errors: list[FieldError]) -> bool:
    """Whether periods of `period_min` cut the day evenly (else an error naming the field)."""
    if 1440 % period_min:
        errors.append(FieldError(f"{field}.period_min", f"is {period_min}: it must divide 1440 (a day's minutes)"))
        return False
    return True


def _midnight_s(doc: ProblemDoc) -> int:
    """plan_time's local midnight in plan-epoch seconds (<= 0): where periods of the day count from."""
    local = doc.plan_time
    since_midnight = local.hour * 3600 + local.minute * 60 + local.second + local.microsecond / 1e6
    return -int(math.floor(since_midnight))


def _uncertainty(doc: ProblemDoc, errors: list[FieldError]) -> Uncertainty | None:
    """The uncertainty of rides and services, its periods counted from plan_time's local midnight;
    None without one."""
    given = doc.options.travel.uncertainty
    if given is None:
        return None
    field = "options.travel.uncertainty"
    if not _divides_the_day(given.period_min, field, errors):
        return None
    ride_cv = given.ride_cv if isinstance(given.ride_cv, list) else [given.ride_cv] * (1440 // given.period_min)
    if not _one_per_period(ride_cv, given.period_min, f"{field}.ride_cv", errors, or_one=True):
        return None
    return Uncertainty(
        ride_cv=tuple(float(c) for c in ride_cv),
        service_cv=float(given.service_cv),
        period_s=given.period_min * 60,
        midnight_s=_midnight_s(doc),
    )


def _travel_options(doc: ProblemDoc, errors: list[FieldError]) -> TravelOptions:
    travel = doc.options.travel
    profile = _speed_profile(doc, errors)
    uncertainty = _uncertainty(doc, errors)
    if not isinstance(travel, MatrixTravelDoc):
        return TravelOptions(
            model="haversine", detour_factor=float(travel.detour_factor), speed_profile=profile, uncertainty=uncertainty
        )
    n = len(travel.locations)
    field = "options.travel"
    if not _is_square(travel.durations_s, n):
        errors.append(FieldError(f"{field}.durations_s", f"must be {n}x{n} (one row and column per location)"))
        return TravelOptions(model="matrix")
    durations = np.asarray(travel.durations_s, dtype=float)
    if not np.all(np.isfinite(durations)) or np.any(durations < 0) or np.any(durations > MAX_LEG_S):
        errors.append(FieldError(f"{field}.durations_s", f"must hold finite seconds from 0 to {MAX_LEG_S} (7 days)"))
        return TravelOptions(model="matrix")
    distances = None
    if travel.distances_m is not None:
        if not _is_square(travel.distances_m, n):
            errors.append(FieldError(f"{field}.distances_m", f"must be {n}x{n} like durations_s"))
        else:
            distances = np.asarray(travel.distances_m, dtype=float)
            if not np.all(np.isfinite(distances)) or np.any(distances < 0) or np.any(distances > MAX_LEG_M):
                errors.append(FieldError(f"{field}.distances_m", f"must hold finite metres from 0 to {MAX_LEG_M:.0f}"))
    matrix = MatrixTravel(
        locations=tuple(_loc(p) for p in travel.locations),
        durations_s=np.rint(durations).astype(np.int64),
        distances_m=distances,
    )
    return TravelOptions(
        model="matrix", detour_factor=1.0, matrix=matrix, speed_profile=profile, uncertainty=uncertainty
    )
