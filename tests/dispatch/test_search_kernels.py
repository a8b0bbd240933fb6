"""The compiled search's kernels, each alone: ruin, recreate, accept and kick keep the plan's
bookkeeping (every order in one route or left out, routes re-timed and feasible)."""

import numpy as np

from dispatch import problem_from_document
from dispatch.generate import generate_problem
from dispatch.instance import build_instance
from dispatch.solver import split_by_area
from dispatch.solver.construct import construct, hard_latest


def _search(fast_lns):
    """A compiled search on a searched plan: 30 orders, 5 riders, two of them carrying orders."""
    problem = problem_from_document(generate_problem(30, 5, seed=3, lateness="hard", equal_speeds=True, on_road=2))
    inst = build_instance(problem, split_by_area(problem)[0])
    built = construct(inst, list(range(inst.n_orders)), float("inf"))
    latest, weight = hard_latest(inst), np.zeros(inst.n_orders)
    found = fast_lns.CompiledRuinRecreate(inst, built.routes, built.left, 1, latest, weight).run(float("inf"), 200)
    s = fast_lns.CompiledRuinRecreate(inst, found.routes, found.left, 1, latest, weight)
    assert s.ok and inst.carried_by.max() >= 0
    return s


def _orders_by_route(s) -> dict[int, list[int]]:
    kind, val, length = s.routes
    return {r: [int(val[r, j]) for j in range(length[r]) if kind[r, j] == 1] for r in range(len(length))}


def _cost(s) -> float:
    return float(s.cache[11].sum() + s.drop_cost[s.left_mask].sum())


def _assert_bookkeeping(fast_lns, s):
    """Every order is in exactly one route (as route_of says) or left out, and every route keeps
    every rule at the cost its cache holds."""
    by_route = _orders_by_route(s)
    placed = [k for orders in by_route.values() for k in orders]
    left = [int(k) for k in np.flatnonzero(s.left_mask)]
    assert sorted(placed + left) == list(range(s.inst.n_orders))
    assert not set(placed) & set(left)
    for r, orders in by_route.items():
        assert all(s.route_of[k] == r for k in orders)
        cost = s.cache[11][r]
        assert fast_lns._refresh(r, s.routes, s.prob, s.cache) and s.cache[11][r] == cost


# From the kernels' problem tuple (see `_search`'s unpacking): [9] each order's store, [25] its
# nearest orders, [33] each rider's group of alike idle riders.


def _ruin(fast_lns, s, seed, kick=False):
    """Seed the kernels' random numbers and ruin: the orders removed, the routes touched and saved."""
    n = s.inst.n_orders
    planned = np.array([k for k in range(n) if s.route_of[k] >= 0 and s.inst.carried_by[k] < 0], dtype=np.int64)
    removed, touched = np.empty(n, dtype=np.int64), np.zeros(s.inst.n_riders, dtype=np.bool_)
    saved = (np.empty_like(s.kind), np.empty_like(s.val), s.length.copy())
    fast_lns.seed_kernels(seed)
    ruined = np.zeros(s.inst.n_riders, dtype=np.bool_)
    n_rem = fast_lns._ruin(s.routes, s.route_of, planned, len(planned), 10, 0.5, kick, 0.3, removed, touched, saved,
                           ruined, s.inst.carried_by.astype(np.int64), s.prob[25], s.prob, s.cache)
    return removed[:n_rem].copy(), touched, saved


def _recreate(fast_lns, s, removed, touched, saved):
    n, R = s.inst.n_orders, s.inst.n_riders
    tabs = (np.empty((n, R)), np.empty((n, R), dtype=np.int64), np.empty((n, R), dtype=np.int64),
            np.zeros((n, R), dtype=np.bool_), np.empty(n, dtype=np.int64), np.empty(n, dtype=np.int64), np.empty((n, 2)))
    work = (np.empty(n, dtype=np.int64), np.ones(R, dtype=np.bool_), np.zeros(R + 1, dtype=np.bool_),
            np.ones(n, dtype=np.bool_), tabs)
    fast_lns._recreate(removed, len(removed), False, 6, 12, work, touched, saved, s.routes, s.route_of, s.left_mask,
                       s.drop_cost, s.prob[25], s.prob[33], s.prob[9], s.prob, s.cache)


def test_ruin_removes_related_orders_but_no_carried_one(compiled_search):
    """A ruin takes two or more distinct orders out of their routes (route_of -1), never a carried
    one; the other orders keep their routes and order; each route touched was saved first."""
    for seed in range(6):
        s = _search(compiled_search)
        before = _orders_by_route(s)
        removed, touched, saved = _ruin(compiled_search, s, seed)
        gone = set(removed.tolist())
        assert len(removed) >= 2 and len(gone) == len(removed)
        assert all(s.inst.carried_by[k] < 0 and s.route_of[k] == -1 for k in gone)
        after = _orders_by_route(s)
        for r in range(s.inst.n_riders):
            assert after[r] == [k for k in before[r] if k not in gone]
            assert touched[r] == (after[r] != before[r])
            if touched[r]:
                saved_orders = [int(saved[1][r, j]) for j in range(saved[2][r]) if saved[0][r, j] == 1]
                assert saved_orders == before[r]


def test_recreate_puts_the_removed_orders_back_by_regret(compiled_search):
    """After a ruin, the recreate leaves every order in one feasible route or left out, and
    places the removed orders again (routes with room for them exist: they were just there)."""
    for seed in range(6):
        s = _search(compiled_search)
        left_before = int(s.left_mask.sum())
        removed, touched, saved = _ruin(compiled_search, s, seed)
        _recreate(compiled_search, s, removed, touched, saved)
        _assert_bookkeeping(compiled_search, s)
        assert int(s.left_mask.sum()) <= left_before + len(removed) - 1


def test_accept_restores_a_worse_plan_and_keeps_a_better_one(compiled_search):
    """Past the threshold the touched routes, route_of and left_mask are restored exactly; a plan
    cheaper than the best becomes the best (every route changed since the last copy)."""
    fast_lns = compiled_search
    s = _search(fast_lns)
    start = (tuple(a.copy() for a in s.routes), s.route_of.copy(), s.left_mask.copy())
    cost = _cost(s)
    best = (s.kind.copy(), s.val.copy(), s.length.copy(), s.left_mask.copy(), np.array([cost]))
    dirty = np.zeros(s.inst.n_riders, dtype=np.bool_)
    saved_state = (s.route_of.copy(), s.left_mask.copy())
    removed, touched, saved = _ruin(fast_lns, s, 1)
    _recreate(fast_lns, s, removed, touched, saved)
    kept = fast_lns._accept(cost + 1e9, cost, 0.0, False, s.routes, s.route_of, s.left_mask, touched, dirty, saved,
                            saved_state, best, s.prob, s.cache)
    assert kept == cost and _orders_by_route(s) == _orders_by_route_of(start)
    assert (s.route_of == start[1]).all() and (s.left_mask == start[2]).all()
    _assert_bookkeeping(fast_lns, s)

    removed, touched, saved = _ruin(fast_lns, s, 2)
    _recreate(fast_lns, s, removed, touched, saved)
    better = cost - 1.0
    assert fast_lns._accept(better, cost, 0.0, False, s.routes, s.route_of, s.left_mask, touched, dirty, saved,
                            saved_state, best, s.prob, s.cache) == better
    assert best[4][0] == better and (best[3] == s.left_mask).all()
    for r in np.flatnonzero(touched):
        assert (best[1][r, : best[2][r]] == s.val[r, : s.length[r]]).all()


def _orders_by_route_of(state) -> dict[int, list[int]]:
    (kind, val, length), _, _ = state
    return {r: [int(val[r, j]) for j in range(length[r]) if kind[r, j] == 1] for r in range(len(length))}


def test_a_kick_goes_back_to_the_best_plan_and_ruins_a_larger_share(compiled_search):
    """A kick restores the best plan (routes re-timed, route_of and left_mask from it) and counts
    itself; its ruin removes about KICK_SHARE of the planned orders instead of a few."""
    fast_lns = compiled_search
    s = _search(fast_lns)
    best_orders = _orders_by_route(s)
    best = (s.kind.copy(), s.val.copy(), s.length.copy(), s.left_mask.copy(), np.array([_cost(s)]))
    _ruin(fast_lns, s, 3)
    assert _orders_by_route(s) != best_orders
    stall = np.array([500, 2], dtype=np.int64)
    dirty = np.ones(s.inst.n_riders, dtype=np.bool_)
    cur = fast_lns._kick(s.routes, s.route_of, s.left_mask, best, dirty, stall, s.prob, s.cache)
    assert cur == best[4][0] == _cost(s) and _orders_by_route(s) == best_orders
    assert stall.tolist() == [0, 3] and not dirty.any()
    _assert_bookkeeping(fast_lns, s)
    planned = sum(1 for k in range(s.inst.n_orders) if s.route_of[k] >= 0 and s.inst.carried_by[k] < 0)
    removed, _, _ = _ruin(fast_lns, s, 3, kick=True)
    assert len(removed) >= int(0.3 * planned) > 5
