"""`solve(problem) -> Plan`: geofence split, screen, construction, OR-Tools improvement."""

from __future__ import annotations

import logging
import time

import numpy as np

from dispatch.geofence import store_area
from dispatch.instance import NO_LIMIT, Instance, build_instance
from dispatch.model import Problem
from dispatch.plan import Plan, UnassignedOrder
from dispatch.third_party import ThirdPartyTrip, eligible_trip
from dispatch.travel import LegMeter
from dispatch.solver.construct import (
    Construction,
    construct,
    hard_latest,
    recreate,
    search_limits,
    states_from_routes,
    wave_shaped,
)
from dispatch.solver.carried import sequence_carried
from dispatch.solver.isolation import run_with_deadline
from dispatch.solver.lns import RuinRecreate, SearchResult
from dispatch.solver.warm import warm_routes

try:  # the compiled search is optional: without numba the Python one runs
    from dispatch.solver import fast_lns
except ImportError:  # pragma: no cover - numba is a declared dependency
    fast_lns = None
from dispatch.solver.plan_builder import build_plan
from dispatch.solver.reasons import explain_all_left_out, screen
from dispatch.solver.routes import DROP, RouteSchedule, Stop, route_cost, schedule_route, unassigned_cost
from dispatch.solver.set_partition import available as partition_available
from dispatch.solver.set_partition import recombine

# Keeps the whole solve inside time_limit_s: reading the plan back (costing, plan building,
# reasons) after the search. Measured on 2026-11-24 (soft promises, riders at their own
# speeds) at 1-2 ms for 30-100 orders, 7-10 ms at 300 and 21-31 ms at 500, about as orders
# squared: 2 ms + 0.1 us x orders^2. Once the screen, the instance and the first plan got
# cheaper the same day, 0.1 s solves ended at 92.5 ms (300x40) and 79-84 ms (500x60): the
# read-back was 3.5 ms at 300 and 6.5-10 ms at 500 (hard, soft). Now 1 ms + 0.04 us x
# orders^2 (300: 4.6 ms, 500: 11 ms), which a slow spell of the machine (2x) may overrun by
# a few milliseconds.
_RESERVE_BASE_S = 0.001
_RESERVE_PER_ORDER2_S = 0.04e-6
_ORTOOLS_SHARE = 0.25
_ORTOOLS_MIN_BUDGET_S = 0.5
_KILL_MARGIN_S = 0.05  # OR-Tools past its own limit by this much is killed
# With scheduled orders (VRPTW-like) one search trajectory sometimes settles in a poor optimum
# (Solomon RC208 at 5 s: 5.9-14.2% over best-known by seed); two trajectories of half the time
# each, keeping the better, took the 19 type-2 instances from 2.15% to 1.24-1.53% mean gap.
TRAJ_MIN_S = 2.0
TRAJ_N = 2
# Store problems get two trajectories once the budget affords about 200 iterations per order.
# Small problems settle within a fraction of a second, sometimes in a poor optimum (30x5 seed
# 1 at 1 s: 1.035-1.050 of PyVRP by seed): 6 seeds at 1 s, worst ratio 30x5 1.050 -> 1.010,
# mean 1.008 -> 1.002; 60x8, 100x15 at 1 s and 60x8, 300x40 at 5 s within the noise. At
# 80-130k iterations a second (since the kernels run without reference counting) that is
# 1/400 s per order (30 orders from 0.075 s, 100 from 0.25 s, 300 from 0.75 s): at 0.09 s of
# search, two trajectories against one, 30x5 1.006 -> 1.003 of PyVRP (mean of 24 runs),
# 60x8 (130 iterations per order) 0.940 -> 0.945; at 0.9 s 100x15 0.989 -> 0.984, 300x40
# 0.934 -> 0.930.
TRAJ_STORE_S_PER_ORDER = 1 / 400
# The compiled first plan took about 0.85 us x orders^2 here on one day (200: 37 ms, 300: 80,
# 500: 213) and 0.58 us on another (23, 51, 140 ms); with the lazy regret for big plans,
# 0.28-0.40 us (500: 63-69 ms); with the kernels compiled without reference counting,
# 0.06-0.07 us (200: 2.7 ms, 300: 5.5, 500: 16.6). The process starts from a slower figure
# and learns its own from the first plans of 200 orders or more (with a 20% margin; below,
# fixed costs weigh in and the estimate would come out too high for big plans).
_COMPILED_FIRST_PLAN_S_PER_ORDER2 = 0.12e-6
# Many riders cost more than that figure says, about 0.2 us an order and rider on top (setting
# up the compiled search alone: 750 orders, 2,000 riders, 0.24 s).
_FIRST_PLAN_S_PER_ORDER_RIDER = 0.2e-6
_LEARN_FROM_ORDERS = 200
_FIRST_PLAN_SLACK = 1.2
_first_plan_rate = {"s_per_order2": _COMPILED_FIRST_PLAN_S_PER_ORDER2}


def _riders_share_s(orders: int, riders: int) -> float:
    """The part of a compiled first plan's time that grows with its riders."""
    return _FIRST_PLAN_S_PER_ORDER_RIDER * orders * riders


def _first_plan_estimate_s(orders: int, riders: int) -> float:
    """Expected seconds of a compiled first plan of `orders` orders with `riders` riders."""
    return _first_plan_rate["s_per_order2"] * orders**2 + _riders_share_s(orders, riders)


def _most_within(cost, upper: int, budget_s: float) -> int:
    """The largest count from 0 to `upper` whose (increasing) `cost` is within `budget_s`."""
    lo, hi = 0, upper
    while lo < hi:
        mid = (lo + hi + 1) // 2
        lo, hi = (mid, hi) if cost(mid) <= budget_s else (lo, mid - 1)
    return lo


def _learn_first_plan_rate(orders: int, seconds: float) -> None:
    """Fold one measured compiled first plan into this process's cost estimate."""
    if orders < _LEARN_FROM_ORDERS:
        return
    old = _first_plan_rate["s_per_order2"]
    measured = 1.2 * seconds / orders**2  # the margin: one plan may take longer than the last
    _first_plan_rate["s_per_order2"] = min(2 * old, max(old / 2, 0.7 * old + 0.3 * measured))


log = logging.getLogger("dispatch")
_told_not_warm = {"done": False}


def _tell_if_not_warm() -> None:
    """Log once per process that solves run the slower Python search until `warm_up` is called."""
    if fast_lns is None or fast_lns.ready() or _told_not_warm["done"]:
        return
    _told_not_warm["done"] = True
    # A library user who never calls warm_up gets the pure-Python search in every solve (30x5
    # at 0.1 s: 122 against 103 rider-minutes), and nothing else would tell them why.
    log.warning(
        "the compiled search is not loaded, so this process plans with the slower Python search: "
        "call dispatch.warm_up() once at start-up (seconds the first time on a machine, then ~0.3 s)"
    )


def warm_up() -> None:
    """Load (or, once per machine, compile) the compiled search, and import OR-Tools (routing and
    linear solver), so the first solve is not slowed (importing OR-Tools alone takes tens of
    milliseconds)."""
    from dispatch.solver import ortools_adapter  # noqa: F401 - imported for its side effect

    partition_available()  # imports OR-Tools' linear solver
    if fast_lns is not None:
        fast_lns.warm_up()


def first_plan(
    inst: Instance,
    candidates: list[int],
    deadline: float,
    seed: int,
    start: list[list[Stop]] | None = None,
    one_idle: bool = True,
) -> Construction | None:
    """The first plan: regret insertion keeping every promise, compiled when the search is loaded.

    The compiled insertion is `construct`'s first-phase regret rule with alike idle riders
    offered once (300 orders: 4-6 ms here); with soft promises, what it leaves out goes
    through `construct`'s later phases (lateness priced in, compiled too; then, in Python,
    pushing others later).
    `one_idle=False` gives the plain regret rule, every idle rider an option of its own.
    `start` (a warm start, compiled search only) is completed instead of empty routes; None
    when that cannot be done (no compiled search, no time, a start that breaks a rule).
    When the whole insertion would not fit before `deadline`, the most urgent orders that fit
    are planned and the plan is marked incomplete (only for budgets far too small: 500 orders
    fit in 0.1 s here).
    """
    warm = start is not None
    if fast_lns is None or not fast_lns.ready():
        return None if warm else construct(inst, candidates, deadline)
    if start is None:
        start = [[(DROP, k) for k in inst.carried_of_rider[r]] for r in range(inst.n_riders)]
    in_start = {s[1] for stops in start for s in stops if s[0] == DROP}
    todo = [k for k in candidates if k not in in_start]
    # The compiled insertion cannot stop half-way; when it would not finish in time, it plans
    # the most urgent orders that fit the time left, and the rest wait for the next plan.
    began = time.perf_counter()
    skipped: list[int] = []
    # The learned rate holds a 20% margin: up to that much over the time left, the whole
    # insertion runs (planning a part of the orders is a cliff: 300x40 at 0.1 s, 1.05 -> 1.49
    # of PyVRP's travel when the estimate just missed).
    if _first_plan_estimate_s(len(todo), inst.n_riders) > _FIRST_PLAN_SLACK * (deadline - began):
        if warm:
            return None
        fit = _most_within(lambda k: _first_plan_estimate_s(k, inst.n_riders), len(todo), deadline - began)
        if fit < 1:
            return construct(inst, candidates, deadline)  # stops at once, with reasons kept
        by_promise = sorted(todo, key=lambda k: (int(inst.promised_s[k]), k))
        todo, skipped = by_promise[:fit], by_promise[fit:]
    promised = hard_latest(inst)
    # A warm start may hold orders already late: they may stay as late as they are.
    latest, weight = search_limits(inst, start, []) if warm else (promised, np.zeros(inst.n_orders))
    insertion = fast_lns.CompiledRuinRecreate(inst, start, todo, seed, latest, weight)
    found = insertion.run(float("inf"), 1, one_idle=one_idle)
    if not warm:  # a warm completion inserts few orders into full routes: another cost
        _learn_first_plan_rate(len(todo), time.perf_counter() - began - _riders_share_s(len(todo), inst.n_riders))
    if found is None:
        return None if warm else construct(inst, candidates, deadline)
    routes, left, states = found.routes, list(found.left), None
    soft = inst.problem.options.lateness == "soft"
    if left and soft and time.perf_counter() < deadline:
        # `recreate`'s second phase compiled: the orders left out may be late (priced), nobody
        # planned gets later than they are (500x60: the Python phases took 64 of 90 ms).
        late_ok, late_weight = search_limits(inst, routes, left)
        placed = fast_lns.CompiledRuinRecreate(inst, routes, left, seed, late_ok, late_weight).run(
            float("inf"), 1, one_idle=one_idle, ruin=False
        )
        if placed is not None:
            routes, left = placed.routes, list(placed.left)
    if left and soft and time.perf_counter() < deadline:
        # Route states (Python) only here: building them for every rider cost 14 ms at 300x40.
        states = states_from_routes(inst, routes)
        if states is None:
            return None if warm else construct(inst, candidates, deadline)
        left = recreate(inst, states, left, latest, deadline)
        routes = [st.stops() for st in states]
    complete = not skipped and (not left or time.perf_counter() <= deadline)
    return Construction(routes=routes, left=left + skipped, states=states, complete=complete)


def split_by_area(problem: Problem) -> tuple[list, list[UnassignedOrder]]:
    """Orders to route, and orders refused for their store or drop-off (carried ones always route)."""
    areas = {s.id: store_area(s) for s in problem.stores}
    carried = problem.carrier_of
    routed, refused = [], []
    by_store: dict[str, list] = {}
    for o in problem.orders:
        if o.id in carried:
            routed.append(o)
        elif o.store_id not in areas:
            refused.append(
                UnassignedOrder(o.id, "unknown_store", f"store {o.store_id} is not in this problem")
            )
        else:
            by_store.setdefault(o.store_id, []).append(o)
    for store_id, orders in by_store.items():
        details = areas[store_id].outside_details([o.dropoff for o in orders])
        for o, detail in zip(orders, details):
            if detail is None:
                routed.append(o)
            else:
                refused.append(UnassignedOrder(o.id, "outside_service_area", detail))
    rank = {o.id: i for i, o in enumerate(problem.orders)}
    routed.sort(key=lambda o: rank[o.id])
    return routed, refused


# Before the search starts, a solve builds travel matrices over every point (stores, riders,
# drop-offs) and screens every order against every rider: 15,000 orders took 30 s of a 1 s
# budget. A problem whose instance would not fit this share of its budget keeps its most
# urgent orders that fit (the first plan then fits its own part, and the search places what
# it skipped). Measured here: matrices (in blocks) 20-45 ns a pair of points, the screen
# 20-60 ns an order and rider.
_INSTANCE_S_PER_POINT2 = 45e-9
_SCREEN_S_PER_ORDER_RIDER = 0.1e-6
_INSTANCE_SHARE = 0.5


def fit_to_budget(problem: Problem, routed: list, budget_s: float) -> tuple[list, list[UnassignedOrder]]:
    """The orders to plan when the instance of all of them would not fit the budget: carried
    ones and the most urgent by promise; the rest are left out with `time_limit_reached`."""
    points, riders = len(problem.stores) + len(problem.riders), len(problem.riders)

    def cost(k: int) -> float:
        return (_INSTANCE_S_PER_POINT2 * (points + k) ** 2 + _SCREEN_S_PER_ORDER_RIDER * k * riders
                + _RESERVE_PER_ORDER2_S * k**2)

    allowed = _INSTANCE_SHARE * budget_s
    if cost(len(routed)) <= allowed:
        return routed, []
    carried = problem.carrier_of
    urgent = sorted((o for o in routed if o.id not in carried), key=lambda o: o.promised_at_s)
    room = max(0, _most_within(cost, len(routed), allowed) - (len(routed) - len(urgent)))
    keep = {o.id for o in urgent[:room]}
    detail = (
        f"the {problem.options.time_limit_s:g} s budget is too small to plan {len(routed)} orders at once; "
        f"the {room} most urgent were planned, and a larger time_limit_s plans the rest"
    )
    kept = [o for o in routed if o.id in carried or o.id in keep]
    return kept, [UnassignedOrder(o.id, "time_limit_reached", detail) for o in urgent[room:]]


def costed(inst: Instance, routes: list[list[Stop]], left: list[int]) -> tuple[int, bool, list[RouteSchedule]]:
    """Objective of a solution, whether every route keeps every hard rule, and each route's schedule."""
    cost, ok, schedules = 0, True, []
    for r, stops in enumerate(routes):
        sched = schedule_route(inst, r, stops)
        ok &= sched.feasible
        cost += route_cost(inst, sched)
        schedules.append(sched)
    return cost + sum(unassigned_cost(inst, k) for k in left), ok, schedules


def total_cost(inst: Instance, routes: list[list[Stop]], left: list[int]) -> tuple[int, bool]:
    """Objective of a solution and whether every route keeps every hard rule."""
    cost, ok, _ = costed(inst, routes, left)
    return cost, ok


def _trajectories(inst: Instance, seconds: float, reproducible: bool) -> int:
    """How many independent searches share the budget (several once it is ample for the problem)."""
    if reproducible:
        return 1
    if inst.windowed:
        return TRAJ_N if seconds >= TRAJ_MIN_S else 1
    return TRAJ_N if seconds >= TRAJ_STORE_S_PER_ORDER * inst.n_orders else 1


# Set partitioning over the routes of near-best plans (`set_partition`) once the search has
# run: it picks the best plan made of routes the search built, then the search goes on from
# it. It pays only once the search has settled: peers' store problems, travel against
# PyVRP's (0.2 of the search time, routes of plans within 2% of the best), at 5 s, 6 seeds x
# 2 runs: 60x8 0.934 -> 0.932, 100x15 0.970 -> 0.966; at 1 s, where the search is still
# improving, 3 seeds x 2 runs: 60x8 0.955 -> 0.960, 100x15 0.981 -> 0.986. On eight hard
# Solomon instances at 5 s (C205, C203, RC208, R208, RC202, R202, RC105, R102; 3 runs) the
# mean gap to best-known went from 1.27-1.40% to 0.85-1.16%.
PARTITION_FROM_S = 2.0  # search time from which it runs
PARTITION_SHARE = 0.2
PARTITION_SLACK = 0.02
# The programme is built in Python (about 30 us a route) and SCIP's time grows with it: the
# pool keeps at most this many routes per second given to the partitioning.
PARTITION_ROUTES_PER_S = 5000
PARTITION_MAX_ROUTES = 20000
# SCIP ran up to 20 ms past its limit on 2,000 routes: it is given this share of its time.
PARTITION_CLOCK_SHARE = 0.9
_SEARCH_ON_FROM_S = 0.01  # time left after it for the search to go on


def _partition_seconds(inst: Instance, search_s: float, reproducible: bool) -> float | None:
    """Seconds kept for the set partitioning at the end of the search, or None to skip it."""
    if reproducible or search_s < PARTITION_FROM_S or fast_lns is None:
        return None
    return PARTITION_SHARE * search_s if partition_available() else None


def _pool_size(inst: Instance, partition_s: float) -> tuple[int, int]:
    """Most routes the pool keeps, and most stops in all, for a partitioning of `partition_s`."""
    routes = max(16, int(min(PARTITION_MAX_ROUTES, PARTITION_ROUTES_PER_S * partition_s)))
    # Room for routes of twice the mean length (longer ones fill the pool sooner).
    per_route = min(2 * inst.n_orders + 4, 4 * -(-inst.n_orders // max(1, inst.n_riders)) + 8)
    return routes, routes * per_route


def _forbid_new_orders(inst: Instance, routes: list[list[Stop]]) -> set[int]:
    """Riders whose carried orders alone run past their shift: they take nothing new."""
    out = set()
    for r in range(inst.n_riders):
        if inst.shift_end_pickups[r]:
            continue  # its shift end bounds pickups only: what it carries may end after it
        carried_only = [s for s in routes[r] if s[0] == DROP and inst.carried_by[s[1]] == r]
        if carried_only and schedule_route(inst, r, carried_only).end_s > int(inst.shift_end_s[r]):
            out.add(r)
    return out


def solve(problem: Problem) -> Plan:
    """Plan `problem`: every order ends in one route or in `unassigned` with a reason."""
    t0 = time.perf_counter()
    opts = problem.options
    # A work limit makes the same input give the same plan, as long as it comes before the
    # clock: the time limit holds whatever the work limit says.
    reproducible = opts.max_iterations is not None
    _tell_if_not_warm()

    routed, unassigned = split_by_area(problem)
    routed, too_many = fit_to_budget(problem, routed, opts.time_limit_s - (time.perf_counter() - t0))
    unassigned += too_many
    reserve_s = _RESERVE_BASE_S + _RESERVE_PER_ORDER2_S * len(routed) ** 2
    deadline = t0 + opts.time_limit_s - reserve_s
    inst = sequence_carried(build_instance(problem, routed))
    impossible = screen(inst, list(range(inst.n_orders)))
    for k, (reason, detail) in impossible.items():
        unassigned.append(UnassignedOrder(inst.orders[k].id, reason, detail))
    candidates = [k for k in range(inst.n_orders) if k not in impossible]

    # The first plan is always completed unless it would take the whole budget by itself.
    built = first_plan(inst, candidates, deadline, opts.seed)
    routes, left = built.routes, built.left
    # The schedules of the routes kept go to the plan builder: timing them again cost 1-2 ms.
    best_cost, ok, schedules = costed(inst, routes, left)
    warm = warm_routes(inst, candidates)
    fresh = True  # the first plan is built from scratch (not the routes being followed)
    if warm is not None:
        # Re-dispatch: the routes being followed, completed with what is new, when that is the
        # better start (it usually is, and plans change less).
        resumed = first_plan(inst, candidates, deadline, opts.seed, warm)
        if resumed is not None:
            resumed_cost, resumed_ok, resumed_schedules = costed(inst, resumed.routes, resumed.left)
            if resumed_ok and resumed_cost <= best_cost:
                built, routes, left, best_cost = resumed, resumed.routes, resumed.left, resumed_cost
                schedules, fresh = resumed_schedules, False
    first_plan_ms = int((time.perf_counter() - t0) * 1000)
    if not ok:
        raise AssertionError("construction produced a route that breaks a hard rule")
    engine = "construction"
    found = None
    partitioned = False  # the set partitioning found a cheaper plan than the search

    if candidates and inst.n_riders and time.perf_counter() < deadline:
        from dispatch.solver.ortools_adapter import improve

        # OR-Tools' local search reaches its local optimum fast; the rest of the budget goes to
        # ruin and recreate, which escapes it with whole-wave moves.
        now = time.perf_counter()
        forbid = _forbid_new_orders(inst, routes)
        # Building and forking the OR-Tools model costs tens of milliseconds: with a small
        # budget the whole of it goes to ruin and recreate.
        # With mostly scheduled orders the ruin and recreate does better with the whole budget
        # (six hard Solomon instances at 5 s: mean gap 3.0% with OR-Tools first, 1.6% without).
        # Its model has no reassignment cost either: a re-dispatch that prices moves skips it.
        stable = opts.reassign_cost > 0 and bool(np.any(inst.assigned_to >= 0))
        # Nor does it price the customers' clock or steep lateness, or know deadlines and shift
        # ends that bound pickups.
        modelled = (
            not opts.prices_time and not bool(inst.shift_end_pickups.any()) and not bool(np.any(inst.deadline_s < NO_LIMIT))
        )
        if (reproducible or deadline - now >= _ORTOOLS_MIN_BUDGET_S) and not inst.windowed and not stable and modelled:
            # With a work limit its solution limit binds, and the clock only stops a runaway: a
            # share of the clock would end it at a load-dependent point (plans not reproducible).
            ortools_deadline = deadline if reproducible else now + _ORTOOLS_SHARE * (deadline - now)
            start_routes = routes
            kill_at = ortools_deadline + _KILL_MARGIN_S
            finished, result = run_with_deadline(
                lambda: improve(inst, candidates, start_routes, forbid, ortools_deadline, opts.max_iterations),
                kill_at,
            )
            if finished and result.routes is not None:
                routed_now = {s[1] for rt in result.routes for s in rt if s[0] == 1}
                new_left = [k for k in candidates if k not in routed_now]
                cost, feasible, found_schedules = costed(inst, result.routes, new_left)
                if feasible and cost <= best_cost:
                    routes, left, best_cost, engine = result.routes, new_left, cost, "construction+ortools"
                    schedules = found_schedules
        compiled = fast_lns is not None and fast_lns.ready()
        if not forbid and compiled and time.perf_counter() < deadline:
            # The compiled search works on any plan made of waves, carried drop-offs anywhere.
            start, start_left = (routes, left) if wave_shaped(inst, routes) else (built.routes, list(built.left))
            starts = [(start, start_left)]
            trajectories = _trajectories(inst, deadline - time.perf_counter(), reproducible)
            if trajectories > 1 and fresh and not inst.windowed:
                # Which plan a store problem's search settles in depends on where it starts more
                # than on its seed (30x5 seed 1: 1.025-1.039 of PyVRP at 1 s from the first
                # plan whatever the seeds, 1.001 from the plain regret rule's plan): every
                # other trajectory starts from the plan without alike idle riders grouped.
                other = first_plan(inst, candidates, deadline, opts.seed, one_idle=False)
                if other is not None and other.complete:
                    starts.append((other.routes, list(other.left)))
            limits = [search_limits(inst, *s) for s in starts]
            began = time.perf_counter()
            partition_s = _partition_seconds(inst, deadline - began, reproducible)
            pool = None
            if partition_s is not None:
                pool = fast_lns.RoutePool(inst, PARTITION_SLACK, *_pool_size(inst, partition_s))
            search_end = deadline - (partition_s or 0.0)
            for t in range(trajectories):
                stop = began + (t + 1) * (search_end - began) / trajectories
                (s_routes, s_left), (latest, late_weight) = starts[t % len(starts)], limits[t % len(starts)]
                run = fast_lns.CompiledRuinRecreate(
                    inst, s_routes, s_left, opts.seed + 7 * t, latest, late_weight, pool
                ).run(stop, opts.max_iterations)
                if found is None or (run is not None and run.cost < found.cost):
                    found = run
            if pool is not None and found is not None and len(pool):
                clock = PARTITION_CLOCK_SHARE * (deadline - time.perf_counter())
                picked = recombine(inst, pool, candidates, found.routes, clock) if clock > 0 else None
                # Its costs are the kernels' (the same as re-timing gives, see the tests).
                if picked is not None and picked.objective < found.cost - 0.5:
                    found = SearchResult(None, picked.left, int(round(picked.objective)), found.iterations,
                                         routes=picked.routes)
                    partitioned = True
                # The solve usually ends before its time: the search goes on from the plan picked.
                if deadline - time.perf_counter() > _SEARCH_ON_FROM_S:
                    latest, late_weight = search_limits(inst, found.routes, found.left)
                    more = fast_lns.CompiledRuinRecreate(
                        inst, found.routes, found.left, opts.seed + 7 * trajectories, latest, late_weight
                    ).run(deadline, None)
                    if more is not None and more.cost < found.cost:
                        found = SearchResult(None, more.left, more.cost, found.iterations + more.iterations,
                                             routes=more.routes)
        if found is None and not forbid and time.perf_counter() < deadline:
            states, search_left = states_from_routes(inst, routes), left
            if states is None:
                states, search_left = states_from_routes(inst, built.routes), list(built.left)
            if states is not None:
                found = RuinRecreate(inst, states, search_left, opts.seed).run(deadline, opts.max_iterations)
        if found is not None:
            lns_routes = found.stop_lists(inst)
            cost, feasible, found_schedules = costed(inst, lns_routes, found.left)
            if feasible and cost < best_cost:
                routes, left, best_cost, schedules = lns_routes, found.left, cost, found_schedules
                engine += "+lns+partition" if partitioned else "+lns"

    dropped_off = [s[1] for rt in routes for s in rt if s[0] == 1]
    planned = set(dropped_off)
    searched = found is not None and found.iterations > 0
    if len(planned) != len(dropped_off) or planned & set(left) or len(planned) + len(left) != len(candidates):
        raise AssertionError("solver bookkeeping lost or doubled an order")  # never ship such a plan
    cut_short = not built.complete and not searched
    reasons = {} if cut_short else explain_all_left_out(inst, left, len(planned))
    for k in left:
        if cut_short:
            reason, detail = (
                "time_limit_reached",
                f"the {opts.time_limit_s:g} s budget ran out before this order could be planned; "
                "a larger time_limit_s plans it",
            )
        else:
            reason, detail = reasons[k]
        unassigned.append(UnassignedOrder(inst.orders[k].id, reason, detail))
    unassigned, outsourced = send_out(inst, unassigned)
    solve_ms = int((time.perf_counter() - t0) * 1000)
    return build_plan(
        inst, routes, unassigned, solve_ms, first_plan_ms, engine, schedules=schedules, third_party=outsourced
    )


# Orders refused before solving stay refused: a third party delivers inside the store's area too.
_NOT_SENT_OUT = frozenset({"outside_service_area", "unknown_store"})


def send_out(inst: Instance, unassigned: list[UnassignedOrder]) -> tuple[list[UnassignedOrder], list[ThirdPartyTrip]]:
    """Orders left out of every route that go to their store's third party instead: those whose
    trip breaks no rule and costs less than leaving them unassigned (the search priced each
    left-out order at that trip, so what it left out is what is cheaper sent out)."""
    problem = inst.problem
    if not any(s.third_party is not None for s in problem.stores):
        return unassigned, []
    index = {o.id: k for k, o in enumerate(inst.orders)}
    meter = None
    kept, trips = [], []
    for u in unassigned:
        trip = None
        if u.reason not in _NOT_SENT_OUT:
            k = index.get(u.order_id)
            if k is not None:
                trip = inst.outsourced[k]
            else:  # cut for the budget before the instance was built: priced here
                order = problem.order_index[u.order_id]
                meter = meter or LegMeter(problem.options.travel)
                trip = eligible_trip(problem, order, meter)
                if trip is not None and trip.cost > order.priority * problem.options.unassigned_cost:
                    trip = None
        if trip is None:
            kept.append(u)
        else:
            trips.append(trip)
    return kept, trips
