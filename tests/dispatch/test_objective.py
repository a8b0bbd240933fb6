"""The objective's terms beyond travel, each on a small problem where it changes the plan, and
the validator's account of them: the customer's clock, lateness once per broken promise, steep
lateness, deadlines, and shift ends that bound pickups only."""

from __future__ import annotations

import random

import pytest

from dispatch import problem_from_document
from dispatch.errors import InvalidProblem
from dispatch.plan import plan_from_document
from dispatch.validate import objective_terms, validate_plan

from tests.dispatch.builders import document, order, rider, route_of, solved, t, unassigned_reasons


def _late_of(plan) -> list[int]:
    return [s.late_s for r in plan.routes for s in r.stops if s.kind == "dropoff"]


def test_the_customers_clock_sends_two_riders_where_travel_alone_bundles():
    """Two orders in one direction: travel alone puts both on one rider; a cost per second of
    click-to-door sends a rider each, so the second customer does not wait for the first drop."""
    orders = [order("O1", 2000, 0), order("O2", 2200, 0)]
    riders = [rider("R1"), rider("R2")]
    _, bundled = solved(document(riders=riders, orders=orders))
    problem, apart = solved(document(riders=riders, orders=orders, weights={"click_to_door_per_s": 10}))
    assert len(bundled.routes) == 1 and len(apart.routes) == 2
    terms = objective_terms(problem, apart)
    assert terms.click_to_door > 0 and terms.total == apart.metrics.objective


def _tight_promises(seed: int) -> list[dict]:
    """Six orders around the store with promises of 4 to 16 minutes: one rider cannot keep them all."""
    rnd = random.Random(seed)
    return [
        order(f"O{i}", rnd.uniform(-2500, 2500), rnd.uniform(-2500, 2500), promised=rnd.uniform(4, 16))
        for i in range(6)
    ]


def test_a_cost_once_per_broken_promise_breaks_fewer_promises():
    """Priced per second, lateness is spread over five orders; priced once per order, four are
    late, at more late seconds in all."""
    orders = _tight_promises(3)
    _, per_second = solved(document(orders=orders, weights={"late_per_s": 100}))
    problem, once = solved(document(orders=orders, weights={"late_per_s": 1, "late_fixed": 100_000}))
    assert (per_second.metrics.late, once.metrics.late) == (5, 4)
    assert once.metrics.late_s_total > per_second.metrics.late_s_total
    terms = objective_terms(problem, once)
    assert terms.late_fixed == 4 * 100_000 and terms.total == once.metrics.objective


def test_steep_lateness_shortens_the_longest_wait():
    """Past ten minutes late a second costs ten times more: the latest order comes sooner, at
    more late seconds in all (no order is left to rot)."""
    orders = _tight_promises(16)
    _, linear = solved(document(orders=orders, weights={"late_per_s": 100}))
    weights = {"late_per_s": 100, "late_steep_after_s": 600, "late_steep_per_s": 1000}
    problem, steep = solved(document(orders=orders, weights=weights))
    assert max(_late_of(steep)) < max(_late_of(linear))
    assert steep.metrics.late_s_total > linear.metrics.late_s_total
    terms = objective_terms(problem, steep)
    assert terms.late_steep == 1000 * sum(max(0, s - 600) for s in _late_of(steep))
    assert terms.total == steep.metrics.objective


def test_objective_terms_add_up_to_the_solvers_objective():
    """On a plan with every term at work, the validator's terms sum to the objective the solver
    reports, and each term is what its weight says."""
    weights = {"travel_per_s": 2, "click_to_door_per_s": 3, "late_per_s": 20, "late_fixed": 500,
               "late_steep_after_s": 300, "late_steep_per_s": 40, "reassign": 7}
    orders = _tight_promises(5)
    orders[0]["assigned_rider_id"] = "R2"
    problem, plan = solved(document(riders=[rider("R1"), rider("R2", 300, 0)], orders=orders, weights=weights))
    terms = objective_terms(problem, plan)
    assert terms.total == plan.metrics.objective
    assert terms.travel == 2 * plan.metrics.total_travel_s
    assert terms.late == 20 * plan.metrics.late_s_total


def test_a_deadline_leaves_out_what_cannot_make_it_and_is_kept_by_every_plan():
    """An order that no rider can bring before its deadline is left out (past_deadline); with a
    later deadline it is served, late but in time."""
    far = order("O1", 2800, 0, promised=5)  # a minute at the store, 10.4 minutes' ride: late
    problem, plan = solved(document(orders=[far | {"deadline_at": t(10)}]))
    assert unassigned_reasons(plan) == {"O1": "past_deadline"}
    _, served = solved(document(orders=[far | {"deadline_at": t(20)}]))
    assert not served.unassigned and served.metrics.late == 1


def test_a_deadline_changes_who_is_served_first():
    """Two orders one rider cannot both bring on time: by lateness alone it serves the near one
    first; a deadline on the far one makes it go first."""
    near, far = order("O1", 1000, 0, promised=5), order("O2", -2500, 0, promised=5)
    _, free = solved(document(orders=[near, far]))
    assert [s.order_id for s in route_of(free, "R1").stops if s.kind == "dropoff"] == ["O1", "O2"]
    _, bound = solved(document(orders=[near, far | {"deadline_at": t(12)}]))
    assert [s.order_id for s in route_of(bound, "R1").stops if s.kind == "dropoff"] == ["O2", "O1"]


def test_the_validator_reports_a_drop_off_after_the_deadline():
    """A plan that delivers after the order's deadline breaks the rule `deadline`."""
    doc = document(orders=[order("O1", 2000, 0, deadline_at=t(30))])
    _, plan = solved(doc)
    problem = problem_from_document(doc | {"orders": [order("O1", 2000, 0, deadline_at=t(5))]})
    causes = {v.cause for v in validate_plan(problem, plan_from_document(plan.to_document(), problem.plan_time))}
    assert "deadline" in causes


def test_a_deadline_before_ready_is_a_field_error():
    """deadline_at must leave room after ready_at."""
    with pytest.raises(InvalidProblem) as info:
        problem_from_document(document(orders=[order("O1", 100, 0, ready=10, deadline_at=t(5))]))
    assert info.value.field == "orders[O1].deadline_at"


# A rider whose shift ends in 10 minutes and an order 20 minutes' ride away, ready now.
GIG = dict(riders=[rider("R1", shift_end=t(10), speed_mps=2.0)], orders=[order("O1", 2400, 0, promised=40)])


def test_a_shift_end_that_bounds_the_route_leaves_a_far_order_out():
    """By default the route ends by the shift end: the order cannot be taken."""
    _, plan = solved(document(**GIG))
    assert unassigned_reasons(plan) == {"O1": "no_rider_available"}


def test_a_shift_end_that_bounds_pickups_lets_the_rider_finish_what_it_carries():
    """A gig courier picks up before its shift ends and delivers after it (per rider or per problem)."""
    per_rider = document(riders=[GIG["riders"][0] | {"shift_end_rule": "pickups"}], orders=GIG["orders"])
    per_problem = document(**GIG, shift_end_rule="pickups")
    for doc in (per_rider, per_problem):
        problem, plan = solved(doc)
        assert not plan.unassigned
        assert route_of(plan, "R1").end_s > problem.riders[0].shift_end_s


def test_no_pickup_after_the_shift_end_even_for_gig_couriers():
    """An order ready only after the shift ends is not picked up by a gig courier; a plan that
    does is reported by the validator."""
    late_ready = order("O1", 1000, 0, ready=15, promised=40)
    doc = document(riders=[rider("R1", shift_end=t(10), shift_end_rule="pickups")], orders=[late_ready])
    _, plan = solved(doc)
    assert unassigned_reasons(plan) == {"O1": "no_rider_available"}
    # The same order ready before the shift end is served; moved past it, the plan breaks the rule.
    ok_doc = document(riders=[rider("R1", shift_end=t(10), shift_end_rule="pickups")], orders=[late_ready | {"ready_at": t(5)}])
    _, served = solved(ok_doc)
    problem = problem_from_document(doc)
    causes = {v.cause for v in validate_plan(problem, served.to_document())}
    assert "shift_end" in causes


def test_weights_scaled_together_give_the_same_plan():
    """Only the weights' ratios matter: every weight times 7 gives the same routes and 7 times
    the objective (insertions once priced travel at 1 whatever travel_per_s said)."""
    from dispatch.generate import generate_problem

    doc = generate_problem(40, 6, seed=3, on_road=2)
    doc["options"].update(max_iterations=300)
    base = {"travel_per_s": 1, "click_to_door_per_s": 2, "late_per_s": 20, "late_fixed": 300, "reassign": 0}
    plans = []
    for factor in (1, 7):
        doc["options"]["weights"] = {k: v * factor for k, v in base.items()}
        _, plan = solved(doc)
        plans.append(plan)
    routes = [[(r.rider_id, [s.order_id for s in r.stops]) for r in p.routes] for p in plans]
    assert routes[0] == routes[1]
    assert plans[1].metrics.objective == 7 * plans[0].metrics.objective
