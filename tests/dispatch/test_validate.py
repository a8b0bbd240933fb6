"""The validator catches every kind of broken plan (it is the oracle, so it must be able to fail)."""

import copy

import pytest

from dispatch import problem_from_document
from dispatch.validate import validate_plan, violations_by_cause
from tests.dispatch.builders import document, order, rider, solved


@pytest.fixture(scope="module")
def case():
    doc = document(riders=[rider("R1", capacity_items=10), rider("R2", carrying=["O3"])],
                   orders=[order("O1", 1000, 0, items=4), order("O2", 1200, 100, items=4),
                           order("O3", -800, 0, ready=-4), order("O4", 5000, 0)],
                   lateness="hard")
    problem, plan = solved(doc)
    return problem, plan.to_document()


def causes(problem, plan_doc) -> set[str]:
    return set(violations_by_cause(validate_plan(problem, plan_doc)))


def test_a_solver_plan_is_valid(case):
    """The untouched plan has no violation."""
    problem, doc = case
    assert validate_plan(problem, doc) == []


def _route(doc, rider_id):
    return next(r for r in doc["routes"] if r["rider_id"] == rider_id)


def test_a_shifted_eta_is_caught(case):
    """Arriving earlier than the ride allows is an eta_mismatch."""
    problem, doc = case
    bad = copy.deepcopy(doc)
    stop = _route(bad, "R1")["stops"][1]
    stop["arrive_at"] = _route(doc, "R1")["stops"][0]["depart_at"]
    assert "eta_mismatch" in causes(problem, bad)


def test_a_missing_order_is_caught(case):
    """An order in no route and not unassigned is missing."""
    problem, doc = case
    bad = copy.deepcopy(doc)
    bad["unassigned"] = []
    assert "missing_order" in causes(problem, bad)


def test_a_duplicated_order_is_caught(case):
    """The same order twice is a duplicate."""
    problem, doc = case
    bad = copy.deepcopy(doc)
    bad["unassigned"].append({"order_id": "O1", "reason": "fleet_busy", "detail": "x"})
    assert "duplicate_order" in causes(problem, bad)


def test_capacity_and_pickup_rules_are_checked(case):
    """Over capacity, a drop-off before pickup and a pickup of a carried order are all caught."""
    problem, doc = case
    tight = copy.deepcopy(doc)
    tight_problem = problem_from_document(
        document(riders=[rider("R1", capacity_items=5), rider("R2", carrying=["O3"])],
                 orders=[order("O1", 1000, 0, items=4), order("O2", 1200, 100, items=4),
                         order("O3", -800, 0, ready=-4), order("O4", 5000, 0)], lateness="hard"))
    assert "capacity" in causes(tight_problem, tight)
    no_pickup = copy.deepcopy(doc)
    route = _route(no_pickup, "R1")
    route["stops"] = [s for s in route["stops"] if s["kind"] != "pickup"]
    assert "not_on_board" in causes(problem, no_pickup)


def test_a_late_hard_promise_is_caught():
    """With hard promises a late drop-off is a violation; with soft ones it is counted."""
    soft_doc = document(orders=[order("O1", 2000, 0, promised=5)], lateness="soft")
    _, plan = solved(soft_doc)
    hard_problem = problem_from_document(document(orders=[order("O1", 2000, 0, promised=5)], lateness="hard"))
    assert "late" in causes(hard_problem, plan.to_document())


def test_an_unknown_reason_and_wrong_metrics_are_caught(case):
    """Reason codes come from the contract; metrics must add up."""
    problem, doc = case
    bad = copy.deepcopy(doc)
    bad["unassigned"][0]["reason"] = "because"
    bad["metrics"]["on_time"] += 1
    assert {"bad_reason", "metrics_mismatch"} <= causes(problem, bad)


def test_a_carried_order_cannot_go_to_another_rider(case):
    """Moving a carried drop-off to another rider is caught."""
    problem, doc = case
    bad = copy.deepcopy(doc)
    r2 = _route(bad, "R2")
    r1 = _route(bad, "R1")
    r1["stops"].extend(r2["stops"])
    bad["routes"] = [r1]
    assert {"carried_elsewhere", "not_on_board"} & causes(problem, bad)


@pytest.mark.parametrize(
    "mutate, field",
    [
        (lambda d: d["routes"][0]["stops"][1].update(late_s=float("inf")), "routes[0].stops[1].late_s"),
        (lambda d: d["routes"][0]["stops"][1].update(order_id={"id": "O1"}), "routes[0].stops[1].order_id"),
        (lambda d: d["routes"][0]["stops"][0].update(arrive_at="9999-12-31T23:59:59+00:00"), "routes[0].stops[0].arrive_at"),
        (lambda d: d["routes"][0]["stops"][0].update(depart_at=12345), "routes[0].stops[0].depart_at"),
        (lambda d: d["routes"][0].update(stops="x"), "routes[0].stops"),
        (lambda d: d["unassigned"].append({"order_id": ["O4"], "reason": "fleet_busy"}), "unassigned[1].order_id"),
        (lambda d: d["metrics"].update(on_time=True), "metrics.on_time"),
    ],
)
def test_a_plan_that_cannot_be_read_is_one_error_naming_the_field(case, mutate, field):
    """Infinity, an object where an id goes, a time out of range or a number for a time: the plan
    cannot be read, and the error says where (rather than a crash deep in the checks)."""
    from dispatch.errors import InvalidPlan

    problem, doc = case
    bad = copy.deepcopy(doc)
    mutate(bad)
    with pytest.raises(InvalidPlan) as info:
        validate_plan(problem, bad)
    assert info.value.field == field and field in str(info.value)


def test_the_contracts_worked_example():
    """docs/CONTRACT.md's example: one stop collects O1 (ready 10:05) and O2 (ready 10:02) at
    10:05, departs 10:06; O1's door 1 350 m away at 4.5 m/s: 10:11 to 10:13, 60 s late."""
    from tests.dispatch.builders import document, order, rider, solved, t

    doc = document(
        riders=[rider("R1", max_orders=2)],
        orders=[order("O1", 1350, 0, ready=5, promised=10, dropoff_service_s=120),
                order("O2", 1350, 0, ready=2, promised=60)],
        lateness="soft",
    )
    _, plan = solved(doc)
    route = plan.to_document()["routes"][0]
    pickup, first = route["stops"][0], route["stops"][1]
    assert (pickup["arrive_at"], pickup["depart_at"]) == (t(0), t(6))
    assert first["order_id"] == "O1" and (first["arrive_at"], first["depart_at"], first["late_s"]) == (t(11), t(13), 60)


def test_a_rule_can_be_asked_alone(case):
    """Each rule is a function of one scope: the capacity rule on a recomputed pickup reports
    the load leaving the store, and nothing when the load fits."""
    from dispatch.plan import plan_from_document
    from dispatch.validate import PickupVisit, within_capacity

    problem, doc = case
    plan = plan_from_document(doc, problem.plan_time)
    rider_r1 = problem.rider_index["R1"]
    pickup = next(s for s in plan.routes[0].stops if s.kind == "pickup")
    store = problem.store_index[pickup.store_id]
    over = PickupVisit(rider_r1, pickup, store, load_items=11, order_count=1)
    fits = PickupVisit(rider_r1, pickup, store, load_items=10, order_count=1)
    assert [v.cause for v in within_capacity(None, over)] == ["capacity"]
    assert list(within_capacity(None, fits)) == []


def test_every_contract_cause_is_one_rules_cause():
    """Every cause docs/CONTRACT.md lists is reported by a rule of the validator that names it in
    its docstring (VROOM-like: each cause computed in one place)."""
    import re
    from pathlib import Path

    from dispatch import validate

    text = (Path(__file__).parents[2] / "docs" / "CONTRACT.md").read_text()
    listed = text.split("## Checking a plan", 1)[1].split("## ", 1)[0]
    causes = set(re.findall(r"`([a-z_]+)`", listed.split("cause (the rider", 1)[1]))
    rules = (validate.UNASSIGNED_RULES + validate.ROUTE_RULES + validate.PICKUP_RULES + validate.DROPOFF_RULES
             + validate.ROUTE_END_RULES + validate.PLAN_RULES)
    # The driver reports the causes that stop a route or a stop from being checked further.
    driver = " unknown_rider duplicate_rider unknown_store unknown_order"
    named = " ".join(rule.__doc__.split(":")[0] for rule in rules) + driver
    assert causes and causes <= set(re.findall(r"[a-z_]+", named)), causes - set(re.findall(r"[a-z_]+", named))
