"""Store operations: register a store, accept its orders, dispatch it, read its current plan."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Query, Request, Response
from pydantic import ValidationError
from sqlalchemy.exc import SQLAlchemyError

from api import dispatching, events, examples, repository
from api.auth import OrderSystem
from api.db import read_transaction
from api.deps import AppSettings, Db, PathId, ReadDb, Redispatch, Solver, same_id, service_options, utc_now
from api.errors import Conflict, NotFound, ServiceBusy, SolveTimeout
from api.json_body import StrictJsonRoute
from api.local_time import localize, offset_name, round_up_to_minute, store_zone, to_second
from api.metrics import Timer
from api.openapi import errors
from api.paging import PAGE_HEADERS, Cursor, Limit, decode_cursor, page
from api.schemas import DispatchRequest, OrderPublic, QuotePublic, QuoteRequest, RedispatchPolicy, StorePublic
from api.settings import Settings
from api.store_state import dispatch_problem, plannable
from api.views import current_plan_index, order_public, store_public
from dispatch.schema import Time
from dispatch.intake import check_options, check_order, check_store
from dispatch.live import Quote, quote_order
from dispatch.live.quote_calibration import QuoteCalibration
from dispatch.model import Location, Problem
from dispatch.schema import OptionsDoc, OrderDoc, StoreDoc

router = APIRouter(prefix="/v1/stores", tags=["stores"], route_class=StrictJsonRoute, responses=errors(401, 403, 503))
log = logging.getLogger("api.dispatch")


@router.put(
    "/{store_id}",
    response_model=StorePublic,
    summary="Register or update a store",
    responses={201: {"model": StorePublic, "description": "created"}, **errors(413)},
)
def put_store(
    store_id: PathId,
    store: Annotated[StoreDoc, Body(openapi_examples={"store": {"summary": "A store with a 3 km disc", "value": examples.STORE}})],
    _caller: OrderSystem,
    db: Db,
    response: Response,
    settings: AppSettings,
) -> StorePublic:
    """Create the store (201) or replace its document (200); the body is the contract's store."""
    same_id(store_id, store.id)
    check_store(store)
    with db.begin():
        created = repository.put_store(db, store, utc_now())
    response.status_code = 201 if created else 200
    return store_public(repository.get_store(db, store_id), settings.time_zone)


@router.get("/{store_id}", response_model=StorePublic, summary="A store", responses=errors(404))
def get_store(store_id: PathId, _caller: OrderSystem, db: ReadDb, settings: AppSettings) -> StorePublic:
    """The store's document, its time zone, current plan id and dispatch version."""
    return store_public(repository.get_store(db, store_id), settings.time_zone)


@router.post(
    "/{store_id}/orders",
    response_model=OrderPublic,
    status_code=201,
    summary="Submit an order",
    responses={
        200: {"model": OrderPublic, "description": "the same order was already accepted"},
        **errors(404, 409, 413),
    },
)
def submit_order(
    store_id: PathId,
    order: Annotated[OrderDoc, Body(openapi_examples={"order": {"summary": "An order promised within the hour", "value": examples.ORDER}})],
    _caller: OrderSystem,
    db: Db,
    response: Response,
    redispatcher: Redispatch,
    settings: AppSettings,
) -> OrderPublic:
    """Accept an order for the store: 201 when new, 200 for an identical resend, 422 outside the area.

    A promise left out is `created_at` + 60 min rounded up to the minute. The store's first order
    gives it its time zone (the order's offset) when neither its document nor the service names one.
    With the store's `redispatch.on_new_order`, a new order re-plans the store after the answer.
    """
    with db.begin():
        store_row = repository.get_store(db, store_id)
        store = repository.read_document(StoreDoc, store_row.document)
        check_order(store, order)
        row, created = repository.submit_order(db, order, utc_now())
        if created:
            events.order_accepted(db, row, row.submitted_at)
        if created and store_row.time_zone is None:
            store_row.time_zone = offset_name(order.created_at)
    response.status_code = 201 if created else 200
    if created:
        redispatcher.trigger(store_id, "new_order")
    return order_public(row, store_zone(store_row, settings.time_zone))


@router.get(
    "/{store_id}/orders",
    response_model=list[OrderPublic],
    summary="The store's orders, a page at a time",
    responses={200: {"description": "a page of orders, oldest submitted first", "headers": PAGE_HEADERS}, **errors(404)},
)
def list_orders(
    store_id: PathId,
    _caller: OrderSystem,
    db: ReadDb,
    settings: AppSettings,
    request: Request,
    response: Response,
    status: Annotated[Literal["open", "picked_up", "delivered", "cancelled"] | None, Query()] = None,
    submitted_from: Annotated[Time | None, Query(description="only orders accepted at or after this time")] = None,
    submitted_to: Annotated[Time | None, Query(description="only orders accepted before this time")] = None,
    limit: Limit = 100,
    cursor: Cursor = None,
) -> list[OrderPublic]:
    """The store's orders, optionally of one status and accepted within a time range, oldest
    first, each with its place in the current plan; `limit` a page, the next in `X-Next-Cursor`."""
    store = repository.get_store(db, store_id)
    after = decode_cursor(cursor, 2, times=(0,))
    rows = repository.store_orders_page(db, store_id, status, submitted_from, submitted_to, after, limit + 1)
    rows = page(rows, limit, lambda r: [r.submitted_at.isoformat(), r.id], request, response)
    zone, index = store_zone(store, settings.time_zone), current_plan_index(db, store)
    return [order_public(r, zone, index) for r in rows]


@router.post(
    "/{store_id}/dispatch",
    summary="Plan the store's open orders with its riders as they are now",
    responses={200: examples.plan_response("the new current plan (with store_id)"), **errors(404, 409, 413, 504)},
)
def dispatch_store(
    store_id: PathId,
    _caller: OrderSystem,
    db: Db,
    solver: Solver,
    settings: AppSettings,
    body: Annotated[DispatchRequest | None, Body(openapi_examples=examples.DISPATCH)] = None,
) -> dict[str, Any]:
    """Solve the store's current state (carried orders stay with their riders) and make it the current plan.

    Open orders carry their rider in the current plan as `assigned_rider_id`: with
    `options.weights.reassign` > 0 an order moves to another rider only when that pays.

    Two dispatches of one store racing each other never both win: the later one gets a 409.
    """
    body = body or DispatchRequest()
    options = service_options(body.options, settings)
    fields = {"event": "dispatch", "store_id": store_id, "trigger": "request"}
    timer = Timer()
    try:
        plan = dispatching.dispatch_store(
            db, solver, store_id, options, body.plan_time or utc_now(), utc_now, body.commit_lead_s, rules=settings.event_rules()
        )
    except (Conflict, ServiceBusy, SolveTimeout) as exc:
        log.warning("dispatch of store %s refused: %s", store_id, exc, extra={**fields, "outcome": "refused", "status": exc.status, "duration_ms": round(timer() * 1000, 1)})
        raise
    fields.update(dispatching.plan_fields(plan), outcome="planned", duration_ms=round(timer() * 1000, 1))
    log.info("dispatched store %s: %s orders in %.0f ms, objective %s, %s reassigned", store_id, fields["orders"], fields["duration_ms"], fields["objective"], fields["reassigned"], extra=fields)
    return localize(plan, store_zone(repository.get_store(db, store_id), settings.time_zone))


@router.put(
    "/{store_id}/redispatch",
    response_model=StorePublic,
    summary="Set when the service re-plans the store by itself",
    responses=errors(404, 413),
)
def put_redispatch(
    store_id: PathId,
    policy: Annotated[RedispatchPolicy, Body(openapi_examples={"policy": {"summary": "On every new order and every 2 minutes", "value": examples.REDISPATCH}})],
    _caller: OrderSystem,
    db: Db,
    settings: AppSettings,
) -> StorePublic:
    """The store's automatic re-dispatch: on a new order, on a rider's report or an order event,
    and at least every `every_s` seconds while it has orders to plan; all off by default.
    Each re-plan is a store dispatch with `options` (carried orders stay, a rider's current
    drop-off stays first, the version check applies). Send all triggers off to stop."""
    policy = policy.model_copy(update={"options": service_options(policy.options, settings)})
    check_options(policy.options)  # a matrix that cannot be read would fail every re-plan
    with db.begin():
        row = repository.get_store(db, store_id)
        row.redispatch = policy.model_dump(mode="json")
        row.updated_at = utc_now()
    return store_public(repository.get_store(db, store_id), settings.time_zone)


@router.get(
    "/{store_id}/plan",
    summary="The store's current plan",
    responses={200: examples.plan_response("the current plan"), **errors(404)},
)
def current_plan(store_id: PathId, _caller: OrderSystem, db: ReadDb, settings: AppSettings) -> dict[str, Any]:
    """The plan document of the store's latest dispatch (404 before the first one), its times in the store's zone."""
    store = repository.get_store(db, store_id)
    if store.current_plan_id is None:
        raise NotFound(f"store {store_id!r} has not been dispatched yet")
    return localize(repository.get_plan(db, store.current_plan_id).plan, store_zone(store, settings.time_zone))


def _planned_travel(policy: dict) -> Any:
    """The travel the service plans the store with (its re-dispatch policy's: a speed profile,
    an uncertainty), or the default travel when the stored policy's options no longer pass."""
    try:
        return OptionsDoc.model_validate(policy.get("options", {})).travel
    except ValidationError:
        return OptionsDoc().travel


@router.post(
    "/{store_id}/quote", response_model=QuotePublic, summary="Quote an order before it is placed", responses=errors(404, 413)
)
def quote(
    store_id: PathId,
    body: Annotated[QuoteRequest, Body(openapi_examples={"quote": {"summary": "Two items, packed in 8 minutes", "value": examples.QUOTE_REQUEST}})],
    _caller: OrderSystem,
    db: Db,
    settings: AppSettings,
) -> QuotePublic:
    """The earliest delivery the store can promise now and the rider who would take it, without
    making any current order late; or `feasible: false` with a reason (`outside_service_area`,
    `cannot_be_on_time`, `exceeds_capacity`, `no_rider_available`). A fast insertion into a plan
    of the store as it is, not a full solve: no plan changes. It rides the travel of the
    store's re-dispatch policy (its speed profile and uncertainty), so `confidence` takes effect
    when that policy says how rides vary (`options.travel.uncertainty`). A promise at a confidence
    is calibrated on the store's own record: the quotes given with an `order_id` and how those
    orders were delivered (`calibrated_from` says on how many); a quote with an `order_id` of an
    order not placed yet is kept for that record (quotes never placed are dropped after a day).
    """
    at = body.at or utc_now()
    with read_transaction(db):
        snapshot = repository.store_snapshot(db, store_id)
        current = repository.get_plan(db, snapshot.store.current_plan_id) if snapshot.store.current_plan_id else None
        calibration = _store_calibration(db, store_id, at, settings) if body.confidence is not None else None
    options = OptionsDoc(travel=_planned_travel(snapshot.store.redispatch)) if snapshot.store.redispatch else OptionsDoc()
    problem, _, _ = plannable(dispatch_problem(snapshot, at, service_options(options, settings), current))
    ready_s = 0 if body.ready_at is None else max(0, int(round((body.ready_at - at).total_seconds())))
    answer = quote_order(
        problem,
        store_id,
        Location(lat=body.dropoff.lat, lon=body.dropoff.lon),
        items=body.items,
        ready_at_s=ready_s,
        dropoff_service_s=body.dropoff_service_s,
        max_promise_s=body.max_promise_s,
        buffer_s=body.buffer_s,
        confidence=body.confidence,
        calibration=calibration,
    )
    result = QuotePublic(store_id=store_id, feasible=answer.feasible, reason=answer.reason, detail=answer.detail, quote_ms=round(answer.quote_ms, 2))
    if answer.feasible:
        zone = store_zone(snapshot.store, settings.time_zone)
        # The core's promise is whole seconds after `at`: on the store's clock, to the second or
        # rounded up to the minute (as asked), never earlier than the ETA and buffer.
        promise = problem.at(answer.promise_basis_s) + timedelta(seconds=body.buffer_s)
        promise = promise if promise.microsecond == 0 else promise.replace(microsecond=0) + timedelta(seconds=1)
        result.promise_at = to_second(round_up_to_minute(promise) if body.promise_rounding == "minute" else promise, zone)
        result.eta = to_second(problem.at(answer.eta_s), zone)
        result.rider_id = answer.rider_id
        result.third_party, result.fee = answer.third_party, answer.fee
        result.confidence, result.calibrated_from = answer.confidence, answer.calibrated_from
        if answer.eta_range_s is not None:
            result.eta_p10, result.eta_p50, result.eta_p90 = (to_second(problem.at(s), zone) for s in answer.eta_range_s)
        if body.order_id is not None:
            _keep_quote(db, body.order_id, store_id, at, problem, answer, result)
    return result


def _store_calibration(db: Db, store_id: str, at: datetime, settings: Settings) -> QuoteCalibration | None:
    """The store's record of quotes and deliveries known at `at` (None when it has none)."""
    record = repository.quote_record(db, store_id, at, settings.quote_calibration_window)
    if not record:
        return None
    return QuoteCalibration(tuple(record), window=settings.quote_calibration_window,
                            min_samples=settings.quote_calibration_min_samples)


def _keep_quote(db: Db, order_id: str, store_id: str, at: datetime, problem: Problem, answer: Quote, result: QuotePublic) -> None:
    """Keep an own riders' quote for the store's record (a third party's is not the store's to
    calibrate). Keeping it is bookkeeping: if the database refuses the write, the quote is
    still answered and the failure logged."""
    if answer.third_party or answer.eta_range_s is None:
        return
    _, p50, p90 = answer.eta_range_s
    try:
        with db.begin():
            repository.record_quote(db, order_id, store_id, at, problem.at(p50), problem.at(p90), result.promise_at)
    except SQLAlchemyError:
        log.warning("quote for order %s of store %s not kept for calibration", order_id, store_id, exc_info=True)
