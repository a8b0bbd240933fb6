"""Fitting a speed profile (Ichoua, Gendreau and Potvin 2003) to the rides of a store's history.

The model is the contract's (`dispatch.travel.profile_leg_s`): a leg of base seconds b (road
metres / speed) leaving at d takes the time T after which the base seconds ridden, the integral
of the period's factor f(t) from d to d + T, reach b. Over the observed interval [d, d + T] that
is linear in the factors: b = sum over periods p of tau_p x f_p, tau_p the seconds the ride
spent in period p. So a ride crossing periods is attributed to each by the time it spent there.

The fit is weighted least squares on those equations, each residual weighted into seconds of
riding (a residual in base seconds / the ride's mean factor); the weights depend on the factors,
so it re-solves until they settle (a fixed point). Periods with too few rides take the factor
interpolated between their nearest fitted neighbours. The errors reported are those of the
model itself: each ride re-timed by `profile_leg_s` through the fitted (rounded) factors.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from dispatch.errors import InvalidProblem
from dispatch.live.rides import Rides
from dispatch.travel import profile_leg_s

DAY_S = 86_400
DEFAULT_MIN_RIDES = 5.0  # ride-time shares a period needs for a factor of its own: below, one odd ride sets it
FACTOR_BOUNDS = (0.05, 20.0)  # the contract's range of a factor (SpeedProfileDoc)
FACTOR_DECIMALS = 3  # a factor to 0.1 %: finer than any fit's error, short enough to read
ITERATIONS = 20  # fixed-point rounds at most; the weights settle in 3-5 on generated days
TOLERANCE = 1e-5  # a round moving no factor by more than this ends the iteration
PRIOR_WEIGHT = 1e-6  # a faint pull towards the overall factor: keeps periods that always share rides solvable


@dataclass(frozen=True, slots=True)
class FitOptions:
    """How to fit: the period, the base speed (None: the median of the rides'), the detour."""

    period_s: int = 1800
    speed_mps: float | None = None
    detour_factor: float = 1.3
    min_rides: float = DEFAULT_MIN_RIDES

    def check(self) -> None:
        """Raise InvalidProblem naming the option (as the contract and the service name it)."""
        if self.period_s <= 0 or self.period_s % 60 or DAY_S % self.period_s:
            raise InvalidProblem.one("period_min", f"is {self.period_s / 60:g}: it must be whole minutes dividing 1440 (a day)")
        if self.speed_mps is not None and not 0.5 <= self.speed_mps <= 50:
            raise InvalidProblem.one("speed_mps", f"is {self.speed_mps}: it must be 0.5-50 m/s (a rider's range)")
        if not 1.0 <= self.detour_factor <= 5.0:
            raise InvalidProblem.one("detour_factor", f"is {self.detour_factor}: it must be 1-5 (the contract's range)")
        if not 0 < self.min_rides <= 1e6:
            raise InvalidProblem.one("min_rides", f"is {self.min_rides}: it must be above 0")


@dataclass(frozen=True, slots=True)
class PeriodFit:
    """One period's factor, where it comes from, and how well the model times its rides."""

    index: int
    start_s: int  # from local midnight
    factor: float
    source: str  # fitted, neighbours (too few rides), overall (no period had enough), none (no rides)
    rides: int  # rides that spent any time in the period
    ride_share: float  # the rides' time in the period / their whole time, summed: rides counted by time
    factor_se: float | None  # the factor's standard error (least squares), fitted periods only
    mae_s: float | None  # mean absolute error of the re-timed rides, weighted by their time in the period
    mean_relative_error: float | None  # the same, each error / the ride's observed time

    def to_document(self) -> dict:
        """The period as a JSON object."""
        return {
            "period": self.index, "start": _clock(self.start_s), "factor": self.factor, "source": self.source,
            "rides": self.rides, "ride_share": round(self.ride_share, 2),
            "factor_se": _round(self.factor_se, 4), "mae_s": _round(self.mae_s, 1),
            "mean_relative_error": _round(self.mean_relative_error, 4),
        }


@dataclass(frozen=True, slots=True)
class SpeedFit:
    """A fitted profile, the base speed its factors multiply, and the fit's errors."""

    options: FitOptions
    speed_mps: float | None
    speed_source: str  # given, median (of the rides' speeds), none (no rides)
    periods: tuple[PeriodFit, ...]
    rides: int
    skipped: dict[str, int]
    mae_s: float | None
    mean_relative_error: float | None

    @property
    def factors(self) -> list[float]:
        """The factors, one per period from local midnight."""
        return [p.factor for p in self.periods]

    def profile_document(self) -> dict:
        """The profile in the contract's shape: `options.travel.speed_profile`."""
        return {"period_min": self.options.period_s // 60, "factors": self.factors}

    def to_document(self) -> dict:
        """The profile, its base speed and detour, and the fit's errors overall and per period."""
        return {
            "speed_profile": self.profile_document(),
            "speed_mps": _round(self.speed_mps, 3), "speed_source": self.speed_source,
            "detour_factor": self.options.detour_factor, "rides": self.rides, "skipped": dict(self.skipped),
            "mae_s": _round(self.mae_s, 1), "mean_relative_error": _round(self.mean_relative_error, 4),
            "periods": [p.to_document() for p in self.periods],
        }


def fit_speeds(history: Rides, options: FitOptions) -> SpeedFit:
    """The speed profile that best times the history's rides under the travel model."""
    options.check()
    periods = DAY_S // options.period_s
    if not history.rides:
        flat = tuple(PeriodFit(p, p * options.period_s, 1.0, "none", 0, 0.0, None, None, None) for p in range(periods))
        source = "given" if options.speed_mps is not None else "none"
        return SpeedFit(options, options.speed_mps, source, flat, 0, dict(history.skipped), None, None)
    depart = np.array([r.depart_s for r in history.rides])
    ride = np.array([r.ride_s for r in history.rides])
    road = np.array([r.great_circle_m for r in history.rides]) * options.detour_factor
    speed, source = (options.speed_mps, "given") if options.speed_mps is not None else (float(np.median(road / ride)), "median")
    base = road / speed
    tau = occupancy(depart, ride, options.period_s, periods)
    share = tau / ride[:, None]
    fitted = share.sum(axis=0) >= options.min_rides
    factors, se = _solve(tau, base, ride, fitted)
    factors = np.round(factors, FACTOR_DECIMALS)  # rounded as they are pasted: the errors below are the pasted profile's
    error = retime(depart, base, factors, options.period_s) - ride
    fits = _period_fits(options.period_s, factors, fitted, tau, share, error, ride, se)
    return SpeedFit(
        options, speed, source, fits, len(ride), dict(history.skipped),
        float(np.mean(np.abs(error))), float(np.mean(np.abs(error) / ride)),
    )


def occupancy(depart_s: np.ndarray, ride_s: np.ndarray, period_s: int, periods: int) -> np.ndarray:
    """Seconds each ride spends in each period of the day (rows: rides; columns: periods)."""
    n = len(depart_s)
    tau = np.zeros((n, periods))
    first = np.floor(depart_s / period_s).astype(np.int64)
    end = depart_s + ride_s
    spans = np.floor(end / period_s).astype(np.int64) - first
    rows = np.arange(n)
    for j in range(int(spans.max()) + 1 if n else 0):
        k = first + j
        seconds = np.clip(np.minimum(end, (k + 1) * period_s) - np.maximum(depart_s, k * period_s), 0.0, None)
        np.add.at(tau, (rows, k % periods), seconds)
    return tau


def retime(depart_s: np.ndarray, base_s: np.ndarray, factors: np.ndarray, period_s: int) -> np.ndarray:
    """Each ride's seconds under the profile, by the contract's own rule (local midnight at 0)."""
    f = np.asarray(factors, dtype=np.float64)
    return np.array([profile_leg_s(int(round(d)), float(b), f, period_s, 0) for d, b in zip(depart_s, base_s)], dtype=float)


def _solve(tau: np.ndarray, base: np.ndarray, ride: np.ndarray, fitted: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Factors (fitted periods by weighted least squares, the others from their neighbours) and
    the fitted ones' standard errors, iterated until the weights settle."""
    overall = float(np.clip(base.sum() / ride.sum(), *FACTOR_BOUNDS))  # the factor timing all the rides together
    factors = np.full(tau.shape[1], overall)
    se = np.full(tau.shape[1], np.nan)
    if not fitted.any():
        return factors, se
    for _ in range(ITERATIONS):
        factors = _neighbour_fill(factors, fitted)
        weight = ride / np.maximum(tau @ factors, 1e-9)  # 1 / the ride's mean factor: base seconds -> seconds
        target = (base - tau[:, ~fitted] @ factors[~fitted]) * weight
        design = tau[:, fitted] * weight[:, None]
        new, cov = _least_squares(design, target, overall)
        new = np.clip(new, *FACTOR_BOUNDS)
        moved = float(np.max(np.abs(new - factors[fitted])))
        factors[fitted] = new
        se[fitted] = np.sqrt(np.clip(np.diag(cov), 0.0, None))
        if moved < TOLERANCE:
            break
    return _neighbour_fill(factors, fitted), se


def _least_squares(design: np.ndarray, target: np.ndarray, prior: float) -> tuple[np.ndarray, np.ndarray]:
    """The solution of design x f = target with a faint pull towards `prior`, and its covariance."""
    normal = design.T @ design
    pull = PRIOR_WEIGHT * np.diag(np.diag(normal)) + 1e-12 * np.eye(len(normal))
    inverse = np.linalg.pinv(normal + pull)
    solution = inverse @ (design.T @ target + pull @ np.full(len(normal), prior))
    residual = target - design @ solution
    dof = max(1, len(target) - len(normal))
    return solution, inverse * float(residual @ residual / dof)


def _neighbour_fill(factors: np.ndarray, fitted: np.ndarray) -> np.ndarray:
    """The factors with each period not fitted set between its nearest fitted neighbours (the day
    wraps), linearly by distance."""
    known = np.flatnonzero(fitted)
    out = factors.copy()
    n = len(factors)
    for p in np.flatnonzero(~fitted):
        at = np.searchsorted(known, p)
        after, before = known[at % len(known)], known[at - 1]
        da, db = (after - p) % n, (p - before) % n
        out[p] = (factors[before] * da + factors[after] * db) / (da + db)
    return out


def _period_fits(period_s: int, factors: np.ndarray, fitted: np.ndarray, tau: np.ndarray, share: np.ndarray,
                 error: np.ndarray, ride: np.ndarray, se: np.ndarray) -> tuple[PeriodFit, ...]:
    """Each period's factor, source, rides and errors (weighted by the rides' time in it)."""
    source = "neighbours" if fitted.any() else "overall"
    out = []
    for p in range(len(factors)):
        w = share[:, p]
        total = float(w.sum())
        mae = float(w @ np.abs(error) / total) if total > 0 else None
        rel = float(w @ (np.abs(error) / ride) / total) if total > 0 else None
        out.append(PeriodFit(
            p, p * period_s, float(factors[p]), "fitted" if fitted[p] else source, int((tau[:, p] > 0).sum()), total,
            float(se[p]) if fitted[p] and np.isfinite(se[p]) else None, mae, rel,
        ))
    return tuple(out)


def _clock(seconds: int) -> str:
    return f"{seconds // 3600:02d}:{seconds % 3600 // 60:02d}"


def _round(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)
