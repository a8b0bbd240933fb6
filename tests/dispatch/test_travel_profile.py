"""The speed profile's travel rule: legs ridden through periods of the day, hand-computed."""

from __future__ import annotations

import numpy as np
import pytest

from dispatch import problem_from_document
from dispatch.errors import InvalidProblem
from dispatch.model import Location, SpeedProfile, TravelOptions
from dispatch.travel import LegMeter, profile_leg_s
from tests.dispatch.builders import document, order

# Periods of 30 minutes; 10:30-11:00 local (period 21) at half speed. The builders' plan time is
# 10:00 +08:00, so local midnight is 36,000 s before it.
PEAK = [1.0] * 48
PEAK[21] = 0.5


def profile_document(factors=PEAK, period_min=30, **travel) -> dict:
    """A one-order problem carrying a speed profile."""
    travel = {"model": "haversine", "detour_factor": 1.0, "speed_profile": {"period_min": period_min, "factors": factors}, **travel}
    return document(orders=[order("A", 5400, 0)], travel=travel)


def meter_and_points():
    problem = problem_from_document(profile_document())
    store, door = problem.stores[0].location, problem.orders[0].dropoff
    return problem, LegMeter(problem.options.travel), store, door


def test_profile_counts_periods_from_local_midnight():
    problem = problem_from_document(profile_document())
    profile = problem.options.travel.speed_profile
    assert profile.midnight_s == -36_000 and profile.period_s == 1800
    assert profile.factor_at(1800) == 0.5 and profile.factor_at(1799) == 1.0 and profile.factor_at(3600) == 1.0
    # Rebased for a plan epoch 20 minutes later, the same wall-clock second has the same factor.
    later = profile.rebased(1200)
    assert later.factor_at(600) == 0.5 and later.factor_at(599) == 1.0


def test_legs_across_period_boundaries_are_hand_computed():
    problem, meter, store, door = meter_and_points()
    base = meter.base_s(store, door, 4.5)
    assert base == pytest.approx(1200.0, abs=0.01)  # 5,400 m at 4.5 m/s
    # Leaving 10:00: the whole leg before the peak.
    assert meter.travel_s(store, door, 4.5, 0) == 1200
    # Leaving 10:20: 600 s at full speed to 10:30 (600 base seconds ridden), the other 600 at half
    # speed take 1,200 s: at the door at 10:50.
    assert meter.travel_s(store, door, 4.5, 1200) == 1800
    # Leaving 10:40, inside the peak: 1,200 s to 11:00 ride 600 base seconds, the other 600 at full speed.
    assert meter.travel_s(store, door, 4.5, 2400) == 1800
    # Leaving 10:50: 600 s at half speed (300 base), then 900 s: 1,500 s.
    assert meter.travel_s(store, door, 4.5, 3000) == 1500
    # Leaving 10:30 sharp: 1,800 s ride 900 base seconds, then 300 s: 2,100 s.
    assert meter.travel_s(store, door, 4.5, 1800) == 2100


def test_leaving_later_never_means_arriving_earlier():
    problem, meter, store, door = meter_and_points()
    arrivals = [d + meter.travel_s(store, door, 4.5, d) for d in range(0, 4000, 7)]
    assert all(b >= a for a, b in zip(arrivals, arrivals[1:]))
    # Also with steep changes between many short periods and odd leg lengths.
    rng = np.random.default_rng(5)
    factors = rng.uniform(0.2, 3.0, 288)
    for base in (0.4, 37.5, 311.2, 4000.0):
        arrive = [d + profile_leg_s(d, base, factors, 300, -1234) for d in range(-900, 3000)]
        assert all(b >= a for a, b in zip(arrive, arrive[1:]))


def test_a_flat_profile_gives_the_legs_of_no_profile():
    flat = problem_from_document(profile_document(factors=[1.0] * 24, period_min=60))
    plain = LegMeter(TravelOptions(model="haversine", detour_factor=1.0))
    meter = LegMeter(flat.options.travel)
    a, b = Location(31.23, 121.47), Location(31.245, 121.49)
    for depart in (0, 777, 86_000):
        assert meter.travel_s(a, b, 3.7, depart) == plain.travel_s(a, b, 3.7)


def test_the_profile_scales_a_matrix_durations():
    doc = profile_document()
    points = [doc["stores"][0]["location"], doc["orders"][0]["dropoff"], doc["riders"][0]["location"]]
    doc["options"]["travel"] = {"model": "matrix", "locations": points,
                                "durations_s": [[0, 1200, 0], [1200, 0, 1200], [0, 1200, 0]],
                                "speed_profile": {"period_min": 30, "factors": PEAK}}
    problem = problem_from_document(doc)
    meter = LegMeter(problem.options.travel)
    store, door = problem.stores[0].location, problem.orders[0].dropoff
    assert meter.travel_s(store, door, 4.5, 1200) == 1800
    assert meter.travel_s(store, door, 9.0, 1200) == 1800  # a matrix's times are every rider's


def test_a_leg_under_a_profile_needs_its_departure():
    problem, meter, store, door = meter_and_points()
    with pytest.raises(ValueError, match="departure"):
        meter.travel_s(store, door, 4.5)


@pytest.mark.parametrize(
    ("profile", "field", "words"),
    [
        ({"period_min": 7, "factors": [1.0] * 205}, "options.travel.speed_profile.period_min", "divide 1440"),
        ({"period_min": 30, "factors": [1.0] * 47}, "options.travel.speed_profile.factors", "48 are needed"),
    ],
)
def test_a_wrong_profile_names_its_field(profile, field, words):
    doc = document(orders=[order("A", 500, 0)], travel={"model": "haversine", "speed_profile": profile})
    with pytest.raises(InvalidProblem) as err:
        problem_from_document(doc)
    assert any(e.field == field and words in e.reason for e in err.value.errors), err.value.errors


def test_a_factor_out_of_range_is_refused():
    doc = document(orders=[order("A", 500, 0)], travel={"model": "haversine", "speed_profile": {"period_min": 60, "factors": [0.0] * 24}})
    with pytest.raises(InvalidProblem) as err:
        problem_from_document(doc)
    assert any("speed_profile" in e.field for e in err.value.errors)


def test_speed_profile_factors_are_an_array():
    profile = SpeedProfile(1800, tuple(PEAK), -36_000)
    assert profile.factor_array.dtype == np.float64 and len(profile.factor_array) == 48


def _period_by_period(depart: int, base: float, factors: np.ndarray, period_s: int, midnight_s: int) -> float:
    """The rule ridden one period at a time, whatever the leg's length (the reference)."""
    t, left, n = float(depart), base, len(factors)
    while True:
        index = int(np.floor((t - midnight_s) / period_s))
        f, end = factors[index % n], midnight_s + (index + 1) * period_s
        if (end - t) * f >= left:
            return t + left / f - depart
        left -= (end - t) * f
        t = end


def test_legs_of_days_ride_whole_days_at_once_and_agree_with_the_rule():
    """A leg of days (a far rider, a long matrix leg) rides its whole days at once: the same
    seconds as period by period, in a few steps however slow the profile."""
    rng = np.random.default_rng(8)
    factors = rng.uniform(0.05, 3.0, 1440)
    for depart, base in zip(rng.integers(-90_000, 200_000, 200), rng.uniform(4_000, 600_000, 200)):
        expected = _period_by_period(int(depart), float(base), factors, 60, -5_000)
        assert abs(profile_leg_s(int(depart), float(base), factors, 60, -5_000) - expected) <= 1
