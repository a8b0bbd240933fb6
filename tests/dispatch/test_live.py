"""The day simulator and the rolling dispatcher: commitments, bookkeeping, policies, fleet sweep."""

from __future__ import annotations

import pytest

from dispatch.live.report import plot_timeline, summary_markdown
from dispatch.live.scenario import generate_day
from dispatch.live.simulate import DaySimulator, SimOptions, fleet_sweep, simulate
from dispatch.travel import LegMeter

# Two busy hours at one store, three riders; a work limit per re-plan keeps it reproducible.
SCENARIO = generate_day(riders=3, seed=2, base_orders_per_hour=10, hours=(11.5, 13.5))
FAST = {"max_iterations": 15, "budget_s": 5.0}


class CheckedSimulator(DaySimulator):
    """Checks the commitments around every re-plan."""

    violations: list[str]

    def _replan(self, t, orders_to_plan, everything_committed):
        # The stop each rider is riding to now (not a stop it already waits at, nor a ride home).
        riding_to = {
            rid: rs.stops[0]
            for rid, rs in self.riders.items()
            if rs.stops and rs.stops[0].kind != "return" and rs.stops[0].arrive_s > t
        }
        carried = {rid: set(rs.carrying) for rid, rs in self.riders.items()}
        super()._replan(t, orders_to_plan, everything_committed)
        for rid, rs in self.riders.items():
            if rid in riding_to and (not rs.stops or rs.stops[0] is not riding_to[rid]):
                self.violations.append(f"{rid}: the stop it was riding to is no longer first at {t}")
            drops = {oid for s in rs.stops if s.kind == "dropoff" for oid in s.order_ids}
            for oid in carried[rid]:
                if oid not in drops:
                    self.violations.append(f"{rid}: carried order {oid} left its rider at {t}")


def test_rolling_keeps_commitments():
    """Across every re-plan of a busy day: the current stop stays first, carried orders stay put."""
    sim = CheckedSimulator(SCENARIO, SimOptions(policy="rolling", **FAST))
    sim.violations = []
    result = sim.run()
    assert result.metrics["replans"] > 10
    assert sim.violations == []


@pytest.mark.parametrize("policy", ["rolling", "greedy", "batch"])
def test_the_books_balance(policy):
    """Time moves forward, a rider is never in two places, every order ends delivered or reported."""
    sim = DaySimulator(SCENARIO, SimOptions(policy=policy, **FAST))
    result = sim.run()
    times = [p["t_s"] for p in result.timeline]
    assert times == sorted(times) and len(set(times)) == len(times)
    meter = LegMeter(sim.problem.options.travel)
    for rs in sim.riders.values():
        where, free = rs.rider.location, rs.rider.available_at_s
        for stop in rs.done:
            assert stop.arrive_s >= free + meter.travel_s(where, stop.location, rs.rider.speed_mps) - 1, rs.rider.id
            assert stop.arrive_s <= stop.start_s <= stop.depart_s
            where, free = stop.location, stop.depart_s
    for outcome in result.orders:
        assert (outcome["delivered_at"] is None) != (outcome["reason"] is None), outcome
    picked = {o["order_id"]: o for o in result.orders if o["picked_up_at"]}
    order_by_id = {o.id: o for o in sim.problem.orders}
    for oid, outcome in picked.items():
        assert outcome["picked_up_at"] >= sim.problem.at(order_by_id[oid].ready_at_s).isoformat(timespec="seconds")
    m = result.metrics
    assert m["orders"] == len(SCENARIO["orders"]) and 0 <= m["on_time_rate"] <= 1
    assert set(m) >= {
        "orders", "delivered", "on_time_rate", "click_to_door_mean_s", "click_to_door_p90_s", "late_mean_s",
        "orders_per_rider_hour", "rider_travel_km", "reassignments", "replan_ms_p50", "replan_ms_p95",
    }


def test_rolling_keeps_more_promises_than_greedy_with_the_same_riders():
    """On the same busy day and fleet, planning waves beats one order per trip by hand."""
    rolling = simulate(SCENARIO, SimOptions(policy="rolling", **FAST)).metrics
    greedy = simulate(SCENARIO, SimOptions(policy="greedy", **FAST)).metrics
    assert rolling["on_time_rate"] > greedy["on_time_rate"]
    assert rolling["click_to_door_mean_s"] < greedy["click_to_door_mean_s"]


def test_a_reassignment_cost_means_fewer_reassignments():
    """Pricing moves above any lateness leaves only the moves that cannot be avoided."""
    free = simulate(SCENARIO, SimOptions(policy="rolling", reassign_cost=0, **FAST)).metrics
    priced = simulate(SCENARIO, SimOptions(policy="rolling", reassign_cost=10**6, **FAST)).metrics
    assert priced["reassignments"] < free["reassignments"] / 4


def test_fleet_sweep_finds_the_smallest_fleet(tmp_path):
    """The sweep's answer keeps the target and one rider fewer does not; the report is written."""
    result = fleet_sweep(SCENARIO, SimOptions(policy="greedy", **FAST), target=0.5)
    tried = result["tried"]
    n = result["riders"]
    if n is not None:
        assert tried[n] >= 0.5
        assert n == 1 or tried.get(n - 1, 0.0) < 0.5
    day = [simulate(SCENARIO, SimOptions(policy=p, **FAST)) for p in ("rolling", "greedy")]
    text = summary_markdown(day, "test day", [result])
    assert "| on time |" in text and "Fleet sweep" in text
    assert plot_timeline(day, tmp_path / "t.png").stat().st_size > 0


def test_holding_waves_rides_less():
    """Postponement (riders wait at the store while promises keep a margin) cuts rider travel."""
    held = simulate(SCENARIO, SimOptions(policy="rolling", hold_margin_s=600, **FAST)).metrics
    eager = simulate(SCENARIO, SimOptions(policy="rolling", hold_margin_s=None, **FAST)).metrics
    assert held["rider_travel_km"] < eager["rider_travel_km"]


def test_closed_routes_option_plans_the_ride_back(monkeypatch):
    """`return_to_store` reaches every re-plan, and the day still balances."""
    import dispatch.live.simulate as sim_module

    seen = []
    real_solve = sim_module.solve

    def spy(problem):
        seen.append(problem.options.return_to_store)
        return real_solve(problem)

    monkeypatch.setattr(sim_module, "solve", spy)
    result = simulate(SCENARIO, SimOptions(policy="rolling", return_to_store=True, **FAST))
    assert seen and all(seen)
    assert result.metrics["delivered"] == result.metrics["orders"]


def test_re_plans_start_from_the_routes_being_followed(monkeypatch):
    """With `warm_start` the re-plans carry each rider's stops; without, none."""
    import dispatch.live.simulate as sim_module

    real_solve = sim_module.solve
    for warm in (True, False):
        seen = []

        def spy(problem):
            seen.append(problem.initial_routes)
            return real_solve(problem)

        monkeypatch.setattr(sim_module, "solve", spy)
        result = simulate(SCENARIO, SimOptions(policy="rolling", warm_start=warm, **FAST))
        assert result.metrics["delivered"] == result.metrics["orders"]
        followed = [stops for routes in seen for _rider, stops in routes if stops]
        assert bool(followed) == warm


def _shared_fleet_day() -> dict:
    """Two stores 4.2 km apart whose riders belong to neither: couriers shared by both."""
    day = generate_day(riders=3, seed=4, stores=2, base_orders_per_hour=6, hours=(11.5, 13.0))
    for r in day["riders"]:
        del r["store_id"]
    return day


@pytest.mark.parametrize("policy", ["rolling", "greedy", "batch"])
def test_every_policy_delivers_with_a_shared_fleet(policy):
    """Riders with no home store serve orders of both stores, and stay where they finish."""
    day = _shared_fleet_day()
    sim = DaySimulator(day, SimOptions(policy=policy, **FAST))
    result = sim.run()
    assert result.metrics["delivered"] == result.metrics["orders"] > 10
    served = {s.store_id for rs in sim.riders.values() for s in rs.done if s.kind == "pickup"}
    assert served == {"S1", "S2"}
    assert all(s.kind != "return" for rs in sim.riders.values() for s in rs.done)
