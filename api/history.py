"""A store's recent history as the core reads it: outcomes for the grid, day scenarios for staffing,
deliveries for fitting speeds."""

from __future__ import annotations

from datetime import datetime, timedelta, tzinfo

from api import repository
from api.tables import OrderRow, RiderRow
from dispatch.grid import Outcome
from dispatch.live.rides import Delivery
from dispatch.model import DEFAULT_PROMISE_S, Location
from dispatch.schema import OrderDoc, RiderDoc, StoreDoc

# Fields of a stored order that belong to a dispatch, not to the history a schedule is made for.
_DISPATCH_FIELDS = {"assigned_rider_id", "committed"}
# Fields a scheduled rider takes from the store's first rider.
_RIDER_FIELDS = ("capacity_items", "max_orders", "speed_mps", "shift_end_rule")


def _promised(doc: OrderDoc) -> datetime:
    return doc.promised_at or doc.created_at + timedelta(seconds=DEFAULT_PROMISE_S)


def outcomes(rows: list[OrderRow]) -> list[Outcome]:
    """Each stored order's outcome: where it went, placed, promised and delivered when."""
    out = []
    for row in rows:
        doc = repository.read_document(OrderDoc, row.document)
        out.append(Outcome(
            order_id=row.id, store_id=row.store_id, lat=doc.dropoff.lat, lon=doc.dropoff.lon,
            created_at=doc.created_at, promised_at=_promised(doc), delivered_at=row.delivered_at,
        ))
    return out


def day_scenarios(store: StoreDoc, rows: list[OrderRow], riders: list[RiderRow]) -> list[dict]:
    """The orders as day scenarios (one per local date of `created_at`), with a rider template of
    the store's first rider for the schedule's riders (no riders themselves: staffing adds them)."""
    days: dict[str, list[dict]] = {}
    for row in rows:
        doc = repository.read_document(OrderDoc, row.document)
        document = doc.model_dump(mode="json", exclude_none=True, exclude=_DISPATCH_FIELDS)
        days.setdefault(doc.created_at.date().isoformat(), []).append(document)
    template = {"store_id": store.id, "location": store.location.model_dump(mode="json")}
    if riders:
        first = repository.read_document(RiderDoc, riders[0].document).model_dump(mode="json", exclude_none=True)
        template.update({k: first[k] for k in _RIDER_FIELDS if k in first})
    store_doc = store.model_dump(mode="json", exclude_none=True)
    scenarios = []
    for _, orders in sorted(days.items()):
        orders.sort(key=lambda o: o["created_at"])
        # One rider the staffing search reads its speed and capacity from, off shift all day.
        rider = {**template, "id": "template", "available_at": orders[0]["created_at"], "shift_end": orders[0]["created_at"]}
        scenarios.append({"plan_time": orders[0]["created_at"], "stores": [store_doc], "riders": [rider], "orders": orders})
    return scenarios


def deliveries(store: StoreDoc, rows: list[OrderRow], zone: tzinfo) -> tuple[list[Delivery], int]:
    """The delivered orders among `rows` (times on the store's clock, `zone`), and how many were not
    delivered: what a speed profile is fitted to."""
    at = Location(store.location.lat, store.location.lon)
    out, undelivered = [], 0
    for row in rows:
        if row.status != "delivered" or row.picked_up_at is None or row.delivered_at is None:
            undelivered += 1
            continue
        doc = repository.read_document(OrderDoc, row.document)
        out.append(Delivery(
            row.id, at, Location(doc.dropoff.lat, doc.dropoff.lon), row.picked_up_at.astimezone(zone),
            row.delivered_at.astimezone(zone), row.rider_id, doc.dropoff_service_s,
        ))
    return out, undelivered
