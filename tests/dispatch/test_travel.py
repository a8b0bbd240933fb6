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


def test_matrix_matches_the_scalar_haversine_from_centimetres_to_continents():
    """The matrix's expanded form gives the scalar formula's metres for points a centimetre
    apart up to thousands of kilometres apart, for one point set and for two."""
    from dispatch.travel import great_circle_matrix_m

    rng = np.random.default_rng(7)
    lats = np.concatenate([31.2 + rng.uniform(-1e-7, 1e-7, 5), rng.uniform(-60, 60, 20), [0.0, 0.0]])
    lons = np.concatenate([121.47 + rng.uniform(-1e-7, 1e-7, 5), rng.uniform(-170, 170, 20), [0.0, 179.9]])
    points = [Location(float(a), float(b)) for a, b in zip(lats, lons)]
    square = great_circle_matrix_m(lats, lons)
    rows = great_circle_matrix_m(lats[:4], lons[:4], lats, lons)
    assert np.all(np.diag(square) == 0)
    for i, a in enumerate(points):
        for j, b in enumerate(points):
            expected = great_circle_m(a, b)
            assert abs(square[i, j] - expected) <= 1e-6 + 1e-9 * expected
            if i < 4:
                assert abs(rows[i, j] - expected) <= 1e-6 + 1e-9 * expected


def test_haversine_and_rounding():
    """One degree of latitude is about 111.2 km; seconds round to the nearest whole second."""
    assert abs(great_circle_m(Location(0, 0), Location(1, 0)) - 111_195.08) < 1
    assert travel_seconds(1000, 4.5) == 222
    assert travel_seconds(1003, 4.5) == 223


def test_seconds_per_speed_are_built_only_when_much_is_read():
    """A speed's seconds come from metres where read, equal to the whole matrix's values, and
    the whole matrix is built once the reads cost a quarter of it (or `np.asarray` asks)."""
    rng = np.random.default_rng(5)
    points = [Location(31.2 + rng.uniform(-0.03, 0.03), 121.47 + rng.uniform(-0.03, 0.03)) for _ in range(60)]
    model = TravelModel(TravelOptions(detour_factor=1.3), points)
    lazy = model.travel_s(3.7)
    whole = np.rint(model.distance_m / 3.7).astype(np.int64)
    assert lazy is model.travel_s(3.7)  # one object per speed: riders of one speed share it
    assert lazy[2, 5] == whole[2, 5] and lazy[[1, 2], [3, 4]].tolist() == whole[[1, 2], [3, 4]].tolist()
    assert (lazy[np.ix_([0, 4, 9], [1, 2])] == whole[np.ix_([0, 4, 9], [1, 2])]).all()
    assert lazy.matrix is None
    # Read work so far: 3 reads of 1 + 2 + 6 entries, each also counted as READ_COST entries.
    assert (lazy[:10] == whole[:10]).all()  # 600 more of 3600 entries: past a quarter
    assert lazy.matrix is not None and (np.asarray(lazy) == whole).all()
    other = model.travel_s(5.1)
    assert (np.asarray(other) == np.rint(model.distance_m / 5.1).astype(np.int64)).all()


def test_building_an_instance_with_a_speed_per_rider_builds_no_matrix():
    """Sixty riders at their own speeds over 260 points: indexing and screening the problem
    leave every seconds matrix unbuilt; a small problem gets plain matrices at once."""
    from dispatch import problem_from_document
    from dispatch.generate import generate_problem
    from dispatch.instance import build_instance
    from dispatch.solver import split_by_area
    from dispatch.solver.reasons import screen

    problem = problem_from_document(generate_problem(200, 60, seed=2))
    inst = build_instance(problem, split_by_area(problem)[0])
    screen(inst, list(range(inst.n_orders)))
    speeds = {r.speed_mps for r in problem.riders}
    assert len(speeds) > 30
    assert all(getattr(tt, "matrix", 0) is None for tt in inst.travel_s_of_rider)
    small = problem_from_document(generate_problem(20, 4, seed=2))
    assert all(isinstance(tt, np.ndarray) for tt in build_instance(small, list(small.orders)).travel_s_of_rider)
