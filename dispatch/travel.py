"""Travel distances and times: the contract's haversine model (numpy) or a caller's matrix.

Rule shared by solver and validator: travel seconds = round(road metres / speed), to the
nearest whole second; with a matrix, its durations are used as they are for every rider.
With a speed profile (`options.travel.speed_profile`) a leg's base seconds (metres / speed, or
the matrix's duration) are ridden at the factor of each period the rider is in, crossing
periods as it rides (Ichoua, Gendreau and Potvin 2003), and the leg is rounded the same way:
`profile_leg_s`.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np

from dispatch.errors import FieldError, InvalidProblem
from dispatch.model import Location, MatrixTravel, TravelOptions

if TYPE_CHECKING:
    from dispatch.model import Problem

EARTH_RADIUS_M = 6_371_008.8
MATRIX_MATCH_M = 1.0  # a stop matches a matrix point closer than this
_BLOCK_ENTRIES = 1 << 18  # entries of a great-circle matrix computed at once (2 MiB per temporary)


def great_circle_m(a: Location, b: Location) -> float:
    """Great-circle metres between two points (haversine formula)."""
    p1, p2 = math.radians(a.lat), math.radians(b.lat)
    dp, dl = p2 - p1, math.radians(b.lon - a.lon)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(h)))


def great_circle_to_many_m(a: Location, lats: np.ndarray, lons: np.ndarray) -> np.ndarray:
    """Great-circle metres from `a` to each of the points (vectorised)."""
    return great_circle_matrix_m(np.array([a.lat]), np.array([a.lon]), lats, lons)[0]


def great_circle_matrix_m(
    lat1: np.ndarray, lon1: np.ndarray, lat2: np.ndarray | None = None, lon2: np.ndarray | None = None
) -> np.ndarray:
    """Great-circle metres between two point sets (rows: first set, columns: second)."""
    if lat2 is None or lon2 is None:
        lat2, lon2 = lat1, lon1
    # Haversine with the half-angle sines of the differences expanded into products of
    # per-point sines and cosines (sin(b - a) = sin b cos a - cos b sin a): the matrix needs
    # products instead of two sines, 3.3 -> 1.3 ms for 341 points. The expansion keeps the
    # absolute error of the difference, as before (1e-9 m apart from the direct form).
    half = [np.radians(np.asarray(x, dtype=float)) / 2 for x in (lat1, lon1, lat2, lon2)]
    (sp1, sl1, sp2, sl2), (cp1, cl1, cp2, cl2) = [np.sin(x) for x in half], [np.cos(x) for x in half]
    c1, c2 = cp1 * cp1 - sp1 * sp1, cp2 * cp2 - sp2 * sp2  # cos(lat)

    def block(b: slice) -> np.ndarray:
        dp = cp1[b, None] * sp2[None, :] - sp1[b, None] * cp2[None, :]  # sin((lat2 - lat1) / 2)
        dl = cl1[b, None] * sl2[None, :] - sl1[b, None] * cl2[None, :]  # sin((lon2 - lon1) / 2)
        h = dp * dp + c1[b, None] * c2[None, :] * (dl * dl)
        return 2 * EARTH_RADIUS_M * np.arcsin(np.minimum(1.0, np.sqrt(h)))

    # Big matrices a block of rows at a time, so the temporaries stay in cache (3,100 points:
    # 150 -> 74 ms, 6,000: 1.16 -> 0.33 s).
    rows = max(1, _BLOCK_ENTRIES // max(1, len(sp2)))
    if rows >= len(sp1):
        return block(slice(None))
    out = np.empty((len(sp1), len(sp2)))
    for i in range(0, len(sp1), rows):
        out[i : i + rows] = block(slice(i, i + rows))
    return out


def travel_seconds(distance_m: float, speed_mps: float) -> int:
    """Whole seconds to ride `distance_m` at `speed_mps` (rounded to nearest)."""
    return int(round(distance_m / speed_mps))


DAY_S = 86_400
MIN_FACTOR = 0.05  # the smallest factor a profile may hold (SpeedProfileDoc): a day rides at least this x DAY_S


def _day_base_s(factors: np.ndarray, period_s: int) -> float:
    """Base seconds ridden in a whole day, from any time (the profile repeats daily); summed in
    order, so numba and Python give the same bits."""
    total = 0.0
    for i in range(factors.shape[0]):
        total += factors[i] * period_s
    return total


def profile_leg_s(depart_s: int, base_s: float, factors: np.ndarray, period_s: int, midnight_s: int) -> int:
    """Whole seconds of a leg leaving at `depart_s` whose base seconds (at factor 1) are `base_s`,
    riding at each period's factor and crossing periods as it rides; rounded to nearest.

    Pure arithmetic on purpose: numba compiles this very function for the search's kernels
    (`dispatch.solver.fast_lns`), so solver and validator compute the same seconds.
    """
    if base_s <= 0.0:
        return 0
    n = factors.shape[0]
    t = float(depart_s)
    left = float(base_s)  # base seconds still to ride
    if left > DAY_S * MIN_FACTOR:  # maybe a day or more: whole days first, so the loop stays within a day
        day_base = 0.0  # as _day_base_s, written out: numba compiles this function alone
        for i in range(n):
            day_base += factors[i] * period_s
        days = np.floor(left / day_base)
        left -= days * day_base
        t += days * DAY_S
    while True:
        index = int(np.floor((t - midnight_s) / period_s))
        f = factors[index % n]
        period_end = float(midnight_s + (index + 1) * period_s)
        can = (period_end - t) * f  # base seconds ridden by the period's end
        if can >= left:
            t += left / f
            break
        left -= can
        t = period_end
    return int(np.rint(t - depart_s))


def profile_legs_s(depart_s: np.ndarray, base_s: np.ndarray, factors: np.ndarray, period_s: int,
                   midnight_s: int) -> np.ndarray:
    """`profile_leg_s` for many legs at once (same arithmetic, so the same whole seconds)."""
    depart = np.asarray(depart_s, dtype=np.int64)
    left = np.array(base_s, dtype=np.float64, copy=True)
    depart, left = np.broadcast_arrays(depart, left)
    left = left.copy()
    t = depart.astype(np.float64)
    long = left > DAY_S * MIN_FACTOR  # as profile_leg_s: whole days first
    if long.any():
        day_base = _day_base_s(factors, period_s)
        days = np.floor(left[long] / day_base)
        left[long] -= days * day_base
        t[long] += days * DAY_S
    going = left > 0.0
    n = factors.shape[0]
    while going.any():
        index = np.floor((t[going] - midnight_s) / period_s).astype(np.int64)
        f = factors[index % n]
        period_end = (midnight_s + (index + 1) * period_s).astype(np.float64)
        can = (period_end - t[going]) * f
        done = can >= left[going]
        tg, lg = t[going], left[going]
        tg = np.where(done, tg + lg / f, period_end)
        lg = np.where(done, 0.0, lg - can)
        t[going], left[going] = tg, lg
        going[going] = ~done
    return np.rint(t - depart).astype(np.int64)


def problem_points(problem: Problem) -> list[tuple[str, Location]]:
    """Every point a plan can visit, labelled by field: stores, riders, then drop-offs."""
    return (
        [(f"stores[{s.id}].location", s.location) for s in problem.stores]
        + [(f"riders[{r.id}].location", r.location) for r in problem.riders]
        + [(f"orders[{o.id}].dropoff", o.dropoff) for o in problem.orders]
    )


def matrix_index_of_points(matrix: MatrixTravel, labelled: list[tuple[str, Location]]) -> np.ndarray:
    """For each point, the index of the matrix location it stands on; InvalidProblem if none."""
    if not labelled:
        return np.zeros(0, dtype=np.int64)
    lats = np.array([p.lat for _, p in labelled])
    lons = np.array([p.lon for _, p in labelled])
    mlats = np.array([p.lat for p in matrix.locations])
    mlons = np.array([p.lon for p in matrix.locations])
    dist = great_circle_matrix_m(lats, lons, mlats, mlons)
    nearest = np.argmin(dist, axis=1)
    gap = dist[np.arange(len(labelled)), nearest]
    errors = [
        FieldError(label, f"no options.travel.locations point within {MATRIX_MATCH_M:g} m ({g:.0f} m to the nearest)")
        for (label, _), g in zip(labelled, gap)
        if g > MATRIX_MATCH_M
    ]
    if errors:
        raise InvalidProblem(errors)
    return nearest


class TravelModel:
    """Distance and per-speed time matrices between a fixed list of points."""

    def __init__(self, travel: TravelOptions, points: list[Location]):
        self.options = travel
        self.points = points
        lats = np.array([p.lat for p in points], dtype=float)
        lons = np.array([p.lon for p in points], dtype=float)
        self._durations_s: np.ndarray | None = None
        if travel.model == "matrix":
            assert travel.matrix is not None
            idx = matrix_index_of_points(travel.matrix, [("point", p) for p in points])
            self._durations_s = travel.matrix.durations_s[np.ix_(idx, idx)].astype(np.int64)
            if travel.matrix.distances_m is not None:
                self.distance_m = travel.matrix.distances_m[np.ix_(idx, idx)].astype(float)
            else:
                self.distance_m = great_circle_matrix_m(lats, lons)
        else:
            self.distance_m = great_circle_matrix_m(lats, lons)
            self.distance_m *= travel.detour_factor  # in place: one matrix, not two
        self._by_speed: dict[float, np.ndarray] = {}

    def travel_s(self, speed_mps: float) -> np.ndarray | SpeedSeconds:
        """Whole-second travel times at `speed_mps` between every pair of points (index it as
        a matrix; `np.asarray` gives the whole one)."""
        if self._durations_s is not None:
            return self._durations_s
        speed = float(speed_mps)
        if speed not in self._by_speed:
            self._by_speed[speed] = SpeedSeconds(self.distance_m, speed)
        return self._by_speed[speed]


READ_COST = 100


class SpeedSeconds:
    """Seconds at one speed, computed from metres where asked, the whole matrix once that is
    the cheaper way (a quarter of it read, counting READ_COST entries per read).

    With every rider at its own speed, building every matrix up front took 84 ms of a 0.1 s
    budget at 500 orders and 60 riders, while most solves read few entries of most of them
    (the compiled search computes seconds from metres itself). Values are exactly those of
    the whole matrix: the same division and rounding.
    """

    def __init__(self, distance_m: np.ndarray, speed_mps: float):
        self.distance_m = distance_m
        self.speed_mps = speed_mps
        self.shape = distance_m.shape
        self.matrix: np.ndarray | None = None
        self._read = 0  # work spent reading so far, in matrix entries
        self._build_after = distance_m.size // 4

    def __getitem__(self, key):
        if self.matrix is not None:
            return self.matrix[key]
        out = np.rint(self.distance_m[key] / self.speed_mps).astype(np.int64)
        # One read costs about as much as computing READ_COST entries of a whole matrix: after
        # many single-leg reads (schedules, quotes) the whole matrix is the cheaper way.
        self._read += np.size(out) + READ_COST
        if self._read > self._build_after:
            self.whole()
        return out

    def whole(self) -> np.ndarray:
        """The whole matrix (built once)."""
        if self.matrix is None:
            self.matrix = np.rint(self.distance_m / self.speed_mps).astype(np.int64)
        return self.matrix

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        return self.whole() if dtype is None else self.whole().astype(dtype)


class LegMeter:
    """Point-to-point distance and time, one leg at a time (what the validator uses)."""

    def __init__(self, travel: TravelOptions):
        self.travel = travel
        self._matrix_points: dict[Location, int] = {}
        self._metres: dict[tuple[Location, Location], float] = {}

    def _great_circle_m(self, a: Location, b: Location) -> float:
        """Great-circle metres by the solver's matrix arithmetic: the direct formula differs in the
        last bits, enough to round a leg of half a second differently from the plan."""
        key = (a, b)
        if key not in self._metres:
            self._metres[key] = float(great_circle_matrix_m(
                np.array([a.lat]), np.array([a.lon]), np.array([b.lat]), np.array([b.lon]))[0, 0])
        return self._metres[key]

    def _matrix_index(self, p: Location) -> int:
        if p not in self._matrix_points:
            assert self.travel.matrix is not None
            self._matrix_points[p] = int(matrix_index_of_points(self.travel.matrix, [("stop", p)])[0])
        return self._matrix_points[p]

    def distance_m(self, a: Location, b: Location) -> float:
        """Road metres from a to b."""
        if self.travel.model == "matrix":
            m = self.travel.matrix
            assert m is not None
            if m.distances_m is not None:
                return float(m.distances_m[self._matrix_index(a), self._matrix_index(b)])
            return self._great_circle_m(a, b)
        return self._great_circle_m(a, b) * self.travel.detour_factor

    def base_s(self, a: Location, b: Location, speed_mps: float) -> float:
        """Seconds from a to b at factor 1: metres / speed, or the matrix's duration."""
        if self.travel.model == "matrix":
            m = self.travel.matrix
            assert m is not None
            return float(m.durations_s[self._matrix_index(a), self._matrix_index(b)])
        return self.distance_m(a, b) / speed_mps

    def travel_s(self, a: Location, b: Location, speed_mps: float, depart_s: int | None = None) -> int:
        """Whole seconds from a to b at `speed_mps`, leaving at `depart_s` (needed, and used,
        only under a speed profile)."""
        profile = self.travel.speed_profile
        if profile is None and self.travel.model == "matrix":
            m = self.travel.matrix
            assert m is not None
            return int(m.durations_s[self._matrix_index(a), self._matrix_index(b)])
        if profile is None:
            return travel_seconds(self.distance_m(a, b), speed_mps)
        if depart_s is None:
            raise ValueError("a leg's seconds under a speed profile need its departure time")
        base = self.base_s(a, b, speed_mps)
        return profile_leg_s(int(depart_s), base, profile.factor_array, profile.period_s, profile.midnight_s)
