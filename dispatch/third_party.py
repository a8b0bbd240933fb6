"""A store's third-party couriers: when one would deliver an order, what it costs, whether it may.

The rules (the validator checks a plan's third-party orders by them, independently): the
platform's courier is at the store `arrival_s` after the plan's time; the pickup starts then or
when the order is ready, whichever is later, and lasts the store's `pickup_service_s`; the ride
to the door is the travel model's (the haversine road metres at the courier's speed, or the
matrix's time, through the speed profile if there is one); the drop-off starts on arrival, or at `deliver_after` if later. The fee is
`fee_per_order` plus `fee_per_extra_km` per road km beyond `included_km`, to the cent.

The solver prices a fee in rider-seconds: f money is f * 3600 / rider_cost_per_hour seconds of a
rider's time, times the travel weight (at least 1), so fees and rider time are one currency.
The order's own terms (its clock, lateness) are priced as on a route.
"""

from __future__ import annotations

from dataclasses import dataclass

from dispatch.model import Order, Problem, Store
from dispatch.travel import LegMeter


@dataclass(frozen=True, slots=True)
class ThirdPartyTrip:
    """One order on a third-party courier: its times (seconds from the plan's time) and fee."""

    order_id: str
    store_id: str
    pickup_s: int  # the pickup's start
    depart_s: int  # the courier leaves the store
    dropoff_s: int  # the drop-off's start
    late_s: int
    distance_m: float
    fee: float
    cost: int  # in the objective's units: the fee and the order's time terms
    breaks: str | None = None  # the rule it would break (it may not go out), or None


def fee_cost(problem: Problem, fee: float) -> int:
    """A fee in the objective's units (rider-seconds at the travel weight)."""
    per_hour = problem.options.rider_cost_per_hour
    if per_hour is None:
        raise ValueError("a third-party fee needs options.rider_cost_per_hour")
    return int(round(fee * 3600.0 / per_hour * max(1, problem.options.travel_cost_per_s)))


def order_time_cost(problem: Problem, order: Order, start_s: int) -> int:
    """The order's terms for a drop-off starting at `start_s`: its clock and lateness."""
    o = problem.options
    late = max(0, start_s - order.promised_at_s)
    return order.priority * (
        o.click_to_door_cost_per_s * (start_s - order.created_at_s)
        + o.late_cost_per_s * late
        + o.late_fixed_cost * (late > 0)
        + o.late_steep_cost_per_s * max(0, late - o.late_steep_after_s)
    )


def trip(problem: Problem, store: Store, order: Order, meter: LegMeter) -> ThirdPartyTrip | None:
    """The third-party trip of `order` from `store` (None when the store has no third party)."""
    tp = store.third_party
    if tp is None:
        return None
    pickup = max(tp.arrival_s, order.ready_at_s)
    depart = pickup + store.pickup_service_s
    metres = meter.distance_m(store.location, order.dropoff)
    arrive = depart + meter.travel_s(store.location, order.dropoff, tp.speed_mps, depart)
    start = arrive if order.deliver_after_s is None else max(arrive, order.deliver_after_s)
    late = max(0, start - order.promised_at_s)
    fee = round(tp.fee_per_order + tp.fee_per_extra_km * max(0.0, metres / 1000.0 - tp.included_km), 2)
    breaks = None
    if order.deadline_s is not None and start > order.deadline_s:
        breaks = "deadline"
    elif problem.options.lateness == "hard" and late > 0:
        breaks = "late"
    elif order.max_ride_s is not None and start - depart > order.max_ride_s:
        breaks = "max_ride"
    elif order.committed:
        breaks = "commitment_broken"
    cost = fee_cost(problem, fee) + order_time_cost(problem, order, start)
    return ThirdPartyTrip(order.id, store.id, pickup, depart, start, late, metres, fee, cost, breaks)


def eligible_trip(problem: Problem, order: Order, meter: LegMeter) -> ThirdPartyTrip | None:
    """The trip if the order may go out (its store has a third party, it is not on a rider's
    bike, and the trip breaks no rule); else None."""
    store = problem.store(order.store_id)
    if store is None or store.third_party is None or order.id in problem.carrier_of:
        return None
    found = trip(problem, store, order, meter)
    return found if found is not None and found.breaks is None else None
