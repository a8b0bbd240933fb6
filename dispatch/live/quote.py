"""Instant quote: before an order is placed, the earliest delivery a store can promise, and who.

A quote is a fast insertion, not a full solve: the store's current state is planned once with
the first-plan insertion (compiled, a few milliseconds for a hundred orders), every planned
order is held to the later of its promise and its planned time (so the quote never makes a
current order late), and the new order goes where its drop-off starts earliest. The plan the
quote relies on comes with the answer, so it can be checked.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, replace

import numpy as np

from dispatch.eta import QUANTILES, stop_quantiles_s, third_party_quantiles_s
from dispatch.geofence import store_area
from dispatch.instance import NO_LIMIT, build_instance
from dispatch.live.quote_calibration import QuoteCalibration
from dispatch.model import Location, Order, Problem
from dispatch.plan import Plan, UnassignedOrder
from dispatch.solver import first_plan, split_by_area
from dispatch.solver.carried import sequence_carried
from dispatch.solver.plan_builder import build_plan
from dispatch.solver.reasons import explain_all_left_out, screen
from dispatch.solver.warm import warm_routes
from dispatch.solver.routes import DROP, schedule_route
from dispatch.third_party import eligible_trip
from dispatch.travel import LegMeter

QUOTE_ORDER_ID = "__quote__"
DEFAULT_MAX_PROMISE_S = 3600  # the store promises delivery within the hour
_EARLIEST_WEIGHT = 1e6  # prices every second of the new order's delivery far above travel


@dataclass(frozen=True, slots=True)
class Quote:
    """The answer: can the store promise this order, when, and which rider would take it."""

    feasible: bool
    promise_at_s: int | None = None  # the promise to give: the ETA (at `confidence`) plus the buffer, to the minute
    eta_s: int | None = None  # when the drop-off would start in the quoted plan
    # The drop-off's start as a range (10%, 50%, 90% quantiles of the rides and services ahead).
    eta_range_s: tuple[int, int, int] | None = None
    # The chance the order is at the door by the promise (before the buffer): None promises the ETA itself.
    confidence: float | None = None
    at_confidence_s: int | None = None  # the drop-off's quantile at `confidence`: the promise before buffer and rounding

    @property
    def promise_basis_s(self) -> int | None:
        """What the promise is built on: the quantile at the confidence asked, else the ETA."""
        return self.eta_s if self.at_confidence_s is None else self.at_confidence_s
    rider_id: str | None = None
    reason: str | None = None  # a plan reason code when not feasible
    detail: str | None = None
    quote_ms: float = 0.0
    plan: Plan | None = None  # the plan the quote relies on, the new order as `QUOTE_ORDER_ID`
    third_party: bool = False  # the store's own riders cannot keep it: its third-party couriers would
    fee: float | None = None  # the third party's fee for it
    # How many of the store's past quotes the promise was calibrated on (0: the model's quantile alone).
    calibrated_from: int = 0

    @classmethod
    def refused(cls, reason: str, detail: str, started: float) -> "Quote":
        """A no, with its reason."""
        return cls(False, reason=reason, detail=detail, quote_ms=(time.perf_counter() - started) * 1000)


def _planned_starts(inst, routes) -> dict[int, int]:
    starts: dict[int, int] = {}
    for r, stops in enumerate(routes):
        for stop, start in zip(stops, schedule_route(inst, r, stops).start):
            if stop[0] == DROP:
                starts[stop[1]] = start
    return starts


def quote_order(
    problem: Problem,
    store_id: str,
    dropoff: Location,
    items: int = 1,
    ready_at_s: int = 0,
    dropoff_service_s: int = 60,
    max_promise_s: int = DEFAULT_MAX_PROMISE_S,
    buffer_s: int = 0,
    confidence: float | None = None,
    follow_routes: bool = False,
    calibration: QuoteCalibration | None = None,
) -> Quote:
    """Quote a new order for `store_id` at `problem.plan_time` (times in seconds from it).

    With `confidence` (0.5 to 0.99) the promise is the time the order is at the door by with
    that chance (the quantile of its drop-off's start over the rides and services ahead, see
    `dispatch.eta`), plus `buffer_s`; without it, the planned ETA plus `buffer_s`.
    With `follow_routes` the current orders stay on the routes being followed
    (`problem.initial_routes`, completed) where they can, rather than in a fresh first plan:
    the quote then describes what the riders will do.
    With `calibration` (the store's past quotes and their deliveries) and `confidence`, the
    promise is widened by what the record shows (`dispatch.live.quote_calibration`) and the
    quote says how many outcomes it used (`calibrated_from`); without it, the model's quantile.

    `problem` is the store's state now: its open and carried orders and its riders. The quote
    is refused with `outside_service_area`, `unknown_store`, `exceeds_capacity`,
    `no_rider_available` or `cannot_be_on_time` (earliest delivery beyond `max_promise_s`).
    """
    started = time.perf_counter()
    store = problem.store(store_id)
    if store is None:
        return Quote.refused("unknown_store", f"no store {store_id!r} in the problem", started)
    outside = store_area(store).outside_details([dropoff])[0]
    if outside is not None:
        return Quote.refused("outside_service_area", outside, started)
    new = Order(
        id=QUOTE_ORDER_ID,
        store_id=store_id,
        dropoff=dropoff,
        created_at_s=0,
        ready_at_s=int(ready_at_s),
        promised_at_s=int(ready_at_s) + 7 * 24 * 3600,  # no promise yet: that is the question
        items=int(items),
        dropoff_service_s=int(dropoff_service_s),
    )
    probe = replace(problem, orders=problem.orders + (new,))
    routed, unassigned = split_by_area(probe)
    inst = sequence_carried(build_instance(probe, routed))
    k_new = next(k for k, o in enumerate(inst.orders) if o.id == QUOTE_ORDER_ID)
    others = [k for k in range(inst.n_orders) if k != k_new]
    impossible = screen(inst, others)
    built = _current_plan(inst, [k for k in others if k not in impossible], problem.options.seed, follow_routes)

    best = _best_insertion(inst, built, k_new)
    platform = _third_party_fallback(probe, new, buffer_s, max_promise_s, started, confidence)
    if best[1] is None:
        return platform if platform is not None else _no_rider(inst, items, started)
    st = best[1]
    plan, eta = _quote_plan(inst, built, unassigned, impossible, k_new)
    rider_id = problem.riders[st.r].id
    low, mid, high, at_confidence = _eta_quantiles(probe, plan, rider_id, eta, confidence)
    calibrated_from = 0
    if calibration is not None and confidence is not None:
        at_confidence, calibrated_from = calibration.calibrated_s(mid, high, at_confidence, confidence)
    at_confidence = max(at_confidence, eta)  # never a promise before the plan's own ETA
    promise = int(math.ceil((at_confidence + buffer_s) / 60.0) * 60)
    if promise > max_promise_s and platform is not None:
        return platform
    if promise > max_promise_s:
        what = "earliest delivery" if confidence is None else f"delivery at {confidence:.0%} confidence"
        detail = (
            f"the {what} is {problem.at(at_confidence):%H:%M} (rider {rider_id}), "
            f"beyond the {max_promise_s // 60}-minute promise window"
        )
        return Quote.refused("cannot_be_on_time", detail, started)
    elapsed_ms = (time.perf_counter() - started) * 1000
    plan = replace(plan, metrics=replace(plan.metrics, solve_ms=int(elapsed_ms)))
    return Quote(True, promise_at_s=promise, eta_s=eta, rider_id=rider_id, quote_ms=elapsed_ms, plan=plan,
                 eta_range_s=(low, mid, high), confidence=confidence,
                 at_confidence_s=at_confidence if confidence is not None else None, calibrated_from=calibrated_from)


def _best_insertion(inst, built, k_new: int) -> tuple:
    """The cheapest place for the new order that keeps everyone planned at most as late as their
    promise or as they already are: (cost, route state with the order in it) or (inf, None)."""
    latest = inst.promised_s.astype(np.int64).copy()
    for k, start in _planned_starts(inst, built.routes).items():
        latest[k] = max(latest[k], start)
    latest[k_new] = NO_LIMIT
    options = []
    cand = np.array([k_new], dtype=np.int64)
    for st in built.route_states(inst):
        st.refresh(latest)
        cost, kind, where = st.evaluate(cand, np.array([NO_LIMIT]), np.array([_EARLIEST_WEIGHT]), np.array([0]))
        if cost[0] < math.inf:
            options.append((float(cost[0]), st.r, st, int(kind[0]), int(where[0])))
    return _first_kept(inst, built.route_states(inst), sorted(options, key=lambda o: o[:2]), k_new, latest)


def _no_rider(inst, items: int, started: float) -> Quote:
    """Why no own rider can take the new order: none on duty, too big, or every one would make
    a current order late."""
    if inst.n_riders == 0:
        return Quote.refused("no_rider_available", "the store has no riders now", started)
    if items > int(inst.capacity.max()):
        return Quote.refused(
            "exceeds_capacity", f"{items} items; the largest rider capacity is {int(inst.capacity.max())}", started
        )
    return Quote.refused("no_rider_available", "no rider can take it without making a current order late", started)


def _quote_plan(inst, built, unassigned: list, impossible: dict, k_new: int) -> tuple[Plan, int]:
    """The plan with the new order in it (the orders it leaves out, with their reasons) and the
    new order's ETA."""
    routes = [s.stops() for s in built.route_states(inst)]
    eta = _planned_starts(inst, routes)[k_new]
    n_planned = sum(1 for rt in routes for s in rt if s[0] == DROP)
    reasons = {**explain_all_left_out(inst, list(built.left), n_planned), **impossible}
    for k in list(built.left) + list(impossible):
        reason, detail = reasons[k]
        unassigned.append(UnassignedOrder(inst.orders[k].id, reason, detail))
    return build_plan(inst, routes, unassigned, 0, None, "quote"), eta


def _current_plan(inst, candidates: list[int], seed: int, follow_routes: bool):
    """The store's current orders planned: a fresh first plan, or (`follow_routes`) the routes
    being followed, completed, when they can be read and kept."""
    if follow_routes:
        warm = warm_routes(inst, candidates)
        resumed = None if warm is None else first_plan(inst, candidates, float("inf"), seed, warm)
        if resumed is not None:
            return resumed
    return first_plan(inst, candidates, float("inf"), seed)


def _eta_quantiles(probe: Problem, plan: Plan, rider_id: str, eta: int, confidence: float | None) -> tuple[int, int, int, int]:
    """p10, p50, p90 of the new order's drop-off start on its route, and its quantile at
    `confidence` (the ETA itself without one)."""
    route = next(r for r in plan.routes if r.rider_id == rider_id)
    index = next(i for i, s in enumerate(route.stops) if s.order_id == QUOTE_ORDER_ID)
    qs = QUANTILES + ((confidence,) if confidence is not None else ())
    found = stop_quantiles_s(probe, probe.rider_index[rider_id], route.stops, index, qs)
    if found is None:  # cannot happen for a plan built from the problem; the ETA alone then
        return eta, eta, eta, eta
    low, mid, high = (int(x) for x in found[:3])
    return low, mid, high, int(found[3]) if confidence is not None else eta


def _first_kept(inst, states: list, options: list, k_new: int, latest: np.ndarray) -> tuple:
    """The cheapest insertion that, applied and re-timed exactly, keeps every planned order's time:
    (cost, route state) with the order in it, or (inf, None).

    The insertion check is exact for static travel; under a speed profile it estimates how a
    push travels down the route, so each option is re-timed before it is taken (then, if none
    holds, every position of every route is tried exactly: a quote's routes are short)."""
    for cost, _, st, kind, where in options:
        st.apply(k_new, kind, where)
        st.refresh(latest)
        if st.keeps_times(latest):
            return cost, st
        st.remove(k_new)
        st.refresh(latest)
    if inst.speed_profile is None:
        return math.inf, None
    found = (math.inf, None, 0, 0)
    for st in states:
        for kind, where in st.options_for(k_new):
            st.apply(k_new, kind, where)
            st.refresh(latest)
            if st.keeps_times(latest):
                eta = next(t for stop, t in zip(st.stops(), st.sched.start) if stop[0] == DROP and stop[1] == k_new)
                if eta < found[0]:
                    found = (eta, st, kind, where)
            st.remove(k_new)
            st.refresh(latest)
    if found[1] is None:
        return math.inf, None
    _, st, kind, where = found
    st.apply(k_new, kind, where)
    st.refresh(latest)
    return float(found[0]), st


def _third_party_fallback(
    probe: Problem, new: Order, buffer_s: int, max_promise_s: int, started: float, confidence: float | None = None
) -> Quote | None:
    """The quote with the store's third-party couriers, when it has them and they deliver
    within the promise window (used when no own rider can)."""
    meter = LegMeter(probe.options.travel)
    trip = eligible_trip(probe, new, meter)
    if trip is None:
        return None
    qs = QUANTILES + ((confidence,) if confidence is not None else ())
    found = third_party_quantiles_s(probe, new.id, new.store_id, trip.pickup_s, qs)
    at_confidence = max(int(found[3]), trip.dropoff_s) if confidence is not None else trip.dropoff_s
    promise = int(math.ceil((at_confidence + buffer_s) / 60.0) * 60)
    if promise > max_promise_s:
        return None
    elapsed_ms = (time.perf_counter() - started) * 1000
    return Quote(True, promise_at_s=promise, eta_s=trip.dropoff_s, quote_ms=elapsed_ms, third_party=True, fee=trip.fee,
                 eta_range_s=tuple(int(x) for x in found[:3]), confidence=confidence,
                 at_confidence_s=at_confidence if confidence is not None else None)


def quote_document(problem: Problem, quote: Quote) -> dict:
    """The quote as a JSON document: ISO times in the problem's offset, milliseconds taken."""
    doc: dict = {"feasible": quote.feasible, "quote_ms": round(quote.quote_ms, 2)}
    if quote.feasible:
        doc.update(
            promise_at=problem.at(quote.promise_at_s).isoformat(timespec="seconds"),
            eta=problem.at(quote.eta_s).isoformat(timespec="seconds"),
            rider_id=quote.rider_id,
        )
        if quote.eta_range_s is not None:
            doc.update({name: problem.at(s).isoformat(timespec="seconds")
                        for name, s in zip(("eta_p10", "eta_p50", "eta_p90"), quote.eta_range_s)})
        if quote.confidence is not None:
            doc.update(confidence=quote.confidence, calibrated_from=quote.calibrated_from)
        if quote.third_party:
            doc.update(third_party=True, fee=quote.fee)
    else:
        doc.update(reason=quote.reason, detail=quote.detail)
    return doc
