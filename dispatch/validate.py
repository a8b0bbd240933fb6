"""The independent judge of a plan: recompute every time, load and promise from the rules.

It reads the problem and the plan and nothing of the solver: travel comes from the travel
model one leg at a time, times from the contract's rules (a pickup starts at the later of
arrival and the orders' ready times and costs the store's pickup service once; a drop-off
starts on arrival, or at a scheduled order's deliver_after if later). It reports violations by
cause, like VROOM's "check" mode: each rule is one function that yields the violations of its
cause(s); `validate_plan` walks the routes once to recompute their times and loads, then asks
every rule. A new rule is a function added to the tuple of its scope (an unassigned entry, a
route, a pickup, a drop-off, a route's end, the whole plan).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace

from dispatch.eta import courier_quantiles_s, route_eta_ranges
from dispatch.geofence import ServiceArea, store_area
from dispatch.model import Location, Order, Problem, Rider, Store
from dispatch.plan import REASONS, Plan, PlannedRoute, PlannedStop, ThirdPartyOrder, UnassignedOrder, plan_from_document
from dispatch.travel import LegMeter, great_circle_m
from dispatch.zones import zone_contains

TIME_TOLERANCE_S = 1  # times in documents are whole seconds
PLACE_TOLERANCE_M = 1.0
DISTANCE_TOLERANCE_M = 1.0
FEE_TOLERANCE = 0.005  # fees are stated to the cent


@dataclass(frozen=True, slots=True)
class Violation:
    """One broken rule: a cause code, a sentence, and the rider or order concerned."""

    cause: str
    detail: str
    rider_id: str | None = None
    order_id: str | None = None


def violations_by_cause(violations: list[Violation]) -> dict[str, list[Violation]]:
    """Group violations by cause, in first-seen order."""
    out: dict[str, list[Violation]] = {}
    for v in violations:
        out.setdefault(v.cause, []).append(v)
    return out


@dataclass(frozen=True, slots=True)
class Context:
    """What every rule may read: the problem's indices, the plan, and the stores' areas."""

    problem: Problem
    plan: Plan
    orders: dict[str, Order]
    riders: dict[str, Rider]
    stores: dict[str, Store]
    carrier: dict[str, str]  # carried order -> the rider carrying it
    areas: dict[str, ServiceArea]
    hard: bool  # promises are hard
    meter: LegMeter | None = None  # the travel model, one leg at a time (third-party trips)
    # The plan's third-party orders by courier, and each as the rules time it: computed once.
    couriers: dict[str, list[ThirdPartyOrder]] = field(default_factory=dict)
    third_party_trips: dict[str, "ThirdPartyTrip"] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class PickupVisit:
    """A pickup as the rules recompute it (store None: an unknown store, nothing else checked)."""

    rider: Rider
    stop: PlannedStop
    store: Store | None
    orders: tuple[tuple[str, Order | None], ...] = ()  # every listed id, with its order if known
    picked_before: frozenset[str] = frozenset()  # on board or picked up earlier on the route
    arrive_s: int = 0
    ready_s: int = 0  # when the pickup starts: arrival or the latest ready time
    depart_s: int = 0
    load_items: int = 0  # on board leaving
    order_count: int = 0


@dataclass(frozen=True, slots=True)
class DropoffVisit:
    """A drop-off as the rules recompute it (order None: an unknown order, nothing else checked)."""

    rider: Rider
    stop: PlannedStop
    order_id: str
    order: Order | None
    arrive_s: int = 0
    start_s: int = 0  # arrival, or deliver_after if later
    depart_s: int = 0
    on_board: bool = False  # picked up (or carried) before this drop-off
    picked_depart_s: int | None = None  # when it left its store, if picked up on this route
    late_s: int = 0


@dataclass(slots=True)
class RouteWalk:
    """One route of a known rider recomputed stop by stop from the travel model."""

    rider: Rider
    route: PlannedRoute
    visits: list[PickupVisit | DropoffVisit] = field(default_factory=list)
    end_s: int = 0  # after the last stop, or back at the store with return_to_store
    travel_s: int = 0
    distance_m: float = 0.0
    left_on_board: set[str] = field(default_factory=set)
    has_pickup: bool = False


def _walk_route(ctx: Context, meter: LegMeter, rider: Rider, route: PlannedRoute) -> RouteWalk:
    """Recompute a route's arrivals, departures, loads and totals by the contract's timing rules."""
    walk = RouteWalk(rider, route)
    orders = ctx.orders
    t, at = rider.available_at_s, rider.location
    on_board = set(rider.carrying)
    load = sum(orders[oid].items for oid in rider.carrying)
    count = len(rider.carrying)
    picked_depart: dict[str, int] = {}
    last_store: str | None = None

    def ride(to: Location) -> int:
        leg = meter.travel_s(at, to, rider.speed_mps, t)  # leaving now: speeds may change through the day
        walk.distance_m += meter.distance_m(at, to)
        walk.travel_s += leg
        return t + leg

    for stop in route.stops:
        if stop.kind == "pickup":
            store = ctx.stores.get(stop.store_id or "")
            if store is None:
                walk.visits.append(PickupVisit(rider, stop, None))
                continue
            walk.has_pickup = True
            last_store = store.id
            picked_before = frozenset(on_board | picked_depart.keys())
            arrive = ride(store.location)
            ready = arrive
            listed = tuple((oid, orders.get(oid)) for oid in stop.order_ids)
            for oid, order in listed:
                if order is not None:
                    ready = max(ready, order.ready_at_s)
                    on_board.add(oid)
                    load += order.items
                    count += 1
            depart = ready + store.pickup_service_s
            for oid in stop.order_ids:
                picked_depart[oid] = depart
            walk.visits.append(PickupVisit(rider, stop, store, listed, picked_before, arrive, ready, depart, load, count))
            t, at = depart, store.location
        else:
            oid = stop.order_id or ""
            order = orders.get(oid)
            if order is None:
                walk.visits.append(DropoffVisit(rider, stop, oid, None))
                continue
            arrive = ride(order.dropoff)
            # A scheduled order's drop-off waits for its deliver_after time.
            start = arrive if order.deliver_after_s is None else max(arrive, order.deliver_after_s)
            depart = start + order.dropoff_service_s
            was_on_board = oid in on_board
            if was_on_board:
                on_board.discard(oid)
                load -= order.items
                count -= 1
            late_s = max(0, start - order.promised_at_s)
            walk.visits.append(
                DropoffVisit(rider, stop, oid, order, arrive, start, depart, was_on_board, picked_depart.get(oid), late_s)
            )
            last_store = order.store_id
            t, at = depart, order.dropoff
    walk.left_on_board = on_board
    walk.end_s = t
    if ctx.problem.options.return_to_store and route.stops:
        back = ctx.stores.get(rider.store_id or last_store or "")
        if back is not None:
            walk.end_s = ride(back.location)
    return walk


# --- an unassigned entry ------------------------------------------------------------------


def unassigned_is_known(ctx: Context, u: UnassignedOrder) -> Iterator[Violation]:
    """unknown_order: an unassigned id that is not an order of the problem."""
    if u.order_id not in ctx.orders:
        yield Violation("unknown_order", f"unassigned order {u.order_id} is not in the problem", order_id=u.order_id)


def reason_is_stated(ctx: Context, u: UnassignedOrder) -> Iterator[Violation]:
    """bad_reason: a reason code outside the contract's, or no sentence for it."""
    if u.reason not in REASONS:
        yield Violation("bad_reason", f"reason {u.reason!r} is not a known reason code", order_id=u.order_id)
    if not u.detail:
        yield Violation("bad_reason", "an unassigned order needs a detail sentence", order_id=u.order_id)


def carried_is_not_unassigned(ctx: Context, u: UnassignedOrder) -> Iterator[Violation]:
    """carried_not_delivered: an order on a rider's bike cannot be left out."""
    if u.order_id in ctx.carrier:
        yield Violation("carried_not_delivered", f"order {u.order_id} is on rider {ctx.carrier[u.order_id]}'s bike but unassigned",
                        order_id=u.order_id)


# --- a route, before its stops ------------------------------------------------------------


def commitments_kept(ctx: Context, rider: Rider, route: PlannedRoute) -> Iterator[Violation]:
    """commitment_broken: an order committed to another rider is dropped off by this one."""
    for stop in route.stops:
        committed = ctx.orders.get(stop.order_id) if stop.kind == "dropoff" else None
        if committed is not None and committed.committed and committed.assigned_rider_id not in (None, rider.id):
            yield Violation("commitment_broken", f"order {committed.id} is committed to rider {committed.assigned_rider_id}, not {rider.id}",
                            rider_id=rider.id, order_id=committed.id)


def heading_to_first(ctx: Context, rider: Rider, route: PlannedRoute) -> Iterator[Violation]:
    """heading_to_not_first: the carried order a rider is riding to now must be its first stop."""
    if rider.heading_to is not None and rider.heading_to in rider.carrying:
        first = route.stops[0] if route.stops else None
        if first is None or first.kind != "dropoff" or first.order_id != rider.heading_to:
            yield Violation("heading_to_not_first", f"rider {rider.id} is riding to order {rider.heading_to} now, but its route does not start there",
                            rider_id=rider.id, order_id=rider.heading_to)


# --- a pickup -----------------------------------------------------------------------------


def pickup_at_store(ctx: Context, v: PickupVisit) -> Iterator[Violation]:
    """wrong_location: a pickup away from its store."""
    if great_circle_m(v.stop.location, v.store.location) > PLACE_TOLERANCE_M:
        yield Violation("wrong_location", f"pickup at {v.store.id} is not at the store", rider_id=v.rider.id)


def pickup_collects(ctx: Context, v: PickupVisit) -> Iterator[Violation]:
    """empty_pickup: a pickup that collects no order."""
    if not v.stop.order_ids:
        yield Violation("empty_pickup", f"pickup at {v.store.id} collects no order", rider_id=v.rider.id)


def picked_orders_known(ctx: Context, v: PickupVisit) -> Iterator[Violation]:
    """unknown_order: a pickup lists an id that is not an order of the problem."""
    for oid, order in v.orders:
        if order is None:
            yield Violation("unknown_order", f"pickup of unknown order {oid}", rider_id=v.rider.id, order_id=oid)


def picked_at_own_store(ctx: Context, v: PickupVisit) -> Iterator[Violation]:
    """wrong_store: an order collected at another store than the one packing it."""
    for oid, order in v.orders:
        if order is not None and order.store_id != v.store.id:
            yield Violation("wrong_store", f"order {oid} is packed at {order.store_id}, not {v.store.id}", v.rider.id, oid)


def picked_not_carried(ctx: Context, v: PickupVisit) -> Iterator[Violation]:
    """pickup_of_carried: an order already on a bike cannot be collected again."""
    for oid, order in v.orders:
        if order is not None and oid in ctx.carrier:
            yield Violation("pickup_of_carried", f"order {oid} is already on rider {ctx.carrier[oid]}'s bike", v.rider.id, oid)


def picked_once(ctx: Context, v: PickupVisit) -> Iterator[Violation]:
    """duplicate_pickup: an order collected twice (on this route, or twice in one stop)."""
    seen = set(v.picked_before)
    for oid, order in v.orders:
        if order is None:
            continue
        if oid in seen:
            yield Violation("duplicate_pickup", f"order {oid} is picked up twice", v.rider.id, oid)
        seen.add(oid)


def pickup_within_shift(ctx: Context, v: PickupVisit) -> Iterator[Violation]:
    """shift_end: under the "pickups" rule, a pickup must start by the rider's shift end."""
    r = v.rider
    if r.shift_end_rule == "pickups" and r.shift_end_s is not None and v.ready_s > r.shift_end_s:
        yield Violation("shift_end", f"pickup at {v.store.id} starts {ctx.plan.at(v.ready_s)}, after the shift end {ctx.plan.at(r.shift_end_s)}",
                        r.id)


def stated_times(ctx: Context, v: PickupVisit | DropoffVisit) -> Iterator[Violation]:
    """eta_mismatch: a stop whose stated arrival or departure differs from the recomputed one."""
    stop, plan = v.stop, ctx.plan
    if abs(stop.arrive_s - v.arrive_s) > TIME_TOLERANCE_S or abs(stop.depart_s - v.depart_s) > TIME_TOLERANCE_S:
        what = f"pickup at {v.store.id}" if isinstance(v, PickupVisit) else f"drop-off of {v.order_id}"
        yield Violation("eta_mismatch", f"{what}: plan says arrive {plan.at(stop.arrive_s)} depart {plan.at(stop.depart_s)}, "
                                        f"the rules give {plan.at(v.arrive_s)} and {plan.at(v.depart_s)}", rider_id=v.rider.id)


def within_capacity(ctx: Context, v: PickupVisit) -> Iterator[Violation]:
    """capacity: more items on board leaving a store than the rider carries."""
    if v.load_items > v.rider.capacity_items:
        yield Violation("capacity", f"{v.load_items} items on board leaving {v.store.id}, capacity {v.rider.capacity_items}", v.rider.id)


def within_max_orders(ctx: Context, v: PickupVisit) -> Iterator[Violation]:
    """max_orders: more orders on board leaving a store than the rider's limit."""
    if v.order_count > v.rider.max_orders:
        yield Violation("max_orders", f"{v.order_count} orders on board leaving {v.store.id}, limit {v.rider.max_orders}", v.rider.id)


# --- a drop-off ---------------------------------------------------------------------------


def dropoff_at_address(ctx: Context, v: DropoffVisit) -> Iterator[Violation]:
    """wrong_location: a drop-off away from its order's address."""
    if great_circle_m(v.stop.location, v.order.dropoff) > PLACE_TOLERANCE_M:
        yield Violation("wrong_location", f"drop-off of {v.order_id} is not at its address", v.rider.id, v.order_id)


def dropped_after_pickup(ctx: Context, v: DropoffVisit) -> Iterator[Violation]:
    """not_on_board: a drop-off of an order the rider neither picked up before nor carries."""
    if not v.on_board:
        yield Violation("not_on_board", f"order {v.order_id} is dropped off before it is picked up", v.rider.id, v.order_id)


def lateness_as_stated(ctx: Context, v: DropoffVisit) -> Iterator[Violation]:
    """late_mismatch: a stated late_s that differs from the recomputed lateness."""
    if v.stop.late_s != v.late_s:
        yield Violation("late_mismatch", f"order {v.order_id}: plan says late_s {v.stop.late_s}, the rules give {v.late_s}",
                        v.rider.id, v.order_id)


def promise_kept(ctx: Context, v: DropoffVisit) -> Iterator[Violation]:
    """late: with hard promises, a drop-off past its promise (carried orders excepted)."""
    if v.late_s > 0 and ctx.hard and v.order_id not in ctx.carrier:
        yield Violation("late", f"order {v.order_id} arrives {v.late_s} s after its promise (hard promises)", v.rider.id, v.order_id)


def deadline_kept(ctx: Context, v: DropoffVisit) -> Iterator[Violation]:
    """deadline: a drop-off starting after the order's deadline (carried orders excepted)."""
    order = v.order
    if order.deadline_s is not None and v.order_id not in ctx.carrier and v.start_s > order.deadline_s:
        yield Violation("deadline", f"order {v.order_id} is delivered {ctx.plan.at(v.start_s)}, after its deadline "
                                    f"{ctx.plan.at(order.deadline_s)}", v.rider.id, v.order_id)


def ride_within_limit(ctx: Context, v: DropoffVisit) -> Iterator[Violation]:
    """max_ride: an order longer on the bike, from its store's departure, than its limit."""
    if v.picked_depart_s is not None and v.order.max_ride_s is not None:
        ride = v.start_s - v.picked_depart_s
        if ride > v.order.max_ride_s:
            yield Violation("max_ride", f"order {v.order_id} rides {ride} s, limit {v.order.max_ride_s} s", v.rider.id, v.order_id)


def served_where_allowed(ctx: Context, v: DropoffVisit) -> Iterator[Violation]:
    """unknown_store, outside_service_area, carried_elsewhere: a new order outside its store's
    area, or a carried one dropped off by another rider than its carrier."""
    oid, order, rid = v.order_id, v.order, v.rider.id
    if oid not in ctx.carrier:
        if order.store_id not in ctx.areas:
            yield Violation("unknown_store", f"order {oid} names unknown store {order.store_id}", rid, oid)
        elif not ctx.areas[order.store_id].contains(order.dropoff):
            yield Violation("outside_service_area", f"order {oid} is outside store {order.store_id}'s area", rid, oid)
    elif ctx.carrier[oid] != rid:
        yield Violation("carried_elsewhere", f"order {oid} is on rider {ctx.carrier[oid]}'s bike", rid, oid)


def within_rider_zone(ctx: Context, v: DropoffVisit) -> Iterator[Violation]:
    """outside_zone: a rider limited to a zone delivers only inside it (what it carries excepted)."""
    zone = v.rider.zone
    if zone is not None and v.order_id not in ctx.carrier and not zone_contains(zone, [v.order.dropoff])[0]:
        yield Violation("outside_zone", f"order {v.order_id}'s door is outside rider {v.rider.id}'s zone", v.rider.id, v.order_id)


# --- a route, after its stops -------------------------------------------------------------


def all_delivered(ctx: Context, w: RouteWalk) -> Iterator[Violation]:
    """not_delivered: orders still on board when the route ends."""
    if w.left_on_board:
        yield Violation("not_delivered", f"orders {sorted(w.left_on_board)} are still on board at the end", w.rider.id)


def route_within_shift(ctx: Context, w: RouteWalk) -> Iterator[Violation]:
    """shift_end: under the "route" rule, a route with a pickup must end by the shift end."""
    r = w.rider
    if r.shift_end_rule == "route" and w.has_pickup and r.shift_end_s is not None and w.end_s > r.shift_end_s:
        yield Violation("shift_end", f"route ends {ctx.plan.at(w.end_s)}, after the shift end {ctx.plan.at(r.shift_end_s)}", r.id)


def route_totals(ctx: Context, w: RouteWalk) -> Iterator[Violation]:
    """travel_mismatch, distance_mismatch, duration_mismatch: a route's stated totals against the walk."""
    route, rid, legs = w.route, w.rider.id, max(1, len(w.route.stops))
    if abs(route.travel_s - w.travel_s) > TIME_TOLERANCE_S * legs:
        yield Violation("travel_mismatch", f"route travel_s {route.travel_s}, the rules give {w.travel_s}", rid)
    if abs(route.distance_m - w.distance_m) > DISTANCE_TOLERANCE_M * legs:
        yield Violation("distance_mismatch", f"route distance_m {route.distance_m:.1f}, the rules give {w.distance_m:.1f}", rid)
    duration = w.end_s - w.rider.available_at_s
    if abs(route.duration_s - duration) > TIME_TOLERANCE_S:
        yield Violation("duration_mismatch", f"route duration_s {route.duration_s}, the rules give {duration}", rid)


def _unknown(v: PickupVisit | DropoffVisit) -> bool:
    """Whether a visit names an unknown store or order (nothing of it was recomputed)."""
    return v.store is None if isinstance(v, PickupVisit) else v.order is None


def _start_s(v: PickupVisit | DropoffVisit) -> int:
    """When a recomputed stop starts: a pickup when its orders are ready, a drop-off on arrival or deliver_after."""
    return v.ready_s if isinstance(v, PickupVisit) else v.start_s


# A stated ETA range may come from other draws than ours: its quantiles may differ from the
# recomputed ones by this share of the recomputed p10-p90 range (5 Monte-Carlo standard errors
# at dispatch.eta.DRAWS), on top of the whole-second tolerance.
ETA_RANGE_TOLERANCE = 0.1


def eta_ranges_as_drawn(ctx: Context, w: RouteWalk) -> Iterator[Violation]:
    """eta_range_order, eta_range_mismatch: a stop's stated eta_p10 <= eta_p50 <= eta_p90, each
    close to the quantiles the route's ride and service distributions give (dispatch.eta)."""
    stated = [(i, s) for i, s in enumerate(w.route.stops) if s.eta_p50_s is not None or s.eta_p10_s is not None or s.eta_p90_s is not None]
    if not stated:
        return
    unc = ctx.problem.options.travel.uncertainty
    if unc is None or unc.is_certain:  # every quantile is the stop's start, as the walk has it
        ranges = [None if _unknown(v) else (_start_s(v),) * 3 for v in w.visits]
    else:
        ranges = route_eta_ranges(ctx.problem, w.rider, w.route.stops)
    for i, stop in stated:
        what = f"drop-off of {stop.order_id}" if stop.kind == "dropoff" else f"pickup at {stop.store_id}"
        given = (stop.eta_p10_s, stop.eta_p50_s, stop.eta_p90_s)
        if None in given or not given[0] <= given[1] <= given[2]:
            yield Violation("eta_range_order", f"{what}: eta_p10 <= eta_p50 <= eta_p90 must hold (all three given)",
                            w.rider.id, stop.order_id)
            continue
        if ranges is None or ranges[i] is None:
            continue  # an unknown store or order: reported by its own rule
        p10, p50, p90 = (int(x) for x in ranges[i])
        slack = TIME_TOLERANCE_S + ETA_RANGE_TOLERANCE * (p90 - p10)
        if any(abs(g - r) > slack for g, r in zip(given, (p10, p50, p90))):
            at = ctx.plan.at
            yield Violation("eta_range_mismatch", f"{what}: plan says {at(given[0])} / {at(given[1])} / {at(given[2])}, "
                                                  f"the route's distributions give {at(p10)} / {at(p50)} / {at(p90)}",
                            w.rider.id, stop.order_id)


# --- the whole plan -----------------------------------------------------------------------


def _assigned(ctx: Context) -> int:
    """Orders of the problem not in the unassigned list."""
    return len(ctx.orders) - len({u.order_id for u in ctx.plan.unassigned if u.order_id in ctx.orders})


def each_order_once(ctx: Context, walks: list[RouteWalk]) -> Iterator[Violation]:
    """missing_order, duplicate_order: every order is dropped off, sent out or unassigned exactly once."""
    seen: Counter[str] = Counter(u.order_id for u in ctx.plan.unassigned)
    seen.update(v.order_id for w in walks for v in w.visits if isinstance(v, DropoffVisit))
    seen.update(t.order_id for t in ctx.plan.third_party)
    for oid in ctx.orders:
        if seen[oid] == 0:
            yield Violation("missing_order", f"order {oid} is in no route, not sent out and not unassigned", order_id=oid)
        elif seen[oid] > 1:
            yield Violation("duplicate_order", f"order {oid} appears {seen[oid]} times", order_id=oid)


def carriers_have_routes(ctx: Context, walks: list[RouteWalk]) -> Iterator[Violation]:
    """carried_not_delivered: a rider carrying orders needs a route."""
    routed = {route.rider_id for route in ctx.plan.routes}
    for rid, rider in ctx.riders.items():
        if rid not in routed and rider.carrying:
            yield Violation("carried_not_delivered", f"rider {rid} carries orders but has no route", rider_id=rid)


def metrics_add_up(ctx: Context, walks: list[RouteWalk]) -> Iterator[Violation]:
    """metrics_mismatch: the plan's metrics against its routes and unassigned orders."""
    m = ctx.plan.metrics
    lateness = [v.late_s for w in walks for v in w.visits if isinstance(v, DropoffVisit) and v.order is not None]
    trips = list(ctx.third_party_trips.values())
    lateness += [trip.late_s for trip in trips]
    expected = {
        "orders": len(ctx.orders),
        "assigned": _assigned(ctx),
        "on_time": sum(late_s == 0 for late_s in lateness),
        "late": sum(late_s > 0 for late_s in lateness),
    }
    for name, value in expected.items():
        if getattr(m, name) != value:
            yield Violation("metrics_mismatch", f"metrics.{name} is {getattr(m, name)}, the plan holds {value}")
    travel = sum(w.travel_s for w in walks)
    distance = sum(w.distance_m for w in walks)
    if abs(m.total_travel_s - travel) > TIME_TOLERANCE_S * max(1, len(ctx.plan.routes)):
        yield Violation("metrics_mismatch", f"metrics.total_travel_s is {m.total_travel_s}, the routes give {travel}")
    if abs(m.total_distance_m - distance) > DISTANCE_TOLERANCE_M * max(1, len(ctx.plan.routes)):
        yield Violation("metrics_mismatch", f"metrics.total_distance_m is {m.total_distance_m:.1f}, the routes give {distance:.1f}")
    if m.third_party != len(ctx.plan.third_party):
        yield Violation("metrics_mismatch", f"metrics.third_party is {m.third_party}, the plan sends out {len(ctx.plan.third_party)}")
    fees = sum(trip.fee for trip in trips)
    if abs(m.third_party_fees - fees) > FEE_TOLERANCE * max(1, len(trips)):
        yield Violation("metrics_mismatch", f"metrics.third_party_fees is {m.third_party_fees:.2f}, the stores' terms give {fees:.2f}")


@dataclass(frozen=True, slots=True)
class ThirdPartyTrip:
    """A third-party order as the rules time it (see dispatch.third_party, recomputed here)."""

    order: Order
    store: Store
    pickup_s: int
    depart_s: int
    start_s: int  # the drop-off's start
    late_s: int
    distance_m: float
    fee: float
    courier: str  # its courier's key: the plan's `courier`, or the order's own when it has none
    position: int  # 0 for the courier's first drop-off


def _couriers(plan: Plan) -> dict[str, list[ThirdPartyOrder]]:
    """The plan's third-party orders by courier, each in listed (drop-off) order."""
    out: dict[str, list[ThirdPartyOrder]] = {}
    for t in plan.third_party:
        out.setdefault(t.courier_key(), []).append(t)
    return out


def _third_party_trips(ctx: Context) -> dict[str, ThirdPartyTrip]:
    """The rules' timing and fee of each third-party order whose order, store and third party
    are known, by order id. A courier's store is its first order's; it collects every order it
    carries in one pickup, then rides door to door in the listed order."""
    out: dict[str, ThirdPartyTrip] = {}
    if ctx.meter is None:
        return out
    for key, listed in ctx.couriers.items():
        store = ctx.stores.get(listed[0].store_id)
        orders = [ctx.orders[t.order_id] for t in listed if t.order_id in ctx.orders]
        if store is None or store.third_party is None or not orders:
            continue
        tp = store.third_party
        pickup = max([tp.arrival_s] + [o.ready_at_s for o in orders])
        depart = pickup + store.pickup_service_s
        at, leave = store.location, depart
        for position, order in enumerate(orders):
            arrive = leave + ctx.meter.travel_s(at, order.dropoff, tp.speed_mps, leave)
            start = arrive if order.deliver_after_s is None else max(arrive, order.deliver_after_s)
            metres = ctx.meter.distance_m(store.location, order.dropoff)
            base = tp.fee_per_order if position == 0 or tp.fee_per_added_order is None else tp.fee_per_added_order
            fee = round(base + tp.fee_per_extra_km * max(0.0, metres / 1000.0 - tp.included_km), 2)
            out[order.id] = ThirdPartyTrip(order, store, pickup, depart, start, max(0, start - order.promised_at_s),
                                           metres, fee, key, position)
            at, leave = order.dropoff, start + order.dropoff_service_s
    return out


def third_party_couriers(ctx: Context, walks: list[RouteWalk]) -> Iterator[Violation]:
    """courier_overloaded, courier_mixed_stores, courier_split: a platform courier carries at
    most its store's `orders_per_courier` orders, all of that one store, listed together."""
    keys = [t.courier_key() for t in ctx.plan.third_party]
    for key in dict.fromkeys(keys):
        at = [i for i, k in enumerate(keys) if k == key]
        if at[-1] - at[0] + 1 != len(at):
            yield Violation("courier_split", f"courier {key} has its orders apart in third_party: one courier's are listed together, "
                                             "in drop-off order", order_id=ctx.plan.third_party[at[0]].order_id)
    for key, listed in ctx.couriers.items():
        store = ctx.stores.get(listed[0].store_id)
        name = listed[0].courier or listed[0].order_id
        if any(t.store_id != listed[0].store_id for t in listed):
            stores = sorted({t.store_id for t in listed})
            yield Violation("courier_mixed_stores", f"courier {name} carries orders of stores {', '.join(stores)}: one store per courier",
                            order_id=listed[0].order_id)
        if store is not None and store.third_party is not None and len(listed) > store.third_party.orders_per_courier:
            yield Violation("courier_overloaded", f"courier {name} carries {len(listed)} orders, store {store.id}'s third party "
                                                  f"takes {store.third_party.orders_per_courier} per courier", order_id=listed[0].order_id)


def third_party_orders(ctx: Context, walks: list[RouteWalk]) -> Iterator[Violation]:
    """Orders sent to a store's third party, by the drop-off's rules (eta_mismatch, late_mismatch,
    late, deadline, max_ride, outside_service_area, wrong_store, distance_mismatch,
    carried_elsewhere, commitment_broken, and the ETA range's) and their own: no_third_party,
    fee_mismatch."""
    plan = ctx.plan
    trips = ctx.third_party_trips
    ranges = _courier_ranges(ctx, trips)
    courier_store = {key: listed[0].store_id for key, listed in ctx.couriers.items()}
    for t in plan.third_party:
        oid = t.order_id
        trip = trips.get(oid)
        if oid not in ctx.orders:
            yield Violation("unknown_order", f"third-party order {oid} is not in the problem", order_id=oid)
            continue
        if trip is None:
            yield Violation("no_third_party", f"order {oid} is sent to a courier of store {courier_store[t.courier_key()]}, "
                                              "which has no third party", order_id=oid)
            continue
        order, store = trip.order, trip.store
        if order.store_id != t.store_id:
            yield Violation("wrong_store", f"order {oid} is packed at {order.store_id}, not {t.store_id}", order_id=oid)
        if oid in ctx.carrier:
            yield Violation("carried_elsewhere", f"order {oid} is on rider {ctx.carrier[oid]}'s bike, not a third party's", order_id=oid)
        if order.committed:
            yield Violation("commitment_broken", f"order {oid} is committed to rider {order.assigned_rider_id}, not a third party", order_id=oid)
        if not ctx.areas[store.id].contains(order.dropoff):
            yield Violation("outside_service_area", f"order {oid} is outside store {store.id}'s area", order_id=oid)
        if abs(t.pickup_s - trip.pickup_s) > TIME_TOLERANCE_S or abs(t.dropoff_s - trip.start_s) > TIME_TOLERANCE_S:
            yield Violation("eta_mismatch", f"third-party order {oid}: plan says pickup {plan.at(t.pickup_s)} drop-off "
                                            f"{plan.at(t.dropoff_s)}, the rules give {plan.at(trip.pickup_s)} and {plan.at(trip.start_s)}", order_id=oid)
        if t.late_s != trip.late_s:
            yield Violation("late_mismatch", f"third-party order {oid}: plan says late_s {t.late_s}, the rules give {trip.late_s}", order_id=oid)
        if trip.late_s > 0 and ctx.hard:
            yield Violation("late", f"third-party order {oid} arrives {trip.late_s} s after its promise (hard promises)", order_id=oid)
        if order.deadline_s is not None and trip.start_s > order.deadline_s:
            yield Violation("deadline", f"third-party order {oid} is delivered {plan.at(trip.start_s)}, after its deadline", order_id=oid)
        if order.max_ride_s is not None and trip.start_s - trip.depart_s > order.max_ride_s:
            yield Violation("max_ride", f"third-party order {oid} rides {trip.start_s - trip.depart_s} s, limit {order.max_ride_s} s", order_id=oid)
        if abs(t.distance_m - trip.distance_m) > DISTANCE_TOLERANCE_M:
            yield Violation("distance_mismatch", f"third-party order {oid}: distance_m {t.distance_m:.1f}, the rules give {trip.distance_m:.1f}", order_id=oid)
        if abs(t.fee - trip.fee) > FEE_TOLERANCE:
            yield Violation("fee_mismatch", f"third-party order {oid}: fee {t.fee:.2f}, the store's terms give {trip.fee:.2f} "
                                            f"(drop-off {trip.position + 1} of its courier)", order_id=oid)
        yield from _third_party_range(ctx, t, trip, ranges.get(oid))


def _courier_ranges(ctx: Context, trips: dict[str, ThirdPartyTrip]) -> dict[str, tuple[int, int, int]]:
    """Each timed third-party order's ETA range from its courier's ride distributions (under
    uncertainty; empty without it)."""
    unc = ctx.problem.options.travel.uncertainty
    if unc is None or unc.is_certain:
        return {}
    by_courier: dict[str, list[ThirdPartyTrip]] = {}
    for trip in trips.values():
        by_courier.setdefault(trip.courier, []).append(trip)
    out: dict[str, tuple[int, int, int]] = {}
    for key, ridden in by_courier.items():
        ridden.sort(key=lambda trip: trip.position)
        named = None if key.startswith("\0") else key  # unnamed: the solver's default name
        found = courier_quantiles_s(ctx.problem, ridden[0].store.id, [trip.order.id for trip in ridden],
                                    ridden[0].pickup_s, courier=named)
        if found is not None:
            out.update({trip.order.id: tuple(int(x) for x in row) for trip, row in zip(ridden, found)})
    return out


def _third_party_range(ctx: Context, t: ThirdPartyOrder, trip: ThirdPartyTrip,
                       drawn: tuple[int, int, int] | None) -> Iterator[Violation]:
    """A third-party drop-off's ETA range, if the plan states one: ordered, and close to the one
    its courier's ride distributions give (eta_range_order, eta_range_mismatch)."""
    given = (t.eta_p10_s, t.eta_p50_s, t.eta_p90_s)
    if given == (None, None, None):
        return
    what = f"third-party drop-off of {t.order_id}"
    if None in given or not given[0] <= given[1] <= given[2]:
        yield Violation("eta_range_order", f"{what}: eta_p10 <= eta_p50 <= eta_p90 must hold (all three given)", order_id=t.order_id)
        return
    p10, p50, p90 = (trip.start_s,) * 3 if drawn is None else drawn
    slack = TIME_TOLERANCE_S + ETA_RANGE_TOLERANCE * (p90 - p10)
    if any(abs(g - r) > slack for g, r in zip(given, (p10, p50, p90))):
        at = ctx.plan.at
        yield Violation("eta_range_mismatch", f"{what}: plan says {at(given[0])} / {at(given[1])} / {at(given[2])}, "
                                              f"its ride's distribution gives {at(p10)} / {at(p50)} / {at(p90)}", order_id=t.order_id)


def status_matches(ctx: Context, walks: list[RouteWalk]) -> Iterator[Violation]:
    """status_mismatch: feasible when every order is assigned, infeasible when none, else partial."""
    assigned, total = _assigned(ctx), len(ctx.orders)
    status = "feasible" if assigned == total else ("infeasible" if assigned == 0 and ctx.orders else "partial")
    if ctx.plan.status != status:
        yield Violation("status_mismatch", f"status is {ctx.plan.status!r}, the plan is {status!r}")


# The rules by scope, in the order their violations are listed.
UNASSIGNED_RULES: tuple[Callable[[Context, UnassignedOrder], Iterator[Violation]], ...] = (
    unassigned_is_known, reason_is_stated, carried_is_not_unassigned,
)
ROUTE_RULES: tuple[Callable[[Context, Rider, PlannedRoute], Iterator[Violation]], ...] = (commitments_kept, heading_to_first)
PICKUP_RULES: tuple[Callable[[Context, PickupVisit], Iterator[Violation]], ...] = (
    pickup_at_store, pickup_collects, picked_orders_known, picked_at_own_store, picked_not_carried, picked_once,
    pickup_within_shift, stated_times, within_capacity, within_max_orders,
)
DROPOFF_RULES: tuple[Callable[[Context, DropoffVisit], Iterator[Violation]], ...] = (
    dropoff_at_address, stated_times, dropped_after_pickup, lateness_as_stated, promise_kept, deadline_kept,
    ride_within_limit, served_where_allowed, within_rider_zone,
)
ROUTE_END_RULES: tuple[Callable[[Context, RouteWalk], Iterator[Violation]], ...] = (
    all_delivered, route_within_shift, route_totals, eta_ranges_as_drawn,
)
PLAN_RULES: tuple[Callable[[Context, list[RouteWalk]], Iterator[Violation]], ...] = (
    each_order_once, carriers_have_routes, metrics_add_up, third_party_couriers, third_party_orders, status_matches,
)


def _stop_violations(ctx: Context, visit: PickupVisit | DropoffVisit) -> Iterator[Violation]:
    """The rules of one stop; a stop at an unknown store or of an unknown order is that alone."""
    rid = visit.rider.id
    if isinstance(visit, PickupVisit):
        if visit.store is None:
            yield Violation("unknown_store", f"pickup at unknown store {visit.stop.store_id}", rider_id=rid)
            return
        for rule in PICKUP_RULES:
            yield from rule(ctx, visit)
    else:
        if visit.order is None:
            yield Violation("unknown_order", f"drop-off of unknown order {visit.order_id}", rider_id=rid, order_id=visit.order_id)
            return
        for rule in DROPOFF_RULES:
            yield from rule(ctx, visit)


def validate_plan(problem: Problem, plan: Plan | dict) -> list[Violation]:
    """Every rule the plan breaks for this problem (an empty list means the plan is valid)."""
    if isinstance(plan, dict):
        plan = plan_from_document(plan, problem.plan_time)
    meter = LegMeter(problem.options.travel)
    ctx = Context(problem, plan, problem.order_index, problem.rider_index, problem.store_index, problem.carrier_of,
                  {s.id: store_area(s) for s in problem.stores}, problem.options.lateness == "hard", meter,
                  _couriers(plan))
    ctx = replace(ctx, third_party_trips=_third_party_trips(ctx))
    out: list[Violation] = []
    for u in plan.unassigned:
        for unassigned_rule in UNASSIGNED_RULES:
            out.extend(unassigned_rule(ctx, u))
    walks: list[RouteWalk] = []
    routed: Counter[str] = Counter()
    for route in plan.routes:
        rid = route.rider_id
        routed[rid] += 1
        rider = ctx.riders.get(rid)
        if rider is None:
            out.append(Violation("unknown_rider", f"route for unknown rider {rid}", rider_id=rid))
            continue
        if routed[rid] > 1:
            out.append(Violation("duplicate_rider", f"rider {rid} has more than one route", rider_id=rid))
        for route_rule in ROUTE_RULES:
            out.extend(route_rule(ctx, rider, route))
        walk = _walk_route(ctx, meter, rider, route)
        for visit in walk.visits:
            out.extend(_stop_violations(ctx, visit))
        for end_rule in ROUTE_END_RULES:
            out.extend(end_rule(ctx, walk))
        walks.append(walk)
    for plan_rule in PLAN_RULES:
        out.extend(plan_rule(ctx, walks))
    return out


# Reasons for orders refused before solving: outside the objective, which prices routed orders.
_REFUSED_BEFORE_SOLVING = frozenset({"outside_service_area", "unknown_store"})


@dataclass(frozen=True, slots=True)
class ObjectiveTerms:
    """A plan's objective, term by term, in cost units (see `Options` for the weights)."""

    travel: int
    click_to_door: int
    late: int
    late_fixed: int
    late_steep: int
    reassign: int
    unassigned: int
    third_party: int = 0  # the fees of orders sent out, in rider-seconds (their time terms are above)

    @property
    def total(self) -> int:
        """The sum of the terms: what the solver minimises."""
        return (
            self.travel + self.click_to_door + self.late + self.late_fixed + self.late_steep + self.reassign
            + self.unassigned + self.third_party
        )

    def as_dict(self) -> dict[str, int]:
        """The terms and their total by name."""
        return {
            "travel": self.travel, "click_to_door": self.click_to_door, "late": self.late,
            "late_fixed": self.late_fixed, "late_steep": self.late_steep, "reassign": self.reassign, "unassigned": self.unassigned,
            "third_party": self.third_party, "total": self.total,
        }


def objective_terms(problem: Problem, plan: Plan | dict) -> ObjectiveTerms:
    """The objective of a plan term by term, from its stated times (meaningful once
    `validate_plan` accepts them): travel, the customers' clock (created_at to the drop-off),
    lateness past the promise (per second and once per order), lateness past the steep
    threshold, moves, orders left out."""
    if isinstance(plan, dict):
        plan = plan_from_document(plan, problem.plan_time)
    opts = problem.options
    orders = problem.order_index
    travel = clock = late = broken = steep = moved = 0
    for route in plan.routes:
        travel += route.travel_s
        for stop in route.stops:
            order = orders.get(stop.order_id or "") if stop.kind == "dropoff" else None
            if order is None:
                continue
            service = order.dropoff_service_s
            start = stop.depart_s - service
            late_s = max(0, start - order.promised_at_s)
            clock += (start - order.created_at_s) * order.priority
            late += late_s * order.priority
            broken += (late_s > 0) * order.priority
            steep += max(0, late_s - opts.late_steep_after_s) * order.priority
            moved += order.assigned_rider_id is not None and order.assigned_rider_id != route.rider_id
    for t in plan.third_party:  # an order sent out: its clock and lateness at the platform's drop-off
        order = orders.get(t.order_id)
        if order is None:
            continue
        late_s = max(0, t.dropoff_s - order.promised_at_s)
        clock += (t.dropoff_s - order.created_at_s) * order.priority
        late += late_s * order.priority
        broken += (late_s > 0) * order.priority
        steep += max(0, late_s - opts.late_steep_after_s) * order.priority
    left = sum(
        orders[u.order_id].priority for u in plan.unassigned if u.order_id in orders and u.reason not in _REFUSED_BEFORE_SOLVING
    )
    per_hour, weight = opts.rider_cost_per_hour, max(1, opts.travel_cost_per_s)
    # Each fee in rider-seconds, rounded per order as the solver prices it.
    sent_out = sum(int(round(t.fee * 3600.0 / per_hour * weight)) for t in plan.third_party) if per_hour else 0
    return ObjectiveTerms(
        travel=travel * opts.travel_cost_per_s,
        click_to_door=clock * opts.click_to_door_cost_per_s,
        late=late * opts.late_cost_per_s,
        late_fixed=broken * opts.late_fixed_cost,
        late_steep=steep * opts.late_steep_cost_per_s,
        reassign=moved * opts.reassign_cost,
        unassigned=left * opts.unassigned_cost,
        third_party=sent_out,
    )
