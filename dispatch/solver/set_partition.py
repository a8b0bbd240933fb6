"""Set partitioning over the search's route pool: the best plan made of routes already built.

The ruin and recreate settles in plans whose waves are full: moving one order needs room that
no single move makes. Its near-best plans, taken together, hold routes that fit each other
better than those of any one plan (30x5 seed 1: the routes built in 1 s of search included
every route of a plan 1% cheaper than the best it had reached). A small integer programme picks them:
one binary per pooled route, each order on exactly one chosen route or left out at its cost,
each kind of rider used at most as many times as there are such riders. SCIP (shipped with
OR-Tools) solves it; the search's best plan is its starting solution, so it never does worse.
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass

from dispatch.instance import Instance
from dispatch.solver.fast_lns import PoolRoute, RoutePool
from dispatch.solver.routes import DROP, Stop, route_cost, schedule_route, unassigned_cost


@dataclass(frozen=True)
class Recombined:
    """The plan chosen from the pool, its cost, and whether SCIP proved it the best there."""

    routes: list[list[Stop]]
    left: list[int]
    objective: float
    optimal: bool


@functools.cache
def _linear_solver():
    """OR-Tools' linear solver wrapper when it offers SCIP, else None (imported on first use:
    importing OR-Tools takes tens of milliseconds, which `import dispatch` should not pay)."""
    try:
        from ortools.linear_solver import pywraplp
    except ImportError:  # pragma: no cover - OR-Tools is a declared dependency
        return None
    return pywraplp if pywraplp.Solver.CreateSolver("SCIP") is not None else None


def available() -> bool:
    """Whether a MIP solver for the set partitioning is present (SCIP, shipped with OR-Tools)."""
    return _linear_solver() is not None


def recombine(
    inst: Instance,
    pool: RoutePool,
    candidates: list[int],
    best_routes: list[list[Stop]],
    time_limit_s: float | None,
) -> Recombined | None:
    """The cheapest plan made of pooled routes (and the best plan's own), or None without a solver.

    `time_limit_s` bounds building and solving the programme (None: solved to optimality, for
    tests). Every order in a pooled route must be among `candidates` or carried.
    """
    began = time.perf_counter()
    pywraplp = _linear_solver()
    if pywraplp is None:
        return None
    solver = pywraplp.Solver.CreateSolver("SCIP")
    groups = pool.groups
    # The pool holds one route per set of orders and kind of rider, the cheapest it saw.
    columns = {(route.group, route.orders): route for route in pool.routes()}
    # The best plan's routes are columns too (the pool may have filled up before it was found).
    start: set[tuple[int, frozenset]] = set()
    for r, stops in enumerate(best_routes):
        if stops:
            orders = frozenset(s[1] for s in stops if s[0] == DROP)
            key = (int(groups[r]), orders)
            start.add(key)
            if key not in columns:
                cost = float(route_cost(inst, schedule_route(inst, r, stops)))
                columns[key] = PoolRoute(r, key[0], orders, cost, stops)
    keys = list(columns)
    carried = set(int(k) for k in range(inst.n_orders) if inst.carried_by[k] >= 0)
    leavable = [k for k in candidates if k not in carried]
    drop_cost = [unassigned_cost(inst, k) for k in leavable]
    x = [solver.BoolVar(f"x{i}") for i in range(len(keys))]
    y = [solver.BoolVar(f"y{k}") for k in leavable]
    cover = {k: solver.Constraint(1, 1) for k in list(leavable) + sorted(carried)}
    for k, var in zip(leavable, y):
        cover[k].SetCoefficient(var, 1)
    size: dict[int, int] = {}
    for g in groups.tolist():
        size[g] = size.get(g, 0) + 1
    fleet = {g: solver.Constraint(0, n) for g, n in size.items()}
    objective = solver.Objective()
    for var, key in zip(x, keys):
        for k in key[1]:
            cover[k].SetCoefficient(var, 1)
        fleet[key[0]].SetCoefficient(var, 1)
        objective.SetCoefficient(var, columns[key].cost)
    for var, cost in zip(y, drop_cost):
        objective.SetCoefficient(var, cost)
    objective.SetMinimization()
    planned = {k for key in start for k in key[1]}
    hint = [1.0 if key in start else 0.0 for key in keys] + [0.0 if k in planned else 1.0 for k in leavable]
    solver.SetHint(x + y, hint)
    if time_limit_s is not None:
        solver.SetTimeLimit(max(1, int(1000 * (time_limit_s - (time.perf_counter() - began)))))
    status = solver.Solve()
    if status not in (pywraplp.Solver.OPTIMAL, pywraplp.Solver.FEASIBLE):
        return None
    chosen = [columns[key] for var, key in zip(x, keys) if var.solution_value() > 0.5]
    routes: list[list[Stop]] = [[] for _ in range(inst.n_riders)]
    # Each chosen route goes to the rider it was built for when free, else to one alike.
    free_of: dict[int, list[int]] = {}
    for r, g in enumerate(groups.tolist()):
        free_of.setdefault(g, []).append(r)
    later = []
    for route in chosen:
        if route.rider in free_of[route.group]:
            free_of[route.group].remove(route.rider)
            routes[route.rider] = list(route.stops)
        else:
            later.append(route)
    for route in later:
        routes[free_of[route.group].pop(0)] = list(route.stops)
    left = [k for k, var in zip(leavable, y) if var.solution_value() > 0.5]
    return Recombined(
        routes=routes,
        left=left,
        objective=solver.Objective().Value(),
        optimal=status == pywraplp.Solver.OPTIMAL,
    )
