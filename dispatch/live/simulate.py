"""A store's day, simulated: orders appear at their `created_at`, riders ride their plans.

The dispatcher sees only what has happened: an order exists from its `created_at`, a rider is
where its plan has taken it. Riders move along their stops at their speeds (the travel model
of the scenario, leg by leg), pick up no earlier than `ready_at`, spend the service times,
and ride back to their store when they have nothing left to do. Three policies:

- `rolling` (ours): re-plans every `interval_s` when something changed, with commitments
  (the stop a rider is riding to stays first; an order a rider carries stays with it; a
  stop that starts within `commit_lead_s` stays with its rider, with everything before it),
  a reassignment cost so that an uncommitted order changes rider only when it pays, and
  postponement: a rider waiting at the store leaves later while every promise on its route
  keeps `hold_margin_s` of slack, so that orders placed meanwhile can join its wave.
- `greedy`: each order, once ready, goes to the nearest free rider, who leaves with it at once
  (one order per trip): what a store does by hand.
- `batch`: every `interval_s`, the orders that arrived since the last wave are solved once;
  what was assigned stays assigned.

Riders ride through the scenario's speed profile (each leg at its departure). With `noise`, each
ride and each service really lasts a lognormal draw around the planned seconds (mean the planned
seconds, the CVs of `options.travel.uncertainty`, else `DEFAULT_NOISE`), seeded by `noise_seed`
and keyed by rider and stop, so the same day gives the same luck whatever the re-plans do; the
dispatcher sees what has happened (where riders really are, when stops really started) and plans
the rest at the planned durations. Noise off, and no profile: riders ride the plans' times exactly.
"""

from __future__ import annotations

import math
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field, replace

import numpy as np

from dispatch.documents import problem_from_document
from dispatch.eta import lognormal_factors
from dispatch.live.quote import quote_order
from dispatch.live.quote_calibration import QuoteCalibration, QuoteOutcome
from dispatch.model import DEFAULT_REASSIGN_COST, Location, Options, Order, Problem, Rider, Store, Uncertainty
from dispatch.plan import Plan
from dispatch.solver import solve
from dispatch.travel import LegMeter

POLICIES = ("rolling", "greedy", "batch")
DEFAULT_INTERVAL_S = {"rolling": 60, "greedy": 15, "batch": 600}
REFRESH_S = 300  # rolling: re-plan at least this often while orders are waiting
# The noise of a scenario without `options.travel.uncertainty`: CVs of the order of what delivery
# platforms report for urban rides and door times (a 20-minute ride off by 5 minutes either way).
DEFAULT_NOISE = {"ride_cv": 0.25, "service_cv": 0.2}


@dataclass(slots=True)
class SimStop:
    """A stop a rider will make (or is making), with its times in seconds from the day epoch."""

    kind: str  # "pickup", "dropoff" or "return" (back to the store, nothing to do there)
    location: Location
    arrive_s: int
    start_s: int
    depart_s: int
    order_ids: tuple[str, ...] = ()
    store_id: str | None = None
    leg_s: int | None = None  # the ride into it as really ridden (None: the plan's, the travel model's)


@dataclass(slots=True)
class RiderState:
    """A rider during the day: where it last was, what it carries, the stops ahead of it."""

    rider: Rider
    home: Store | None  # where it rides back to between waves; None: a shared courier stays put
    position: Location
    at_s: int  # when it left `position` (or will be free there)
    stops: list[SimStop] = field(default_factory=list)
    carrying: set[str] = field(default_factory=set)
    travel_m: float = 0.0
    done: list[SimStop] = field(default_factory=list)  # the stops it made, in order
    idle_at: Location | None = None  # where it was last left idle with nowhere to ride to


@dataclass(slots=True)
class OrderState:
    """An order during the day."""

    order: Order
    rider_id: str | None = None  # the rider it is planned on now
    picked_s: int | None = None
    delivered_s: int | None = None  # when the drop-off started
    reason: str | None = None  # why it is still waiting, from the last plan
    third_party: bool = False  # handed to the store's third-party couriers (times are theirs)
    # ETA ranges (seconds from the day's epoch): (planned at, p10, p50, p90) of the first plan
    # that gave it a rider, and of the last one before its pickup was committed.
    eta_first: tuple[int, int, int, int] | None = None
    eta_last: tuple[int, int, int, int] | None = None
    quoted_s: int | None = None  # the promise quoted when it was placed (`quote_confidence`)
    # Re-plans aim this much before its promise (a quoted promise's p90 - p50: the margin for luck).
    margin_s: int = 0
    # Its own riders' quote, for the calibration: (quoted at, p50, p90, promise), seconds from the day's epoch.
    quote_record: tuple[int, int, int, int] | None = None


@dataclass
class SimResult:
    """Everything a day produced: per-order outcomes, KPIs, a timeline, the re-plan times."""

    policy: str
    metrics: dict
    timeline: list[dict]
    orders: list[dict]
    replan_ms: list[float]


@dataclass(frozen=True)
class SimOptions:
    """How the dispatcher works during the simulated day."""

    policy: str = "rolling"
    interval_s: int | None = None  # None: the policy's default
    budget_s: float = 0.2  # time limit of each solve
    max_iterations: int | None = None  # a work limit per solve instead of the clock (reproducible)
    commit_lead_s: int = 120
    reassign_cost: int = DEFAULT_REASSIGN_COST  # rider-seconds charged for moving an uncommitted order
    # Rolling: a rider waiting at the store leaves later while every promise on its route keeps
    # this much slack, so orders placed meanwhile join its wave (None: leave as planned).
    hold_margin_s: int | None = 600
    riders: int | None = None  # use only the first n riders of each store (fleet sweep)
    seed: int = 0
    # Re-plans start from the stops each rider follows now (Problem.initial_routes): on three
    # generated days with 7-9 riders, 34-80% fewer reassignments and mostly fewer km (-0.6 to
    # -5.8%, once +3.4%), but up to 4 points fewer orders on time when riders are short
    # (docs/SOLVER_NOTES.md).
    warm_start: bool = True
    # Re-plans count the ride back to the store (closed routes). Riders do ride back between
    # waves, so this plans fewer kilometres; open routes keep more promises with a small fleet.
    return_to_store: bool = False
    # A rider sent to a pickup it would wait at stays where it is until it must leave, so that
    # it is not committed to that pickup before it moves.
    just_in_time: bool = False
    # An idle courier of a shared fleet rides to the nearest store to wait for work there.
    reposition: bool = False
    # The re-plans' objective weights (see `Options`).
    travel_cost_per_s: int = 1
    click_to_door_cost_per_s: int = 0
    late_cost_per_s: int = 100
    late_steep_after_s: int = 0
    late_steep_cost_per_s: int = 0
    late_fixed_cost: int = 0
    # Re-plans may send orders to a store's third-party couriers (where the scenario declares one).
    third_party: bool = True
    # Riders keep to their zones (where the scenario gives them); False: free dispatch, to see
    # what zoning costs.
    zones: bool = True
    # Rides and services really last lognormal draws around the planned seconds (module docstring).
    noise: bool = False
    noise_seed: int = 0
    # Quote every order when it is placed at this confidence (dispatch.live.quote); with
    # `promise_from_quote` the quote is its promise, else the scenario's promise stays.
    quote_confidence: float | None = None
    promise_from_quote: bool = False
    # With promises from quotes, re-plans aim each order at its quote's median and keep the rest of
    # the promise (p90 - p50 at 0.9) for the luck of the rides: planning to the promise itself
    # spends that margin on batching and leaves a drop-off planned at its promise a coin flip.
    plan_to_quoted_median: bool = True
    quote_max_promise_s: int = 4 * 3600  # quotes longer than this are refused (the scenario's promise stays)
    # Quotes calibrated on the day's own record (dispatch.live.quote_calibration): this calibration's
    # window, minimum and step, filled with each quoted order's outcome once its delivery is known.
    quote_calibration: QuoteCalibration | None = None


def is_shared_fleet(scenario: dict) -> bool:
    """Whether the scenario's riders belong to no store (a city's couriers shared by all)."""
    riders = scenario.get("riders") or []
    return bool(riders) and all(not r.get("store_id") for r in riders)


# The rolling dispatcher's defaults per kind of operation, measured (docs/SOLVER_NOTES.md, "Real
# days"): a store with its own riders, and a city of restaurants whose couriers all share.
STORE_DEFAULTS: dict = {"click_to_door_cost_per_s": 1, "hold_margin_s": None}
SHARED_FLEET_DEFAULTS: dict = {
    "click_to_door_cost_per_s": 10, "travel_cost_per_s": 1, "late_cost_per_s": 3, "late_fixed_cost": 1500,
    "reassign_cost": DEFAULT_REASSIGN_COST, "hold_margin_s": None, "just_in_time": True,
}


def live_options(scenario: dict | None, policy: str = "rolling", shared_fleet: bool | None = None) -> SimOptions:
    """The dispatcher's defaults for a scenario: a store with its own riders, or a city of
    restaurants with shared couriers (`shared_fleet`, else read from the scenario). Greedy and
    batch are baselines as stores run them (nearest free rider; waves for the fewest
    rider-minutes) and keep the plain defaults."""
    if policy != "rolling":
        return SimOptions(policy=policy)
    shared = is_shared_fleet(scenario or {}) if shared_fleet is None else shared_fleet
    return SimOptions(policy=policy, **(SHARED_FLEET_DEFAULTS if shared else STORE_DEFAULTS))


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    return float(np.percentile(np.array(values, dtype=float), q))


class DaySimulator:
    """Runs one policy over one scenario; `run()` returns the SimResult."""

    def __init__(self, scenario: dict, options: SimOptions):
        if options.policy not in POLICIES:
            raise ValueError(f"policy must be one of {', '.join(POLICIES)}, not {options.policy!r}")
        self.options = options
        self.problem = problem_from_document(scenario)
        p = self.problem
        self.meter = LegMeter(p.options.travel)
        self.world = self._world_uncertainty(p, options) if options.noise else None
        # What the dispatcher knows of travel: the scenario's, and the world's noise when the
        # scenario does not say how rides vary (its quotes' ranges and confidences need it).
        known = p.options.travel
        if known.uncertainty is None and self.world is not None:
            known = replace(known, uncertainty=self.world)
        self._known_travel = known
        # The world differs from the plans' clock: stops are timed by riding them.
        self.realistic = self.world is not None or p.options.travel.speed_profile is not None
        self._luck: dict[tuple[str, str, str], float] = {}
        self._quoted: set[str] = set()
        self._quote_outcomes: list[QuoteOutcome] = []  # as deliveries became known, oldest first
        self.interval_s = options.interval_s or DEFAULT_INTERVAL_S[options.policy]
        stores = {s.id: s for s in p.stores}
        chosen: list[Rider] = []
        per_store: dict[str | None, int] = {}
        for r in p.riders:
            per_store[r.store_id] = per_store.get(r.store_id, 0) + 1
            if options.riders is None or per_store[r.store_id] <= options.riders:
                chosen.append(r if options.zones else replace(r, zone=None))
        self.riders = {
            r.id: RiderState(r, stores.get(r.store_id) if r.store_id else None, r.location, r.available_at_s)
            for r in chosen
        }
        self.orders = {o.id: OrderState(o) for o in p.orders}
        self.revealed: set[str] = set()
        self.timeline: list[dict] = []
        self.replan_ms: list[float] = []
        self.reassignments = 0
        self.last_plan_at = -math.inf
        self.pending_wave: set[str] = set()
        self.changed = False
        self.fees = 0.0
        self.couriers = 0  # third-party couriers hired (one courier may carry several orders)
        # Without the third party, re-plans see the stores without it.
        self.stores = p.stores if options.third_party else tuple(replace(s, third_party=None) for s in p.stores)

    # ----- the world -----------------------------------------------------------------

    @staticmethod
    def _world_uncertainty(p: Problem, options: SimOptions) -> Uncertainty | None:
        """The noise of the world: the scenario's uncertainty, else DEFAULT_NOISE (None: none)."""
        given = p.options.travel.uncertainty
        if given is None:
            given = Uncertainty((DEFAULT_NOISE["ride_cv"],), DEFAULT_NOISE["service_cv"], 86_400, 0)
        return None if given.is_certain else given

    def _travel(self, rider: Rider, a: Location, b: Location, depart_s: int | None = None) -> int:
        """The travel model's seconds of a leg (through the speed profile, leaving at `depart_s`)."""
        return self.meter.travel_s(a, b, rider.speed_mps, depart_s)

    def _z(self, rider_id: str, what: str, key: str) -> float:
        """A standard normal for one ride or service, fixed by the seed, the rider and the stop."""
        k = (rider_id, what, key)
        if k not in self._luck:
            words = [self.options.noise_seed, zlib.crc32(rider_id.encode()), zlib.crc32(f"{what}:{key}".encode())]
            self._luck[k] = float(np.random.default_rng(words).standard_normal())
        return self._luck[k]

    def _ride_s(self, rider: Rider, a: Location, b: Location, depart_s: int, key: str) -> int:
        """The seconds a ride really takes: the travel model's, times the rider's luck on it."""
        planned = self._travel(rider, a, b, depart_s)
        if self.world is None:
            return planned
        cv = float(self.world.ride_cv_at(depart_s))
        return int(round(planned * float(lognormal_factors(cv, self._z(rider.id, "ride", key)))))

    def _planned_service_s(self, stop: SimStop) -> int:
        """A stop's planned service seconds (a return has none)."""
        if stop.kind == "pickup":
            return self.problem.store(stop.store_id).pickup_service_s
        if stop.kind == "dropoff":
            return self.orders[stop.order_ids[0]].order.dropoff_service_s
        return 0

    def _service_s(self, rider: Rider, stop: SimStop) -> int:
        """The seconds a stop's service really takes."""
        planned = self._planned_service_s(stop)
        if self.world is None or planned == 0:
            return planned
        factor = float(lognormal_factors(self.world.service_cv, self._z(rider.id, "service", _key(stop))))
        return int(round(planned * factor))

    def _not_before(self, stop: SimStop) -> int:
        """When a stop may start at the earliest: a pickup when its orders are ready, a scheduled drop-off at its time."""
        if stop.kind == "pickup":
            return max(self.orders[oid].order.ready_at_s for oid in stop.order_ids)
        after = self.orders[stop.order_ids[0]].order.deliver_after_s if stop.kind == "dropoff" else None
        return -(2**62) if after is None else after

    def _realize(self, rs: RiderState, stops: list[SimStop], at: Location, clock: int) -> None:
        """Time stops as the world rides them from `at` at `clock`: legs through the profile
        at their departure, with the rider's luck when there is noise; waits as the rules."""
        for stop in stops:
            leg = self._ride_s(rs.rider, at, stop.location, clock, _key(stop))
            stop.leg_s, stop.arrive_s = leg, clock + leg
            stop.start_s = max(stop.arrive_s, self._not_before(stop))
            stop.depart_s = stop.start_s + self._service_s(rs.rider, stop)
            at, clock = stop.location, stop.depart_s

    def _advance(self, t: int) -> None:
        """Carry out every stop that is finished by `t`; send idle riders back to their store."""
        for rs in self.riders.values():
            while rs.stops and rs.stops[0].depart_s <= t:
                stop = rs.stops.pop(0)
                rs.done.append(stop)
                rs.idle_at = None
                rs.travel_m += self.meter.distance_m(rs.position, stop.location)
                rs.position, rs.at_s = stop.location, stop.depart_s
                if stop.kind == "pickup":
                    for oid in stop.order_ids:
                        self.orders[oid].picked_s = stop.start_s
                        rs.carrying.add(oid)
                elif stop.kind == "dropoff":
                    oid = stop.order_ids[0]
                    self.orders[oid].delivered_s = stop.start_s
                    self._record_quote_outcome(self.orders[oid])
                    rs.carrying.discard(oid)
                    self.changed = True
            on_shift = rs.rider.shift_end_s is None or rs.at_s < rs.rider.shift_end_s
            if rs.stops or not on_shift or rs.idle_at == rs.position:
                continue
            target = rs.home if rs.home is not None else self._reposition_target(rs)
            if target is not None and rs.position != target.location:
                leg = (
                    self._ride_s(rs.rider, rs.position, target.location, rs.at_s, f"return:{len(rs.done)}")
                    if self.realistic else self._travel(rs.rider, rs.position, target.location)
                )
                back = rs.at_s + leg
                rs.stops.append(SimStop("return", target.location, back, back, back, store_id=target.id,
                                        leg_s=leg if self.realistic else None))
            else:
                rs.idle_at = rs.position

    def _reposition_target(self, rs: RiderState) -> Store | None:
        """Where an idle shared courier waits for work: the nearest store, when repositioning."""
        if not self.options.reposition:
            return None
        return min(self.problem.stores, key=lambda s: self._travel(rs.rider, rs.position, s.location, rs.at_s))

    def _committed(self, rs: RiderState, t: int, everything: bool) -> list[SimStop]:
        """The stops a re-plan must keep: the one the rider is riding to, and everything up to a
        stop that starts within the lead time. A rider already waiting at the store for orders
        that are not ready yet is not committed to that wave: orders arriving meanwhile may join.
        """
        if everything:
            return list(rs.stops)
        if self._hold_slack(rs) > 0:
            return []  # waiting at the store with slack to spare: its wave stays open
        keep = 0
        for j, stop in enumerate(rs.stops):
            riding_to_it = j == 0 and stop.arrive_s > t and t >= self._leaves_s(rs, stop)
            if riding_to_it or stop.start_s <= t + self.options.commit_lead_s:
                keep = j + 1
        return rs.stops[:keep]

    def _arrive_waiting(self, rs: RiderState, t: int) -> None:
        """A rider that reached its next stop and waits there is at that stop now."""
        if rs.stops and rs.stops[0].arrive_s <= t and rs.position != rs.stops[0].location:
            rs.travel_m += self.meter.distance_m(rs.position, rs.stops[0].location)
            rs.position, rs.at_s = rs.stops[0].location, rs.stops[0].arrive_s

    # ----- planning ------------------------------------------------------------------

    def _replan(self, t: int, orders_to_plan: list[str], everything_committed: bool) -> None:
        """Solve the open orders with the riders projected to the end of their commitments."""
        problem, kept, todo, starts = self._project(t, orders_to_plan, everything_committed)
        if not todo and not any(r.carrying for r in problem.riders):
            for rs in self.riders.values():
                if rs.rider.id in kept:
                    rs.stops = kept[rs.rider.id]
            return
        started = time.perf_counter()
        plan = solve(problem)
        self.replan_ms.append((time.perf_counter() - started) * 1000)
        self._follow(plan, t, kept, set(todo), starts)

    def _project(
        self, t: int, orders_to_plan: list[str], everything_committed: bool
    ) -> tuple[Problem, dict[str, list[SimStop]], list[str], dict[str, tuple[Location, int]]]:
        """The problem a re-plan at `t` solves, each rider's committed stops, the orders to plan,
        and where and when each rider really is free to follow it."""
        projected: list[Rider] = []
        kept: dict[str, list[SimStop]] = {}
        starts: dict[str, tuple[Location, int]] = {}
        carried_ids: set[str] = set()
        following: list[tuple[str, tuple]] = []  # the warm start: each rider's stops after its commitments
        for rs in self.riders.values():
            committed = self._committed(rs, t, everything_committed)
            ahead = rs.stops[len(committed):]
            following.append((rs.rider.id, tuple((s.kind, s.order_ids) for s in ahead if s.kind != "return")))
            if not committed:
                self._arrive_waiting(rs, t)
            # A return trip may be interrupted: the next plan starts from the store anyway.
            committed = [s for s in committed if s.kind != "return"]
            carrying = set(rs.carrying)
            for stop in committed:
                if stop.kind == "pickup":
                    carrying.update(stop.order_ids)
                elif stop.kind == "dropoff":
                    carrying.discard(stop.order_ids[0])
            if committed:
                where, real = committed[-1].location, committed[-1].depart_s
                free = self._reported_free(rs, committed, t)
            elif rs.stops and rs.stops[0].kind == "return":
                where, free = rs.stops[0].location, rs.stops[0].arrive_s  # riding back to a store
                real = free
            else:
                where, free = rs.position, max(rs.at_s, t)
                real = free
            free = max(free, t, rs.rider.available_at_s)
            shift_end = rs.rider.shift_end_s
            if not carrying and shift_end is not None and free >= shift_end:
                continue
            kept[rs.rider.id] = committed
            starts[rs.rider.id] = (where, max(real, t, rs.rider.available_at_s))
            carried_ids |= carrying
            projected.append(
                replace(
                    rs.rider,
                    location=where,
                    available_at_s=free - t,
                    shift_end_s=None if shift_end is None else max(shift_end - t, free - t),
                    carrying=tuple(sorted(carrying)),
                )
            )
        in_committed = {oid for stops in kept.values() for s in stops for oid in s.order_ids}
        todo = [oid for oid in orders_to_plan if oid not in in_committed and oid not in carried_ids]
        order_ids = sorted(carried_ids) + todo
        orders = [self._order_at(oid, t, self.orders[oid].rider_id if oid in todo else None) for oid in order_ids]
        problem = Problem(
            plan_time=self.problem.at(t),
            stores=self.stores,
            riders=tuple(projected),
            orders=tuple(orders),
            options=self._replan_options(t),
            initial_routes=tuple(following) if self.options.warm_start else (),
        )
        return problem, kept, todo, starts

    def _order_at(self, oid: str, t: int, assigned: str | None) -> Order:
        """An order with its times from a plan epoch `t` seconds into the day."""
        o = self.orders[oid].order
        return replace(
            o,
            created_at_s=o.created_at_s - t,
            ready_at_s=o.ready_at_s - t,
            promised_at_s=max(o.created_at_s, o.promised_at_s - self.orders[oid].margin_s) - t,
            deliver_after_s=None if o.deliver_after_s is None else o.deliver_after_s - t,
            deadline_s=None if o.deadline_s is None else o.deadline_s - t,
            assigned_rider_id=assigned,
        )

    def _replan_options(self, t: int) -> Options:
        """The re-plans' options at `t`: the dispatcher's weights, the travel rebased to `t`."""
        opts = self.problem.options
        return Options(
            time_limit_s=self.options.budget_s,
            lateness=opts.lateness,
            return_to_store=self.options.return_to_store,
            travel=self._known_travel.rebased(t),  # the profile's periods keep to the local day
            seed=self.options.seed,
            max_iterations=self.options.max_iterations,
            travel_cost_per_s=self.options.travel_cost_per_s,
            late_cost_per_s=self.options.late_cost_per_s,
            unassigned_cost=opts.unassigned_cost,
            reassign_cost=self.options.reassign_cost,
            click_to_door_cost_per_s=self.options.click_to_door_cost_per_s,
            late_steep_after_s=self.options.late_steep_after_s,
            late_steep_cost_per_s=self.options.late_steep_cost_per_s,
            late_fixed_cost=self.options.late_fixed_cost,
            rider_cost_per_hour=opts.rider_cost_per_hour,
        )

    def _reported_free(self, rs: RiderState, committed: list[SimStop], t: int) -> int:
        """When a rider will be free after its committed stops, as the dispatcher can know it:
        without noise the plan's times; with noise, from where the rider really is now (riders
        report it), riding and serving the rest at the planned durations (its luck is unknown)."""
        if self.world is None:
            return committed[-1].depart_s
        at, clock = rs.position, max(rs.at_s, t)
        for j, stop in enumerate(committed):
            if j == 0 and stop.arrive_s <= t:
                arrive = stop.arrive_s  # already there: a fact
            elif j == 0 and t >= self._leaves_s(rs, stop):
                arrive = t + self._travel(rs.rider, self._position(rs, t), stop.location, t)  # on its way
            else:
                clock = max(clock, self._leaves_s(rs, stop)) if j == 0 else clock
                arrive = clock + self._travel(rs.rider, at, stop.location, clock)
            start = stop.start_s if j == 0 and stop.start_s <= t else max(arrive, self._not_before(stop))
            clock = max(start + self._planned_service_s(stop), t)
            at = stop.location
        return clock

    def _follow(
        self, plan: Plan, t: int, kept: dict[str, list[SimStop]], todo: set[str], starts: dict[str, tuple[Location, int]]
    ) -> None:
        """Give every rider its committed stops followed by its stops in the new plan (timed as
        the world rides them when it differs from the plan's clock)."""
        new_rider: dict[str, str] = {}
        for rs in self.riders.values():
            if rs.rider.id in kept:
                rs.stops = list(kept[rs.rider.id])
        for route in plan.routes:
            rs = self.riders[route.rider_id]
            for s in route.stops:
                ids = tuple(s.order_ids) if s.kind == "pickup" else (s.order_id,)
                service = (
                    self.problem.store(s.store_id).pickup_service_s
                    if s.kind == "pickup"
                    else self.orders[s.order_id].order.dropoff_service_s
                )
                start = s.depart_s - service
                rs.stops.append(
                    SimStop(s.kind, s.location, s.arrive_s + t, start + t, s.depart_s + t, ids, s.store_id)
                )
                if s.kind == "dropoff" and s.order_id in todo:
                    new_rider[s.order_id] = route.rider_id
                    self._predicted(s, t)
            if self.realistic:
                where, clock = starts[route.rider_id]
                self._realize(rs, rs.stops[len(kept.get(route.rider_id, [])):], where, clock)
            if not kept.get(route.rider_id):
                if self.options.just_in_time:
                    self._leave_just_in_time(rs)
                self._hold(rs, t)
        couriers: dict[str, list[str]] = {}
        for trip in plan.third_party:
            if trip.order_id in todo:  # handed over: the platform's courier takes it from here
                state = self.orders[trip.order_id]
                state.third_party = True
                state.picked_s, state.delivered_s = trip.pickup_s + t, trip.dropoff_s + t
                couriers.setdefault(trip.courier_key(), []).append(trip.order_id)
                self.fees += trip.fee
        self.couriers += len(couriers)
        if self.world is not None:
            for carried in couriers.values():
                self._third_party_drops(carried)
        for oid in todo:
            state = self.orders[oid]
            rider_id = new_rider.get(oid)
            if state.rider_id is not None and rider_id is not None and rider_id != state.rider_id:
                self.reassignments += 1
            state.rider_id = rider_id
        for u in plan.unassigned:
            if u.order_id in self.orders:
                self.orders[u.order_id].reason = u.reason
        self.last_plan_at = t
        self.changed = False

    def _predicted(self, stop, t: int) -> None:
        """Record a planned drop-off's ETA range (the first one, and the latest)."""
        if stop.eta_p50_s is None or self._known_travel.uncertainty is None:
            return  # without uncertainty the range is the plan's time: nothing to calibrate
        state = self.orders[stop.order_id]
        state.eta_last = (t, stop.eta_p10_s + t, stop.eta_p50_s + t, stop.eta_p90_s + t)
        if state.eta_first is None:
            state.eta_first = state.eta_last

    def _third_party_drops(self, order_ids: list[str]) -> None:
        """When a third-party courier's drop-offs really start: it leaves the store after the
        pickup and rides door to door in the plan's order, each ride and service with its luck."""
        first = self.orders[order_ids[0]]
        store = self.problem.store(first.order.store_id)
        tp = store.third_party
        at, leave = store.location, first.picked_s + store.pickup_service_s
        for oid in order_ids:
            state = self.orders[oid]
            o = state.order
            ride = self.meter.travel_s(at, o.dropoff, tp.speed_mps, leave)
            arrive = leave + int(round(ride * float(lognormal_factors(float(self.world.ride_cv_at(leave)),
                                                                      self._z("third_party", "ride", oid)))))
            state.delivered_s = arrive if o.deliver_after_s is None else max(arrive, o.deliver_after_s)
            service = o.dropoff_service_s * float(lognormal_factors(self.world.service_cv, self._z("third_party", "service", oid)))
            at, leave = o.dropoff, state.delivered_s + int(round(service))

    def _hold_slack(self, rs: RiderState) -> int:
        """Seconds a rider waiting at its first pickup could leave later, keeping the margin on
        every promise of its route (0 when holding does not apply)."""
        margin = self.options.hold_margin_s
        if margin is None or not rs.stops or rs.stops[0].kind != "pickup" or rs.stops[0].location != rs.position:
            return 0
        slack = min(
            (self.orders[s.order_ids[0]].order.promised_at_s - s.start_s for s in rs.stops if s.kind == "dropoff"),
            default=0,
        )
        return max(0, slack - margin)

    def _hold(self, rs: RiderState, t: int) -> None:
        """Postponement: a rider waiting at the store leaves later while every promise on its
        route keeps `hold_margin_s` of slack, so orders placed meanwhile can join its wave."""
        slack = self._hold_slack(rs)
        if slack <= 0 or rs.stops[0].start_s > t + self.interval_s:
            return  # no slack to spare, or not leaving before the next re-plan anyway
        delay = min(self.interval_s, slack)
        rs.stops = [
            SimStop(s.kind, s.location, s.arrive_s if i == 0 else s.arrive_s + delay, s.start_s + delay, s.depart_s + delay, s.order_ids, s.store_id)
            for i, s in enumerate(rs.stops)
        ]

    def _greedy(self, t: int) -> None:
        """Each ready order, oldest first, to the free rider that reaches its store first (a
        store's own riders, or any shared courier), who leaves with it alone."""
        waiting = sorted(
            (s for oid, s in self.orders.items() if oid in self.revealed and s.rider_id is None and s.order.ready_at_s <= t),
            key=lambda s: (s.order.ready_at_s, s.order.id),
        )
        for state in waiting:
            o = state.order
            store = self.problem.store(o.store_id)
            if store is None:
                continue
            best = None
            for rs in self.riders.values():
                if (rs.home is not None and rs.home.id != o.store_id) or any(s.kind != "return" for s in rs.stops):
                    continue
                if t < rs.rider.available_at_s:
                    continue
                where = rs.position if not rs.stops else self._position(rs, t)
                arrive = t + self._travel(rs.rider, where, store.location, t)
                if not self._may_pick_up(rs.rider, t, max(arrive, o.ready_at_s)):
                    continue
                if best is None or arrive < best[0]:
                    best = (arrive, rs, where)
            if best is None:
                continue  # nobody free for this store now: it waits for the next decision
            arrive, rs, where = best
            if rs.stops:  # interrupt the ride back: count what was ridden so far
                rs.travel_m += self.meter.distance_m(rs.position, where)
                rs.position, rs.at_s, rs.stops = where, t, []
            start = max(arrive, o.ready_at_s)
            depart = start + store.pickup_service_s
            at_door = depart + self._travel(rs.rider, store.location, o.dropoff, depart)
            begin = at_door if o.deliver_after_s is None else max(at_door, o.deliver_after_s)
            rs.stops = [
                SimStop("pickup", store.location, arrive, start, depart, (o.id,), store.id),
                SimStop("dropoff", o.dropoff, at_door, begin, begin + o.dropoff_service_s, (o.id,)),
            ]
            if self.realistic:
                self._realize(rs, rs.stops, where, t)
            state.rider_id = rs.rider.id

    @staticmethod
    def _may_pick_up(rider: Rider, t: int, pickup_s: int) -> bool:
        """Whether a rider's shift lets it start a new trip now with its pickup at `pickup_s`."""
        if rider.shift_end_s is None:
            return True
        if rider.shift_end_rule == "pickups":
            return pickup_s <= rider.shift_end_s
        return t < rider.shift_end_s

    def _leaves_s(self, rs: RiderState, stop: SimStop) -> int:
        """When a rider leaves where it is for its first stop (it may wait there first)."""
        if stop.leg_s is not None:  # as really ridden
            return max(rs.at_s, stop.arrive_s - stop.leg_s)
        return max(rs.at_s, stop.arrive_s - self._travel(rs.rider, rs.position, stop.location, rs.at_s))

    def _leave_just_in_time(self, rs: RiderState) -> None:
        """A rider whose first stop is a pickup it would wait at stays where it is and leaves so as
        to arrive as the orders are ready: until it leaves, the next re-plan may still give it
        other work."""
        first = rs.stops[0] if rs.stops else None
        if first is not None and first.kind == "pickup" and first.arrive_s < first.start_s:
            first.arrive_s = first.start_s

    def _position(self, rs: RiderState, t: int) -> Location:
        """Where a rider riding its first stop is at `t` (straight-line interpolation)."""
        stop = rs.stops[0]
        left = self._leaves_s(rs, stop)
        span = max(1, stop.arrive_s - left)
        f = min(1.0, max(0.0, (t - left) / span))
        return Location(
            lat=rs.position.lat + f * (stop.location.lat - rs.position.lat),
            lon=rs.position.lon + f * (stop.location.lon - rs.position.lon),
        )

    # ----- the day ---------------------------------------------------------------------

    def _quote(self, oid: str, t: int) -> None:
        """Quote an order as it is placed, on the state of the day now (`quote_confidence`); with
        `promise_from_quote` the quote becomes its promise (a refused quote keeps the scenario's)."""
        self._quoted.add(oid)
        state = self.orders[oid]
        o = state.order
        others = [x for x in self._open_orders(t) if x != oid]
        problem = self._project(t, others, everything_committed=self.options.policy == "batch")[0]
        calibration = self.options.quote_calibration
        if calibration is not None:
            calibration = replace(calibration, outcomes=tuple(self._quote_outcomes))
        answer = quote_order(
            problem, o.store_id, o.dropoff, items=o.items, ready_at_s=max(0, o.ready_at_s - t),
            dropoff_service_s=o.dropoff_service_s, max_promise_s=self.options.quote_max_promise_s,
            confidence=self.options.quote_confidence, follow_routes=self.options.warm_start, calibration=calibration,
        )
        if not answer.feasible:
            return
        state.quoted_s = t + answer.promise_at_s
        if not answer.third_party and answer.eta_range_s is not None:
            state.quote_record = (t, t + answer.eta_range_s[1], t + answer.eta_range_s[2], state.quoted_s)
        if self.options.promise_from_quote:
            state.order = replace(o, promised_at_s=state.quoted_s)
            if self.options.plan_to_quoted_median and answer.eta_range_s is not None:
                state.margin_s = max(0, answer.promise_at_s - answer.eta_range_s[1])

    def _record_quote_outcome(self, state: OrderState) -> None:
        """An own riders' quote's outcome joins the record as its drop-off is carried out (so a
        quote is calibrated only on deliveries known when it is made)."""
        if state.quote_record is None or state.third_party:
            return
        quoted, p50, p90, promise = state.quote_record
        self._quote_outcomes.append(QuoteOutcome(p50 - quoted, p90 - quoted, state.delivered_s - quoted, promise - quoted))

    def _open_orders(self, t: int) -> list[str]:
        """Orders revealed and not picked up yet, but those whose deadline has passed (given up)."""
        return [
            oid for oid in sorted(self.revealed)
            if self.orders[oid].picked_s is None
            and (self.orders[oid].order.deadline_s is None or self.orders[oid].order.deadline_s >= t)
        ]

    def run(self, progress: Callable[[int, int], None] | None = None) -> SimResult:
        """Simulate from the first shift or order until every order is delivered or the day is
        over; `progress(orders revealed, orders)` is called at every step."""
        p = self.problem
        starts = [o.created_at_s for o in p.orders] + [r.rider.available_at_s for r in self.riders.values()]
        t = int(min(starts)) if starts else 0
        ends = [r.rider.shift_end_s for r in self.riders.values() if r.rider.shift_end_s is not None]
        last_order = max((o.created_at_s for o in p.orders), default=t)
        limit = max(ends + [last_order]) + 2 * 3600
        policy = self.options.policy
        while t <= limit:
            self._advance(t)
            for o in p.orders:
                if o.id not in self.revealed and o.created_at_s <= t:
                    self.revealed.add(o.id)
                    self.pending_wave.add(o.id)
                    self.changed = True
            if self.options.quote_confidence is not None:
                for oid in sorted(self.revealed - self._quoted):
                    self._quote(oid, t)
            if policy == "greedy":
                self._greedy(t)
            elif policy == "rolling":
                open_now = self._open_orders(t)
                waiting = [oid for oid in open_now if self.orders[oid].rider_id is None]
                if self.changed or (waiting and t - self.last_plan_at >= REFRESH_S):
                    self._replan(t, open_now, everything_committed=False)
            elif t % self.interval_s == 0 or t - self.last_plan_at >= self.interval_s:
                wave = sorted(oid for oid in self.pending_wave if self.orders[oid].picked_s is None)
                if wave:
                    self._replan(t, wave, everything_committed=True)
                    self.pending_wave = {oid for oid in wave if self.orders[oid].rider_id is None}
                self.last_plan_at = t
            self._sample(t)
            if progress is not None:
                progress(len(self.revealed), len(p.orders))
            if len(self.revealed) == len(p.orders) and all(s.delivered_s is not None for s in self.orders.values()):
                break
            t += self.interval_s
        self._advance(limit + 24 * 3600)  # finish what is planned
        return self._result()

    def _sample(self, t: int) -> None:
        delivered = [s for s in self.orders.values() if s.delivered_s is not None and s.delivered_s <= t]
        late = [s for s in delivered if s.delivered_s > s.order.promised_at_s]
        self.timeline.append(
            {
                "t_s": t,
                "open_orders": sum(1 for oid in self.revealed if self.orders[oid].delivered_s is None),
                "riders_busy": sum(1 for rs in self.riders.values() if any(s.kind != "return" for s in rs.stops)),
                "delivered": len(delivered),
                "late": len(late),
            }
        )

    def _result(self) -> SimResult:
        p = self.problem
        states = list(self.orders.values())
        delivered = [s for s in states if s.delivered_s is not None]
        on_time = [s for s in delivered if s.delivered_s <= s.order.promised_at_s]
        click_to_door = [s.delivered_s - s.order.created_at_s for s in delivered]
        lateness = [max(0, s.delivered_s - s.order.promised_at_s) for s in delivered]
        ready_to_pickup = [s.picked_s - s.order.ready_at_s for s in delivered if s.picked_s is not None]
        shift_h = sum(
            max(0, (rs.rider.shift_end_s or rs.at_s) - rs.rider.available_at_s) / 3600 for rs in self.riders.values()
        )
        metrics = {
            "policy": self.options.policy,
            "riders": len(self.riders),
            "orders": len(states),
            "delivered": len(delivered),
            "on_time_rate": round(len(on_time) / len(states), 4) if states else 1.0,
            "click_to_door_mean_s": round(float(np.mean(click_to_door)), 1) if delivered else 0.0,
            "click_to_door_p90_s": round(_percentile(click_to_door, 90), 1),
            "late_mean_s": round(float(np.mean(lateness)), 1) if delivered else 0.0,
            "orders_per_rider_hour": round(len(delivered) / shift_h, 3) if shift_h else 0.0,
            # The official MDRP evaluator's figures, under its names (anchors.csv's columns):
            # click-to-door = drop-off start - created_at; over target = later than the promise
            # (on MDRP days every promise is the 40-minute target); ready-to-pickup = pickup
            # start - ready_at; orders per scheduled courier-hour.
            "ctd_mean_min": round(float(np.mean(click_to_door)) / 60, 2) if delivered else 0.0,
            "ctd_p90_min": round(_percentile(click_to_door, 90) / 60, 2),
            "share_ctd_over_target_of_delivered": (
                round((len(delivered) - len(on_time)) / len(delivered), 4) if delivered else 0.0
            ),
            "rtp_mean_min": round(float(np.mean(ready_to_pickup)) / 60, 2) if ready_to_pickup else 0.0,
            "orders_per_courier_hour": round(len(delivered) / shift_h, 3) if shift_h else 0.0,
            "courier_hours": round(shift_h, 1),
            "rider_travel_km": round(sum(rs.travel_m for rs in self.riders.values()) / 1000, 2),
            "reassignments": self.reassignments,
            "third_party_orders": sum(s.third_party for s in states),
            "third_party_share": round(sum(s.third_party for s in states) / len(states), 4) if states else 0.0,
            "third_party_fees": round(self.fees, 2),
            "third_party_couriers": self.couriers,
            # Riders' hours and fees in one currency, per order (with the scenario's rider cost per hour).
            "cost_per_order": (
                round((shift_h * p.options.rider_cost_per_hour + self.fees) / len(states), 3)
                if states and p.options.rider_cost_per_hour else None
            ),
            "replans": len(self.replan_ms),
            "replan_ms_p50": round(_percentile(self.replan_ms, 50), 1),
            "replan_ms_p95": round(_percentile(self.replan_ms, 95), 1),
            "interval_s": self.interval_s,
            "budget_s": self.options.budget_s,
            **self._noise_metrics(states),
        }
        outcomes = [
            {
                "order_id": s.order.id,
                "store_id": s.order.store_id,
                "dropoff": {"lat": s.order.dropoff.lat, "lon": s.order.dropoff.lon},
                "created_at": p.at(s.order.created_at_s).isoformat(timespec="seconds"),
                "promised_at": p.at(s.order.promised_at_s).isoformat(timespec="seconds"),
                "rider_id": s.rider_id,
                "picked_up_at": None if s.picked_s is None else p.at(s.picked_s).isoformat(timespec="seconds"),
                "delivered_at": None if s.delivered_s is None else p.at(s.delivered_s).isoformat(timespec="seconds"),
                "late_s": None if s.delivered_s is None else max(0, s.delivered_s - s.order.promised_at_s),
                "reason": None if s.delivered_s is not None else (s.reason or "not_planned_by_end_of_day"),
                "third_party": s.third_party,
                **self._eta_outcome(s),
            }
            for s in states
        ]
        return SimResult(self.options.policy, metrics, self.timeline, outcomes, self.replan_ms)


    def _noise_metrics(self, states: list[OrderState]) -> dict:
        """The noise a day ran with, and how the quotes fared (nothing when neither was on)."""
        out: dict = {}
        if self.options.noise:
            out.update(noise=True, noise_seed=self.options.noise_seed)
        quoted = [s for s in states if s.quoted_s is not None]
        if self.options.quote_confidence is not None:
            kept = [s for s in quoted if s.delivered_s is not None and s.delivered_s <= s.quoted_s]
            out.update(
                quote_confidence=self.options.quote_confidence,
                quoted=len(quoted),
                quote_kept_rate=round(len(kept) / len(quoted), 4) if quoted else None,
                quoted_promise_mean_min=(
                    round(float(np.mean([s.quoted_s - s.order.created_at_s for s in quoted])) / 60, 2) if quoted else None
                ),
            )
        return out

    def _eta_outcome(self, s: OrderState) -> dict:
        """An order's ETA ranges and quote, in the outcomes (nothing when the plans gave none)."""
        p = self.problem
        out: dict = {}
        for name, pred in (("eta_first", s.eta_first), ("eta_last", s.eta_last)):
            if pred is not None:
                out[name] = {key: p.at(v).isoformat(timespec="seconds") for key, v in zip(("planned_at", "p10", "p50", "p90"), pred)}
        if s.quoted_s is not None:
            out["quoted_promise_at"] = p.at(s.quoted_s).isoformat(timespec="seconds")
        return out


def simulate(scenario: dict, options: SimOptions, progress: Callable[[int, int], None] | None = None) -> SimResult:
    """Simulate one policy over a day scenario (a contract problem document with future orders);
    `progress(orders revealed, orders)` is called as the day goes on."""
    return DaySimulator(scenario, options).run(progress)


def fleet_sweep(
    scenario: dict, options: SimOptions, target: float = 0.95, progress: Callable[[int, float], None] | None = None
) -> dict:
    """The smallest number of riders per store with `on_time_rate` >= target (None if even all miss);
    `progress(riders, on-time rate)` is called after each fleet size tried."""
    per_store = max(
        (sum(1 for r in scenario["riders"] if r.get("store_id") == s["id"]) for s in scenario["stores"]), default=0
    )
    tried: dict[int, float] = {}
    # What each fleet spent on a third party, where the scenario has one (the trade-off's other side).
    spend: dict[int, dict] = {}

    def rate(n: int) -> float:
        if n not in tried:
            m = simulate(scenario, replace(options, riders=n)).metrics
            tried[n] = m["on_time_rate"]
            spend[n] = {k: m[k] for k in ("third_party_share", "third_party_fees", "cost_per_order")}
            if progress is not None:
                progress(n, tried[n])
        return tried[n]

    if per_store == 0 or rate(per_store) < target:
        return {"policy": options.policy, "target": target, "riders": None, "tried": tried, "third_party": spend}
    lo, hi = 0, per_store  # rate(hi) >= target; find the smallest such n (on-time rate grows with riders)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if rate(mid) >= target:
            hi = mid
        else:
            lo = mid
    return {"policy": options.policy, "target": target, "riders": hi, "tried": dict(sorted(tried.items())),
            "third_party": dict(sorted(spend.items()))}


def _key(stop: SimStop) -> str:
    """What names a stop for its luck: its kind and orders (a return: where it goes)."""
    if stop.kind == "return":
        return f"return:{stop.store_id}:{stop.arrive_s}"
    return f"{stop.kind}:{','.join(stop.order_ids)}"
