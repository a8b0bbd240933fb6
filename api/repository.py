"""Reading and writing the service's state; every function is one transaction or part of one."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar

from pydantic import BaseModel, TypeAdapter, ValidationError

from sqlalchemy import and_, delete, exists, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from api.auth import Principal
from api.errors import Conflict, Forbidden, NotFound
from api.local_time import round_up_to_minute
from api.schemas import OrderEventIn, RiderPut
from api.tables import OrderEventRow, OrderRow, PlanRow, QuoteRow, RiderRow, StoreRow
from dispatch.errors import InvalidProblem
from dispatch.live.quote_calibration import QuoteOutcome
from dispatch.model import DEFAULT_PROMISE_S
from dispatch.schema import OrderDoc, RiderDoc, StoreDoc

# What a rider's own key may change about itself; the rest belongs to the store's back office.
RIDER_SELF_FIELDS = frozenset({"location", "available_at", "on_duty", "heading_to"})
log = logging.getLogger("api")
Doc = TypeVar("Doc", bound=BaseModel)


def read_document(model: type[Doc], document: dict) -> Doc:
    """A stored document as its model. One stored before a rule was tightened (an order of 10^12
    items) no longer passes it: it is shown as it is stored rather than failing every read (a
    dispatch leaves it out, naming the rule)."""
    try:
        return model.model_validate(document)
    except ValidationError as exc:
        log.warning("a stored %s breaks a rule of today's schema: %s", model.__name__, exc.errors()[0]["msg"])
    values = {}
    for name, info in model.model_fields.items():
        if name in document:
            # Each field read by its type without its bounds (times parsed, nested documents
            # built), so the answer serialises as usual; what still does not fit stays as stored.
            kind, value = info.annotation, document[name]
            if isinstance(kind, type) and issubclass(kind, BaseModel) and isinstance(value, dict):
                values[name] = read_document(kind, value)
                continue
            try:
                values[name] = TypeAdapter(kind).validate_python(value)
            except ValidationError:
                values[name] = value
    return model.model_construct(**values)


def get_store(session: Session, store_id: str) -> StoreRow:
    """The store, or 404."""
    row = session.get(StoreRow, store_id)
    if row is None:
        raise NotFound(f"no store {store_id!r}")
    return row


def _insert_or_get(session: Session, table: type, row_id: str, new) -> Any | None:
    """Insert `new()` unless a row with this id exists: None when inserted, else the row, locked.

    Two requests creating the same id at once both see no row; on PostgreSQL the second insert
    then fails on the primary key, and it goes on as an update of the row the first created.
    """
    row = session.get(table, row_id, with_for_update=True)
    if row is not None:
        return row
    try:
        with session.begin_nested():
            session.add(new())
        return None
    except IntegrityError:
        row = session.get(table, row_id, with_for_update=True, populate_existing=True)
        if row is None:
            raise
        return row


def put_store(session: Session, doc: StoreDoc, now: datetime) -> bool:
    """Create or replace a store's document; True if it was created."""
    body = doc.model_dump(mode="json")
    row = _insert_or_get(
        session, StoreRow, doc.id, lambda: StoreRow(id=doc.id, document=body, dispatch_version=0, created_at=now, updated_at=now)
    )
    if row is None:
        return True
    row.document = body
    row.updated_at = now
    return False


def home_store(session: Session, rider: RiderPut) -> StoreDoc:
    """The store a rider document names as home, or a 422 on `store_id`."""
    row = session.get(StoreRow, rider.store_id)
    if row is None:
        raise InvalidProblem.one("store_id", f"unknown store {rider.store_id!r}", rider.id, code="unknown_store")
    return read_document(StoreDoc, row.document)


def get_rider(session: Session, rider_id: str) -> RiderRow:
    """The rider, or 404."""
    row = session.get(RiderRow, rider_id)
    if row is None:
        raise NotFound(f"no rider {rider_id!r}")
    return row


def carried_order_ids(session: Session, rider_id: str) -> list[str]:
    """Ids of the orders the rider has picked up and not yet delivered, oldest pickup first."""
    rows = session.scalars(
        select(OrderRow)
        .where(OrderRow.rider_id == rider_id, OrderRow.status == "picked_up")
        .order_by(OrderRow.picked_up_at, OrderRow.id)
    )
    return [r.id for r in rows]


def rider_document(session: Session, row: RiderRow) -> RiderDoc:
    """The contract's rider document of a stored rider, with what it carries now (a `heading_to`
    it has delivered since is dropped)."""
    carrying = carried_order_ids(session, row.id)
    heading = row.document.get("heading_to")
    return read_document(RiderDoc, {**row.document, "carrying": carrying, "heading_to": heading if heading in carrying else None})


def check_self_update(session: Session, body: RiderPut) -> RiderPut:
    """A rider key's update of its own, registered rider, with the fields it left out kept as
    stored; 403 when it changes a field that is not its own to change (settled before the store
    or anything else is looked up, so the answer reveals nothing else)."""
    row = session.get(RiderRow, body.id, with_for_update=True)
    if row is None:
        raise Forbidden("a rider key cannot register a rider; the store's back office does")
    stored = {**row.document, "on_duty": row.on_duty}
    sent = body.model_dump(mode="json", include=body.model_fields_set - {"carrying"})
    changed = sorted(k for k in sent if k not in RIDER_SELF_FIELDS and sent.get(k) != stored.get(k))
    if changed:
        raise Forbidden(
            f"a rider key may change only its location, available_at, on_duty and heading_to, not {', '.join(changed)}"
        )
    merged = {**stored, **sent}
    if "carrying" in body.model_fields_set:
        merged["carrying"] = body.carrying
    try:
        return RiderPut.model_validate({k: v for k, v in merged.items() if k in RiderPut.model_fields})
    except ValidationError as exc:  # a stored field that today's rules refuse: the key must send it anew
        first = exc.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or "body"
        raise InvalidProblem.one(field, f"the stored value breaks a rule ({first['msg']}): send it", body.id) from None


def put_rider(session: Session, body: RiderPut, now: datetime) -> bool:
    """Create or update a rider; True if it was created (the store must exist)."""
    row = session.get(RiderRow, body.id, with_for_update=True)
    carrying = carried_order_ids(session, body.id) if row is not None else []
    if body.carrying and sorted(body.carrying) != sorted(carrying):
        raise Conflict(
            f"carrying {sorted(body.carrying)} disagrees with the order events, which say {sorted(carrying)}; "
            "carried orders change through POST /v1/orders/{id}/events"
        )
    if body.heading_to is not None and body.heading_to not in carrying:
        raise InvalidProblem.one(
            "heading_to", f"order {body.heading_to!r} is not among the orders the rider carries {carrying}", body.id
        )
    document = body.model_dump(mode="json", exclude={"on_duty", "carrying"})
    if row is None:
        row = _insert_or_get(
            session,
            RiderRow,
            body.id,
            lambda: RiderRow(id=body.id, store_id=body.store_id, document=document, on_duty=body.on_duty, updated_at=now),
        )
        if row is None:
            return True
    row.store_id = body.store_id
    row.document = document
    row.on_duty = body.on_duty
    row.updated_at = now
    return False


def normalized_order(doc: OrderDoc) -> OrderDoc:
    """The order with its default times filled in, so a stored order states its promise (the
    default one rounded up to the minute: a customer is promised 11:36, not 11:35:31.79)."""
    ready = doc.ready_at or doc.created_at
    promised = doc.promised_at or round_up_to_minute(doc.created_at + timedelta(seconds=DEFAULT_PROMISE_S))
    return doc.model_copy(update={"ready_at": ready, "promised_at": promised})


def _differences(a: OrderDoc, b: OrderDoc) -> list[str]:
    # Field by field on the parsed values, so the same instant written in two offsets is equal.
    return [name for name in OrderDoc.model_fields if getattr(a, name) != getattr(b, name)]


def find_order(session: Session, order_id: str, for_update: bool = False) -> OrderRow | None:
    """The order, or None."""
    return session.get(OrderRow, order_id, with_for_update=for_update)


def get_order(session: Session, order_id: str, for_update: bool = False) -> OrderRow:
    """The order, or 404."""
    row = find_order(session, order_id, for_update)
    if row is None:
        raise NotFound(f"no order {order_id!r}")
    return row


def submit_order(session: Session, doc: OrderDoc, now: datetime) -> tuple[OrderRow, bool]:
    """Accept an order once: (row, True) when new, (row, False) for an identical resend; 409 otherwise."""
    doc = normalized_order(doc)
    existing = session.get(OrderRow, doc.id)
    if existing is None:
        row = OrderRow(id=doc.id, store_id=doc.store_id, document=doc.model_dump(mode="json"), status="open", submitted_at=now)
        try:
            with session.begin_nested():
                session.add(row)
            return row, True
        except IntegrityError:
            # Another request accepted the same id between our read and our write.
            existing = session.get(OrderRow, doc.id, populate_existing=True)
            if existing is None:
                raise
    differs = _differences(read_document(OrderDoc, existing.document), doc)
    if differs:
        raise Conflict(f"order {doc.id!r} was already accepted with different {', '.join(differs)}")
    return existing, False


@dataclass(frozen=True, slots=True)
class EventOutcome:
    """What an event did: the order after it, and whether it changed anything."""

    order: OrderRow
    applied: bool


def _acting_rider(event: OrderEventIn, caller: Principal) -> str | None:
    if caller.role == "rider":
        if event.rider_id is not None and event.rider_id != caller.rider_id:
            raise Forbidden(f"this key speaks for rider {caller.rider_id!r}, not {event.rider_id!r}")
        return caller.rider_id
    return event.rider_id


def _authorise_event(session: Session, order_id: str, row: OrderRow | None, event: OrderEventIn, caller: Principal) -> None:
    """403 for what the caller may not do to this order, before anything about the order is told.

    The role decides first; a rider key then reaches only orders of its own store or orders it
    carries, and an id it may not reach answers exactly as an unknown one does.
    """
    if event.type == "cancelled" and caller.role not in ("order_system", "admin"):
        raise Forbidden("only the order system or an admin cancels an order")
    if event.type != "cancelled" and caller.role == "order_system":
        raise Forbidden(f"the rider who {'picks the order up' if event.type == 'picked_up' else 'carries the order'} reports it (or an admin)")
    if caller.role != "rider":
        return
    home = session.get(RiderRow, caller.rider_id)
    if row is None or home is None or (row.store_id != home.store_id and row.rider_id != caller.rider_id):
        raise Forbidden(f"rider {caller.rider_id!r} may not report on order {order_id!r}: it is not an order of its store")
    if event.type == "delivered" and row.status in ("picked_up", "delivered") and row.rider_id != caller.rider_id:
        raise Forbidden(f"order {order_id!r} is carried by another rider")


def apply_event(session: Session, order_id: str, event: OrderEventIn, caller: Principal, now: datetime) -> EventOutcome:
    """Move an order through open -> picked_up -> delivered (or -> cancelled), as `caller` may."""
    rider_id = _acting_rider(event, caller)
    row = find_order(session, order_id, for_update=True)
    _authorise_event(session, order_id, row, event, caller)
    if row is None:
        raise NotFound(f"no order {order_id!r}")
    at = event.at or now
    created = datetime.fromisoformat(row.document["created_at"])
    if at < created:
        raise InvalidProblem.one("at", f"is before the order's created_at {row.document['created_at']}", order_id)

    if event.type == "cancelled":
        if row.status == "cancelled":
            return EventOutcome(row, False)
        if row.status == "delivered":
            raise Conflict(f"order {order_id!r} was delivered at {row.delivered_at.isoformat()}; it cannot be cancelled")
        row.status, row.cancelled_at = "cancelled", at
    elif event.type == "picked_up":
        if rider_id is None:
            raise InvalidProblem.one("rider_id", "is required: which rider picked the order up", order_id)
        carrier = session.get(RiderRow, rider_id)
        if carrier is None:
            raise InvalidProblem.one("rider_id", f"unknown rider {rider_id!r}", order_id, code="unknown_rider")
        if row.status == "picked_up" and row.rider_id == rider_id:
            return EventOutcome(row, False)
        if row.status != "open":
            by = f" by rider {row.rider_id!r}" if row.rider_id else ""
            raise Conflict(f"order {order_id!r} is {row.status.replace('_', ' ')}{by}; it cannot be picked up")
        ready = datetime.fromisoformat(row.document["ready_at"])
        if at < ready - timedelta(minutes=30):
            # A pickup long before the order is packed is a wrong clock or a wrong order.
            raise InvalidProblem.one("at", f"is long before the order is ready ({row.document['ready_at']})", order_id)
        row.status, row.rider_id, row.picked_up_at = "picked_up", rider_id, at
    else:  # delivered
        if row.status == "delivered":
            return EventOutcome(row, False)
        if row.status != "picked_up":
            raise Conflict(f"order {order_id!r} is {row.status}: it must be picked up before it is delivered")
        if rider_id is not None and rider_id != row.rider_id:
            raise Conflict(f"order {order_id!r} is carried by rider {row.rider_id!r}, not {rider_id!r}")
        if at < row.picked_up_at:
            raise InvalidProblem.one("at", f"is before the pickup at {row.picked_up_at.isoformat()}", order_id)
        rider_id = row.rider_id
        row.status, row.delivered_at = "delivered", at
    session.add(
        OrderEventRow(order_id=order_id, type=event.type, at=at, rider_id=rider_id, role=caller.role, recorded_at=now)
    )
    return EventOutcome(row, True)


def store_orders(session: Session, store_id: str, status: str | None = None) -> list[OrderRow]:
    """The store's orders (optionally with one status), in the order they were submitted."""
    query = select(OrderRow).where(OrderRow.store_id == store_id)
    if status is not None:
        query = query.where(OrderRow.status == status)
    return list(session.scalars(query.order_by(OrderRow.submitted_at, OrderRow.id)))


def store_orders_page(
    session: Session,
    store_id: str,
    status: str | None,
    submitted_from: datetime | None,
    submitted_to: datetime | None,
    after: list[str] | None,
    count: int,
) -> list[OrderRow]:
    """Up to `count` of the store's orders in submission order, after the key `after`
    ([submitted_at ISO, id]) when given, filtered by status and submission time."""
    query = select(OrderRow).where(OrderRow.store_id == store_id)
    if status is not None:
        query = query.where(OrderRow.status == status)
    if submitted_from is not None:
        query = query.where(OrderRow.submitted_at >= submitted_from)
    if submitted_to is not None:
        query = query.where(OrderRow.submitted_at < submitted_to)
    if after is not None:
        at, last_id = datetime.fromisoformat(after[0]), after[1]
        query = query.where(or_(OrderRow.submitted_at > at, and_(OrderRow.submitted_at == at, OrderRow.id > last_id)))
    return list(session.scalars(query.order_by(OrderRow.submitted_at, OrderRow.id).limit(count)))


def order_events(session: Session, order_id: str) -> list[OrderEventRow]:
    """The order's accepted events, in the order they were recorded."""
    return list(session.scalars(select(OrderEventRow).where(OrderEventRow.order_id == order_id).order_by(OrderEventRow.id)))


def new_plan(plan_doc: dict, problem_doc: dict, kind: str, store_id: str | None, now: datetime) -> PlanRow:
    """A plan row holding the plan and the problem it solved (not yet added to a session)."""
    return PlanRow(
        plan_id=plan_doc["plan_id"],
        store_id=store_id,
        kind=kind,
        plan_time=datetime.fromisoformat(plan_doc["plan_time"]),
        created_at=now,
        problem=problem_doc,
        plan=plan_doc,
    )


def save_plan(
    session: Session, plan_doc: dict, problem_doc: dict, kind: str, store_id: str | None, now: datetime
) -> PlanRow:
    """Store a plan with the problem it solved."""
    row = new_plan(plan_doc, problem_doc, kind, store_id, now)
    session.add(row)
    return row


def get_plan(session: Session, plan_id: str) -> PlanRow:
    """The stored plan, or 404."""
    row = session.get(PlanRow, plan_id)
    if row is None:
        raise NotFound(f"no plan {plan_id!r}")
    return row


@dataclass(frozen=True, slots=True)
class StoreSnapshot:
    """What a store dispatch plans from: the store, its riders and their loads, its open orders."""

    store: StoreRow
    version: int
    riders: list[tuple[RiderRow, list[OrderRow]]]
    open_orders: list[OrderRow]
    other_stores: list[StoreRow]


def store_snapshot(session: Session, store_id: str) -> StoreSnapshot:
    """Read, in one transaction, everything a dispatch of `store_id` needs."""
    store = get_store(session, store_id)
    carried_rows = session.scalars(
        select(OrderRow)
        .join(RiderRow, RiderRow.id == OrderRow.rider_id)
        .where(RiderRow.store_id == store_id, OrderRow.status == "picked_up")
        .order_by(OrderRow.picked_up_at, OrderRow.id)
    ).all()
    carried: dict[str, list[OrderRow]] = {}
    for order in carried_rows:
        carried.setdefault(order.rider_id, []).append(order)
    riders = session.scalars(select(RiderRow).where(RiderRow.store_id == store_id).order_by(RiderRow.id)).all()
    open_orders = session.scalars(
        select(OrderRow).where(OrderRow.store_id == store_id, OrderRow.status == "open").order_by(OrderRow.submitted_at, OrderRow.id)
    ).all()
    other_ids = sorted({o.store_id for o in carried_rows if o.store_id != store_id})
    others = [session.get(StoreRow, sid) for sid in other_ids]
    return StoreSnapshot(
        store=store,
        version=store.dispatch_version,
        riders=[(r, carried.get(r.id, [])) for r in riders],
        open_orders=list(open_orders),
        other_stores=[s for s in others if s is not None],
    )


def commit_dispatch(session: Session, store_id: str, base_version: int, plan: PlanRow) -> None:
    """Make `plan` the store's current plan if no other dispatch won since `base_version` (else 409)."""
    result = session.execute(
        update(StoreRow)
        .where(StoreRow.id == store_id, StoreRow.dispatch_version == base_version)
        .values(current_plan_id=plan.plan_id, dispatch_version=base_version + 1, dispatched_at=plan.created_at)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        raise Conflict(f"another dispatch of store {store_id!r} finished first; its plan is current. Retry to re-plan.")
    session.add(plan)


def store_history(session: Session, store_id: str, since: datetime) -> list[OrderRow]:
    """The store's orders submitted since `since`, but the cancelled ones, oldest first."""
    query = select(OrderRow).where(
        OrderRow.store_id == store_id, OrderRow.submitted_at >= since, OrderRow.status != "cancelled"
    )
    return list(session.scalars(query.order_by(OrderRow.submitted_at, OrderRow.id)))


def store_riders(session: Session, store_id: str) -> list[RiderRow]:
    """The store's riders, by id."""
    return list(session.scalars(select(RiderRow).where(RiderRow.store_id == store_id).order_by(RiderRow.id)))


# Quotes whose order was never placed are kept this long (they calibrate nothing).
UNPLACED_QUOTE_KEEP = timedelta(days=1)


def record_quote(
    session: Session, order_id: str, store_id: str, quoted_at: datetime, eta_p50: datetime, eta_p90: datetime,
    promise_at: datetime,
) -> bool:
    """Keep the quote given for `order_id` before the order is placed (the last one for an id
    replaces the one before; two at once: the later write wins, neither fails); False, keeping
    nothing, when that order is already placed. The store's quotes never placed are dropped
    after `UNPLACED_QUOTE_KEEP`."""
    if session.get(OrderRow, order_id) is not None:
        return False
    session.execute(delete(QuoteRow).where(
        QuoteRow.store_id == store_id, QuoteRow.quoted_at < quoted_at - UNPLACED_QUOTE_KEEP,
        ~exists().where(OrderRow.id == QuoteRow.order_id)))
    row = _insert_or_get(session, QuoteRow, order_id, lambda: QuoteRow(
        order_id=order_id, store_id=store_id, quoted_at=quoted_at, eta_p50=eta_p50, eta_p90=eta_p90, promise_at=promise_at))
    if row is not None:
        row.store_id, row.quoted_at, row.eta_p50, row.eta_p90, row.promise_at = store_id, quoted_at, eta_p50, eta_p90, promise_at
    return True


def quote_record(session: Session, store_id: str, at: datetime, window: int) -> list[QuoteOutcome]:
    """The store's last `window` quoted orders delivered by `at`, oldest first: each quote's
    median, p90, promise and the delivery, in seconds from when the order was placed (a quote
    describes an order placed then: a customer who placed it minutes after the quote moved its
    times by as much, which is not the quote's error)."""
    rows = session.execute(
        select(QuoteRow, OrderRow.delivered_at, OrderRow.document)
        .join(OrderRow, OrderRow.id == QuoteRow.order_id)
        .where(QuoteRow.store_id == store_id, OrderRow.store_id == store_id, OrderRow.status == "delivered",
               OrderRow.delivered_at <= at, QuoteRow.quoted_at <= OrderRow.delivered_at)
        .order_by(OrderRow.delivered_at.desc(), OrderRow.id.desc())
        .limit(window)
    ).all()

    def seconds(t: datetime, since: datetime) -> int:
        return int(round((t - since).total_seconds()))

    outcomes = []
    for q, delivered, document in reversed(rows):
        placed = max(q.quoted_at, read_document(OrderDoc, document).created_at)
        late_by = placed - q.quoted_at
        outcomes.append(QuoteOutcome(seconds(q.eta_p50 + late_by, placed), seconds(q.eta_p90 + late_by, placed),
                                     seconds(delivered, placed), seconds(q.promise_at + late_by, placed)))
    return outcomes
