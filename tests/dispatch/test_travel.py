"""Travel: the vectorised matrices and the validator's one-leg meter agree on every leg."""

import numpy as np

from dispatch.model import Location, TravelOptions
from dispatch.travel import LegMeter, TravelModel, great_circle_m, travel_seconds


def test_matrix_and_leg_meter_agree():
    """The solver's numpy matrix and the validator's scalar legs give the same seconds."""
    rng = np.random.default_rng(4)
    points = [Location(31.2 + rng.uniform(-0.03, 0.03), 121.47 + rng.uniform(-0.03, 0.03)) for _ in range(40)]
    options = TravelOptions(detour_factor=1.3)
    model = TravelModel(options, points)
    meter = LegMeter(options)
    tt = model.travel_s(4.3)
    for i in range(0, 40, 3):
        for j in range(0, 40, 7):
            assert tt[i, j] == meter.travel_s(points[i], points[j], 4.3)
            assert abs(model.distance_m[i, j] - meter.distance_m(points[i], points[j])) < 1e-6


def test_haversine_and_rounding():
    """One degree of latitude is about 111.2 km; seconds round to the nearest whole second."""
    assert abs(great_circle_m(Location(0, 0), Location(1, 0)) - 111_195.08) < 1
    assert travel_seconds(1000, 4.5) == 222
    assert travel_seconds(1003, 4.5) == 223
