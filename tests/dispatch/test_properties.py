"""For any problem, the plan passes the validator and each order appears exactly once."""

import math

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dispatch import problem_from_document, solve
from dispatch.validate import validate_plan
from tests.dispatch.builders import at, store, t


@st.composite
def problems(draw):
    n_stores = draw(st.integers(1, 2))
    stores = [store(f"S{i + 1}", east=2500 * i, north=0, pickup_service_s=draw(st.integers(0, 120)),
                    service_radius_m=draw(st.sampled_from([2000, 3000])))
              for i in range(n_stores)]
    n_orders = draw(st.integers(0, 14))
    orders = []
    for i in range(n_orders):
        s = draw(st.integers(0, n_stores - 1))
        dist = draw(st.floats(0, 3800))
        angle = draw(st.floats(0, 2 * math.pi))
        created = draw(st.integers(-40, 0))
        ready = created + draw(st.integers(0, 20))
        promise = created + draw(st.sampled_from([8, 20, 45, 60, 90]))
        orders.append({
            "id": f"O{i}", "store_id": draw(st.sampled_from([f"S{s + 1}"] * 6 + ["S9"])),
            "dropoff": at(2500 * s + dist * math.cos(angle), dist * math.sin(angle)),
            "created_at": t(created), "ready_at": t(ready), "promised_at": t(promise),
            "items": draw(st.integers(0, 12)), "dropoff_service_s": draw(st.integers(0, 180)),
            "priority": draw(st.integers(1, 3)),
            "max_ride_s": draw(st.sampled_from([None, None, None, 600, 1200])),
        })
        if draw(st.integers(0, 4)) == 0:  # a scheduled order: not before some time up to its promise
            orders[-1]["deliver_after"] = t(draw(st.integers(created, promise)))
    n_riders = draw(st.integers(0, 4))
    riders = []
    free = [o for o in orders if o["store_id"] != "S9" and o["ready_at"] <= t(0)]
    for j in range(n_riders):
        carrying = []
        if free and draw(st.booleans()):
            carrying = [free.pop()["id"]]
        riders.append({
            "id": f"R{j}", "location": at(draw(st.floats(-2000, 4000)), draw(st.floats(-2000, 2000))),
            "available_at": t(draw(st.integers(0, 15))), "shift_end": t(draw(st.sampled_from([20, 60, 240]))),
            "capacity_items": draw(st.integers(8, 30)), "max_orders": draw(st.integers(1, 6)),
            "speed_mps": draw(st.floats(3.0, 6.0)), "carrying": carrying,
            "store_id": draw(st.sampled_from([None, "S1"])),
        })
    for r in riders:
        load = sum(next(o["items"] for o in orders if o["id"] == c) for c in r["carrying"])
        r["capacity_items"] = max(r["capacity_items"], load)
    return {
        "plan_time": t(0), "stores": stores, "riders": riders, "orders": orders,
        "options": {"lateness": draw(st.sampled_from(["soft", "hard"])),
                    "return_to_store": draw(st.booleans()), "max_iterations": 30,
                    "travel": {"model": "haversine", "detour_factor": draw(st.sampled_from([1.0, 1.3]))}},
    }


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(problems())
def test_every_plan_is_valid_and_every_order_appears_once(doc):
    """Random stores, riders mid-route with carried orders, orders in and out of the area."""
    left = _valid_and_complete(doc)
    carried = {c for r in doc["riders"] for c in r["carrying"]}
    assert not carried & set(left)


def _valid_and_complete(doc: dict) -> list[str]:
    """Solve `doc`: the plan passes the validator and each order is routed or left out once; the
    ids left out."""
    problem = problem_from_document(doc)
    plan = solve(problem)
    assert validate_plan(problem, plan.to_document()) == []
    routed = [s.order_id for r in plan.routes for s in r.stops if s.kind == "dropoff"]
    left = [u.order_id for u in plan.unassigned] + [t.order_id for t in plan.third_party]
    assert sorted(routed + left) == sorted(o["id"] for o in doc["orders"])
    return [u.order_id for u in plan.unassigned]


@st.composite
def problems_with_changing_speeds(draw):
    """The problems above, with a random speed profile and, sometimes, uncertain rides."""
    doc = draw(problems())
    period_min = draw(st.sampled_from([15, 30, 60, 120]))
    factors = draw(st.lists(st.floats(0.3, 2.5), min_size=1440 // period_min, max_size=1440 // period_min))
    doc["options"]["travel"]["speed_profile"] = {"period_min": period_min, "factors": factors}
    if draw(st.booleans()):
        doc["options"]["travel"]["uncertainty"] = {"ride_cv": draw(st.floats(0.0, 0.5)), "service_cv": 0.2}
    return doc


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(problems_with_changing_speeds())
def test_under_any_speed_profile_every_plan_is_valid(doc):
    """Speeds that change through the day: every leg of the plan is what the validator rides,
    every ETA range fits its route, and each order appears once."""
    _valid_and_complete(doc)


@st.composite
def problems_with_platforms(draw):
    """The problems above (sometimes with changing speeds), each store with a third-party
    platform that may pool orders on its couriers."""
    doc = draw(problems_with_changing_speeds()) if draw(st.booleans()) else draw(problems())
    for s in doc["stores"]:
        fee = draw(st.floats(0.5, 8.0))
        s["third_party"] = {
            "fee_per_order": fee, "fee_per_added_order": draw(st.sampled_from([None, 0.0, fee / 2, fee])),
            "orders_per_courier": draw(st.integers(1, 4)), "arrival_s": draw(st.integers(0, 1200)),
            "fee_per_extra_km": draw(st.sampled_from([0.0, 1.0])), "included_km": draw(st.sampled_from([0.0, 2.0])),
            "speed_mps": draw(st.floats(3.0, 8.0)),
        }
    doc["options"]["rider_cost_per_hour"] = draw(st.floats(5.0, 40.0))
    return doc


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(problems_with_platforms())
def test_with_third_party_couriers_every_plan_is_valid(doc):
    """Orders sent out, pooled on couriers or alone: every courier is timed and charged as the
    validator recomputes it, within its platform's limit, and each order appears once."""
    _valid_and_complete(doc)
