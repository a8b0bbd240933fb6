"""ETA ranges: when each stop of a route starts, as a distribution rather than one time.

A route is ridden many times over (a seeded Monte Carlo, numpy-vectorised over the draws): each
leg takes the travel model's seconds at its (drawn) departure, through the speed profile if
there is one, times a lognormal factor of mean 1 and the coefficient of variation (CV) of the
period the leg leaves in; each service takes its seconds times a lognormal factor with the
service CV. Waits are exact: a pickup starts no earlier than the latest ready time of what it
collects, a drop-off no earlier than its `deliver_after` (max() per draw). The quantiles of a
stop's start are its ETA range. Without uncertainty every draw is the rule's time, so
p10 = p50 = p90 = the stop's start as `dispatch.validate` computes it.

Pure: the problem's travel model and the route's stops in, seconds out; no solver.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from dispatch.model import Location, Problem, Rider, TravelOptions, Uncertainty
from dispatch.plan import Plan, PlannedStop
from dispatch.third_party import courier_name
from dispatch.travel import LegMeter, profile_legs_s

# Draws per route: the standard error of p10 / p90 is then about 2% of the p10-p90 range
# (sqrt(0.09 / 1000) / density), small against the range itself; a route of 10 stops costs ~1 ms.
DRAWS = 1000
QUANTILES = (0.1, 0.5, 0.9)
NO_WAIT = -(2**62)  # a stop that waits for nothing


@dataclass(frozen=True, slots=True)
class EtaStop:
    """What the draws need of a stop: where it is, what it waits for, how long it lasts."""

    location: Location
    not_before_s: int  # a pickup: the latest ready time; a drop-off: deliver_after; else NO_WAIT
    service_s: int


def lognormal_factors(cv: np.ndarray | float, z: np.ndarray) -> np.ndarray:
    """Lognormal factors of mean 1 and coefficient of variation `cv` from standard normals `z`
    (cv 0 gives exactly 1.0)."""
    sigma2 = np.log1p(np.square(cv))
    return np.exp(np.sqrt(sigma2) * z - sigma2 / 2)


def _leg_s(meter: LegMeter, rider: Rider, a: Location, b: Location, depart: np.ndarray) -> np.ndarray:
    """The rule's seconds of a leg for each drawn departure."""
    profile = meter.travel.speed_profile
    if profile is None:
        return np.full(depart.shape, float(meter.travel_s(a, b, rider.speed_mps)))
    base = meter.base_s(a, b, rider.speed_mps)
    return profile_legs_s(depart, base, profile.factor_array, profile.period_s, profile.midnight_s).astype(np.float64)


def draw_starts(
    travel: TravelOptions, rider: Rider, stops: Sequence[EtaStop], seed: int = 0, draws: int = DRAWS,
    meter: LegMeter | None = None,
) -> np.ndarray:
    """Drawn start times of each stop of a rider's route, shape (stops, draws), in plan-epoch
    seconds; one draw when nothing is uncertain. Seeded by `seed` and the rider's id."""
    meter = meter or LegMeter(travel)
    unc: Uncertainty | None = travel.uncertainty
    if unc is None or unc.is_certain:
        draws = 1
    # The rider's id in the seed: each route has its own luck, whatever the order routes come in.
    rng = np.random.default_rng([int(seed), zlib.crc32(rider.id.encode())])
    z_ride = rng.standard_normal((len(stops), draws)) if draws > 1 else np.zeros((len(stops), 1))
    z_service = rng.standard_normal((len(stops), draws)) if draws > 1 else np.zeros((len(stops), 1))
    t = np.full(draws, float(rider.available_at_s))
    at = rider.location
    out = np.empty((len(stops), draws))
    for i, stop in enumerate(stops):
        leg = _leg_s(meter, rider, at, stop.location, t)
        if draws > 1:
            leg = leg * lognormal_factors(unc.ride_cv_at(t), z_ride[i])
        start = np.maximum(t + leg, float(stop.not_before_s))
        service = float(stop.service_s)
        if draws > 1:
            service = service * lognormal_factors(unc.service_cv, z_service[i])
        out[i] = start
        t = start + service
        at = stop.location
    return out


def eta_stops(problem: Problem, stops: Sequence[PlannedStop]) -> list[EtaStop] | None:
    """The stops of a planned route (`PlannedStop`s) as the draws need them; None when a stop
    names a store or order the problem does not have (the validator reports those)."""
    out: list[EtaStop] = []
    for s in stops:
        if s.kind == "pickup":
            store = problem.store(s.store_id or "")
            orders = [problem.order_index.get(oid) for oid in s.order_ids]
            if store is None or any(o is None for o in orders):
                return None
            ready = max((o.ready_at_s for o in orders), default=NO_WAIT)
            out.append(EtaStop(store.location, ready, store.pickup_service_s))
        else:
            order = problem.order_index.get(s.order_id or "")
            if order is None:
                return None
            wait = NO_WAIT if order.deliver_after_s is None else order.deliver_after_s
            out.append(EtaStop(order.dropoff, wait, order.dropoff_service_s))
    return out


def quantiles_s(starts: np.ndarray, qs: Sequence[float] = QUANTILES) -> np.ndarray:
    """Whole-second quantiles of each stop's drawn starts, shape (stops, len(qs))."""
    if starts.shape[1] == 1:
        return np.rint(np.repeat(starts, len(qs), axis=1)).astype(np.int64)
    return np.rint(np.quantile(starts, qs, axis=1, method="linear").T).astype(np.int64)


def route_eta_ranges(
    problem: Problem, rider: Rider, stops: Sequence[PlannedStop], seed: int | None = None
) -> np.ndarray | None:
    """(p10, p50, p90) of each stop's start, shape (stops, 3), for a planned route; None when a
    stop is unknown to the problem."""
    known = eta_stops(problem, stops)
    if known is None:
        return None
    seed = problem.options.seed if seed is None else seed
    return quantiles_s(draw_starts(problem.options.travel, rider, known, seed))


def _stop_start_s(problem: Problem, stop: PlannedStop) -> int:
    """A planned stop's start: its departure less its service time."""
    if stop.kind == "pickup":
        store = problem.store(stop.store_id or "")
        return stop.depart_s - (store.pickup_service_s if store is not None else 0)
    order = problem.order_index.get(stop.order_id or "")
    return stop.depart_s - (order.dropoff_service_s if order is not None else 0)


def with_eta_ranges(problem: Problem, plan: Plan) -> Plan:
    """The plan with every stop's ETA range, and every third-party drop-off's: the Monte Carlo's
    quantiles under uncertainty, else p10 = p50 = p90 = the planned start (no draws needed)."""
    unc = problem.options.travel.uncertainty
    certain = unc is None or unc.is_certain
    routes = []
    for route in plan.routes:
        rider = problem.rider_index.get(route.rider_id)
        ranges = None if certain or rider is None else route_eta_ranges(problem, rider, route.stops)
        stops = []
        for i, s in enumerate(route.stops):
            p10, p50, p90 = (int(x) for x in ranges[i]) if ranges is not None else (_stop_start_s(problem, s),) * 3
            stops.append(replace(s, eta_p10_s=p10, eta_p50_s=p50, eta_p90_s=p90))
        routes.append(replace(route, stops=tuple(stops)))
    couriers: dict[str, list[int]] = {}
    for i, t in enumerate(plan.third_party):
        couriers.setdefault(t.courier_key(), []).append(i)
    third_party = list(plan.third_party)
    for members in couriers.values():
        first = plan.third_party[members[0]]
        found = None if certain else courier_quantiles_s(
            problem, first.store_id, [plan.third_party[i].order_id for i in members], first.pickup_s, courier=first.courier)
        for row, i in enumerate(members):
            t = third_party[i]
            p10, p50, p90 = (int(x) for x in found[row]) if found is not None else (t.dropoff_s,) * 3
            third_party[i] = replace(t, eta_p10_s=p10, eta_p50_s=p50, eta_p90_s=p90)
    return replace(plan, routes=tuple(routes), third_party=tuple(third_party))


def stop_quantiles_s(
    problem: Problem, rider: Rider, stops: Sequence[PlannedStop], index: int, qs: Sequence[float]
) -> np.ndarray | None:
    """Whole-second quantiles `qs` of one stop's start on a planned route (a quote's promise at
    a chosen confidence); None when a stop is unknown to the problem."""
    known = eta_stops(problem, stops)
    if known is None:
        return None
    # The whole route, drawn as the plan's ranges are: the same draws give the same quantiles.
    starts = draw_starts(problem.options.travel, rider, known, problem.options.seed)
    return quantiles_s(starts[index:index + 1], qs)[0]


def courier_quantiles_s(problem: Problem, store_id: str, order_ids: Sequence[str], pickup_s: int,
                        qs: Sequence[float] = QUANTILES, courier: str | None = None) -> np.ndarray | None:
    """Whole-second quantiles `qs` of each drop-off's start on a third-party courier, shape
    (orders, len(qs)): it leaves the store after the pickup and rides door to door in the given
    order, drawn as a rider's route is (seeded by `courier`, default the name the solver gives
    it); None when an order, the store or its third party is unknown."""
    store = problem.store(store_id)
    orders = [problem.order_index.get(oid) for oid in order_ids]
    if store is None or store.third_party is None or not orders or any(o is None for o in orders):
        return None
    depart = pickup_s + store.pickup_service_s
    tp = store.third_party
    # Its own luck: a seed apart from every rider's, whatever the rider ids.
    name = courier or courier_name(order_ids[0])
    courier_as_rider = Rider(id=f"third-party courier {name}", location=store.location, available_at_s=depart,
                             shift_end_s=None, capacity_items=0, max_orders=len(orders), speed_mps=tp.speed_mps)
    stops = [EtaStop(o.dropoff, NO_WAIT if o.deliver_after_s is None else o.deliver_after_s, o.dropoff_service_s)
             for o in orders]
    return quantiles_s(draw_starts(problem.options.travel, courier_as_rider, stops, problem.options.seed), qs)


def third_party_quantiles_s(problem: Problem, order_id: str, store_id: str, pickup_s: int,
                            qs: Sequence[float] = QUANTILES) -> np.ndarray | None:
    """Whole-second quantiles `qs` of the drop-off's start of an order alone on a third-party
    courier (`courier_quantiles_s`); None when the order, the store or its third party is unknown."""
    found = courier_quantiles_s(problem, store_id, [order_id], pickup_s, qs)
    return None if found is None else found[0]
