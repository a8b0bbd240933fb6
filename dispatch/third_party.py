"""A store's third-party couriers: when one would deliver orders, what it costs, whether it may.

The rules (the validator checks a plan's third-party orders by them, independently): a
platform courier is at the store `arrival_s` after the plan's time and carries up to
`orders_per_courier` orders of that store on one trip; the pickup starts then or when the last
of its orders is ready, whichever is later, and lasts the store's `pickup_service_s`; it then
rides to each door in turn (the travel model's legs: the haversine road metres at the courier's
speed, or the matrix's time, through the speed profile if there is one); a drop-off starts on
arrival, or at `deliver_after` if later, and lasts the order's `dropoff_service_s` before the
next leg. The fee of the order dropped off first is `fee_per_order`, of each later one
`fee_per_added_order` (default the same), plus `fee_per_extra_km` per road km from the store to
that order's door beyond `included_km`, to the cent.

The solver prices a fee in rider-seconds: f money is f * 3600 / rider_cost_per_hour seconds of a
rider's time, times the travel weight (at least 1), so fees and rider time are one currency.
The order's own terms (its clock, lateness) are priced as on a route. Orders go out one per
courier; `pool_couriers` then puts orders of a store on one courier where that costs less and
breaks no rule.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from dispatch.model import Order, Problem, Store
from dispatch.travel import LegMeter

# Each order is offered to the couriers of this many of its nearest sent-out neighbours: pooling
# is a local question (a far order would be late), and all pairs grow as n^2.
POOL_NEIGHBOURS = 8


@dataclass(frozen=True, slots=True)
class ThirdPartyTrip:
    """One order on a third-party courier: its times (seconds from the plan's time) and fee."""

    order_id: str
    store_id: str
    pickup_s: int  # the pickup's start (the courier's, for all its orders)
    depart_s: int  # the courier leaves the store
    dropoff_s: int  # the drop-off's start
    late_s: int
    distance_m: float
    fee: float
    cost: int  # in the objective's units: the fee and the order's time terms
    breaks: str | None = None  # the rule it would break (it may not go out), or None
    courier: str = ""  # the courier that carries it: orders of one courier share it


def courier_name(first_order_id: str) -> str:
    """The name the solver gives a platform courier: `tp-` and the id of its first order."""
    return f"tp-{first_order_id}"


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


def courier_trips(problem: Problem, store: Store, orders: Sequence[Order], meter: LegMeter,
                  courier: str = "") -> list[ThirdPartyTrip]:
    """The trips of `orders` on one courier of `store`'s third party, dropped off in the given
    order (`store.third_party` must be set); each names the first rule it breaks, if any,
    including `courier_overloaded` past `orders_per_courier`."""
    tp = store.third_party
    pickup = max([tp.arrival_s] + [o.ready_at_s for o in orders])
    depart = pickup + store.pickup_service_s
    courier = courier or courier_name(orders[0].id)
    at, leave = store.location, depart
    out = []
    for position, order in enumerate(orders):
        arrive = leave + meter.travel_s(at, order.dropoff, tp.speed_mps, leave)
        start = arrive if order.deliver_after_s is None else max(arrive, order.deliver_after_s)
        late = max(0, start - order.promised_at_s)
        metres = meter.distance_m(store.location, order.dropoff)
        fee = tp.order_fee(position, metres)
        breaks = None
        if len(orders) > tp.orders_per_courier:
            breaks = "courier_overloaded"
        elif order.deadline_s is not None and start > order.deadline_s:
            breaks = "deadline"
        elif problem.options.lateness == "hard" and late > 0:
            breaks = "late"
        elif order.max_ride_s is not None and start - depart > order.max_ride_s:
            breaks = "max_ride"
        elif order.committed:
            breaks = "commitment_broken"
        cost = fee_cost(problem, fee) + order_time_cost(problem, order, start)
        out.append(ThirdPartyTrip(order.id, store.id, pickup, depart, start, late, metres, fee, cost, breaks, courier))
        at, leave = order.dropoff, start + order.dropoff_service_s
    return out


def trip(problem: Problem, store: Store, order: Order, meter: LegMeter) -> ThirdPartyTrip | None:
    """The third-party trip of `order` alone on a courier from `store` (None when the store has
    no third party)."""
    if store.third_party is None:
        return None
    return courier_trips(problem, store, [order], meter)[0]


def eligible_trip(problem: Problem, order: Order, meter: LegMeter) -> ThirdPartyTrip | None:
    """The trip if the order may go out (its store has a third party, it is not on a rider's
    bike, and the trip breaks no rule); else None."""
    store = problem.store(order.store_id)
    if store is None or store.third_party is None or order.id in problem.carrier_of:
        return None
    found = trip(problem, store, order, meter)
    return found if found is not None and found.breaks is None else None


def pool_couriers(problem: Problem, trips: Sequence[ThirdPartyTrip], meter: LegMeter,
                  deadline: float | None = None) -> list[ThirdPartyTrip]:
    """The same orders sent out, pooled on fewer couriers where a store's third party takes more
    than one order per courier and pooling lowers the cost without breaking a rule: Clarke and
    Wright's savings (1964), each courier's trip joined end to start with a neighbour's while the
    joined trip costs less than the two apart. Each courier's orders come together, in drop-off
    order. Past `deadline` (a `time.perf_counter()` value) pooling stops
    where it is: every courier it has formed is valid."""
    by_store: dict[str, list[ThirdPartyTrip]] = {}
    for t in trips:
        by_store.setdefault(t.store_id, []).append(t)
    pooled: list[ThirdPartyTrip] = []
    for store_id, alone in by_store.items():
        store = problem.store(store_id)
        if store is None or store.third_party is None or store.third_party.orders_per_courier < 2 or len(alone) < 2:
            pooled += alone
            continue
        pooled += _pool_store(problem, store, alone, meter, deadline)
    return pooled


def _pool_store(problem: Problem, store: Store, alone: list[ThirdPartyTrip], meter: LegMeter,
                deadline: float | None) -> list[ThirdPartyTrip]:
    """One store's sent-out orders pooled by savings (see `pool_couriers`)."""
    limit = store.third_party.orders_per_courier
    orders = [problem.order_index[t.order_id] for t in alone]
    couriers: dict[int, list[int]] = {i: [i] for i in range(len(orders))}  # courier (its first order) -> orders
    of: list[int] = list(range(len(orders)))  # order -> its courier
    costs: dict[int, int] = {i: alone[i].cost for i in range(len(orders))}

    def cost_of(members: list[int]) -> int | None:
        found = courier_trips(problem, store, [orders[i] for i in members], meter)
        return None if any(t.breaks for t in found) else sum(t.cost for t in found)

    doors = np.radians([[o.dropoff.lat, o.dropoff.lon] for o in orders])
    near = _nearest(doors, POOL_NEIGHBOURS)
    savings = []
    for i in range(len(orders)):
        if deadline is not None and time.perf_counter() > deadline:
            break
        for j in near[i]:
            joined = cost_of([i, int(j)])
            if joined is not None and joined < costs[i] + costs[int(j)]:
                savings.append((costs[i] + costs[int(j)] - joined, i, int(j)))
    for _, i, j in sorted(savings, key=lambda s: (-s[0], s[1], s[2])):
        if deadline is not None and time.perf_counter() > deadline:
            break
        a, b = of[i], of[j]
        # i ends its courier's trip and j starts another's: join them as a then b.
        if a == b or couriers[a][-1] != i or couriers[b][0] != j or len(couriers[a]) + len(couriers[b]) > limit:
            continue
        members = couriers[a] + couriers[b]
        joined = cost_of(members)
        if joined is None or joined >= costs[a] + costs[b]:
            continue
        couriers[a] = members
        costs[a] = joined
        del couriers[b], costs[b]
        for k in members:
            of[k] = a
    out = []
    for members in couriers.values():
        if len(members) == 1:
            out.append(alone[members[0]])
            continue
        out += courier_trips(problem, store, [orders[k] for k in members], meter)
    return out


def _nearest(points_rad: np.ndarray, k: int, rows_per_block: int = 512) -> list[np.ndarray]:
    """Each point's `k` nearest others by great-circle angle (indices, nearest first), a block of
    rows at a time so memory stays linear in the points."""
    lat, lon = points_rad[:, 0], points_rad[:, 1]
    k = min(k, len(lat) - 1)
    out: list[np.ndarray] = []
    for lo in range(0, len(lat), rows_per_block):
        hi = min(len(lat), lo + rows_per_block)
        cos_angle = (np.sin(lat[lo:hi])[:, None] * np.sin(lat)[None, :]
                     + np.cos(lat[lo:hi])[:, None] * np.cos(lat)[None, :] * np.cos(lon[lo:hi, None] - lon[None, :]))
        cos_angle[np.arange(hi - lo), np.arange(lo, hi)] = -2.0  # never one's own neighbour
        order = np.argsort(-cos_angle, axis=1, kind="stable")[:, :k]
        out += list(order)
    return out
