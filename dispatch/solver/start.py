"""The first plan: regret insertion keeping every promise (compiled once the search is loaded),
and the estimate of its time that lets a tight budget plan its most urgent orders first."""

from __future__ import annotations

import time

import numpy as np

from dispatch.instance import Instance
from dispatch.solver.admission import most_within
from dispatch.solver.construct import Construction, construct, hard_latest, recreate, search_limits, states_from_routes
from dispatch.solver.routes import DROP, Stop

try:  # the compiled search is optional: without numba the Python one runs
    from dispatch.solver import fast_lns
except ImportError:  # pragma: no cover - numba is a declared dependency
    fast_lns = None

# Seconds per order^2 of a compiled first plan before this process has timed its own: a
# cautious start above what was measured (docs/SOLVER_NOTES.md, by name).
_COMPILED_FIRST_PLAN_S_PER_ORDER2 = 0.12e-6
# Many riders cost more: about 0.2 us an order and rider on top.
_FIRST_PLAN_S_PER_ORDER_RIDER = 0.2e-6
# Plans of fewer orders teach the estimate nothing (fixed costs weigh in).
_LEARN_FROM_ORDERS = 200
# Up to this factor over the time left the whole insertion still runs: planning only a part is
# a cliff in quality when the estimate just misses.
_FIRST_PLAN_SLACK = 1.2
_first_plan_rate = {"s_per_order2": _COMPILED_FIRST_PLAN_S_PER_ORDER2}


def _riders_share_s(orders: int, riders: int) -> float:
    """The part of a compiled first plan's time that grows with its riders."""
    return _FIRST_PLAN_S_PER_ORDER_RIDER * orders * riders


def _first_plan_estimate_s(orders: int, riders: int) -> float:
    """Expected seconds of a compiled first plan of `orders` orders with `riders` riders."""
    return _first_plan_rate["s_per_order2"] * orders**2 + _riders_share_s(orders, riders)


def _learn_first_plan_rate(orders: int, seconds: float) -> None:
    """Fold one measured compiled first plan into this process's cost estimate."""
    if orders < _LEARN_FROM_ORDERS:
        return
    old = _first_plan_rate["s_per_order2"]
    measured = 1.2 * seconds / orders**2  # the margin: one plan may take longer than the last
    _first_plan_rate["s_per_order2"] = min(2 * old, max(old / 2, 0.7 * old + 0.3 * measured))


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
    if _first_plan_estimate_s(len(todo), inst.n_riders) > _FIRST_PLAN_SLACK * (deadline - began):
        if warm:
            return None
        fit = most_within(lambda k: _first_plan_estimate_s(k, inst.n_riders), len(todo), deadline - began)
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
        # `recreate`'s second phase compiled (the Python one dominated big first plans): the
        # orders left out may be late (priced), nobody planned gets later than they are.
        late_ok, late_weight = search_limits(inst, routes, left)
        placed = fast_lns.CompiledRuinRecreate(inst, routes, left, seed, late_ok, late_weight).run(
            float("inf"), 1, one_idle=one_idle, ruin=False
        )
        if placed is not None:
            routes, left = placed.routes, list(placed.left)
    if left and soft and time.perf_counter() < deadline:
        # Route states (Python) only here: building them for every rider is costly on big plans.
        states = states_from_routes(inst, routes)
        if states is None:
            return None if warm else construct(inst, candidates, deadline)
        left = recreate(inst, states, left, latest, deadline)
        routes = [st.stops() for st in states]
    complete = not skipped and (not left or time.perf_counter() <= deadline)
    return Construction(routes=routes, left=left + skipped, states=states, complete=complete)
