"""The dispatcher's board of a store: what the console draws, computed here in one read so the
page only renders (riders and their state, remaining routes, open and unassigned orders, the
at-risk list by slack, each rider's timeline, the day's KPIs)."""

from __future__ import annotations

import statistics
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from api import events, repository
from api.store_state import remaining_stops
from api.tables import OrderRow, PlanRow, RiderRow

DAY = timedelta(hours=24)


def _iso(at: datetime | None) -> str | None:
    return at.isoformat() if at is not None else None


def _state(on_duty: bool, carrying: list[str], stops: list[dict]) -> str:
    """idle, to_store (its next stop is a pickup), delivering (it carries orders), off_duty."""
    if carrying:
        return "delivering"
    if stops and stops[0]["kind"] == "pickup":
        return "to_store"
    return "idle" if on_duty else "off_duty"


def _timeline(stops: list[dict], start: str | None, services: dict[str, int], promises: dict[str, str]) -> list[dict]:
    """Segments of a rider's remaining route: travel to each stop, wait there, service; and the
    part of a drop-off past its promise as `late`."""
    segments: list[dict] = []
    previous = datetime.fromisoformat(start) if start else None
    for seq, stop in enumerate(stops, start=1):
        arrive, depart = datetime.fromisoformat(stop["arrive_at"]), datetime.fromisoformat(stop["depart_at"])
        if previous is not None and previous < arrive:
            segments.append({"kind": "travel", "start_at": previous.isoformat(), "end_at": arrive.isoformat(), "stop": seq})
        service_s = services.get(stop.get("order_id") or stop.get("store_id"), 60)
        begin_service = max(arrive, depart - timedelta(seconds=service_s))
        if begin_service > arrive:
            segments.append({"kind": "wait", "start_at": arrive.isoformat(), "end_at": begin_service.isoformat(), "stop": seq})
        segments.append({"kind": "service", "start_at": begin_service.isoformat(), "end_at": depart.isoformat(), "stop": seq})
        promised = promises.get(stop.get("order_id", ""))
        if stop["kind"] == "dropoff" and promised and stop.get("late_s", 0) > 0:
            segments.append({"kind": "late", "start_at": promised, "end_at": arrive.isoformat(), "stop": seq})
        previous = depart
    return segments


def _leaves_for(route: dict | None, first: dict) -> str | None:
    """When the rider sets off for `first` in its planned route: the route's start, or the
    departure from the stop before it (done since)."""
    if route is None:
        return None
    previous = route.get("start_at")
    for stop in route["stops"]:
        if stop["kind"] == first["kind"] and stop["arrive_at"] == first["arrive_at"]:
            return previous
        previous = stop["depart_at"]
    return None


def _percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, int(round(q * (len(ordered) - 1)))))
    return ordered[index]


def store_board(db: Session, store_id: str, now: datetime, stale_s: int, at_risk_slack_s: int) -> dict[str, Any]:
    """The board of one store as of `now` (404 for an unknown store)."""
    store = repository.get_store(db, store_id)
    plan: PlanRow | None = repository.get_plan(db, store.current_plan_id) if store.current_plan_id else None
    riders = list(db.scalars(select(RiderRow).where(RiderRow.store_id == store_id).order_by(RiderRow.id)))
    live = list(
        db.scalars(
            select(OrderRow).where(OrderRow.store_id == store_id, OrderRow.status.in_(("open", "picked_up"))).order_by(OrderRow.submitted_at, OrderRow.id)
        )
    )
    recent = list(db.scalars(select(OrderRow).where(OrderRow.store_id == store_id, OrderRow.submitted_at >= now - DAY)))
    orders = {o.id: o for o in live}
    carried: dict[str, list[str]] = {}
    for o in live:
        if o.status == "picked_up" and o.rider_id:
            carried.setdefault(o.rider_id, []).append(o.id)
    services = {o.id: int(o.document.get("dropoff_service_s", 60)) for o in live}
    services[store.id] = int(store.document.get("pickup_service_s", 60))
    promises = {o.id: o.document.get("promised_at") for o in live}
    planned: dict[str, tuple[str, str]] = {}  # order -> (rider, eta)
    routes_out, rider_out = [], []
    plan_routes = {r["rider_id"]: r for r in plan.plan["routes"]} if plan else {}
    for rider in riders:
        stops = remaining_stops(plan, rider.id, orders) if plan else []
        for stop in stops:
            if stop["kind"] == "dropoff":
                planned[stop["order_id"]] = (rider.id, stop["arrive_at"])
        age_s = (now - rider.updated_at).total_seconds()
        rider_out.append(
            {
                "id": rider.id,
                "location": rider.document["location"],
                "on_duty": rider.on_duty,
                "state": _state(rider.on_duty, carried.get(rider.id, []), stops),
                "stale": age_s > stale_s,
                "position_age_s": int(age_s),
                "carrying": carried.get(rider.id, []),
                "capacity_items": rider.document.get("capacity_items"),
            }
        )
        if stops:
            numbered = [{**s, "sequence": i, "slack_s": events.slack_s(promises.get(s.get("order_id", "")), s["arrive_at"]) if s["kind"] == "dropoff" else None}
                        for i, s in enumerate(stops, start=1)]
            start = _leaves_for(plan_routes.get(rider.id), stops[0])
            routes_out.append({"rider_id": rider.id, "stops": numbered, "timeline": _timeline(stops, start, services, promises)})
    reasons = {u["order_id"]: u for u in plan.plan.get("unassigned", [])} if plan else {}
    order_out, unassigned = [], []
    for o in live:
        rider_id, eta = planned.get(o.id, (o.rider_id, None))
        slack = events.slack_s(promises.get(o.id), eta) if eta else None
        item = {
            "id": o.id,
            "status": o.status,
            "dropoff": o.document["dropoff"],
            "promised_at": promises.get(o.id),
            "rider_id": rider_id,
            "eta": eta,
            "slack_s": slack,
            "pinned_rider_id": o.pinned_rider_id,
            "items": o.document.get("items"),
        }
        order_out.append(item)
        if o.status == "open" and o.id not in planned:
            why = reasons.get(o.id)
            unassigned.append(
                {
                    "order_id": o.id,
                    "reason": why["reason"] if why else "not_planned_yet",
                    "detail": why.get("detail") if why else "accepted after the current plan was made; the next dispatch plans it",
                    "promised_at": promises.get(o.id),
                }
            )
    at_risk = [o for o in order_out if o["slack_s"] is not None and o["slack_s"] < at_risk_slack_s]
    at_risk.sort(key=lambda o: o["slack_s"])
    at_risk = [{"order_id": u["order_id"], "rider_id": None, "eta": None, "slack_s": None, "reason": u["reason"], "promised_at": u["promised_at"]}
               for u in unassigned] + [{"order_id": o["id"], "rider_id": o["rider_id"], "eta": o["eta"], "slack_s": o["slack_s"], "reason": None,
                                        "promised_at": o["promised_at"]} for o in at_risk]
    return {
        "store": store.document,
        "now": now.isoformat(),
        "plan_id": plan.plan_id if plan else None,
        "plan_time": plan.plan["plan_time"] if plan else None,
        "dispatched_at": _iso(store.dispatched_at),
        "last_event_id": events.last_id(db, store_id),
        "riders": rider_out,
        "routes": routes_out,
        "orders": order_out,
        "unassigned": unassigned,
        "at_risk": at_risk,
        "kpis": _kpis(recent, order_out, rider_out, routes_out),
    }


def _kpis(recent: list[OrderRow], live: list[dict], riders: list[dict], routes: list[dict]) -> dict[str, Any]:
    """The day's figures: the last 24 hours' orders."""
    delivered = [o for o in recent if o.status == "delivered" and o.delivered_at is not None]
    on_time = [o for o in delivered if o.document.get("promised_at") and o.delivered_at <= datetime.fromisoformat(o.document["promised_at"])]
    minutes = [(o.delivered_at - datetime.fromisoformat(o.document["created_at"])).total_seconds() / 60 for o in delivered]
    late_open = [o for o in live if o["slack_s"] is not None and o["slack_s"] < 0]
    busy = {r["rider_id"] for r in routes} | {r["id"] for r in riders if r["carrying"]}
    on_duty = [r for r in riders if r["on_duty"] or r["carrying"]]
    return {
        "open": len(live),
        "late": len(delivered) - len(on_time) + len(late_open),
        "delivered": len(delivered),
        "on_time_rate": round(len(on_time) / len(delivered), 3) if delivered else None,
        "click_to_door_mean_min": round(statistics.fmean(minutes), 1) if minutes else None,
        "click_to_door_p90_min": round(_percentile(minutes, 0.9), 1) if minutes else None,
        "riders_busy": len(busy),
        "riders_on_duty": len(on_duty),
    }
