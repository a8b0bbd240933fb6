"""The exact exchange check: it finds a better division of two or three riders' orders where one exists, and none on a best-known plan."""

from __future__ import annotations

import copy
import itertools

import pytest

from benchmarks.research.exchange_check import check_exchanges
from benchmarks.store_data import best_known, load, plan_from_waves
from dispatch import problem_from_document
from dispatch.validate import validate_plan


def _travel(plan, riders) -> int:
    return sum(r.travel_s for r in plan.routes if r.rider_id in riders)


def test_the_best_known_plan_of_30x5_seed_1_is_pair_optimal():
    """No division of any two riders' orders (two waves each at most) rides less than the best-known plan's."""
    doc = load("o2o-30x5-s1")
    plan = plan_from_waves(doc, best_known()["o2o-30x5-s1"]["routes"])
    check = check_exchanges(doc, plan, 2)
    assert check.travel_s == plan.metrics.total_travel_s
    assert len(check.groups) == 10 and not check.skipped  # five riders, none riding three waves
    assert check.best_gain_s == 0
    assert all(p.best_travel_s == p.travel_s and not p.waves for p in check.groups)


def _worse_by_a_swap(doc: dict, routes: dict) -> tuple:
    """The first valid swap, every promise kept, of one of R01's orders with one of another rider's: (plan, rider)."""
    problem = problem_from_document(doc)
    for i, rider in itertools.product(range(len(routes["R01"][0])), ("R02", "R03", "R04", "R05")):
        for w, j in ((w, j) for w, wave in enumerate(routes[rider]) for j in range(len(wave))):
            trial = copy.deepcopy(routes)
            trial["R01"][0][i], trial[rider][w][j] = routes[rider][w][j], routes["R01"][0][i]
            plan = plan_from_waves(doc, trial)
            m = plan.metrics
            if m.on_time == m.orders == m.assigned and not validate_plan(problem, plan.to_document()):
                return plan, rider
    pytest.fail("no swap with R01 keeps every promise")


def test_a_worse_division_of_two_riders_is_found_and_undone():
    """Swapping orders between two riders of the best-known plan (still valid, longer) is seen, and the division the
    check offers rides at most what the two riders rode before; it passes the validator inside the check."""
    name = "o2o-30x5-s1"
    doc = load(name)
    routes = best_known()[name]["routes"]
    good = plan_from_waves(doc, routes)
    worse, rider = _worse_by_a_swap(doc, routes)
    assert worse.metrics.total_travel_s > good.metrics.total_travel_s
    check = check_exchanges(doc, worse, 2)
    pair = next(p for p in check.groups if set(p.riders) == {"R01", rider})
    assert pair.travel_s == _travel(worse, {"R01", rider})
    assert pair.best_travel_s <= _travel(good, {"R01", rider}) < pair.travel_s
    assert sorted(o for waves in pair.waves.values() for w in waves for o in w) == sorted(
        o for r in ("R01", rider) for w in routes[r] for o in w
    )
    assert check.best_gain_s >= pair.travel_s - pair.best_travel_s


def test_problems_outside_the_peers_model_are_refused_by_name():
    """With soft promises the check would not be exact: it says so instead of answering."""
    doc = load("o2o-30x5-s1")
    plan = plan_from_waves(doc, best_known()["o2o-30x5-s1"]["routes"])
    soft = copy.deepcopy(doc)
    soft["options"]["lateness"] = "soft"
    with pytest.raises(ValueError, match="soft promises"):
        check_exchanges(soft, plan, 2)


def test_the_three_rider_check_finds_at_least_what_the_pair_check_finds():
    """Dividing three riders' orders includes leaving one rider as it is: on the swapped plan above, the best division
    of R01, the swapped rider and a third rides at most the pair's best plus the third's route, and at most what the
    three rode in the best-known plan; the division passes the validator inside the check."""
    name = "o2o-30x5-s1"
    doc = load(name)
    routes = best_known()[name]["routes"]
    good = plan_from_waves(doc, routes)
    worse, rider = _worse_by_a_swap(doc, routes)
    third = next(r for r in ("R02", "R03", "R04") if r != rider)
    riders = {"R01", rider, third}
    (pair,) = check_exchanges(doc, worse, 2, riders={"R01", rider}).groups
    check = check_exchanges(doc, worse, 3, riders=riders)
    assert len(check.groups) == 1 and not check.skipped
    group = check.groups[0]
    assert group.travel_s == _travel(worse, riders)
    assert group.best_travel_s <= pair.best_travel_s + _travel(worse, {third})
    assert group.best_travel_s <= _travel(good, riders) < group.travel_s
    assert sorted(o for waves in group.waves.values() for w in waves for o in w) == sorted(
        o for r in riders for w in routes[r] for o in w
    )


def test_groups_of_other_sizes_are_refused():
    """Only pairs and triples are checked exactly within reach; other sizes are refused by name."""
    doc = load("o2o-30x5-s1")
    plan = plan_from_waves(doc, best_known()["o2o-30x5-s1"]["routes"])
    with pytest.raises(ValueError, match="size"):
        check_exchanges(doc, plan, 4)
