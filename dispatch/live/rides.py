"""Delivered orders as timed rides: what a speed profile is fitted to (`dispatch.live.fit_speeds`).

A history records, per delivered order, where it was picked up and dropped off and when. A ride
is one leg a rider rode: from the store at `picked_up_at` to the door at `delivered_at`; or, when
the rider was still delivering an earlier order of the same trip after this pickup, from that
door (`dropoff_service_s` after its delivery) to this one. `picked_up_at` is read as the
departure from the store and `delivered_at` as the arrival at the door (a plan's `arrive_at`).

Times are kept on the local clock of the history (UTC seconds + the time's UTC offset), so that
local midnights are multiples of 86 400 and a profile's periods count from them, as the contract
counts them from plan_time's local midnight.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from datetime import datetime, timedelta

from dispatch.errors import InvalidProblem
from dispatch.model import Location
from dispatch.travel import great_circle_m

CSV_REQUIRED = ("id", "store_lat", "store_lon", "dropoff_lat", "dropoff_lon", "picked_up_at", "delivered_at")
CSV_OPTIONAL = ("store_id", "rider_id", "dropoff_service_s")
DEFAULT_DROPOFF_SERVICE_S = 60  # the contract's default time at the door
MIN_LEG_M = 100.0  # shorter legs are mostly handover time, not riding: they say nothing of speed
SPEED_BOUNDS_MPS = (0.5, 30.0)  # a leg outside these (a bicycle at walking pace, a car on a highway) is a wrong record


@dataclass(frozen=True, slots=True)
class Delivery:
    """One delivered order as the history records it (times with their UTC offsets)."""

    order_id: str
    store: Location
    dropoff: Location
    picked_up_at: datetime
    delivered_at: datetime
    rider_id: str | None = None
    dropoff_service_s: int = DEFAULT_DROPOFF_SERVICE_S


@dataclass(frozen=True, slots=True)
class Ride:
    """One leg as ridden: when it left (local-clock seconds), how long it took, how far it was."""

    order_id: str
    depart_s: float  # UTC epoch seconds + the UTC offset of the departure: local midnights are multiples of 86 400
    ride_s: float  # observed seconds from departure to the door
    great_circle_m: float  # from where the leg started to the door (the detour is applied by the fit)


@dataclass(frozen=True, slots=True)
class Rides:
    """The rides of a history, and how many deliveries were left out and why."""

    rides: tuple[Ride, ...]
    skipped: dict[str, int]


def local_clock_s(at: datetime) -> float:
    """Seconds on `at`'s local clock: its UTC epoch seconds plus its UTC offset."""
    offset = at.utcoffset()
    return at.timestamp() + (offset.total_seconds() if offset is not None else 0.0)


def rides_from_deliveries(deliveries: list[Delivery], not_delivered: int = 0) -> Rides:
    """Each delivery's leg, chained within a rider's trip (see the module's docstring); legs too
    short or at implausible speeds are left out and counted (with `not_delivered` records)."""
    skipped = {"not_delivered": not_delivered, "too_short": 0, "implausible_speed": 0}
    rides = []
    previous: dict[str, Delivery] = {}
    for d in sorted(deliveries, key=lambda d: (d.rider_id or "", d.delivered_at, d.order_id)):
        before = previous.get(d.rider_id) if d.rider_id is not None else None
        start, depart = d.store, d.picked_up_at
        if before is not None and before.delivered_at > d.picked_up_at:
            # The rider carried this order to an earlier door first: this leg starts there.
            start = before.dropoff
            depart = max(d.picked_up_at, before.delivered_at + timedelta(seconds=before.dropoff_service_s))
        if d.rider_id is not None:
            previous[d.rider_id] = d
        metres = great_circle_m(start, d.dropoff)
        seconds = (d.delivered_at - depart).total_seconds()
        if metres < MIN_LEG_M:
            skipped["too_short"] += 1
        elif seconds <= 0 or not SPEED_BOUNDS_MPS[0] <= metres / seconds <= SPEED_BOUNDS_MPS[1]:
            skipped["implausible_speed"] += 1
        else:
            rides.append(Ride(d.order_id, local_clock_s(depart), seconds, metres))
    return Rides(tuple(rides), skipped)


def _time(text: str, field: str, order_id: str | None) -> datetime:
    try:
        at = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidProblem.one(field, f"is {text!r}: not an ISO 8601 time", order_id) from None
    if at.tzinfo is None:
        raise InvalidProblem.one(field, "a time needs its UTC offset", order_id)
    return at


def deliveries_from_csv(text: str) -> tuple[list[Delivery], int]:
    """The delivered orders of a CSV (columns CSV_REQUIRED, optionally CSV_OPTIONAL), and how
    many rows were not delivered (no `picked_up_at` or `delivered_at`)."""
    reader = csv.DictReader(io.StringIO(text))
    missing = [c for c in CSV_REQUIRED if c not in (reader.fieldnames or [])]
    if missing:
        raise InvalidProblem.one("csv", f"missing columns: {', '.join(missing)} (needed: {', '.join(CSV_REQUIRED)})")
    out, undelivered = [], 0
    for line, row in enumerate(reader, start=2):
        if not row.get("picked_up_at") or not row.get("delivered_at"):
            undelivered += 1
            continue
        oid = row.get("id")
        try:
            store = Location(float(row["store_lat"]), float(row["store_lon"]))
            dropoff = Location(float(row["dropoff_lat"]), float(row["dropoff_lon"]))
            service = int(row["dropoff_service_s"]) if row.get("dropoff_service_s") else DEFAULT_DROPOFF_SERVICE_S
        except (TypeError, ValueError) as exc:
            raise InvalidProblem.one(f"csv line {line}", f"cannot read the row: {exc}", oid) from None
        picked = _time(row["picked_up_at"], f"csv line {line}.picked_up_at", oid)
        delivered = _time(row["delivered_at"], f"csv line {line}.delivered_at", oid)
        out.append(Delivery(oid, store, dropoff, picked, delivered, row.get("rider_id") or None, service))
    return out, undelivered


def deliveries_from_order_views(views: list[dict], store: Location) -> tuple[list[Delivery], int]:
    """The delivered orders among the service's order views (`GET /v1/stores/{id}/orders`: each
    `{"order": {...}, "status", "rider_id", "picked_up_at", "delivered_at", ...}`) of a store at
    `store`, and how many views were not delivered."""
    out, undelivered = [], 0
    for i, view in enumerate(views):
        if not isinstance(view, dict) or not isinstance(view.get("order"), dict):
            raise InvalidProblem.one(f"[{i}]", "is not an order view (an object with an `order`)")
        if view.get("status") != "delivered" or not view.get("picked_up_at") or not view.get("delivered_at"):
            undelivered += 1
            continue
        doc = view["order"]
        oid = doc.get("id")
        try:
            dropoff = Location(float(doc["dropoff"]["lat"]), float(doc["dropoff"]["lon"]))
        except (KeyError, TypeError, ValueError):
            raise InvalidProblem.one(f"[{i}].order.dropoff", "needs a lat and a lon", oid) from None
        out.append(Delivery(
            oid, store, dropoff, _time(view["picked_up_at"], f"[{i}].picked_up_at", oid),
            _time(view["delivered_at"], f"[{i}].delivered_at", oid), view.get("rider_id"),
            int(doc.get("dropoff_service_s", DEFAULT_DROPOFF_SERVICE_S)),
        ))
    return out, undelivered


def read_history(text: str, is_csv: bool, store: Location | None) -> tuple[list[Delivery], int]:
    """A history file's delivered orders: a CSV, or a JSON array of the service's order views (which
    need the store's `store` location: views do not carry it)."""
    if is_csv:
        return deliveries_from_csv(text)
    try:
        views = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidProblem.one("history", f"is neither a CSV nor JSON: {exc}") from None
    if not isinstance(views, list):
        raise InvalidProblem.one("history", "a JSON history is an array of order views")
    if store is None:
        raise InvalidProblem.one("store", "order views do not say where the store is: give its location")
    return deliveries_from_order_views(views, store)
