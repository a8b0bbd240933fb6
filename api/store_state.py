"""Conversions between the stored state of a store and the core's documents (no solving here)."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any

from api.local_time import store_zone
from api.repository import StoreSnapshot
from api.schemas import DEFAULT_COMMIT_LEAD_S
from api.tables import OrderRow, PlanRow
from dispatch.documents import problem_from_document
from dispatch.errors import FieldError, InvalidProblem
from dispatch.model import Location, Problem
from dispatch.schema import OptionsDoc
from dispatch.travel import great_circle_m

AT_STORE_M = 100.0  # a rider this close to the store is waiting there, not riding to it


def planned_riders(plan: PlanRow | None) -> dict[str, str]:
    """Order id -> rider id of every drop-off in `plan`."""
    if plan is None:
        return {}
    return {s["order_id"]: r["rider_id"] for r in plan.plan["routes"] for s in r["stops"] if s["kind"] == "dropoff"}


def riding_to(stops: list[dict], carried_ids: list[str]) -> str | None:
    """The carried order a rider is riding to now: its first remaining stop, when that stop
    delivers an order it carries (the rider follows its route)."""
    if stops and stops[0]["kind"] == "dropoff" and stops[0]["order_id"] in carried_ids:
        return stops[0]["order_id"]
    return None


def committed_pickup(rider: dict, pickup: dict, plan_time: datetime, lead_s: int, pickup_service_s: int) -> list[str]:
    """The orders of a rider's next stop, a pickup, when it is committed: the rider is riding
    to the store for it, or it starts within `lead_s` of `plan_time`. A rider waiting at the
    store with time to spare is not committed: orders placed meanwhile may join its wave."""
    here = Location(lat=rider["location"]["lat"], lon=rider["location"]["lon"])
    store = Location(lat=pickup["location"]["lat"], lon=pickup["location"]["lon"])
    riding_there = great_circle_m(here, store) > AT_STORE_M
    starts = datetime.fromisoformat(pickup["depart_at"]) - timedelta(seconds=pickup_service_s)
    if riding_there or starts <= plan_time + timedelta(seconds=lead_s):
        return list(pickup["order_ids"])
    return []


def dispatch_problem(
    snapshot: StoreSnapshot,
    plan_time: datetime,
    options: OptionsDoc,
    current: PlanRow | None = None,
    commit_lead_s: int = DEFAULT_COMMIT_LEAD_S,
) -> dict:
    """The contract problem document of a store as it is at `plan_time`.

    Riders on duty whose shift has not ended take part, and so does every rider who still
    carries orders (those orders stay with them). Orders created after `plan_time` are not
    known yet at that time and are left out. From the `current` plan: each open order's rider
    becomes its `assigned_rider_id` (so `weights.reassign` can keep plans stable), and a rider
    on the road keeps the drop-off it is riding to first (`heading_to`: the one it reported,
    else the first remaining stop of its route), the orders of a committed pickup (see
    `committed_pickup`) stay with their rider (`committed`), and the riders' remaining stops
    become the warm start (`initial_routes`). An order a dispatcher pinned to a rider on the road
    is committed to that rider.
    """
    assigned = planned_riders(current)
    known = {o.id: o for o in snapshot.open_orders}
    for _rider, carried in snapshot.riders:
        known.update((o.id, o) for o in carried)
    service_s = {s.id: int(s.document.get("pickup_service_s", 60)) for s in [snapshot.store, *snapshot.other_stores]}
    committed: set[str] = set()
    riders: list[dict] = []
    orders: list[dict] = []
    following: list[dict] = []  # the warm start: each rider's remaining stops in the current plan
    for rider, carried in snapshot.riders:
        shift_end = rider.document.get("shift_end")
        on_shift = shift_end is None or datetime.fromisoformat(shift_end) > plan_time
        if not carried and not (rider.on_duty and on_shift):
            continue
        carried_ids = [o.id for o in carried]
        stops = remaining_stops(current, rider.id, known)
        heading = rider.document.get("heading_to")
        if heading not in carried_ids:
            heading = riding_to(stops, carried_ids)
        riders.append({**rider.document, "carrying": carried_ids, "heading_to": heading})
        orders.extend(o.document for o in carried)
        if stops:
            following.append({"rider_id": rider.id, "stops": [_stop_ref(s) for s in stops]})
        if stops and stops[0]["kind"] == "pickup":
            service = service_s.get(stops[0]["store_id"], 60)
            committed.update(committed_pickup(rider.document, stops[0], plan_time, commit_lead_s, service))
    riding = {r["id"] for r in riders}
    moved: dict[str, str] = {}  # pinned orders the warm start has on another rider
    for o in snapshot.open_orders:
        if datetime.fromisoformat(o.document["created_at"]) <= plan_time:
            pinned = o.pinned_rider_id if o.pinned_rider_id in riding else None
            rider_id = pinned or assigned.get(o.id)
            if pinned and assigned.get(o.id) != pinned:
                moved[o.id] = pinned
            if rider_id in riding:
                orders.append({**o.document, "assigned_rider_id": rider_id, "committed": o.id in committed or pinned is not None})
            else:
                orders.append(o.document)
    if moved:
        following = without_orders(following, set(moved))
    return {
        # In the store's zone: a speed profile counts its periods from the store's local midnight.
        "plan_time": plan_time.astimezone(store_zone(snapshot.store, None)).isoformat(),
        "stores": [snapshot.store.document] + [s.document for s in snapshot.other_stores],
        "riders": riders,
        "orders": orders,
        "options": options.model_dump(mode="json"),
        "initial_routes": following,
    }


def without_orders(routes: list[dict], order_ids: set[str]) -> list[dict]:
    """Warm-start routes less the stops of `order_ids` (orders a dispatcher moved elsewhere)."""
    out = []
    for route in routes:
        stops = []
        for stop in route["stops"]:
            if stop["kind"] == "pickup":
                kept = [oid for oid in stop["order_ids"] if oid not in order_ids]
                if kept:
                    stops.append({**stop, "order_ids": kept})
            elif stop["order_id"] not in order_ids:
                stops.append(stop)
        if stops:
            out.append({**route, "stops": stops})
    return out


def _stop_ref(stop: dict) -> dict:
    """A stop of the current plan as a warm-start stop (what it collects or delivers)."""
    if stop["kind"] == "pickup":
        return {"kind": "pickup", "order_ids": list(stop["order_ids"])}
    return {"kind": "dropoff", "order_id": stop["order_id"]}


def _stop_order_ids(stop: dict) -> list[str]:
    return list(stop["order_ids"]) if stop["kind"] == "pickup" else [stop["order_id"]]


def _route_stops(plan: PlanRow | None, rider_id: str) -> list[dict]:
    route = next((r for r in plan.plan["routes"] if r["rider_id"] == rider_id), None) if plan else None
    return route["stops"] if route else []


def remaining_stops(plan: PlanRow | None, rider_id: str, orders: dict[str, OrderRow]) -> list[dict]:
    """The rider's stops in `plan` still to do: orders delivered, cancelled or picked up drop out."""
    stops = []
    for stop in _route_stops(plan, rider_id):
        if stop["kind"] == "pickup":
            waiting = [oid for oid in stop["order_ids"] if oid in orders and orders[oid].status == "open"]
            if waiting:
                stops.append({**stop, "order_ids": waiting})
        elif stop["order_id"] in orders and orders[stop["order_id"]].status in ("open", "picked_up"):
            stops.append(stop)
    return stops


def route_order_ids(plan: PlanRow | None, rider_id: str) -> list[str]:
    """Every order id on the rider's route in `plan`."""
    return [oid for stop in _route_stops(plan, rider_id) for oid in _stop_order_ids(stop)]


def _position(location: dict) -> list[float]:
    # RFC 7946: longitude first.
    return [location["lon"], location["lat"]]


def route_geojson(route: dict[str, Any], rider_location: dict) -> dict:
    """A rider route document as a GeoJSON FeatureCollection: the path and one Point per stop."""
    features: list[dict] = []
    path = [_position(rider_location)] + [_position(s["location"]) for s in route["stops"]]
    if len(path) >= 2:
        features.append(
            {
                "type": "Feature",
                "geometry": {"type": "LineString", "coordinates": path},
                "properties": {"rider_id": route["rider_id"], "plan_id": route["plan_id"], "kind": "route"},
            }
        )
    features.append(
        {
            "type": "Feature",
            "geometry": {"type": "Point", "coordinates": _position(rider_location)},
            "properties": {"rider_id": route["rider_id"], "kind": "rider"},
        }
    )
    for seq, stop in enumerate(route["stops"], start=1):
        props = {k: v for k, v in stop.items() if k != "location"}
        props["sequence"] = seq
        features.append({"type": "Feature", "geometry": {"type": "Point", "coordinates": _position(stop["location"])}, "properties": props})
    return {"type": "FeatureCollection", "features": features}


# `orders[O7].created_at`, `riders[3].speed_mps` -> ("orders", "O7"), ("riders", "3") and the rest.
_RECORD_FIELD = re.compile(r"^(orders|riders)\[([^\]]*)\]\.?(.*)$")
_MAX_ROUNDS = 5


def _culprits(errors: list[FieldError]) -> dict[tuple[str, str], tuple[str, str]] | None:
    """(kind, id) -> (field, reason) of the stored records the errors blame; None when one of
    them is not a record's (the store itself, or the dispatch's options)."""
    out: dict[tuple[str, str], tuple[str, str]] = {}
    for err in errors:
        match = _RECORD_FIELD.match(err.field)
        if match is None and err.field in ("orders.id", "riders.id") and err.entity_id:
            match_kind, record_id, field = err.field.split(".")[0], err.entity_id, "id"
        elif match is not None:
            match_kind, record_id, field = match.group(1), err.entity_id or match.group(2), match.group(3) or "(document)"
        else:
            return None
        out.setdefault((match_kind, record_id), (field, err.reason))
    return out


def _without(problem: dict, culprits: dict[tuple[str, str], tuple[str, str]]) -> tuple[dict, list[dict]]:
    """The problem document less the blamed records (a rider's carried orders go with it, and no
    order stays assigned to a rider left out), and what was left out, with why."""
    riders_out = {rid for kind, rid in culprits if kind == "riders"}
    orders_out = {oid for kind, oid in culprits if kind == "orders"}
    excluded = [
        {"kind": kind[:-1], "id": rid, "field": field, "reason": reason} for (kind, rid), (field, reason) in culprits.items()
    ]
    for rider in problem["riders"]:
        if rider["id"] in riders_out:
            for oid in rider.get("carrying", []):
                if oid not in orders_out:
                    orders_out.add(oid)
                    excluded.append({"kind": "order", "id": oid, "field": "(carried)", "reason": f"its rider {rider['id']} is left out"})
    riders = []
    for rider in problem["riders"]:
        if rider["id"] in riders_out:
            continue
        carrying = [oid for oid in rider.get("carrying", []) if oid not in orders_out]
        heading = rider.get("heading_to") if rider.get("heading_to") in carrying else None
        riders.append({**rider, "carrying": carrying, "heading_to": heading})
    orders = []
    for order in problem["orders"]:
        if order["id"] in orders_out:
            continue
        if order.get("assigned_rider_id") in riders_out:
            order = {**order, "assigned_rider_id": None, "committed": False}
        orders.append(order)
    return {**problem, "riders": riders, "orders": orders}, excluded


def plannable(problem: dict) -> tuple[Problem, dict, list[dict]]:
    """The store's problem with every stored record that breaks a rule left out, so one record
    never stops a store's dispatch: (problem, its document, what was left out and why).

    An order created more than 7 days before the plan, a rider whose `available_at` is 30 days
    ahead: each is left out with its field and reason, and the rest is planned. InvalidProblem
    still stops the dispatch when the store itself or the dispatch's options are at fault.
    """
    excluded: list[dict] = []
    for _ in range(_MAX_ROUNDS):
        try:
            return problem_from_document(problem), problem, excluded
        except InvalidProblem as exc:
            culprits = _culprits(exc.errors)
            if not culprits:
                raise
            problem, left_out = _without(problem, culprits)
            excluded += left_out
    return problem_from_document(problem), problem, excluded
