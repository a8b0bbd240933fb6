"""The improvement steps: both searches keep plans valid; the OR-Tools step can be cut off."""

import time

from dispatch import problem_from_document
from dispatch.generate import generate_problem
from dispatch.instance import build_instance
from dispatch.solver import split_by_area, total_cost
from dispatch.solver.construct import RouteState, construct, hard_latest
from dispatch.solver.isolation import run_with_deadline
from dispatch.solver.lns import RuinRecreate


def _instance(**kw):
    problem = problem_from_document(generate_problem(40, 6, seed=11, lateness="hard", equal_speeds=True, **kw))
    routed, _ = split_by_area(problem)
    return build_instance(problem, routed)


def test_python_ruin_and_recreate_never_worsens_and_stays_valid():
    """The pure-Python search (used where numba is missing) returns a feasible, no-worse plan."""
    inst = _instance()
    built = construct(inst, list(range(inst.n_orders)), float("inf"))
    start_cost, ok = total_cost(inst, built.routes, built.left)
    assert ok
    found = RuinRecreate(inst, built.states, built.left, seed=3).run(float("inf"), 60)
    routes = [RouteState.with_trips(inst, r, t).stops() for r, t in enumerate(found.trips)]
    cost, ok = total_cost(inst, routes, found.left)
    assert ok and cost <= start_cost


def test_compiled_search_matches_its_own_bookkeeping(compiled_search):
    """The compiled search's best plan re-times to a feasible plan with the cost it reports."""
    import numpy as np

    inst = _instance(on_road=2)
    built = construct(inst, list(range(inst.n_orders)), float("inf"))
    search = compiled_search.CompiledRuinRecreate(
        inst, built.routes, built.left, 5, hard_latest(inst), np.zeros(inst.n_orders)
    )
    found = search.run(float("inf"), 300)
    routes = found.stop_lists(inst)
    cost, ok = total_cost(inst, routes, found.left)
    assert ok and cost == found.cost
    served = sorted(s[1] for rt in routes for s in rt if s[0] == 1)
    assert sorted(served + found.left) == list(range(inst.n_orders))


def test_a_step_past_its_deadline_is_cut_off():
    """A step that overruns is killed and reported as unfinished; a quick one returns its value."""
    assert run_with_deadline(lambda: 41 + 1, time.perf_counter() + 10) == (True, 42)
    finished, value = run_with_deadline(lambda: time.sleep(30), time.perf_counter() + 0.2)
    assert (finished, value) == (False, None)


def test_the_first_plan_cost_estimate_learns_within_bounds(monkeypatch):
    """Measured first plans pull the estimate towards them (with a margin), at most halving or
    doubling it per plan; small plans, dominated by overheads, teach nothing."""
    import dispatch.solver as solver

    monkeypatch.setitem(solver._first_plan_rate, "s_per_order2", 1e-6)
    solver._learn_first_plan_rate(150, 1.0)
    assert solver._first_plan_rate["s_per_order2"] == 1e-6
    solver._learn_first_plan_rate(300, 0.5e-6 * 300**2)
    assert abs(solver._first_plan_rate["s_per_order2"] - (0.7e-6 + 0.3 * 0.6e-6)) < 1e-12
    solver._learn_first_plan_rate(300, 100.0)
    assert abs(solver._first_plan_rate["s_per_order2"] - 2 * 0.88e-6) < 1e-12
