"""The simulator's uncertain world: rides through the speed profile, seeded noise, honest reports, quotes."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from dispatch.live.scenario import generate_day
from dispatch.live.simulate import DaySimulator, SimOptions, SimStop, simulate
from dispatch.travel import LegMeter

# One busy hour at one store, three riders; a work limit per re-plan keeps it reproducible.
DAY = generate_day(riders=3, seed=2, base_orders_per_hour=10, hours=(12.0, 13.0))
FAST = {"max_iterations": 15, "budget_s": 5.0}
UNCERTAIN = {"ride_cv": 0.3, "service_cv": 0.2}


def with_travel(scenario: dict, **travel) -> dict:
    """The scenario with more travel options (a speed profile, uncertainty)."""
    doc = copy.deepcopy(scenario)
    doc["options"]["travel"].update(travel)
    return doc


def delivered(result) -> list:
    """Each order's drop-off time, in order."""
    return [o["delivered_at"] for o in result.orders]


def test_noise_is_seeded_and_reproducible():
    """The same noise seed gives the same day; another seed another day; noise changes the day."""
    runs = [simulate(DAY, SimOptions(noise=True, noise_seed=s, **FAST)) for s in (1, 1, 2)]
    quiet = simulate(DAY, SimOptions(**FAST))
    assert delivered(runs[0]) == delivered(runs[1])
    assert delivered(runs[0]) != delivered(runs[2]) and delivered(runs[0]) != delivered(quiet)
    assert runs[0].metrics["noise"] is True and "noise" not in quiet.metrics


def test_noise_off_rides_the_plans_as_before():
    """Noise off: uncertainty options change no drop-off (plans ignore them; the world is the
    plans' clock), and every KPI but none of the noise figures is reported."""
    plain = simulate(DAY, SimOptions(**FAST))
    told = simulate(with_travel(DAY, uncertainty=UNCERTAIN), SimOptions(**FAST))
    assert delivered(plain) == delivered(told)
    keep = {k: v for k, v in plain.metrics.items() if not k.startswith("replan_ms")}
    assert keep == {k: v for k, v in told.metrics.items() if not k.startswith("replan_ms")}


def test_drawn_rides_and_services_have_the_planned_mean_and_the_cv():
    """Over many legs, a ride really lasts the planned seconds on average with the CV asked;
    services likewise (the draws are lognormal around the plan)."""
    sim = DaySimulator(with_travel(DAY, uncertainty={"ride_cv": 0.25, "service_cv": 0.2}), SimOptions(noise=True, noise_seed=9))
    rider = next(iter(sim.riders.values())).rider
    store, door = sim.problem.stores[0].location, sim.problem.orders[0].dropoff
    planned = sim._travel(rider, store, door)
    rides = np.array([sim._ride_s(rider, store, door, 0, f"leg{i}") for i in range(4000)]) / planned
    assert rides.mean() == pytest.approx(1.0, abs=0.02) and rides.std() == pytest.approx(0.25, rel=0.07)
    assert sim._ride_s(rider, store, door, 0, "leg7") == sim._ride_s(rider, store, door, 0, "leg7")


def test_riders_ride_through_the_speed_profile():
    """At half speed all day, a rider's legs take the profile's seconds (twice the plain ones)
    whatever the plans (which may not know the profile) say, and the day's doors come later."""
    slow = with_travel(DAY, speed_profile={"period_min": 60, "factors": [0.5] * 24})
    sim = DaySimulator(slow, SimOptions(policy="greedy"))
    rs = next(iter(sim.riders.values()))
    first, second = (sim.problem.orders[k] for k in (0, 1))
    stops = [SimStop("pickup", sim.problem.stores[0].location, 0, 0, 0, (first.id,), "S1"),
             SimStop("dropoff", first.dropoff, 0, 0, 0, (first.id,)), SimStop("dropoff", second.dropoff, 0, 0, 0, (second.id,))]
    sim._realize(rs, stops, rs.rider.location, first.ready_at_s - 600)
    plain = LegMeter(DaySimulator(DAY, SimOptions()).problem.options.travel)
    where = rs.rider.location
    for stop in stops:
        assert abs(stop.leg_s - 2 * plain.travel_s(where, stop.location, rs.rider.speed_mps)) <= 1
        where = stop.location
    assert stops[0].start_s == first.ready_at_s and stops[1].arrive_s == stops[0].depart_s + stops[1].leg_s
    ctd = [simulate(day, SimOptions(policy="greedy")).metrics["click_to_door_mean_s"] for day in (DAY, slow)]
    assert ctd[1] > ctd[0]


def test_re_plans_rebase_the_profile_to_their_epoch():
    """A re-plan an hour into the day sees the same wall-clock periods from its own epoch."""
    day = with_travel(DAY, speed_profile={"period_min": 60, "factors": [1.0] * 12 + [0.5] + [1.0] * 11},
                      uncertainty={"ride_cv": [0.1] * 12 + [0.4] + [0.1] * 11})
    sim = DaySimulator(day, SimOptions(**FAST))
    noon = 12 * 3600 + sim.problem.options.travel.speed_profile.midnight_s
    travel = sim._replan_options(noon).travel
    assert travel.speed_profile.factor_at(0) == 0.5 and travel.speed_profile.factor_at(3600) == 1.0
    assert travel.uncertainty.ride_cv_at(0) == 0.4 and travel.uncertainty.ride_cv_at(-1) == 0.1


def test_quotes_become_promises_and_are_reported():
    """With quotes at 0.9 as promises, every quoted order's promise is its quote and the day
    reports the share of quotes kept; under uncertainty the plans' ETA ranges are in the outcomes."""
    day = with_travel(DAY, uncertainty=UNCERTAIN)
    result = simulate(day, SimOptions(noise=True, quote_confidence=0.9, promise_from_quote=True, **FAST))
    quoted = [o for o in result.orders if "quoted_promise_at" in o]
    assert len(quoted) == result.metrics["quoted"] > 0
    assert all(o["promised_at"] == o["quoted_promise_at"] for o in quoted)
    assert 0 <= result.metrics["quote_kept_rate"] <= 1
    ranged = [o for o in result.orders if "eta_first" in o]
    assert ranged and all(o["eta_first"]["p10"] <= o["eta_first"]["p50"] <= o["eta_first"]["p90"] for o in ranged)


def test_a_noisy_world_the_scenario_does_not_describe_still_gives_ranges():
    """Noise on a scenario without `uncertainty`: the dispatcher knows the world's noise, so its
    plans' ETA ranges are ranges (and its quotes' confidences mean something)."""
    noisy = simulate(DAY, SimOptions(noise=True, quote_confidence=0.9, **FAST))
    ranged = [o for o in noisy.orders if "eta_first" in o]
    assert ranged and all(o["eta_first"]["p10"] < o["eta_first"]["p90"] for o in ranged)
    assert noisy.metrics["quoted"] > 0


def test_quotes_are_calibrated_only_on_deliveries_known_when_quoted(monkeypatch):
    """With `quote_calibration`, each quote is calibrated on the quoted orders delivered by the
    time it is made, never on later ones (the simulator knows a drop-off's time once it is made)."""
    from datetime import datetime

    from dispatch.live import simulate as simulate_module
    from dispatch.live.quote_calibration import QuoteCalibration

    seen: list[tuple] = []
    real_quote = simulate_module.quote_order

    def spy(problem, *args, **kwargs):
        seen.append((problem.plan_time, len(kwargs["calibration"].outcomes)))
        return real_quote(problem, *args, **kwargs)

    monkeypatch.setattr(simulate_module, "quote_order", spy)
    day = with_travel(generate_day(riders=3, seed=2, base_orders_per_hour=14, hours=(12.0, 14.0)), uncertainty=UNCERTAIN)
    calibration = QuoteCalibration(window=1000, min_samples=2)
    result = simulate(day, SimOptions(noise=True, quote_confidence=0.9, promise_from_quote=True,
                                      quote_calibration=calibration, **FAST))
    delivered = [datetime.fromisoformat(o["delivered_at"]) for o in result.orders
                 if "quoted_promise_at" in o and o["delivered_at"] and not o["third_party"]]
    assert seen and max(n for _, n in seen) > 0
    for quoted_at, n in seen:
        assert n <= sum(d <= quoted_at for d in delivered), quoted_at
