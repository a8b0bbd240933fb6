"""The solver plans with time-dependent travel: every path rides legs through the speed profile,
so its plans pass the validator, and a peak changes the plan where it should."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from dispatch import problem_from_document, solve
from dispatch.generate import generate_problem
from dispatch.instance import build_instance
from dispatch.live import QUOTE_ORDER_ID, quote_order
from dispatch.model import Location, Order
from dispatch.solver import split_by_area
from dispatch.solver.construct import hard_latest
from dispatch.solver import fast_lns
from dispatch.solver.fast_lns import CompiledRuinRecreate, _profile_leg
from dispatch.solver.routes import route_cost, schedule_route
from dispatch.travel import profile_leg_s, profile_legs_s
from dispatch.validate import validate_plan
from tests.dispatch.builders import at, document, order, route_of, solved

# Ten-minute periods; the builders' plan time is 10:00 local, so period 61 starts 10 minutes in.
PEAK_FROM, PEAK_TO = 61, 73  # 10:10-12:10
PEAK = [1.0] * 144
PEAK[PEAK_FROM:PEAK_TO] = [0.25] * (PEAK_TO - PEAK_FROM)
# Every other quarter hour at 0.4 of the speed, the rest above it: legs cross periods often.
STEEP = [0.4 if i % 2 else 1.2 for i in range(96)]


def _with_profile(doc: dict, factors: list[float], period_min: int) -> dict:
    """The document with its travel ridden through a speed profile."""
    doc["options"]["travel"] = {**doc["options"].get("travel", {}), "speed_profile": {
        "period_min": period_min, "factors": factors}}
    return doc


def _wave_problem(peak: bool) -> dict:
    """A: 2.5 km out, ready now, promised in 25 min. B: next to A, ready in 12 min, promised in 2 h.
    Waiting for B makes one short wave, on time for A at static speeds."""
    doc = document(orders=[order("A", 2500, 0, ready=0, promised=25), order("B", 2500, 200, ready=12, promised=120)])
    return _with_profile(doc, PEAK, 10) if peak else doc


def _first_pickup(plan) -> tuple[str, ...]:
    return next(s.order_ids for s in route_of(plan, "R1").stops if s.kind == "pickup")


def test_kernel_leg_rule_is_the_validators():
    """The compiled profile_leg_s gives the Python one's seconds on many random legs (and so does
    the vectorised one the Python paths use)."""
    rng = np.random.default_rng(7)
    factors = rng.uniform(0.2, 1.6, 96)
    depart = rng.integers(-200_000, 200_000, 5000)
    base = rng.uniform(0.0, 20_000.0, 5000)
    base[:20] = 0.0
    python = np.array([profile_leg_s(int(d), float(b), factors, 900, -37_800) for d, b in zip(depart, base)])
    compiled = np.array([_profile_leg(int(d), float(b), factors, 900, -37_800) for d, b in zip(depart, base)])
    assert np.array_equal(python, compiled)
    assert np.array_equal(python, profile_legs_s(depart, base, factors, 900, -37_800))


def test_without_the_peak_one_wave_waits_for_the_later_order():
    """At static speeds the rider waits for B and rides both out in one wave, A still on time."""
    _, plan = solved(_wave_problem(peak=False))
    assert sorted(_first_pickup(plan)) == ["A", "B"]
    assert plan.metrics.on_time == 2


def test_a_peak_sends_the_first_wave_before_it():
    """With a quarter speed from 10:10, waiting for B would ride A out in the peak, half an hour
    late: the rider takes A alone before the peak and comes back for B."""
    problem, plan = solved(_wave_problem(peak=True))
    assert _first_pickup(plan) == ("A",)
    a = next(s for s in route_of(plan, "R1").stops if s.kind == "dropoff" and s.order_id == "A")
    assert a.arrive_s <= 25 * 60
    assert plan.metrics.on_time == 2


@pytest.mark.parametrize("lateness", ["soft", "hard"])
def test_compiled_search_with_a_steep_profile_gives_clean_plans(lateness):
    """A random 60-order store problem under a steep profile: the solve's plan passes the validator."""
    doc = _with_profile(generate_problem(60, 8, 5, lateness=lateness), STEEP, 15)
    doc["options"].update(time_limit_s=30.0, max_iterations=400, seed=1)
    _clean_compiled_plan(doc)


def _clean_compiled_plan(doc: dict) -> None:
    """Solve `doc` with the compiled search: its plan passes the validator."""
    problem = problem_from_document(doc)
    plan = solve(problem)
    assert validate_plan(problem, plan.to_document()) == []
    assert "lns" in plan.metrics.engine


def test_the_search_kernels_time_routes_as_the_schedule_does():
    """The compiled search's routes under a steep profile keep every rule when re-timed in Python,
    and `_refresh` gives each stop the Python schedule's arrival and each route its cost."""
    doc = _with_profile(generate_problem(60, 8, 3, lateness="soft"), STEEP, 15)
    problem = problem_from_document(doc)
    routed, _ = split_by_area(problem)
    inst = build_instance(problem, routed)
    latest, no_weight = hard_latest(inst), np.zeros(inst.n_orders)
    empty = [[] for _ in range(inst.n_riders)]
    result = CompiledRuinRecreate(inst, empty, list(range(inst.n_orders)), 1, latest, no_weight).run(
        float("inf"), 300)
    routes = result.stop_lists(inst)
    timed = CompiledRuinRecreate(inst, routes, result.left, 1, latest, no_weight)
    assert timed.ok
    for r, stops in enumerate(routes):
        sched = schedule_route(inst, r, stops)
        assert sched.feasible
        assert list(timed.cache[1][r, 1 : len(stops) + 1]) == sched.arrive
        assert timed.cache[11][r] == pytest.approx(route_cost(inst, sched))


def _loc(east: float, north: float) -> Location:
    point = at(east, north)
    return Location(lat=point["lat"], lon=point["lon"])


def test_a_quote_under_a_peak_is_later_and_keeps_every_promise():
    """A quote ridden through the peak: its ETA is the validator's, later than at static speeds,
    and the quoted plan passes the validator with the new order promised at the quote."""
    for seed in (1, 2):
        doc = _with_profile(generate_problem(30, 4, seed, lateness="hard", on_road=2), STEEP, 15)
        problem = problem_from_document(doc)
        store = problem.stores[0]
        spot = Location(lat=store.location.lat + 0.01, lon=store.location.lon + 0.005)
        quote = quote_order(problem, store.id, spot, items=2, ready_at_s=300, max_promise_s=4 * 3600)
        assert quote.feasible, quote
        placed = Order(id=QUOTE_ORDER_ID, store_id=store.id, dropoff=spot, created_at_s=0, ready_at_s=300,
                       promised_at_s=quote.promise_at_s, items=2, dropoff_service_s=60)
        checked = dataclasses.replace(problem, orders=problem.orders + (placed,))
        assert validate_plan(checked, quote.plan) == []
    quiet = problem_from_document(document(orders=[]))
    peak = problem_from_document(_with_profile(document(orders=[]), PEAK, 10))
    ready = dict(items=2, ready_at_s=300)
    fast, slow = quote_order(quiet, "S1", _loc(0, 2000), **ready), quote_order(peak, "S1", _loc(0, 2000), **ready)
    assert fast.eta_s == pytest.approx(360 + 2000 / 4.5, abs=2)
    # Leaving at 360 s: 240 s at full speed to 10:10, the rest of the 444 base seconds at a quarter.
    assert slow.eta_s == pytest.approx(600 + (2000 / 4.5 - 240) * 4, abs=2)


@pytest.mark.parametrize("seed", [2, 4])
def test_an_insertion_costs_under_a_profile_what_its_exact_re_timing_costs(seed):
    """`_evaluate` under a steep profile (the customer's clock priced, so pushes are too): every
    insertion it offers keeps every rule once inserted and re-timed, and costs exactly what the
    route's re-timed cost grew by."""
    doc = _with_profile(generate_problem(40, 5, seed, lateness="hard", on_road=2), STEEP, 15)
    doc["options"].setdefault("weights", {})["click_to_door_per_s"] = 1
    problem = problem_from_document(doc)
    inst = build_instance(problem, split_by_area(problem)[0])
    # Lateness (of carried orders, which may be late) priced as the route's cost prices it.
    latest, weight = hard_latest(inst), (inst.priority * problem.options.late_cost_per_s).astype(float)
    empty = [[] for _ in range(inst.n_riders)]
    found = CompiledRuinRecreate(inst, empty, list(range(inst.n_orders)), 1, latest, weight).run(float("inf"), 200)
    out = [k for k in range(inst.n_orders) if inst.carried_by[k] < 0][::3]
    routes = [[s for s in stops if not (s[0] == 1 and s[1] in out)] for stops in found.stop_lists(inst)]
    routes = [[(s[0], s[1], tuple(k for k in s[2] if k not in out)) if s[0] == 0 else s for s in stops]
              for stops in routes]
    routes = [[s for s in stops if s[0] == 1 or s[2]] for stops in routes]
    search = CompiledRuinRecreate(inst, routes, sorted(set(found.left) | set(out)), 1, latest, weight)
    assert search.ok
    kind, val, length = search.routes
    offered = 0
    for k in out:
        for r in range(inst.n_riders):
            cost, how, where = fast_lns._evaluate(k, r, search.routes, search.prob, search.cache)
            if not np.isfinite(cost):
                continue
            offered += 1
            before = search.cache[11][r]
            fast_lns._insert(k, r, how, where, kind, val, length, inst.order_store)
            assert fast_lns._refresh(r, search.routes, search.prob, search.cache)
            assert search.cache[11][r] - before == pytest.approx(cost)
            fast_lns._remove(k, r, kind, val, length)
            fast_lns._refresh(r, search.routes, search.prob, search.cache)
    assert offered > 10


def test_the_python_search_and_ortools_under_a_profile_give_clean_plans(monkeypatch):
    """The slow path (compiled search not loaded: Python insertion and search) and OR-Tools'
    step (its static estimate re-timed exactly before it is kept) both give validator-clean plans."""
    doc = _with_profile(generate_problem(30, 4, 2, lateness="soft", on_road=1), STEEP, 15)
    doc["options"].update(time_limit_s=1.0)
    doc["options"].pop("max_iterations", None)
    problem = problem_from_document(doc)
    problem = dataclasses.replace(problem, options=dataclasses.replace(problem.options, ortools_with_profile=True))
    plan = solve(problem)
    assert validate_plan(problem, plan.to_document()) == []
    monkeypatch.setattr(fast_lns, "ready", lambda: False)
    plan = solve(problem)
    assert validate_plan(problem, plan.to_document()) == []
    assert "lns" in plan.metrics.engine


def test_a_duration_matrix_ridden_through_a_profile_gives_clean_plans():
    """With the caller's duration matrix (every rider's times) under a steep profile, the compiled
    search's plan passes the validator."""
    doc = _with_profile(generate_problem(40, 5, 2, lateness="soft", on_road=1), STEEP, 15)
    points = ([s["location"] for s in doc["stores"]] + [r["location"] for r in doc["riders"]]
              + [o["dropoff"] for o in doc["orders"]])
    lat = np.radians([p["lat"] for p in points])
    lon = np.radians([p["lon"] for p in points])
    metres = 6_371_008.8 * np.hypot((lat[:, None] - lat[None, :]),
                                    (lon[:, None] - lon[None, :]) * np.cos(lat.mean()))
    doc["options"]["travel"] = {"model": "matrix", "locations": points,
                                "durations_s": np.rint(1.4 * metres / 4.2).tolist(),
                                "speed_profile": {"period_min": 15, "factors": STEEP}}
    doc["options"].update(time_limit_s=30.0, max_iterations=300, seed=1)
    _clean_compiled_plan(doc)


def test_many_speeds_under_a_profile_build_no_matrix():
    """Sixty riders at their own speeds under a profile: indexing and screening read base and
    estimated seconds where needed, building no whole matrix (as without a profile)."""
    from dispatch.instance import BaseSeconds
    from dispatch.solver.reasons import screen

    problem = problem_from_document(_with_profile(generate_problem(200, 60, seed=2), STEEP, 15))
    inst = build_instance(problem, split_by_area(problem)[0])
    screen(inst, list(range(inst.n_orders)))
    assert all(isinstance(base, BaseSeconds) for base in inst.base_s_of_rider)
    assert all(getattr(tt, "matrix", 0) is None for tt in inst.travel_s_of_rider)
