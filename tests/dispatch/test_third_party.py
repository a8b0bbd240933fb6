"""A store's third-party couriers: the solver sends an order out when that is cheaper or when no
own rider can keep the promise; the validator checks third-party orders by the same rules."""

from dataclasses import replace

import pytest

from dispatch import problem_from_document
from dispatch.errors import InvalidProblem
from dispatch.live.scenario import generate_day
from dispatch.live.simulate import live_options, simulate
from dispatch.validate import objective_terms, validate_plan
from tests.dispatch.builders import document, order, rider, solved, store, unassigned_reasons

PLATFORM = {"fee_per_order": 5.0, "arrival_s": 300, "speed_mps": 4.5}


def _two_doors(with_platform: bool) -> dict:
    """One rider at the store, two doors 2 km east and west, both promised in 15 minutes: one
    rider serves one on time and the other about 9 minutes late."""
    s = store(third_party=PLATFORM) if with_platform else store()
    return document(stores=[s], orders=[order("A", 2000, 0, promised=15), order("B", -2000, 0, promised=15)],
                    rider_cost_per_hour=20.0)


def test_the_late_order_goes_out_and_the_validator_accepts_the_plan():
    """Without a third party one order is late; with one (5 a trip, a rider-hour at 20: 900
    rider-seconds), the late one goes out, on time, and the plan passes the validator with its
    objective term by term."""
    _, alone = solved(_two_doors(False))
    assert alone.metrics.late == 1 and not alone.third_party
    problem, plan = solved(_two_doors(True))
    assert plan.metrics.late == 0 and plan.metrics.third_party == 1 and plan.metrics.third_party_fees == 5.0
    sent = plan.third_party[0]
    assert sent.pickup_s == 300 and sent.late_s == 0  # the courier is at the store in 5 minutes
    routed = [s.order_id for r in plan.routes for s in r.stops if s.kind == "dropoff"]
    assert sorted(routed + [sent.order_id]) == ["A", "B"]
    assert objective_terms(problem, plan).total == plan.metrics.objective < alone.metrics.objective
    assert plan.to_document()["third_party"][0]["fee"] == 5.0


@pytest.mark.parametrize("per_hour, goes_out", [(30.0, True), (10.0, False)])
def test_the_fee_is_weighed_against_the_riders_time(per_hour, goes_out):
    """One door 2.5 km away (556 s of riding): a fee of 3 is 360 rider-seconds when a rider-hour
    costs 30 (cheaper: out), 1080 when it costs 10 (dearer: the own rider rides)."""
    doc = document(stores=[store(third_party={"fee_per_order": 3.0, "arrival_s": 0})],
                   orders=[order("A", 2500, 0)], rider_cost_per_hour=per_hour)
    _, plan = solved(doc)
    assert bool(plan.third_party) is goes_out
    assert plan.status == "feasible"


def test_hard_promises_go_out_when_no_own_rider_keeps_them():
    """Hard promises: the only rider is 3 km from the store and cannot be at a door 3 km out by
    16 minutes; the platform's courier (at the store in 2 minutes) can: the order goes out
    instead of being left out as cannot_be_on_time."""
    orders = [order("A", 3000, 0, promised=16)]
    riders = [rider(east=-3000)]
    plain = document(riders=riders, orders=orders, lateness="hard")
    _, alone = solved(plain)
    assert unassigned_reasons(alone) == {"A": "cannot_be_on_time"}
    platform = {"fee_per_order": 8.0, "arrival_s": 120}
    _, plan = solved(document(stores=[store(third_party=platform)], riders=riders, orders=orders,
                              lateness="hard", rider_cost_per_hour=15.0))
    assert [t.order_id for t in plan.third_party] == ["A"] and plan.status == "feasible"


def test_extra_kilometres_are_charged_beyond_the_included_distance():
    """4 km to the door with 3 included at 1.5 per extra km: 2 + 1.5 = 3.5."""
    platform = {"fee_per_order": 2.0, "fee_per_extra_km": 1.5, "included_km": 3.0, "arrival_s": 0}
    doc = document(stores=[store(third_party=platform, service_radius_m=5000)], riders=[], orders=[order("A", 4000, 0)], rider_cost_per_hour=20.0)
    _, plan = solved(doc)
    assert plan.third_party[0].fee == 3.5 and abs(plan.third_party[0].distance_m - 4000) < 1


def test_the_validator_checks_third_party_orders_by_the_rules():
    """A changed fee, a drop-off time that is not the rules', an order sent out of a store with
    no third party, and an order both routed and sent out are each reported by cause."""
    problem, plan = solved(_two_doors(True))
    good = plan.to_document()
    sent = good["third_party"][0]["order_id"]

    def broken(change) -> set[str]:
        doc = {**good, "third_party": [dict(t) for t in good["third_party"]]}
        change(doc)
        return {v.cause for v in validate_plan(problem, doc)}

    assert "fee_mismatch" in broken(lambda d: d["third_party"][0].update(fee=1.0))
    assert "eta_mismatch" in broken(lambda d: d["third_party"][0].update(dropoff_at=d["third_party"][0]["pickup_at"]))
    plain = problem_from_document(_two_doors(False))
    assert "no_third_party" in {v.cause for v in validate_plan(plain, good)}
    routed = next(s["order_id"] for r in good["routes"] for s in r["stops"] if s["kind"] == "dropoff")
    assert "duplicate_order" in broken(lambda d: d["third_party"].append({**d["third_party"][0], "order_id": routed}))
    assert "missing_order" in broken(lambda d: d.update(third_party=[]))
    assert sent in {"A", "B"}


def test_a_third_party_needs_the_riders_cost_per_hour():
    """Fees cannot be weighed against rider time without a price for that time: the document is
    refused naming options.rider_cost_per_hour."""
    doc = document(stores=[store(third_party=PLATFORM)], orders=[order("A", 1000, 0)])
    with pytest.raises(InvalidProblem) as err:
        problem_from_document(doc)
    assert err.value.field == "options.rider_cost_per_hour"


def test_the_simulator_reports_fees_and_the_share_sent_out():
    """Two hours of a store with one own rider: with the platform every order is on time, some
    sent out, their fees counted in the cost per order; without it, promises are broken."""
    day = generate_day(riders=1, seed=2, base_orders_per_hour=9.0, hours=(11.0, 13.0))
    day["stores"][0]["third_party"] = {"fee_per_order": 6.0, "arrival_s": 600}
    day["options"]["rider_cost_per_hour"] = 20.0
    sim = replace(live_options(day), max_iterations=60, budget_s=5.0)
    with_platform = simulate(day, sim)
    without = simulate(day, replace(sim, third_party=False))
    m = with_platform.metrics
    assert m["third_party_orders"] > 0 and m["third_party_fees"] == 6.0 * m["third_party_orders"]
    assert m["on_time_rate"] > without.metrics["on_time_rate"]
    assert without.metrics["third_party_orders"] == 0
    expected = (m["courier_hours"] * 20.0 + m["third_party_fees"]) / m["orders"]
    assert abs(m["cost_per_order"] - expected) < 0.1
    assert sum(o["third_party"] for o in with_platform.orders) == m["third_party_orders"]


def test_a_quote_falls_back_on_the_third_party():
    """A store whose only rider is 6 km away cannot promise within 20 minutes with it; with a
    third party at the store in 3 minutes it can (the answer says so, with the fee); a rider at
    the store is preferred to the platform."""
    from dispatch.live import quote_order
    from dispatch.model import Location
    from tests.dispatch.builders import at

    far = [rider(east=-6000)]
    door = Location(**at(1500, 0))
    plain = problem_from_document(document(riders=far))
    refused = quote_order(plain, "S1", door, max_promise_s=1200)
    assert not refused.feasible and refused.reason == "cannot_be_on_time"
    platform = {"fee_per_order": 4.0, "arrival_s": 180}
    with_platform = problem_from_document(document(stores=[store(third_party=platform)], riders=far, rider_cost_per_hour=20.0))
    answer = quote_order(with_platform, "S1", door, max_promise_s=1200)
    assert answer.feasible and answer.third_party and answer.fee == 4.0 and answer.rider_id is None
    assert answer.eta_s == 180 + 60 + round(1500 / 4.5)
    near = problem_from_document(document(stores=[store(third_party=platform)], rider_cost_per_hour=20.0))
    own = quote_order(near, "S1", door, max_promise_s=1200)
    assert own.feasible and not own.third_party and own.rider_id == "R1"


def test_the_cost_curve_compares_fleets_with_and_without_the_third_party(tmp_path):
    """For 1 and 2 own riders on two hours of a store: rows with both runs; the platform keeps
    more promises and spends fees; the PNG is written."""
    from dispatch.live.cost_curve import cost_curve, plot_cost_curve

    day = generate_day(riders=2, seed=2, base_orders_per_hour=9.0, hours=(11.0, 13.0))
    day["stores"][0]["third_party"] = {"fee_per_order": 6.0, "arrival_s": 600}
    day["options"]["rider_cost_per_hour"] = 20.0
    rows = cost_curve(day, replace(live_options(day), max_iterations=40, budget_s=5.0), [1, 2])
    assert [r["riders"] for r in rows] == [1, 2]
    one = rows[0]
    assert one["with_third_party"]["on_time_rate"] >= one["without"]["on_time_rate"]
    assert one["with_third_party"]["third_party_fees"] > 0 == one["without"]["third_party_fees"]
    assert plot_cost_curve(rows, tmp_path / "curve.png").read_bytes()[:4] == b"\x89PNG"
    with pytest.raises(ValueError, match="rider_cost_per_hour"):
        cost_curve({**day, "options": {}}, live_options(day), [1])


def test_the_fleet_sweep_reports_what_each_fleet_sent_out():
    """The sweep's tries carry the share sent out and the fees of each fleet size."""
    from dispatch.live.report import summary_markdown
    from dispatch.live.simulate import fleet_sweep

    day = generate_day(riders=2, seed=2, base_orders_per_hour=9.0, hours=(11.0, 13.0))
    day["stores"][0]["third_party"] = {"fee_per_order": 6.0, "arrival_s": 600}
    day["options"]["rider_cost_per_hour"] = 20.0
    sim = replace(live_options(day), max_iterations=40, budget_s=5.0)
    sweep = fleet_sweep(day, sim, target=0.9)
    assert set(sweep["third_party"]) == set(sweep["tried"])
    one = sweep["third_party"][min(sweep["third_party"])]
    assert one["third_party_fees"] == 6.0 * round(one["third_party_share"] * len(day["orders"]))
    assert "sent out" in summary_markdown([simulate(day, sim)], "day", [sweep])


def test_a_third_party_drop_off_has_its_eta_range():
    """Without uncertainty the range of a drop-off sent out is its planned start; with uncertain
    rides it spreads around it, the validator agrees, and a stated range it does not give is
    refused."""
    _, plain = solved(_two_doors(True))
    sent = plain.third_party[0]
    assert sent.eta_p10_s == sent.eta_p50_s == sent.eta_p90_s == sent.dropoff_s
    doc = _two_doors(True)
    doc["options"]["travel"]["uncertainty"] = {"ride_cv": 0.3, "service_cv": 0.2}
    problem, plan = solved(doc)
    sent = plan.third_party[0]
    assert sent.eta_p10_s < sent.eta_p50_s < sent.eta_p90_s
    out = plan.to_document()
    out["third_party"][0]["eta_p90"] = out["third_party"][0]["eta_p10"]
    assert {v.cause for v in validate_plan(problem, out)} == {"eta_range_order"}
    out = plan.to_document()
    out["third_party"][0]["eta_p10"] = out["third_party"][0]["eta_p50"]
    assert {v.cause for v in validate_plan(problem, out)} == {"eta_range_mismatch"}


POOLING = {"fee_per_order": 6.0, "fee_per_added_order": 2.0, "orders_per_courier": 2, "arrival_s": 300}


def _neighbours(platform: dict, promised: tuple[float, float] = (30, 30)) -> dict:
    """No own rider; two doors 2 and 2.3 km east of the store, both ready now."""
    return document(stores=[store(third_party=platform)], riders=[],
                    orders=[order("A", 2000, 0, promised=promised[0]), order("B", 2300, 0, promised=promised[1])],
                    rider_cost_per_hour=20.0)


def test_two_orders_share_a_courier_when_the_added_order_costs_less():
    """Two doors 300 m apart, a platform taking two orders per courier at 6 for the first and
    2 for the second: one courier carries both (fees 8, not 12), the second door after the
    first's service and the 300 m between them, and the validator accepts the plan."""
    _, apart = solved(_neighbours({**POOLING, "orders_per_courier": 1}))
    assert apart.metrics.third_party_fees == 12.0 and len({t.courier for t in apart.third_party}) == 2
    problem, plan = solved(_neighbours(POOLING))
    assert [t.order_id for t in plan.third_party] == ["A", "B"]
    first, second = plan.third_party
    assert first.courier == second.courier == "tp-A" and (first.fee, second.fee) == (6.0, 2.0)
    assert plan.metrics.third_party_fees == 8.0 and plan.metrics.objective < apart.metrics.objective
    assert first.pickup_s == second.pickup_s == 300
    assert (first.dropoff_s, second.dropoff_s) == (804, 931)  # CONTRACT.md's worked example
    assert second.dropoff_s == first.dropoff_s + 60 + round(300 / 4.5)
    assert objective_terms(problem, plan).total == plan.metrics.objective
    assert [t["courier"] for t in plan.to_document()["third_party"]] == ["tp-A", "tp-A"]


@pytest.mark.parametrize("change", [
    {"fee_per_added_order": None},  # the same fee per order: sharing only makes one later
    {"orders_per_courier": 1},
])
def test_orders_ride_alone_when_sharing_saves_nothing(change):
    """Without a cheaper added order, or with one order per courier, each order has its courier."""
    _, plan = solved(_neighbours({**POOLING, **change}))
    assert len({t.courier for t in plan.third_party}) == 2


def test_a_courier_is_not_shared_when_the_second_door_would_be_late():
    """Each door promised just after its courier alone reaches it (5 + 1 + 7.4 minutes for A,
    + 8.5 for B): either one after the other would be late, and the fee saved does not pay for a
    broken promise. With only A tight, B rides after it on A's courier."""
    _, plan = solved(_neighbours(POOLING, promised=(13.5, 14.6)))
    assert plan.metrics.late == 0 and len({t.courier for t in plan.third_party}) == 2
    _, plan = solved(_neighbours(POOLING, promised=(13.5, 30)))
    assert [(t.order_id, t.courier) for t in plan.third_party] == [("A", "tp-A"), ("B", "tp-A")]
    assert plan.metrics.late == 0


def test_the_validator_checks_couriers_by_the_rules():
    """A courier over the platform's limit, one carrying two stores' orders, fees not by
    drop-off position, and the second door timed as if it rode alone are reported by cause."""
    problem, plan = solved(_neighbours(POOLING))
    good = plan.to_document()

    def causes(change, against=problem) -> set[str]:
        doc = {**good, "third_party": [dict(t) for t in good["third_party"]]}
        change(doc["third_party"])
        return {v.cause for v in validate_plan(against, doc)}

    assert causes(lambda tp: None) == set()
    one_each = problem_from_document(_neighbours({**POOLING, "orders_per_courier": 1}))
    assert "courier_overloaded" in causes(lambda tp: None, against=one_each)
    assert causes(lambda tp: (tp[0].update(fee=2.0), tp[1].update(fee=6.0))) == {"fee_mismatch"}
    _, apart = solved(_neighbours({**POOLING, "orders_per_courier": 1}))
    alone_b = next(t for t in apart.to_document()["third_party"] if t["order_id"] == "B")
    assert "eta_mismatch" in causes(lambda tp: tp[1].update(dropoff_at=alone_b["dropoff_at"]))
    # Without courier names each order rides alone: the second's pooled time and fee are wrong.
    assert {"eta_mismatch", "fee_mismatch"} <= causes(lambda tp: [t.pop("courier") for t in tp])
    two_stores = _neighbours(POOLING)
    two_stores["stores"].append(store("S2", east=2100, third_party=POOLING))
    two_stores["orders"][1]["store_id"] = "S2"
    mixed = problem_from_document(two_stores)
    assert "courier_mixed_stores" in causes(lambda tp: tp[1].update(store_id="S2"), against=mixed)
    # A courier's orders apart in the list (another courier's between them).
    three = _neighbours({**POOLING, "orders_per_courier": 3})
    three["orders"].append(order("C", -2000, 0, promised=30))
    problem3, plan3 = solved(three)
    doc3 = plan3.to_document()
    alone_c = next(t for t in doc3["third_party"] if t["order_id"] == "C")
    pooled = [t for t in doc3["third_party"] if t["order_id"] != "C"]
    assert len(pooled) == 2 and pooled[0]["courier"] == pooled[1]["courier"] != alone_c["courier"]
    split = {**doc3, "third_party": [pooled[0], alone_c, pooled[1]]}
    assert {v.cause for v in validate_plan(problem3, split)} == {"courier_split"}


def test_a_shared_courier_s_drop_offs_have_ranges_in_order():
    """With uncertain rides, the second door's range is later than the first's and the
    validator draws the same courier's ranges."""
    doc = _neighbours(POOLING)
    doc["options"]["travel"]["uncertainty"] = {"ride_cv": 0.3, "service_cv": 0.2}
    _, plan = solved(doc)
    first, second = plan.third_party
    assert first.courier == second.courier
    assert first.eta_p10_s < first.eta_p90_s and second.eta_p50_s > first.eta_p50_s and second.eta_p90_s > first.eta_p90_s


def test_the_simulator_rides_a_shared_courier_door_to_door():
    """Two hours of a store with no own rider and a platform pooling two per courier, orders
    dispatched in 10-minute waves: fewer couriers than orders, each courier's fee then the
    cheaper added ones, with and without noise."""
    day = generate_day(riders=1, seed=2, base_orders_per_hour=12.0, hours=(11.0, 13.0))
    day["riders"] = []
    day["stores"][0]["third_party"] = {**POOLING, "arrival_s": 600}
    day["options"]["rider_cost_per_hour"] = 20.0
    sim = replace(live_options(day), max_iterations=40, budget_s=5.0, policy="batch", interval_s=600)
    delivered = {}
    for noise in (False, True):
        result = simulate(day, replace(sim, noise=noise))
        m = result.metrics
        n = m["third_party_orders"]
        assert n == len(day["orders"]) and m["third_party_couriers"] < n
        assert m["third_party_fees"] == 6.0 * m["third_party_couriers"] + 2.0 * (n - m["third_party_couriers"])
        delivered[noise] = {o["order_id"]: o["delivered_at"] for o in result.orders}
        assert None not in delivered[noise].values()
    assert delivered[True] != delivered[False]  # the couriers' rides drawn with their luck


def test_pooling_past_its_deadline_leaves_the_orders_alone_and_neighbours_come_in_blocks():
    """A deadline already past: every order keeps its own courier (a valid plan either way).
    The nearest doors found a block of rows at a time are those found at once."""
    import numpy as np

    from dispatch.third_party import _nearest, eligible_trip, pool_couriers
    from dispatch.travel import LegMeter

    problem = problem_from_document(_neighbours(POOLING))
    meter = LegMeter(problem.options.travel)
    alone = [eligible_trip(problem, o, meter) for o in problem.orders]
    assert len({t.courier for t in pool_couriers(problem, alone, meter)}) == 1
    assert [t.courier for t in pool_couriers(problem, alone, meter, deadline=0.0)] == ["tp-A", "tp-B"]
    points = np.radians(np.random.default_rng(3).uniform([31.0, 121.0], [31.05, 121.05], size=(40, 2)))
    at_once, in_blocks = _nearest(points, 5, rows_per_block=64), _nearest(points, 5, rows_per_block=7)
    assert all(np.array_equal(a, b) for a, b in zip(at_once, in_blocks))
    assert all(i not in row for i, row in enumerate(in_blocks))


def test_a_solve_with_own_riders_pools_what_it_sends_out_and_is_reproducible():
    """One own rider and thirty doors in a strip 1.5-2.7 km east, promised in 25 minutes: most go
    out and are pooled (fewer couriers than orders sent out); with a work limit two solves give
    the same plan. The search stops early enough to leave pooling its reserve (1 ms an order of
    a pooling store): a search run to its clock used to leave it none."""
    import time

    from dispatch.solver.admission import pooling_reserve_s, reserve_s
    from dispatch.solver.pipeline import _admit

    orders = [order(f"O{i}", 1500 + 40 * i, (i % 5) * 50, promised=25) for i in range(30)]
    doc = document(stores=[store(third_party={**POOLING, "orders_per_courier": 3})], orders=orders,
                   rider_cost_per_hour=20.0, time_limit_s=1.0, max_iterations=200)
    problem, plan = solved(doc)
    couriers = {t.courier for t in plan.third_party}
    assert len(plan.third_party) >= 20 and len(couriers) < len(plan.third_party)
    _, again = solved(doc)
    assert again.to_document()["third_party"] == plan.to_document()["third_party"]
    assert [r.stops for r in again.routes] == [r.stops for r in plan.routes]
    assert pooling_reserve_s(problem) == 0.030
    t0 = time.perf_counter()
    run = _admit(problem, t0)
    assert run.pool_deadline == t0 + 1.0 - reserve_s(30)
    assert abs(run.deadline - (run.pool_deadline - 0.030)) < 1e-9
    alone = problem_from_document(_neighbours({**POOLING, "orders_per_courier": 1}))
    assert pooling_reserve_s(alone) == 0.0


def test_the_validator_times_a_later_door_by_its_own_rules():
    """The pooled plan (A at 804 s, B at 931 s) checked against the same orders with B's
    deadline at 900 s, its ride limited to 500 s, or B not to be delivered before 1000 s: the
    second door breaks each rule on its own, the first stays clean."""
    from tests.dispatch.builders import t

    problem, plan = solved(_neighbours(POOLING))
    good = plan.to_document()

    def against(**b_change) -> list:
        doc = _neighbours(POOLING)
        doc["orders"][1].update(b_change)
        return [(v.cause, v.order_id) for v in validate_plan(problem_from_document(doc), good)]

    assert ("deadline", "B") in against(deadline_at=t(15))
    assert ("max_ride", "B") in against(max_ride_s=500)
    waits = against(deliver_after=t(1000 / 60))
    assert ("eta_mismatch", "B") in waits and all(oid == "B" for _, oid in waits)
