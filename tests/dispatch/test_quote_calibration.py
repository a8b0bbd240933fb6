"""Quotes calibrated on the store's record: the conformal quantile, when it applies, what it changes."""

from __future__ import annotations

import pytest

from dispatch import problem_from_document
from dispatch.live import quote_document, quote_order
from dispatch.live.quote_calibration import (
    QuoteCalibration,
    QuoteOutcome,
    adaptive_confidence,
    conformal_quantile,
    normalised_residuals,
)
from dispatch.model import Location
from tests.dispatch.builders import at, document

UNCERTAIN = {"model": "haversine", "detour_factor": 1.0, "uncertainty": {"ride_cv": 0.3, "service_cv": 0.2}}
# Ten quotes with p50 10 minutes and p90 15 minutes out, delivered at these multiples of p90 - p50 after p50.
RESIDUALS = [-1.0, -0.5, 0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0, 4.0]
TEN = tuple(QuoteOutcome(600, 900, int(600 + 300 * r), 900) for r in RESIDUALS)


def _spot() -> Location:
    point = at(0, 2500)
    return Location(lat=point["lat"], lon=point["lon"])


def test_residuals_are_normalised_by_the_quote_spread_with_a_floor():
    """(delivered - p50) / max(floor, p90 - p50): a quote with no spread is scaled by the floor."""
    outcomes = [QuoteOutcome(600, 900, 750, 900), QuoteOutcome(600, 600, 720, 600)]
    assert normalised_residuals(outcomes, floor_s=60).tolist() == [0.5, 2.0]
    assert normalised_residuals(TEN).tolist() == RESIDUALS


def test_the_conformal_quantile_takes_the_finite_sample_rank():
    """Of n = 10 residuals, confidence c takes the ceil(11 c)-th smallest: 0.9 -> 10th, 0.8 -> 9th,
    0.5 -> 6th, 0.7 -> 8th (7.7, where 10 x 0.7 in floats must not round up a rank); past n, the largest."""
    shuffled = [RESIDUALS[i] for i in (3, 9, 0, 7, 5, 1, 8, 2, 6, 4)]
    assert conformal_quantile(shuffled, 0.9) == 4.0
    assert conformal_quantile(shuffled, 0.8) == 3.0
    assert conformal_quantile(shuffled, 0.5) == 1.5
    assert conformal_quantile(shuffled, 0.7) == 2.5
    assert conformal_quantile(shuffled[:9], 0.7) == pytest.approx(sorted(shuffled[:9])[6])  # ceil(10 x 0.7) = 7
    assert conformal_quantile(shuffled[:5], 0.99) == 4.0


def test_the_calibration_uses_the_last_window_and_needs_min_samples():
    """The quantile is over the last `window` outcomes; with fewer than `min_samples`, none (the model's alone)."""
    assert QuoteCalibration(TEN, window=10, min_samples=11).quantile(0.9) is None
    assert QuoteCalibration(TEN, window=10, min_samples=10).quantile(0.9) == 4.0
    # The last four: 2.0, 2.5, 3.0, 4.0; ceil(5 x 0.5) = 3rd smallest.
    assert QuoteCalibration(TEN, window=4, min_samples=4).quantile(0.5) == 3.0
    assert QuoteCalibration(TEN, min_samples=10).calibrated_s(1000, 1200, 1150, 0.9) == (1000 + 4 * 200, 10)
    # A record of early deliveries never brings a quote before the model's own quantile.
    early = tuple(QuoteOutcome(600, 900, 300, 900) for _ in range(10))
    assert QuoteCalibration(early, min_samples=10).calibrated_s(1000, 1200, 1150, 0.9) == (1150, 10)


def test_adaptive_confidence_moves_with_the_hits_and_misses():
    """c_{t+1} = c_t + step (missed - (1 - c)): a miss at 0.9, step 0.05 -> 0.945; then a hit -> 0.94."""
    miss, hit = QuoteOutcome(600, 900, 1000, 900), QuoteOutcome(600, 900, 800, 900)
    assert adaptive_confidence(0.9, [miss], 0.05) == pytest.approx(0.945)
    assert adaptive_confidence(0.9, [miss, hit], 0.05) == pytest.approx(0.94)
    assert adaptive_confidence(0.9, [miss] * 100, 0.05) == 0.99  # kept within its bounds
    assert QuoteCalibration(TEN, min_samples=10, adaptive_step=0.05).working_confidence(0.9) > 0.9  # five misses of ten


def test_a_calibration_with_too_few_samples_gives_the_models_quote():
    """Fewer outcomes than `min_samples`: the same quote as without a calibration, calibrated on none."""
    problem = problem_from_document(document(travel=UNCERTAIN))
    plain = quote_order(problem, "S1", _spot(), confidence=0.9)
    short = quote_order(problem, "S1", _spot(), confidence=0.9, calibration=QuoteCalibration(TEN, min_samples=11))
    assert (short.promise_at_s, short.at_confidence_s, short.eta_range_s) == (plain.promise_at_s, plain.at_confidence_s, plain.eta_range_s)
    assert plain.calibrated_from == short.calibrated_from == 0


def test_a_record_of_misses_makes_the_promise_later_never_before_the_eta():
    """History where deliveries came well after p90 (residuals up to 4): the promise is
    p50 + 4 (p90 - p50), later than the model's p90, says it used ten outcomes, and is not before the ETA.
    A record of early deliveries leaves the model's promise."""
    problem = problem_from_document(document(travel=UNCERTAIN))
    plain = quote_order(problem, "S1", _spot(), confidence=0.9)
    calibrated = quote_order(problem, "S1", _spot(), confidence=0.9, calibration=QuoteCalibration(TEN, min_samples=10))
    _, p50, p90 = calibrated.eta_range_s
    assert calibrated.eta_range_s == plain.eta_range_s and calibrated.calibrated_from == 10
    assert calibrated.at_confidence_s == p50 + 4 * (p90 - p50) > plain.at_confidence_s
    assert calibrated.promise_at_s == -(-calibrated.at_confidence_s // 60) * 60 > plain.promise_at_s
    assert calibrated.promise_at_s >= calibrated.eta_s
    assert quote_document(problem, calibrated)["calibrated_from"] == 10
    early = tuple(QuoteOutcome(600, 900, 0, 900) for _ in range(10))
    hopeful = quote_order(problem, "S1", _spot(), confidence=0.9, calibration=QuoteCalibration(early, min_samples=10))
    assert hopeful.promise_at_s == plain.promise_at_s and hopeful.at_confidence_s >= hopeful.eta_s


def test_without_a_confidence_the_calibration_changes_nothing():
    """A quote without a confidence promises the ETA: a calibration does not apply."""
    problem = problem_from_document(document(travel=UNCERTAIN))
    plain = quote_order(problem, "S1", _spot())
    with_record = quote_order(problem, "S1", _spot(), calibration=QuoteCalibration(TEN, min_samples=10))
    assert with_record.promise_at_s == plain.promise_at_s and with_record.calibrated_from == 0
