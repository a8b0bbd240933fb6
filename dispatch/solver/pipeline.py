"""`solve(problem) -> Plan` as a pipeline of named steps (docs/SOLVER.md draws it):

admit the orders (area, budget) -> the instance and its screen -> the first plan (or the routes
being followed, completed) -> OR-Tools -> ruin and recreate (trajectories, set partitioning)
-> keep the search's plan if cheaper -> reasons for what is left out -> the plan.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass

import numpy as np

from dispatch.instance import NO_LIMIT, Instance, build_instance
from dispatch.model import Problem
from dispatch.plan import Plan, UnassignedOrder
from dispatch.solver.admission import fit_to_budget, pooling_reserve_s, reserve_s, split_by_area
from dispatch.solver.carried import sequence_carried
from dispatch.solver.construct import Construction, search_limits, states_from_routes, wave_shaped
from dispatch.solver.isolation import run_with_deadline
from dispatch.solver.lns import RuinRecreate, SearchResult
from dispatch.solver.plan_builder import build_plan
from dispatch.solver.reasons import explain_all_left_out, screen
from dispatch.solver.routes import DROP, RouteSchedule, Stop, costed, schedule_route
from dispatch.solver.set_partition import available as partition_available
from dispatch.solver.set_partition import recombine
from dispatch.solver.start import fast_lns, first_plan
from dispatch.solver.warm import warm_routes
from dispatch.third_party import ThirdPartyTrip, eligible_trip, pool_couriers
from dispatch.travel import LegMeter

# OR-Tools reaches its local optimum fast: it gets this share of the time left, ruin and
# recreate the rest (it escapes that optimum with whole-wave moves).
_ORTOOLS_SHARE = 0.25
# Below this budget building and forking its model (tens of milliseconds) is not worth it.
_ORTOOLS_MIN_BUDGET_S = 0.5
_KILL_MARGIN_S = 0.05  # OR-Tools past its own limit by this much is killed
# Two trajectories of half the time each, the better kept, once the budget is ample: one
# trajectory sometimes settles in a poor optimum. Scheduled (VRPTW-like) problems from 2 s.
TRAJ_MIN_S = 2.0
TRAJ_N = 2
# Store problems from about 200 iterations per order, when one trajectory has settled.
TRAJ_STORE_S_PER_ORDER = 1 / 400
# Set partitioning over the routes of near-best plans, once the search has settled: from 2 s
# of search, with 0.2 of it, routes of plans within 2% of the best. How each constant here was
# chosen: docs/SOLVER_NOTES.md, by its name.
PARTITION_FROM_S = 2.0  # search time from which it runs
PARTITION_SHARE = 0.2
PARTITION_SLACK = 0.02
# The programme is built in Python (about 30 us a route) and SCIP's time grows with it: the
# pool keeps at most this many routes per second given to the partitioning.
PARTITION_ROUTES_PER_S = 5000
PARTITION_MAX_ROUTES = 20000
# SCIP overruns its limit on big programmes: it is given this share of its time.
PARTITION_CLOCK_SHARE = 0.9
_SEARCH_ON_FROM_S = 0.01  # time left after it for the search to go on

log = logging.getLogger("dispatch")
_told_not_warm = {"done": False}


@dataclass(slots=True)
class _Run:
    """One solve's fixed facts: the problem, its instance, the orders that may be planned, what
    is already refused, and the deadline for the search."""

    problem: Problem
    inst: Instance
    candidates: list[int]
    unassigned: list[UnassignedOrder]
    deadline: float
    reproducible: bool  # a work limit: the same input gives the same plan
    pool_deadline: float  # pooling sent-out orders on shared couriers stops here (after `deadline`)
    stop: threading.Event | None = None  # set (Ctrl-C): the search ends at its next check

    def stopped(self) -> bool:
        """Whether the caller asked the search to stop."""
        return self.stop is not None and self.stop.is_set()


@dataclass(slots=True)
class _Best:
    """The cheapest plan so far: routes, orders left out, cost, schedules, and how it was found."""

    routes: list[list[Stop]]
    left: list[int]
    cost: int
    schedules: list[RouteSchedule]
    engine: str = "construction"


def solve(problem: Problem, stop: threading.Event | None = None) -> Plan:
    """Plan `problem`: every order ends in one route or in `unassigned` with a reason.

    `stop`, once set (Ctrl-C in the command line), ends the search at its next check, within
    milliseconds: the best plan found so far is returned, checked as any other.
    """
    t0 = time.perf_counter()
    _tell_if_not_warm()
    run = _admit(problem, t0)
    run.stop = stop
    built, best, fresh = _first_plans(run)
    first_plan_ms = int((time.perf_counter() - t0) * 1000)
    found: SearchResult | None = None
    if run.candidates and run.inst.n_riders and time.perf_counter() < run.deadline and not run.stopped():
        forbid = _forbid_new_orders(run.inst, best.routes)
        best = _improve_with_ortools(run, best, forbid)
        if not forbid:
            found, partitioned = _ruin_and_recreate(run, best, built, fresh)
            best = _keep_if_cheaper(run, best, found, partitioned)
    run.unassigned += _left_out(run, best, built, found)
    unassigned, outsourced = send_out(run.inst, run.unassigned, deadline=run.pool_deadline)
    solve_ms = int((time.perf_counter() - t0) * 1000)
    return build_plan(run.inst, best.routes, unassigned, solve_ms, first_plan_ms, best.engine,
                      schedules=best.schedules, third_party=outsourced)


def _admit(problem: Problem, t0: float) -> _Run:
    """The orders inside their store's area that the budget affords, their instance, and the
    screen of each order alone (what no rider can take is unassigned with its reason)."""
    opts = problem.options
    routed, unassigned = split_by_area(problem)
    routed, too_many = fit_to_budget(problem, routed, opts.time_limit_s - (time.perf_counter() - t0))
    unassigned += too_many
    read_back = t0 + opts.time_limit_s - reserve_s(len(routed))
    deadline = read_back - pooling_reserve_s(problem)
    inst = sequence_carried(build_instance(problem, routed))
    impossible = screen(inst, list(range(inst.n_orders)))
    for k, (reason, detail) in impossible.items():
        unassigned.append(UnassignedOrder(inst.orders[k].id, reason, detail))
    candidates = [k for k in range(inst.n_orders) if k not in impossible]
    # A work limit makes the same input give the same plan, as long as it comes before the
    # clock: the time limit holds whatever the work limit says.
    return _Run(problem, inst, candidates, unassigned, deadline, opts.max_iterations is not None, read_back)


def _first_plans(run: _Run) -> tuple[Construction, _Best, bool]:
    """The first plan, or the routes being followed completed with what is new when that is the
    cheaper start (a re-dispatch: plans change less); whether the start was built from scratch.
    The first plan is always completed unless it would take the whole budget by itself."""
    inst, candidates, seed = run.inst, run.candidates, run.problem.options.seed
    built = first_plan(inst, candidates, run.deadline, seed)
    # The schedules of the routes kept go to the plan builder, which need not time them again.
    cost, ok, schedules = costed(inst, built.routes, built.left)
    best, fresh = _Best(built.routes, built.left, cost, schedules), True
    warm = warm_routes(inst, candidates)
    if warm is not None:
        resumed = first_plan(inst, candidates, run.deadline, seed, warm)
        if resumed is not None:
            resumed_cost, resumed_ok, resumed_schedules = costed(inst, resumed.routes, resumed.left)
            if resumed_ok and resumed_cost <= best.cost:
                built, fresh = resumed, False
                best = _Best(resumed.routes, resumed.left, resumed_cost, resumed_schedules)
    if not ok:
        raise AssertionError("construction produced a route that breaks a hard rule")
    return built, best, fresh


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


def _ortools_models(run: _Run, now: float) -> bool:
    """Whether OR-Tools' model fits this problem and its budget."""
    inst, opts = run.inst, run.problem.options
    # With mostly scheduled orders the ruin and recreate does better with the whole budget.
    # Its model has no reassignment cost either: a re-dispatch that prices moves skips it.
    stable = opts.reassign_cost > 0 and bool(np.any(inst.assigned_to >= 0))
    # Nor does it price the customers' clock or steep lateness, or know deadlines and shift
    # ends that bound pickups.
    modelled = (
        not opts.prices_time and not bool(inst.shift_end_pickups.any()) and not bool(np.any(inst.deadline_s < NO_LIMIT))
    )
    affordable = run.reproducible or run.deadline - now >= _ORTOOLS_MIN_BUDGET_S
    static_or_allowed = inst.speed_profile is None or inst.problem.options.ortools_with_profile
    return affordable and static_or_allowed and not inst.windowed and not stable and modelled


def _improve_with_ortools(run: _Run, best: _Best, forbid: set[int]) -> _Best:
    """OR-Tools' guided local search from the best plan, in a child killed past its share."""
    from dispatch.solver.ortools_adapter import improve

    now = time.perf_counter()
    if not _ortools_models(run, now):
        return best
    inst, candidates, opts = run.inst, run.candidates, run.problem.options
    # With a work limit its solution limit binds, and the clock only stops a runaway: a share of
    # the clock would end it at a load-dependent point (plans not reproducible).
    ortools_deadline = run.deadline if run.reproducible else now + _ORTOOLS_SHARE * (run.deadline - now)
    start_routes = best.routes
    finished, result = run_with_deadline(
        lambda: improve(inst, candidates, start_routes, forbid, ortools_deadline, opts.max_iterations),
        ortools_deadline + _KILL_MARGIN_S,
        run.stop,
    )
    if finished and result.routes is not None:
        routed_now = {s[1] for rt in result.routes for s in rt if s[0] == DROP}
        new_left = [k for k in candidates if k not in routed_now]
        cost, feasible, schedules = costed(inst, result.routes, new_left)
        if feasible and cost <= best.cost:
            return _Best(result.routes, new_left, cost, schedules, "construction+ortools")
    return best


def _ruin_and_recreate(run: _Run, best: _Best, built: Construction, fresh: bool) -> tuple[SearchResult | None, bool]:
    """The search from the best plan (compiled; in Python when it is not loaded), and whether
    the set partitioning found its plan."""
    found, partitioned = None, False
    if fast_lns is not None and fast_lns.ready() and time.perf_counter() < run.deadline and not run.stopped():
        found, partitioned = _compiled_search(run, best, built, fresh)
    if found is None and time.perf_counter() < run.deadline and not run.stopped():
        states, search_left = states_from_routes(run.inst, best.routes), best.left
        if states is None:
            states, search_left = states_from_routes(run.inst, built.routes), list(built.left)
        if states is not None:
            opts = run.problem.options
            found = RuinRecreate(run.inst, states, search_left, opts.seed).run(run.deadline, opts.max_iterations, stop=run.stop)
    return found, partitioned


def _compiled_search(run: _Run, best: _Best, built: Construction, fresh: bool) -> tuple[SearchResult | None, bool]:
    """The compiled search's trajectories on consecutive shares of the time, then the set
    partitioning over the routes they built and the search going on from its plan."""
    inst, deadline = run.inst, run.deadline
    # The compiled search works on any plan made of waves, carried drop-offs anywhere.
    start = (best.routes, best.left) if wave_shaped(inst, best.routes) else (built.routes, list(built.left))
    trajectories = _trajectories(inst, deadline - time.perf_counter(), run.reproducible)
    starts = [start] + _other_start(run, trajectories, fresh)
    limits = [search_limits(inst, *s) for s in starts]
    began = time.perf_counter()
    partition_s = _partition_seconds(inst, deadline - began, run.reproducible)
    pool = None
    if partition_s is not None:
        pool = fast_lns.RoutePool(inst, PARTITION_SLACK, *_pool_size(inst, partition_s))
    found = _run_trajectories(run, starts, limits, trajectories, began, deadline - (partition_s or 0.0), pool)
    if pool is None or found is None or not len(pool):
        return found, False
    return _partition_and_search_on(run, pool, found, trajectories)


def _trajectories(inst: Instance, seconds: float, reproducible: bool) -> int:
    """How many independent searches share the budget (several once it is ample for the problem)."""
    if reproducible:
        return 1
    if inst.windowed:
        return TRAJ_N if seconds >= TRAJ_MIN_S else 1
    return TRAJ_N if seconds >= TRAJ_STORE_S_PER_ORDER * inst.n_orders else 1


def _other_start(run: _Run, trajectories: int, fresh: bool) -> list[tuple[list[list[Stop]], list[int]]]:
    """A second start for every other trajectory of a store problem: the plain regret plan.

    Which plan a store problem's search settles in depends on where it starts more than on its
    seed (30x5 seed 1 at 1 s: 1.025-1.039 of PyVRP from the first plan whatever the seeds,
    1.001 from the plain regret rule's plan, without alike idle riders grouped)."""
    if trajectories <= 1 or not fresh or run.inst.windowed:
        return []
    other = first_plan(run.inst, run.candidates, run.deadline, run.problem.options.seed, one_idle=False)
    return [(other.routes, list(other.left))] if other is not None and other.complete else []


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


def _run_trajectories(run: _Run, starts: list, limits: list, trajectories: int, began: float, search_end: float,
                      pool) -> SearchResult | None:
    """Each trajectory on its consecutive share of the time, its own seed, starts taken in turn;
    the cheapest result."""
    opts, found = run.problem.options, None
    for t in range(trajectories):
        ends = began + (t + 1) * (search_end - began) / trajectories
        (s_routes, s_left), (latest, late_weight) = starts[t % len(starts)], limits[t % len(starts)]
        result = fast_lns.CompiledRuinRecreate(
            run.inst, s_routes, s_left, opts.seed + 7 * t, latest, late_weight, pool
        ).run(ends, opts.max_iterations, stop=run.stop)
        if found is None or (result is not None and result.cost < found.cost):
            found = result
        if run.stopped():
            break
    return found


def _partition_and_search_on(run: _Run, pool, found: SearchResult, trajectories: int) -> tuple[SearchResult, bool]:
    """The best combination of the pooled routes if cheaper, then the search going on from it
    (the solve usually ends before its time); whether the partitioning's plan was taken."""
    inst, deadline, opts = run.inst, run.deadline, run.problem.options
    partitioned = False
    clock = PARTITION_CLOCK_SHARE * (deadline - time.perf_counter())
    picked = recombine(inst, pool, run.candidates, found.routes, clock) if clock > 0 and not run.stopped() else None
    # Its costs are the kernels' (the same as re-timing gives, see the tests).
    if picked is not None and picked.objective < found.cost - 0.5:
        found = SearchResult(None, picked.left, int(round(picked.objective)), found.iterations, routes=picked.routes)
        partitioned = True
    if deadline - time.perf_counter() > _SEARCH_ON_FROM_S and not run.stopped():
        latest, late_weight = search_limits(inst, found.routes, found.left)
        more = fast_lns.CompiledRuinRecreate(
            inst, found.routes, found.left, opts.seed + 7 * trajectories, latest, late_weight
        ).run(deadline, None, stop=run.stop)
        if more is not None and more.cost < found.cost:
            found = SearchResult(None, more.left, more.cost, found.iterations + more.iterations, routes=more.routes)
    return found, partitioned


def _keep_if_cheaper(run: _Run, best: _Best, found: SearchResult | None, partitioned: bool) -> _Best:
    """The search's plan, re-timed in Python, when it keeps every rule and is cheaper."""
    if found is None:
        return best
    routes = found.stop_lists(run.inst)
    cost, feasible, schedules = costed(run.inst, routes, found.left)
    if feasible and cost < best.cost:
        engine = best.engine + ("+lns+partition" if partitioned else "+lns")
        return _Best(routes, found.left, cost, schedules, engine)
    return best


def _left_out(run: _Run, best: _Best, built: Construction, found: SearchResult | None) -> list[UnassignedOrder]:
    """The orders the plan leaves out, each with its reason; checks no order was lost or doubled."""
    inst, opts = run.inst, run.problem.options
    dropped_off = [s[1] for rt in best.routes for s in rt if s[0] == DROP]
    planned = set(dropped_off)
    searched = found is not None and found.iterations > 0
    left = best.left
    if len(planned) != len(dropped_off) or planned & set(left) or len(planned) + len(left) != len(run.candidates):
        raise AssertionError("solver bookkeeping lost or doubled an order")  # never ship such a plan
    if not built.complete and not searched:
        detail = (f"the {opts.time_limit_s:g} s budget ran out before this order could be planned; "
                  "a larger time_limit_s plans it")
        return [UnassignedOrder(inst.orders[k].id, "time_limit_reached", detail) for k in left]
    reasons = explain_all_left_out(inst, left, len(planned))
    return [UnassignedOrder(inst.orders[k].id, *reasons[k]) for k in left]


# Orders refused before solving stay refused: a third party delivers inside the store's area too.
_NOT_SENT_OUT = frozenset({"outside_service_area", "unknown_store"})


def send_out(inst: Instance, unassigned: list[UnassignedOrder],
             deadline: float | None = None) -> tuple[list[UnassignedOrder], list[ThirdPartyTrip]]:
    """Orders left out of every route that go to their store's third party instead: those whose
    trip breaks no rule and costs less than leaving them unassigned (the search priced each
    left-out order at that trip, so what it left out is what is cheaper sent out), pooled on
    shared couriers where the store's third party allows it and that costs less (until
    `deadline`)."""
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
    return kept, pool_couriers(problem, trips, meter or LegMeter(problem.options.travel), deadline)


def _tell_if_not_warm() -> None:
    """Log once per process that solves run the slower Python search until `warm_up` is called."""
    if fast_lns is None or fast_lns.ready() or _told_not_warm["done"]:
        return
    _told_not_warm["done"] = True
    # A library user who never calls warm_up gets the slower pure-Python search in every solve,
    # and nothing else would tell them why.
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
