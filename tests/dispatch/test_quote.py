"""Instant quotes: the earliest promise, the rider, the reasons for a no, and no one made late."""

from __future__ import annotations

import dataclasses

import pytest

from dispatch import problem_from_document
from dispatch.generate import generate_problem
from dispatch.live import QUOTE_ORDER_ID, quote_order
from dispatch.model import Location, Order
from dispatch.validate import validate_plan
from tests.dispatch.builders import at, document, order, rider, t


def _loc(east: float, north: float) -> Location:
    point = at(east, north)
    return Location(lat=point["lat"], lon=point["lon"])


@pytest.mark.parametrize("seed", [1, 2, 3, 4])
def test_a_quote_never_makes_a_current_order_late(seed):
    """With hard promises, the quoted plan (new order promised at the quote) passes the validator."""
    problem = problem_from_document(generate_problem(40, 5, seed, lateness="hard", on_road=2))
    store = problem.stores[0]
    spot = Location(lat=store.location.lat + 0.01, lon=store.location.lon + 0.005)
    quote = quote_order(problem, store.id, spot, items=3, ready_at_s=300)
    assert quote.feasible, quote
    new = next(o for o in quote.plan.routes for s in o.stops if s.order_id == QUOTE_ORDER_ID)
    assert new.rider_id == quote.rider_id and quote.eta_s <= quote.promise_at_s
    placed = Order(
        id=QUOTE_ORDER_ID, store_id=store.id, dropoff=spot, created_at_s=0, ready_at_s=300,
        promised_at_s=quote.promise_at_s, items=3, dropoff_service_s=60,
    )
    checked = dataclasses.replace(problem, orders=problem.orders + (placed,))
    assert validate_plan(checked, quote.plan) == []


def test_the_quote_goes_to_the_rider_who_delivers_earliest():
    """A rider free in 30 minutes loses to one free now: the quote names the free one, ETA its direct ride."""
    busy = rider("BUSY", available_at=t(30))
    busy_only = problem_from_document(document(riders=[busy], lateness="hard"))
    both = problem_from_document(document(riders=[busy, rider("IDLE")], lateness="hard"))
    late_quote = quote_order(busy_only, "S1", _loc(0, 1500))
    quote = quote_order(both, "S1", _loc(0, 1500))
    assert late_quote.rider_id == "BUSY" and late_quote.eta_s >= 30 * 60
    assert quote.rider_id == "IDLE"
    # Free now at the store: pickup service (60 s), then 1500 m at 4.5 m/s.
    assert quote.eta_s == pytest.approx(60 + 1500 / 4.5, abs=3)
    assert quote.promise_at_s % 60 == 0 and quote.promise_at_s >= quote.eta_s


def test_refusals_say_why():
    """Outside the area, a basket no rider can carry, and a ready time too late for the hour."""
    problem = problem_from_document(document(orders=[order("O1", 500, 0)]))
    outside = quote_order(problem, "S1", _loc(0, 4000))
    assert not outside.feasible and outside.reason == "outside_service_area" and "limit 3.0 km" in outside.detail
    heavy = quote_order(problem, "S1", _loc(0, 1000), items=99)
    assert not heavy.feasible and heavy.reason == "exceeds_capacity"
    late = quote_order(problem, "S1", _loc(0, 1000), ready_at_s=70 * 60)
    assert not late.feasible and late.reason == "cannot_be_on_time" and "promise window" in late.detail
    unknown = quote_order(problem, "S9", _loc(0, 1000))
    assert not unknown.feasible and unknown.reason == "unknown_store"


def test_a_quote_at_a_confidence_promises_its_quantile():
    """Under uncertainty a quote at 0.9 promises the 90% quantile of the drop-off's start (the
    range's p90, to the minute), later than one at 0.5; without uncertainty it promises the ETA."""
    uncertain = {"model": "haversine", "detour_factor": 1.0, "uncertainty": {"ride_cv": 0.3, "service_cv": 0.2}}
    problem = problem_from_document(document(travel=uncertain))
    high = quote_order(problem, "S1", _loc(0, 2500), confidence=0.9)
    mid = quote_order(problem, "S1", _loc(0, 2500), confidence=0.5)
    low, p50, p90 = high.eta_range_s
    assert low < p50 < p90 and high.confidence == 0.9
    assert high.promise_at_s == -(-p90 // 60) * 60
    assert mid.promise_at_s < high.promise_at_s
    # The quote's range is its plan's range for the same stop (the same draws).
    stop = next(s for r in high.plan.routes for s in r.stops if s.order_id == QUOTE_ORDER_ID)
    assert (stop.eta_p10_s, stop.eta_p50_s, stop.eta_p90_s) == high.eta_range_s
    plain = quote_order(problem_from_document(document()), "S1", _loc(0, 2500), confidence=0.9)
    assert plain.eta_range_s == (plain.eta_s,) * 3 and plain.promise_at_s == -(-plain.eta_s // 60) * 60
    from dispatch.live import quote_document
    doc = quote_document(problem, high)
    assert doc["confidence"] == 0.9 and doc["eta_p10"] <= doc["eta_p50"] <= doc["eta_p90"]


def test_a_quote_can_follow_the_routes_being_followed():
    """With follow_routes, the current orders stay on the routes being followed (here O1 on R2,
    where a fresh first plan puts it on R1, as good) and the new order goes around them."""
    routes = [{"rider_id": "R2", "stops": [{"kind": "pickup", "order_ids": ["O1"]}, {"kind": "dropoff", "order_id": "O1"}]}]
    doc = document(riders=[rider("R1"), rider("R2")], orders=[order("O1", 1500, 0)], initial_routes=routes)
    problem = problem_from_document(doc)
    fresh = quote_order(problem, "S1", _loc(-1500, 0))
    followed = quote_order(problem, "S1", _loc(-1500, 0), follow_routes=True)
    def carrier(quote) -> str:
        return next(r.rider_id for r in quote.plan.routes for s in r.stops if s.order_id == "O1")

    assert carrier(fresh) == "R1" and carrier(followed) == "R2" and followed.rider_id == "R1"
