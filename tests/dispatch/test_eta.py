"""ETA ranges: Monte-Carlo quantiles of a route's stop starts against known distributions."""

from __future__ import annotations

import math

import numpy as np
import pytest
from statistics import NormalDist

from dispatch import problem_from_document, solve
from dispatch.errors import InvalidProblem
from dispatch.eta import EtaStop, NO_WAIT, draw_starts, lognormal_factors
from dispatch.travel import profile_legs_s
from dispatch.model import SpeedProfile
from dispatch.travel import LegMeter, profile_leg_s
from dispatch.validate import validate_plan
from tests.dispatch.builders import document, order, rider

UNCERTAIN = {"ride_cv": 0.25, "service_cv": 0.0}


def travel(**uncertainty) -> dict:
    """Haversine travel without detour, with the given uncertainty (none when empty)."""
    doc = {"model": "haversine", "detour_factor": 1.0}
    if uncertainty:
        doc["uncertainty"] = uncertainty
    return doc


def one_leg(cv: float = 0.25):
    """A rider at the store riding 5,400 m (1,200 s at 4.5 m/s) to one door, and its stops."""
    problem = problem_from_document(document(orders=[order("A", 5400, 0)], travel=travel(ride_cv=cv)))
    stop = EtaStop(problem.orders[0].dropoff, NO_WAIT, 60)
    return problem, problem.riders[0], [stop]


def lognormal_quantile(mean: float, cv: float, q: float) -> float:
    """The q-quantile of a lognormal of this mean and coefficient of variation."""
    sigma = math.sqrt(math.log1p(cv * cv))
    return mean * math.exp(-sigma * sigma / 2 + sigma * NormalDist().inv_cdf(q))


def test_one_leg_with_a_known_lognormal_gives_its_quantiles():
    """A single 1,200 s leg with CV 0.25: the drawn p10/p50/p90 are the lognormal's within
    Monte-Carlo tolerance (20,000 draws: standard error ~ 0.5% of the mean)."""
    problem, r, stops = one_leg(0.25)
    starts = draw_starts(problem.options.travel, r, stops, seed=3, draws=20_000)[0]
    for q in (0.1, 0.5, 0.9):
        assert np.quantile(starts, q) == pytest.approx(lognormal_quantile(1200, 0.25, q), rel=0.01)
    assert starts.mean() == pytest.approx(1200, rel=0.01)
    assert starts.std() / starts.mean() == pytest.approx(0.25, rel=0.05)


def test_draws_are_seeded_and_reproducible():
    """The same seed gives the same draws; another seed other draws."""
    problem, r, stops = one_leg()
    a = draw_starts(problem.options.travel, r, stops, seed=7)
    assert np.array_equal(a, draw_starts(problem.options.travel, r, stops, seed=7))
    assert not np.array_equal(a, draw_starts(problem.options.travel, r, stops, seed=8))


def test_lognormal_factors_have_mean_one_and_the_cv():
    """Factors drawn from standard normals have mean 1 and the coefficient of variation asked; CV 0 is exactly 1."""
    z = np.random.default_rng(0).standard_normal(200_000)
    f = lognormal_factors(0.4, z)
    assert f.mean() == pytest.approx(1.0, abs=0.005) and f.std() == pytest.approx(0.4, rel=0.02)
    assert np.all(lognormal_factors(0.0, z) == 1.0)


def test_a_ready_time_caps_the_range_from_below():
    """A pickup waiting for an order ready long after the rider can arrive starts at the ready
    time in every draw: the wait absorbs the ride's noise (max per draw)."""
    problem, r, _ = one_leg(0.5)
    stops = [EtaStop(problem.stores[0].location, 900, 60), EtaStop(problem.orders[0].dropoff, NO_WAIT, 60)]
    starts = draw_starts(problem.options.travel, r, stops, seed=1)
    assert np.all(starts[0] == 900)
    assert np.all(starts[1] >= 960)


def test_without_uncertainty_the_range_is_the_eta():
    """Without uncertainty options, every stop's p10 = p50 = p90 = its planned start."""
    doc = document(orders=[order("A", 1500, 0), order("B", 0, 1800, ready=5)])
    plan = solve(problem_from_document(doc))
    for route in plan.routes:
        for s in route.stops:
            assert s.eta_p10_s == s.eta_p50_s == s.eta_p90_s
    stop = plan.routes[0].stops[-1]
    assert stop.eta_p50_s == stop.depart_s - 60
    assert "eta_p50" in plan.to_document()["routes"][0]["stops"][-1]


def test_a_plan_under_uncertainty_has_ordered_ranges_the_validator_accepts():
    """Under uncertainty every stop has p10 <= p50 <= p90, ranges widen along the route, the
    validator accepts the plan, and rejects a range far from the route's distribution."""
    doc = document(orders=[order("A", 1500, 0), order("B", 0, 1800), order("C", 900, 900)],
                   travel=travel(ride_cv=0.3, service_cv=0.2))
    problem = problem_from_document(doc)
    plan = solve(problem)
    drops = [s for s in plan.routes[0].stops if s.kind == "dropoff"]
    assert all(s.eta_p10_s <= s.eta_p50_s <= s.eta_p90_s for s in drops)
    widths = [s.eta_p90_s - s.eta_p10_s for s in drops]
    assert widths == sorted(widths) and widths[0] > 0
    assert validate_plan(problem, plan.to_document()) == []
    bad = plan.to_document()
    bad["routes"][0]["stops"][-1]["eta_p90"] = bad["routes"][0]["stops"][-1]["eta_p10"]
    causes = {v.cause for v in validate_plan(problem, bad)}
    assert "eta_range_order" in causes
    bad = plan.to_document()
    stop = bad["routes"][0]["stops"][-1]
    stop["eta_p10"] = stop["eta_p50"] = stop["eta_p90"] = stop["depart_at"]
    assert {v.cause for v in validate_plan(problem, bad)} == {"eta_range_mismatch"}


def test_ranges_ride_through_the_speed_profile():
    """The vectorised profile leg is the rule's leg for every departure."""
    rng = np.random.default_rng(4)
    factors = rng.uniform(0.3, 2.0, 96)
    profile = SpeedProfile(900, tuple(factors), -37_000)
    departs = np.arange(-2000, 9000, 13)
    for base in (0.0, 41.3, 777.7, 5000.0):
        expected = [profile_leg_s(int(d), base, profile.factor_array, 900, -37_000) for d in departs]
        assert np.array_equal(profile_legs_s(departs, base, profile.factor_array, profile.period_s, profile.midnight_s), expected)


def test_ride_cv_per_period_and_named_errors():
    """ride_cv may be one number or one per period; a wrong count or period is refused by name."""
    per_hour = [0.1] * 24
    per_hour[10] = 0.6  # 10:00-11:00 local, the builders' plan time
    problem = problem_from_document(document(orders=[order("A", 100, 0)], travel=travel(ride_cv=per_hour)))
    unc = problem.options.travel.uncertainty
    assert unc.ride_cv_at(0) == 0.6 and unc.ride_cv_at(3600) == 0.1
    assert unc.rebased(3600).ride_cv_at(0) == 0.1
    with pytest.raises(InvalidProblem) as err:
        problem_from_document(document(orders=[order("A", 100, 0)], travel=travel(ride_cv=[0.1] * 5)))
    assert err.value.errors[0].field == "options.travel.uncertainty.ride_cv"
    with pytest.raises(InvalidProblem) as err:
        problem_from_document(document(orders=[order("A", 100, 0)], travel=travel(ride_cv=0.1, period_min=7)))
    assert err.value.errors[0].field == "options.travel.uncertainty.period_min"
