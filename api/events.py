"""Events: each change the service makes or accepts, written in the transaction of the change (so
an event exists exactly when its change does) and published once that transaction commits.

Ids grow in commit order within a store: on PostgreSQL the writers of one store's events take a
transaction lock on the store first (SQLite has one writer at a time anyway), so a client that
resumes after id N never misses an event committed later with a smaller id.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Any

from sqlalchemy import event as sa_event
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session, sessionmaker

from api.broker import Publisher
from api.local_time import localize, to_second
from api.tables import DeliveryRow, EventRow, OrderRow, PlanRow, WebhookRow

EVENT_TYPES = (
    "order.accepted",
    "order.cancelled",
    "order.picked_up",
    "order.delivered",
    "plan.current",
    "rider.route_changed",
    "order.eta_moved",
    "order.at_risk",
)
# Keys of a Session's `info`: the stores this transaction wrote events for (published when it
# commits), and each store's webhook subscriptions (read once per transaction, not per event).
_PENDING = "dispatch_events_pending"
_HOOKS = "dispatch_events_hooks"
_PUBLISHER = "dispatch_events_publisher"


@dataclass(frozen=True, slots=True)
class EventRules:
    """When a re-plan's differences are worth an event."""

    eta_moved_s: int = 300  # an order's ETA moved by at least this much
    at_risk_slack_s: int = 300  # an order's ETA is this close to its promise, or past it


def publish_on_commit(sessions: sessionmaker, publisher: Publisher) -> None:
    """Sessions of `sessions` publish the stores they wrote events for when they commit."""
    sessions.kw.setdefault("info", {})[_PUBLISHER] = publisher

    @sa_event.listens_for(sessions, "after_commit")
    def _committed(session: Session) -> None:
        session.info.pop(_HOOKS, None)
        stores = session.info.pop(_PENDING, None)
        if stores:
            publisher.committed(stores)

    @sa_event.listens_for(sessions, "after_rollback")
    def _rolled_back(session: Session) -> None:
        session.info.pop(_HOOKS, None)
        session.info.pop(_PENDING, None)


def _lock_store_events(session: Session, store_id: str) -> None:
    # One writer of a store's events at a time until commit, so ids commit in order (PostgreSQL).
    if session.get_bind().dialect.name == "postgresql":
        key = zlib.crc32(f"events:{store_id}".encode())
        session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": key})


def record(
    session: Session,
    store_id: str,
    type_: str,
    at: datetime,
    body: dict[str, Any],
    rider_id: str | None = None,
    order_id: str | None = None,
) -> EventRow:
    """Write one event in the session's transaction, and a pending delivery for each webhook
    subscribed to it; it is published when that transaction commits."""
    assert type_ in EVENT_TYPES, type_
    pending: set[str] = session.info.setdefault(_PENDING, set())
    if store_id not in pending:
        _lock_store_events(session, store_id)
        publisher = session.info.get(_PUBLISHER)
        if publisher is not None:
            publisher.in_transaction(session, store_id)
        pending.add(store_id)
    row = EventRow(store_id=store_id, type=type_, at=at, rider_id=rider_id, order_id=order_id, body=body)
    session.add(row)
    hooks = [hook_id for hook_id, types in _subscriptions(session, store_id) if type_ in types]
    if hooks:
        session.flush()  # the event's id, for its deliveries
        for hook_id in hooks:
            session.add(
                DeliveryRow(webhook_id=hook_id, event_id=row.id, event_type=type_, status="pending", attempts=0, next_attempt_at=at, created_at=at)
            )
    return row


def _subscriptions(session: Session, store_id: str) -> list[tuple[str, list[str]]]:
    """(id, event types) of the store's active webhooks, read once per transaction."""
    cache: dict[str, list[tuple[str, list[str]]]] = session.info.setdefault(_HOOKS, {})
    if store_id not in cache:
        rows = session.execute(select(WebhookRow.id, WebhookRow.event_types).where(WebhookRow.store_id == store_id, WebhookRow.active))
        cache[store_id] = [(hook_id, list(types)) for hook_id, types in rows]
    return cache[store_id]


def public(row: EventRow, zone: tzinfo | None = None) -> dict[str, Any]:
    """The event as streams and webhooks send it; with `zone` (the store's), its times written
    there to the second, as every other answer about the store."""
    doc = {
        "id": row.id,
        "type": row.type,
        "at": row.at.isoformat(),
        "store_id": row.store_id,
        "rider_id": row.rider_id,
        "order_id": row.order_id,
        "body": row.body,
    }
    if zone is None:
        return doc
    return {**doc, "at": to_second(row.at, zone).isoformat(), "body": localize(row.body, zone)}


def after(session: Session, store_id: str, after_id: int, limit: int = 500) -> list[EventRow]:
    """The store's events with ids above `after_id`, oldest first, at most `limit`."""
    query = select(EventRow).where(EventRow.store_id == store_id, EventRow.id > after_id)
    return list(session.scalars(query.order_by(EventRow.id).limit(limit)))


def last_id(session: Session, store_id: str) -> int:
    """The id of the store's latest event (0 before its first)."""
    return session.scalar(select(func.max(EventRow.id)).where(EventRow.store_id == store_id)) or 0


def any_after(session: Session, after_id: int, limit: int = 500) -> list[EventRow]:
    """Every store's events with ids above `after_id`, oldest first (the webhook worker)."""
    return list(session.scalars(select(EventRow).where(EventRow.id > after_id).order_by(EventRow.id).limit(limit)))


# --- what each change records --------------------------------------------------------------


def order_accepted(session: Session, row: OrderRow, now: datetime) -> None:
    """A new order was accepted."""
    doc = row.document
    body = {
        "order_id": row.id,
        "created_at": doc["created_at"],
        "ready_at": doc.get("ready_at"),
        "promised_at": doc.get("promised_at"),
        "dropoff": doc["dropoff"],
        "items": doc.get("items"),
    }
    record(session, row.store_id, "order.accepted", now, body, order_id=row.id)


def order_changed(session: Session, row: OrderRow, kind: str, at: datetime, now: datetime, plan: PlanRow | None) -> None:
    """An order was picked up, delivered or cancelled; a cancelled order leaves its rider's route."""
    body = {"order_id": row.id, "status": row.status, "at": at.isoformat(), "rider_id": row.rider_id}
    record(session, row.store_id, f"order.{kind}", now, body, rider_id=row.rider_id, order_id=row.id)
    if kind == "cancelled" and plan is not None:
        for route in plan.plan["routes"]:
            if any(row.id in _stop_orders(s) for s in route["stops"]):
                body = {"rider_id": route["rider_id"], "plan_id": plan.plan_id, "why": f"order {row.id} was cancelled"}
                record(session, row.store_id, "rider.route_changed", now, body, rider_id=route["rider_id"], order_id=row.id)


def _stop_orders(stop: dict) -> list[str]:
    return list(stop["order_ids"]) if stop["kind"] == "pickup" else [stop["order_id"]]


def _signature(stops: list[dict]) -> list[tuple[str, tuple[str, ...]]]:
    return [(s["kind"], tuple(_stop_orders(s))) for s in stops]


def _dropoffs(plan: dict | None) -> dict[str, tuple[str, str]]:
    """Order id -> (rider id, arrive_at) of every drop-off in a plan document."""
    if plan is None:
        return {}
    return {s["order_id"]: (r["rider_id"], s["arrive_at"]) for r in plan["routes"] for s in r["stops"] if s["kind"] == "dropoff"}


def slack_s(promised_at: str | None, arrive_at: str) -> int | None:
    """Seconds from the planned arrival to the promise (negative: late); None without a promise."""
    if not promised_at:
        return None
    return int(round((datetime.fromisoformat(promised_at) - datetime.fromisoformat(arrive_at)).total_seconds()))


def plan_committed(
    session: Session,
    store_id: str,
    before: dict | None,
    before_remaining: dict[str, list[dict]],
    plan: dict,
    promises: dict[str, str],
    now: datetime,
    rules: EventRules,
) -> None:
    """A new current plan: plan.current, then each rider whose remaining stops changed, each order
    whose ETA moved by `rules.eta_moved_s` or more, and each order that became at risk.

    `before_remaining` holds each rider's stops of the previous plan still to do when the new plan
    was made (done stops are not a change); `promises` maps order ids to promised_at.
    """
    metrics = plan.get("metrics", {})
    summary = {k: metrics.get(k) for k in ("orders", "assigned", "on_time", "late", "riders_used", "total_distance_m")}
    body = {"plan_id": plan["plan_id"], "plan_time": plan["plan_time"], "metrics": summary, "unassigned": plan.get("unassigned", [])}
    record(session, store_id, "plan.current", now, body)
    routes = {r["rider_id"]: r["stops"] for r in plan["routes"]}
    for rider_id in sorted(set(routes) | set(before_remaining)):
        new, old = routes.get(rider_id, []), before_remaining.get(rider_id, [])
        if _signature(new) != _signature(old):
            stops = [{**{k: v for k, v in s.items() if k != "location"}} for s in new]
            body = {"rider_id": rider_id, "plan_id": plan["plan_id"], "stops": stops}
            record(session, store_id, "rider.route_changed", now, body, rider_id=rider_id)
    old_drops, new_drops = _dropoffs(before), _dropoffs(plan)
    for order_id, (rider_id, eta) in sorted(new_drops.items()):
        if order_id in old_drops:
            moved = int(round((datetime.fromisoformat(eta) - datetime.fromisoformat(old_drops[order_id][1])).total_seconds()))
            if abs(moved) >= rules.eta_moved_s:
                body = {"order_id": order_id, "rider_id": rider_id, "eta_before": old_drops[order_id][1], "eta": eta, "moved_s": moved}
                record(session, store_id, "order.eta_moved", now, body, rider_id=rider_id, order_id=order_id)
        slack = slack_s(promises.get(order_id), eta)
        was = old_drops.get(order_id)
        was_at_risk = was is not None and (s := slack_s(promises.get(order_id), was[1])) is not None and s < rules.at_risk_slack_s
        if slack is not None and slack < rules.at_risk_slack_s and not was_at_risk:
            body = {"order_id": order_id, "rider_id": rider_id, "eta": eta, "promised_at": promises[order_id], "slack_s": slack}
            record(session, store_id, "order.at_risk", now, body, rider_id=rider_id, order_id=order_id)
    before_unassigned = {u["order_id"] for u in (before or {}).get("unassigned", [])}
    for item in plan.get("unassigned", []):
        if item["order_id"] not in before_unassigned:
            body = {"order_id": item["order_id"], "rider_id": None, "eta": None, "promised_at": promises.get(item["order_id"]),
                    "slack_s": None, "reason": item["reason"], "detail": item.get("detail")}
            record(session, store_id, "order.at_risk", now, body, order_id=item["order_id"])
