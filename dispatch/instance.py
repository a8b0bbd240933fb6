"""The indexed form of a problem that the solver works on: dense indices, numpy arrays.

External ids are mapped to indices once here and back once in `dispatch.solver.plan_builder`.
Point indices: stores first, then rider start points, then drop-offs of the routed orders.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dispatch.model import Order, Problem, SpeedProfile
from dispatch.third_party import ThirdPartyTrip, eligible_trip
from dispatch.zones import zone_contains
from dispatch.travel import LegMeter, SpeedSeconds, TravelModel, profile_leg_s, profile_legs_s

NO_LIMIT = np.iinfo(np.int64).max // 4


@dataclass(frozen=True, eq=False)
class Instance:
    """Routed orders, stores and riders as arrays, with travel matrices per rider."""

    problem: Problem
    orders: tuple[Order, ...]  # the orders to route (inside the area, known store)
    order_store: np.ndarray  # store index of each order
    created_s: np.ndarray
    ready_s: np.ndarray
    promised_s: np.ndarray
    earliest_s: np.ndarray  # earliest drop-off start (scheduled orders), -NO_LIMIT where none
    deadline_s: np.ndarray  # latest drop-off start whatever the weights, NO_LIMIT where none or carried
    items: np.ndarray
    service_s: np.ndarray
    priority: np.ndarray
    max_ride_s: np.ndarray  # NO_LIMIT where none
    carried_by: np.ndarray  # rider index, or -1
    assigned_to: np.ndarray  # rider index of the plan being followed, or -1
    locked_to: np.ndarray  # rider index a committed order must stay with, or -1
    hard_promise: np.ndarray  # bool: lateness forbidden (hard mode, not already carried)
    pickup_service_s: np.ndarray  # per store
    available_s: np.ndarray  # per rider
    shift_end_s: np.ndarray  # per rider, NO_LIMIT where none
    shift_end_pickups: np.ndarray  # per rider, bool: the shift end bounds its pickups, not its route
    capacity: np.ndarray
    max_orders: np.ndarray
    home_store: np.ndarray  # store index, or -1
    travel: TravelModel
    # (points x points) int seconds per rider, one object per speed (see TravelModel.travel_s)
    travel_s_of_rider: tuple[np.ndarray | SpeedSeconds, ...]
    return_to_store: bool
    horizon_s: int
    carried_of_rider: tuple[tuple[int, ...], ...]  # order indices each rider already carries
    # What leaving each order out of every route costs: unassigned (priority x the weight), or
    # its third-party trip's fee and time terms when it may go out and that is cheaper.
    drop_cost: np.ndarray
    outsourced: tuple[ThirdPartyTrip | None, ...]  # the trip an order left out takes, or None
    zone_ok: np.ndarray  # (orders x riders) bool: the rider's zone holds the drop-off (or it carries it)
    # Under a speed profile (None: none): each rider's (points x points) base seconds at factor 1
    # as floats, what a leg is ridden from; `travel_s_of_rider` then holds an estimate only.
    speed_profile: SpeedProfile | None = None
    base_s_of_rider: tuple[np.ndarray | BaseSeconds, ...] = ()

    @property
    def n_orders(self) -> int:
        """Number of routed orders."""
        return len(self.orders)

    @property
    def n_riders(self) -> int:
        """Number of riders."""
        return len(self.problem.riders)

    @property
    def n_stores(self) -> int:
        """Number of stores."""
        return len(self.problem.stores)

    @property
    def windowed(self) -> bool:
        """Whether most orders are scheduled (have a delivery window that opens later).

        Such problems are VRPTW-like: routes hold waits, and the search is tuned differently.
        """
        return bool(self.n_orders) and float(np.mean(self.earliest_s > -NO_LIMIT)) > 0.5

    def leg_s(self, r: int, a: int, b: int, depart_s: int) -> int:
        """Exact whole seconds of rider r's leg from point a to b leaving at `depart_s`."""
        p = self.speed_profile
        if p is None:
            return int(self.travel_s_of_rider[r][a, b])
        return profile_leg_s(int(depart_s), float(self.base_s_of_rider[r][a, b]), p.factor_array, p.period_s,
                             p.midnight_s)

    def legs_s(self, r: int, a, b, depart_s) -> np.ndarray:
        """`leg_s` for arrays of legs (a, b and departures broadcast together)."""
        p = self.speed_profile
        if p is None:
            return np.asarray(self.travel_s_of_rider[r][a, b], dtype=np.int64)
        return profile_legs_s(depart_s, self.base_s_of_rider[r][a, b], p.factor_array, p.period_s, p.midnight_s)

    def store_point(self, s: int) -> int:
        """Point index of store s."""
        return s

    def rider_point(self, r: int) -> int:
        """Point index of rider r's start."""
        return self.n_stores + r

    def order_point(self, k: int) -> int:
        """Point index of order k's drop-off."""
        return self.n_stores + self.n_riders + k

    def end_store(self, r: int, last_order: int) -> int:
        """The store a closed route returns to: the rider's home store, else the last order's."""
        home = int(self.home_store[r])
        return home if home >= 0 else int(self.order_store[last_order])


EAGER_ENTRIES = 2_000_000  # about 8 ms of matrix building here


def build_instance(problem: Problem, routed: list[Order]) -> Instance:
    """Index `routed` orders (already filtered by area and store) with the problem's riders."""
    store_idx = {s.id: i for i, s in enumerate(problem.stores)}
    rider_idx = {r.id: i for i, r in enumerate(problem.riders)}
    carrier = problem.carrier_of
    opts = problem.options
    n = len(routed)
    carried_by = np.array([rider_idx[carrier[o.id]] if o.id in carrier else -1 for o in routed], dtype=np.int64)
    max_ride = np.array([o.max_ride_s if o.max_ride_s is not None else NO_LIMIT for o in routed], dtype=np.int64)
    points = (
        [s.location for s in problem.stores]
        + [r.location for r in problem.riders]
        + [o.dropoff for o in routed]
    )
    travel = TravelModel(opts.travel, points)
    speeds = {float(r.speed_mps) for r in problem.riders}
    # Whole matrices now when they are cheap to build (then every later read is a plain array
    # read); with many speeds over many points, seconds computed as they are read.
    eager = len(speeds) * len(points) ** 2 <= EAGER_ENTRIES
    profile = opts.travel.speed_profile
    if profile is None:
        seconds_at = {v: np.asarray(travel.travel_s(v)) if eager else travel.travel_s(v) for v in speeds}
        base_at: dict[float, np.ndarray] = {}
    else:
        base_at = _base_seconds(travel, speeds, eager)
        factor = estimate_factor(profile, [o.promised_at_s for o in routed])
        if opts.travel.model == "matrix":
            estimate = np.rint(np.asarray(travel.travel_s(1.0)) / factor).astype(np.int64)
            seconds_at = {v: estimate for v in speeds}
        else:  # seconds at speed x factor, built as the static ones are (whole or as read)
            seconds_at = {v: np.asarray(travel.travel_s(v * factor)) if eager else travel.travel_s(v * factor)
                          for v in speeds}
    latest = max(
        [0]
        + [o.promised_at_s for o in routed]
        + [o.ready_at_s for o in routed]
        + [r.available_at_s for r in problem.riders]
        + [r.shift_end_s for r in problem.riders if r.shift_end_s is not None]
    )
    # Two days past the last given time leaves room for any lateness a store could see.
    horizon = int(latest + 2 * 24 * 3600)
    return Instance(
        problem=problem,
        orders=tuple(routed),
        order_store=np.array([store_idx[o.store_id] for o in routed], dtype=np.int64),
        created_s=np.array([o.created_at_s for o in routed], dtype=np.int64).reshape(n),
        ready_s=np.array([o.ready_at_s for o in routed], dtype=np.int64).reshape(n),
        promised_s=np.array([o.promised_at_s for o in routed], dtype=np.int64).reshape(n),
        earliest_s=np.array(
            [o.deliver_after_s if o.deliver_after_s is not None else -NO_LIMIT for o in routed], dtype=np.int64
        ).reshape(n),
        # A carried order is on the bike: it is delivered whatever its deadline.
        deadline_s=np.array(
            [o.deadline_s if o.deadline_s is not None and o.id not in carrier else NO_LIMIT for o in routed],
            dtype=np.int64,
        ).reshape(n),
        items=np.array([o.items for o in routed], dtype=np.int64).reshape(n),
        service_s=np.array([o.dropoff_service_s for o in routed], dtype=np.int64).reshape(n),
        priority=np.array([o.priority for o in routed], dtype=np.int64).reshape(n),
        max_ride_s=max_ride.reshape(n),
        carried_by=carried_by.reshape(n),
        assigned_to=np.array(
            [rider_idx.get(o.assigned_rider_id, -1) if o.assigned_rider_id else -1 for o in routed], dtype=np.int64
        ).reshape(n),
        locked_to=np.array(
            [rider_idx.get(o.assigned_rider_id, -1) if o.committed and o.assigned_rider_id else -1 for o in routed],
            dtype=np.int64,
        ).reshape(n),
        hard_promise=np.array(
            [opts.lateness == "hard" and o.id not in carrier for o in routed], dtype=bool
        ).reshape(n),
        pickup_service_s=np.array([s.pickup_service_s for s in problem.stores], dtype=np.int64),
        available_s=np.array([r.available_at_s for r in problem.riders], dtype=np.int64),
        shift_end_s=np.array(
            [r.shift_end_s if r.shift_end_s is not None else NO_LIMIT for r in problem.riders], dtype=np.int64
        ),
        shift_end_pickups=np.array([r.shift_end_rule == "pickups" for r in problem.riders], dtype=bool),
        capacity=np.array([r.capacity_items for r in problem.riders], dtype=np.int64),
        max_orders=np.array([r.max_orders for r in problem.riders], dtype=np.int64),
        home_store=np.array(
            [store_idx[r.store_id] if r.store_id is not None else -1 for r in problem.riders], dtype=np.int64
        ),
        travel=travel,
        travel_s_of_rider=tuple(seconds_at[float(r.speed_mps)] for r in problem.riders),
        return_to_store=opts.return_to_store,
        horizon_s=horizon,
        carried_of_rider=_carried_of_rider(carried_by, len(problem.riders)),
        **_leaving_out(problem, routed),
        zone_ok=_zone_ok(problem, routed, carried_by),
        speed_profile=profile,
        base_s_of_rider=tuple(base_at[float(r.speed_mps)] for r in problem.riders) if profile else (),
    )


class BaseSeconds:
    """Base seconds at one speed (metres / speed, unrounded), computed where read: with many
    speeds over many points whole matrices would cost what `SpeedSeconds` avoids."""

    def __init__(self, distance_m: np.ndarray, speed_mps: float):
        self.distance_m = distance_m
        self.speed_mps = float(speed_mps)

    def __getitem__(self, key):
        return self.distance_m[key] / self.speed_mps


def _base_seconds(travel: TravelModel, speeds: set[float], eager: bool) -> dict[float, np.ndarray | BaseSeconds]:
    """Base seconds (at factor 1) per speed: metres / speed, or the matrix's durations (one
    matrix for every speed)."""
    if travel.options.model == "matrix":
        durations = np.asarray(travel.travel_s(1.0), dtype=np.float64)
        return {v: durations for v in speeds}
    return {v: travel.distance_m / v if eager else BaseSeconds(travel.distance_m, v) for v in speeds}


def estimate_factor(profile: SpeedProfile, promised_s: list[int]) -> float:
    """One factor for static estimates of a profile's legs: the harmonic mean of the factors over
    the periods from the plan time to the latest promise (time goes as 1 / factor)."""
    end = max([profile.period_s] + [int(p) for p in promised_s])
    end = min(end, 86_400)  # the profile repeats daily
    starts = np.arange(0, end, profile.period_s)
    factors = np.array([profile.factor_at(t) for t in starts])
    return float(len(factors) / np.sum(1.0 / factors))


def _zone_ok(problem: Problem, routed: list[Order], carried_by: np.ndarray) -> np.ndarray:
    """Which rider may deliver which order: everyone, but riders whose zone leaves the door out."""
    ok = np.ones((len(routed), len(problem.riders)), dtype=bool)
    doors = [o.dropoff for o in routed]
    for r, rider in enumerate(problem.riders):
        if rider.zone is not None and doors:
            ok[:, r] = zone_contains(rider.zone, doors)
    if len(routed):
        carried = np.flatnonzero(carried_by >= 0)
        ok[carried, carried_by[carried]] = True  # what a rider carries stays with it
    return ok


def _leaving_out(problem: Problem, routed: list[Order]) -> dict:
    """Each order's cost of being left out of every route, and the third-party trip it then takes."""
    unassigned = np.array([o.priority * problem.options.unassigned_cost for o in routed], dtype=np.int64)
    trips: list[ThirdPartyTrip | None] = [None] * len(routed)
    if any(s.third_party is not None for s in problem.stores):
        meter = LegMeter(problem.options.travel)
        for k, o in enumerate(routed):
            trip = eligible_trip(problem, o, meter)
            if trip is not None and trip.cost <= unassigned[k]:
                trips[k] = trip
                unassigned[k] = trip.cost
    return {"drop_cost": unassigned.reshape(len(routed)), "outsourced": tuple(trips)}


def _carried_of_rider(carried_by: np.ndarray, n_riders: int) -> tuple[tuple[int, ...], ...]:
    """Each rider's carried orders in index order (one pass: a scan per rider took 1 ms at 300x40)."""
    out: list[list[int]] = [[] for _ in range(n_riders)]
    for k in np.flatnonzero(carried_by >= 0).tolist():
        out[int(carried_by[k])].append(k)
    return tuple(tuple(ks) for ks in out)
