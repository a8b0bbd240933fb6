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


def _assert_bookkeeping(inst, found):
    """The search's best plan re-times to a feasible plan of the cost it reports, every order once."""
    routes = found.stop_lists(inst)
    cost, ok = total_cost(inst, routes, found.left)
    assert ok and cost == found.cost
    served = sorted(s[1] for rt in routes for s in rt if s[0] == 1)
    assert sorted(served + found.left) == list(range(inst.n_orders))


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
    _assert_bookkeeping(inst, found)


def test_a_step_past_its_deadline_is_cut_off():
    """A step that overruns is killed and reported as unfinished; a quick one returns its value."""
    assert run_with_deadline(lambda: 41 + 1, time.perf_counter() + 10) == (True, 42)
    finished, value = run_with_deadline(lambda: time.sleep(30), time.perf_counter() + 0.2)
    assert (finished, value) == (False, None)


def test_the_first_plan_cost_estimate_learns_within_bounds(monkeypatch):
    """Measured first plans pull the estimate towards them (with a margin), at most halving or
    doubling it per plan; small plans, dominated by overheads, teach nothing."""
    import dispatch.solver.start as solver

    monkeypatch.setitem(solver._first_plan_rate, "s_per_order2", 1e-6)
    solver._learn_first_plan_rate(150, 1.0)
    assert solver._first_plan_rate["s_per_order2"] == 1e-6
    solver._learn_first_plan_rate(300, 0.5e-6 * 300**2)
    assert abs(solver._first_plan_rate["s_per_order2"] - (0.7e-6 + 0.3 * 0.6e-6)) < 1e-12
    solver._learn_first_plan_rate(300, 100.0)
    assert abs(solver._first_plan_rate["s_per_order2"] - 2 * 0.88e-6) < 1e-12


def test_nearest_orders_match_a_full_sort():
    """The partitioned nearest-order lists equal a full stable sort of every row, itself first."""
    import numpy as np

    from dispatch.solver.fast_lns import nearest_orders

    rng = np.random.default_rng(4)
    for n in (5, 40, 120):
        points = rng.random((n, 2)) * 3000
        distance_m = np.sqrt(((points[:, None] - points[None]) ** 2).sum(-1))
        expected = np.argsort(distance_m + distance_m.T, axis=1, kind="stable")[:, : min(n, 40)]
        got = nearest_orders(distance_m, 40)
        assert got.shape == expected.shape and (got == expected).all()
        assert (got[:, 0] == np.arange(n)).all()


def test_lazy_first_plan_on_a_big_problem_keeps_its_bookkeeping(compiled_search):
    """From LAZY_FROM orders the first plan re-evaluates only near orders after each insertion;
    what it reports still re-times to a feasible plan of the same cost, every order once."""
    import numpy as np

    problem = problem_from_document(generate_problem(compiled_search.LAZY_FROM + 40, 24, seed=3, lateness="hard", equal_speeds=True))
    inst = build_instance(problem, split_by_area(problem)[0])
    empty = [[] for _ in range(inst.n_riders)]
    search = compiled_search.CompiledRuinRecreate(
        inst, empty, list(range(inst.n_orders)), 0, hard_latest(inst), np.zeros(inst.n_orders)
    )
    found = search.run(float("inf"), 1)
    _assert_bookkeeping(inst, found)
    assert len(found.left) <= 0.15 * inst.n_orders  # a first plan, not a failed one


def _solomon_problem(name: str, time_limit_s: float, max_iterations=None):
    from benchmarks.solomon_data import load, problem_document

    doc = problem_document(load(name), time_limit_s, seed=1)
    if max_iterations is not None:
        doc["options"]["max_iterations"] = max_iterations
    return problem_from_document(doc)


def test_granular_insertion_in_long_waves_keeps_plans_valid():
    """Long waves (a Solomon type-2 instance: 25-35 drops each) are searched with granular
    insertion; the plan still keeps every window, and the validator agrees."""
    from dispatch import solve
    from dispatch.validate import validate_plan

    problem = _solomon_problem("RC208", 5.0, max_iterations=400)
    plan = solve(problem)
    assert not plan.unassigned
    assert max(len(route.stops) for route in plan.routes) > 2 * 12  # waves longer than GRANULAR_FROM
    assert validate_plan(problem, plan.to_document()) == []


def _assert_two_trajectories_keep_the_better(monkeypatch, problem):
    """Solve `problem` recording each search: two seeds on consecutive shares, the cheaper kept."""
    import dispatch.solver.pipeline as solver
    from dispatch import solve
    from dispatch.validate import validate_plan

    runs = []
    real = solver.fast_lns.CompiledRuinRecreate

    class Recording(real):
        def run(self, deadline, max_iterations, **options):
            found = super().run(deadline, max_iterations, **options)
            runs.append((self.seed, deadline, found.cost if found else None))
            return found

    monkeypatch.setattr(solver.fast_lns, "CompiledRuinRecreate", Recording)
    monkeypatch.setattr(solver, "PARTITION_FROM_S", float("inf"))  # its search-on would be a third run
    plan = solve(problem)
    searches = [r for r in runs if r[1] != float("inf")]  # the first plan runs without a deadline
    assert len(searches) == solver.TRAJ_N
    assert len({seed for seed, _, _ in searches}) == solver.TRAJ_N
    assert searches[0][1] < searches[1][1]  # consecutive shares of the budget
    assert plan.metrics.total_travel_s * problem.options.travel_cost_per_s == min(c for _, _, c in searches)
    assert validate_plan(problem, plan.to_document()) == []


def test_windowed_budgets_run_two_trajectories_and_keep_the_better(monkeypatch):
    """With 2 s or more on a VRPTW-like problem the search runs twice from the same start with
    different seeds, each on its share of the time, and the plan is the cheaper of the two."""
    import dispatch.solver.pipeline as solver

    problem = _solomon_problem("R201", solver.TRAJ_MIN_S + 0.2)
    _assert_two_trajectories_keep_the_better(monkeypatch, problem)
    assert solver._trajectories(build_instance(problem, list(problem.orders)), 1.0, False) == 1


def test_an_ample_budget_for_a_store_problem_runs_two_trajectories(monkeypatch):
    """A store problem gets two trajectories once the budget affords about 200 iterations per
    order (30 orders: from 0.075 s of search); with less, or a work limit, one."""
    import dispatch.solver.pipeline as solver

    doc = generate_problem(30, 5, seed=1, lateness="hard", equal_speeds=True, time_limit_s=0.3)
    problem = problem_from_document(doc)
    inst = build_instance(problem, split_by_area(problem)[0])
    assert not inst.windowed
    assert solver._trajectories(inst, 0.07, False) == 1
    assert solver._trajectories(inst, 0.08, False) == solver.TRAJ_N
    assert solver._trajectories(inst, 60.0, True) == 1
    _assert_two_trajectories_keep_the_better(monkeypatch, problem)


def test_the_second_store_trajectory_starts_from_the_plain_regret_plan(monkeypatch):
    """On a store problem the trajectories alternate starts: the first plan, then the plan of
    the regret rule without alike idle riders grouped."""
    import dispatch.solver.pipeline as solver

    starts = []
    real = solver.fast_lns.CompiledRuinRecreate

    class Recording(real):
        def __init__(self, inst, routes, left, *args, **kw):
            super().__init__(inst, routes, left, *args, **kw)
            self.start = (routes, sorted(left))

        def run(self, deadline, max_iterations, **options):
            if deadline != float("inf"):  # a search, not a first plan
                starts.append(self.start)
            return super().run(deadline, max_iterations, **options)

    doc = generate_problem(30, 5, seed=4, lateness="hard", equal_speeds=True, time_limit_s=0.3)
    problem = problem_from_document(doc)
    monkeypatch.setattr(solver.fast_lns, "CompiledRuinRecreate", Recording)
    solver.solve(problem)
    monkeypatch.undo()
    inst = build_instance(problem, split_by_area(problem)[0])
    plain = solver.first_plan(inst, list(range(inst.n_orders)), float("inf"), problem.options.seed, one_idle=False)
    grouped = solver.first_plan(inst, list(range(inst.n_orders)), float("inf"), problem.options.seed)
    assert len(starts) == solver.TRAJ_N
    assert starts[1] == (plain.routes, sorted(plain.left))
    assert plain.routes != grouped.routes


def test_a_second_start_reaches_a_plan_the_first_does_not(compiled_search):
    """20x4 seed 1: from the first plan both trajectories' seeds settle at 3903; from the plain
    regret plan the second seed finds 3799, and that plan is valid."""
    from dispatch.solver import first_plan
    from dispatch.solver.construct import search_limits
    from dispatch.solver.plan_builder import build_plan
    from dispatch.validate import validate_plan

    problem = problem_from_document(generate_problem(20, 4, seed=1, lateness="hard", equal_speeds=True))
    inst = build_instance(problem, split_by_area(problem)[0])
    found = {}
    for one_idle in (True, False):
        start = first_plan(inst, list(range(inst.n_orders)), float("inf"), 0, one_idle=one_idle)
        latest, weight = search_limits(inst, start.routes, start.left)
        for seed in (0, 7):  # the seeds `solve` gives its two trajectories
            search = compiled_search.CompiledRuinRecreate(inst, start.routes, start.left, seed, latest, weight)
            found[one_idle, seed] = search.run(float("inf"), 1500)
            _assert_bookkeeping(inst, found[one_idle, seed])
    assert found[False, 7].cost < min(found[True, 0].cost, found[True, 7].cost)
    plan = build_plan(inst, found[False, 7].stop_lists(inst), [], 0, 0, "construction+lns")
    assert validate_plan(problem, plan.to_document()) == []


def test_kicks_lead_a_settled_search_to_a_better_plan(compiled_search, monkeypatch):
    """40x6 seed 8, 16,000 iterations from the first plan: without kicks the search settles at
    7348; going back to the best and ruining 30% of it after each 800 idle iterations (16 kicks)
    reaches 7214, and that plan is valid."""
    from dispatch.solver import first_plan
    from dispatch.solver.construct import search_limits
    from dispatch.solver.plan_builder import build_plan
    from dispatch.validate import validate_plan

    problem = problem_from_document(generate_problem(40, 6, seed=8, lateness="hard", equal_speeds=True))
    inst = build_instance(problem, split_by_area(problem)[0])
    start = first_plan(inst, list(range(inst.n_orders)), float("inf"), 0)
    latest, weight = search_limits(inst, start.routes, start.left)
    found, kicks = {}, {}
    for stall in (0.0, compiled_search.STALL_PER_ORDER):
        monkeypatch.setattr(compiled_search, "STALL_PER_ORDER", stall)
        search = compiled_search.CompiledRuinRecreate(inst, start.routes, start.left, 0, latest, weight)
        found[stall] = search.run(float("inf"), 16000)
        kicks[stall] = search.kicks
        _assert_bookkeeping(inst, found[stall])
    assert kicks[0.0] == 0 and kicks[compiled_search.STALL_PER_ORDER] > 0
    assert found[compiled_search.STALL_PER_ORDER].cost < found[0.0].cost
    plan = build_plan(inst, found[compiled_search.STALL_PER_ORDER].stop_lists(inst), [], 0, 0, "construction+lns")
    assert validate_plan(problem, plan.to_document()) == []


def test_a_first_plan_that_does_not_fit_plans_the_most_urgent_orders(monkeypatch):
    """When the compiled insertion of every order would not finish in time, the orders that fit
    are the most urgent ones; the rest are reported as cut by the time limit, and the plan is
    valid."""
    import math

    import dispatch.solver.start as solver
    from dispatch import solve
    from dispatch.validate import validate_plan

    doc = generate_problem(60, 8, seed=5, lateness="hard", equal_speeds=True, time_limit_s=0.2)
    problem = problem_from_document(doc)
    inst = build_instance(problem, split_by_area(problem)[0])
    # An estimate of 1 ms per order^2 lets about 12 of 60 orders fit in 0.15 s.
    monkeypatch.setitem(solver._first_plan_rate, "s_per_order2", 1e-3)
    began = time.perf_counter()
    built = solver.first_plan(inst, list(range(inst.n_orders)), began + 0.15, 0)
    fit = int(math.sqrt(0.15 / 1e-3))
    planned = {s[1] for rt in built.routes for s in rt if s[0] == 1}
    assert not built.complete and 0 < len(planned) <= fit
    by_promise = sorted(range(inst.n_orders), key=lambda k: (int(inst.promised_s[k]), k))
    assert planned <= set(by_promise[:fit])
    assert sorted(planned | set(built.left)) == list(range(inst.n_orders))
    assert total_cost(inst, built.routes, built.left)[1]

    # In a solve, the search then places what the first plan skipped.
    monkeypatch.setitem(solver._first_plan_rate, "s_per_order2", 1e-4)  # about 40 orders fit
    plan = solve(problem)
    assert not plan.unassigned
    assert validate_plan(problem, plan.to_document()) == []


def test_alike_idle_riders_share_a_group_and_bound_riders_stand_alone(compiled_search):
    """Idle riders are interchangeable only when everything that prices an insertion is equal."""
    import dataclasses

    problem = problem_from_document(generate_problem(20, 5, seed=2, lateness="hard", equal_speeds=True, on_road=1))
    riders = list(problem.riders)
    carrying = [r for r, rider in enumerate(riders) if rider.carrying]
    free = [r for r, rider in enumerate(riders) if not rider.carrying]
    riders[free[-1]] = dataclasses.replace(riders[free[-1]], capacity_items=riders[free[-1]].capacity_items + 5)
    problem = dataclasses.replace(problem, riders=tuple(riders))
    inst = build_instance(problem, split_by_area(problem)[0])
    group = compiled_search._tables(inst).idle_group
    same_start = [r for r in free[:-1] if riders[r].location == riders[free[0]].location]
    assert len(same_start) >= 2 and len({int(group[r]) for r in same_start}) == 1
    assert group[free[-1]] != group[free[0]]  # a different capacity
    assert carrying and all((group == group[r]).sum() == 1 for r in carrying)


def test_a_first_plan_offers_alike_idle_riders_once(compiled_search):
    """With five alike idle riders the regret rule saw every order's two best insertions as
    equal; offering them as one option (the next once it is taken) plans an order that the
    plain rule leaves out on this problem, and the plan is valid."""
    import numpy as np

    from dispatch.plan import UnassignedOrder
    from dispatch.solver.plan_builder import build_plan
    from dispatch.solver.reasons import explain_all_left_out
    from dispatch.validate import validate_plan

    problem = problem_from_document(generate_problem(24, 5, seed=0, lateness="hard", equal_speeds=True))
    inst = build_instance(problem, split_by_area(problem)[0])
    found = {}
    for one_idle in (False, True):
        search = compiled_search.CompiledRuinRecreate(
            inst, [[] for _ in range(inst.n_riders)], list(range(inst.n_orders)), 0, hard_latest(inst),
            np.zeros(inst.n_orders),
        )
        found[one_idle] = search.run(float("inf"), 1, one_idle=one_idle)
        _assert_bookkeeping(inst, found[one_idle])
    assert len(found[False].left) == 1 and found[True].left == []
    plan = build_plan(inst, found[True].stop_lists(inst), [], 0, 0, "construction")
    assert validate_plan(problem, plan.to_document()) == []

    n_planned = inst.n_orders - len(found[False].left)
    reasons = explain_all_left_out(inst, found[False].left, n_planned)
    left = [UnassignedOrder(inst.orders[k].id, *reasons[k]) for k in found[False].left]
    plain = build_plan(inst, found[False].stop_lists(inst), left, 0, 0, "construction")
    assert validate_plan(problem, plain.to_document()) == []


def test_inserting_without_ruin_keeps_every_planned_order_in_place(compiled_search):
    """`run(ruin=False)` (the compiled second phase of a soft first plan) places orders the
    promise-keeping insertion left out, late and priced, and moves no planned order."""
    import numpy as np

    from dispatch.solver.construct import search_limits
    from dispatch.solver.plan_builder import build_plan
    from dispatch.validate import validate_plan

    problem = problem_from_document(generate_problem(40, 2, seed=3))
    assert problem.options.lateness == "soft"
    inst = build_instance(problem, split_by_area(problem)[0])
    empty = [[] for _ in range(inst.n_riders)]
    on_time = compiled_search.CompiledRuinRecreate(
        inst, empty, list(range(inst.n_orders)), 0, hard_latest(inst), np.zeros(inst.n_orders)
    ).run(float("inf"), 1)
    assert on_time.left  # two riders cannot keep every promise
    latest, weight = search_limits(inst, on_time.routes, on_time.left)
    placed = compiled_search.CompiledRuinRecreate(inst, on_time.routes, on_time.left, 0, latest, weight).run(
        float("inf"), 1, ruin=False
    )
    _assert_bookkeeping(inst, placed)
    assert placed.left == []  # 27 left out before
    for before, after in zip(on_time.routes, placed.routes):
        kept = [s[1] for s in after if s[0] == 1 and s[1] not in on_time.left]
        assert kept == [s[1] for s in before if s[0] == 1]  # same orders, same sequence
    plan = build_plan(inst, placed.stop_lists(inst), [], 0, 0, "construction")
    assert plan.metrics.late > 0
    assert validate_plan(problem, plan.to_document()) == []


def test_the_leaf_kernels_run_without_reference_counting(compiled_search):
    """With the numba this project declares, the insertion and re-timing kernels are compiled
    without numba's runtime (its reference counting was three quarters or more of their time); a numba
    without the option would fall back silently, and this says so."""
    assert compiled_search.LEAF == {"cache": True, "_nrt": False}
    for kernel in (compiled_search._evaluate, compiled_search._refresh, compiled_search._tt):
        assert kernel.targetoptions.get("_nrt") is False
