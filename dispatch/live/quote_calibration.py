"""Quotes calibrated on the store's own record: split conformal prediction over past quotes.

A quote's range assumes the route it is inserted into is followed; later re-plans put new orders
ahead of it, so a quote (a first prediction) is too narrow. The store's delivered quoted orders
say by how much. Each gives a normalised residual

    r = (delivered - p50) / max(floor_s, p90 - p50)

(seconds from when it was quoted), and the calibrated time at confidence c is
p50 + q (p90 - p50), q the conformal quantile of the last `window` residuals: the
ceil((n + 1) c)-th smallest of n (split conformal prediction; Vovk et al. 2005, Lei et al. 2018),
which covers a new quote with chance >= c when the quotes are exchangeable. It is never earlier
than the model's own quantile at c, so a calibration only widens a quote.

With `adaptive_step` the confidence the quantile is taken at moves with the hits and misses of
the promises given (adaptive conformal inference, Gibbs and Candes 2021): each known outcome adds
step x (missed - (1 - c)), so a run of misses raises it and a run of hits lowers it. It is for a
dispatcher that reacts to the promises (the residuals then are not exchangeable).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

DEFAULT_WINDOW = 100  # the last 100 outcomes: about 7 hours of a store at 14 orders an hour
DEFAULT_MIN_SAMPLES = 20  # ceil(21 x 0.9) = 19: the 0.9 quantile is a residual, not the largest one
DEFAULT_FLOOR_S = 60  # a quote with no spread (no uncertainty) is scaled as a minute's
# Bounds of the adaptive confidence: a coin flip at least, and a quantile that 100 outcomes resolve.
ADAPTIVE_BOUNDS = (0.5, 0.99)


@dataclass(frozen=True, slots=True)
class QuoteOutcome:
    """A delivered quoted order, in seconds from when it was quoted."""

    p50_s: int  # the quote's median drop-off start
    p90_s: int  # its 90% quantile
    delivered_s: int  # when the drop-off really started
    promise_s: int | None = None  # the promise the quote gave (the adaptive variant's hits and misses)


def normalised_residuals(outcomes: tuple[QuoteOutcome, ...] | list[QuoteOutcome], floor_s: int = DEFAULT_FLOOR_S) -> np.ndarray:
    """(delivered - p50) / max(floor_s, p90 - p50) for each outcome."""
    if not outcomes:
        return np.zeros(0)
    a = np.array([(o.p50_s, o.p90_s, o.delivered_s) for o in outcomes], dtype=float)
    return (a[:, 2] - a[:, 0]) / np.maximum(float(floor_s), a[:, 1] - a[:, 0])


def conformal_quantile(residuals: np.ndarray, confidence: float) -> float:
    """The ceil((n + 1) c)-th smallest residual (the finite-sample rank), or the largest when the
    rank passes n (the exact rule then promises nothing finite; a store asks a confidence its
    history can resolve)."""
    n = len(residuals)
    if n == 0:
        raise ValueError("no residuals to take a quantile of")
    rank = min(n, math.ceil((n + 1) * confidence - 1e-9))  # 1e-9: (n + 1) c in floats, e.g. 10 x 0.9
    return float(np.partition(np.asarray(residuals, dtype=float), rank - 1)[rank - 1])


def adaptive_confidence(confidence: float, outcomes: tuple[QuoteOutcome, ...] | list[QuoteOutcome], step: float) -> float:
    """The working confidence after replaying the outcomes' hits and misses, oldest first:
    c_{t+1} = c_t + step (missed_t - (1 - c)), kept within ADAPTIVE_BOUNDS at each step."""
    low, high = ADAPTIVE_BOUNDS
    working = confidence
    for o in outcomes:
        if o.promise_s is None:
            continue
        missed = 1.0 if o.delivered_s > o.promise_s else 0.0
        working = min(high, max(low, working + step * (missed - (1.0 - confidence))))
    return working


@dataclass(frozen=True, slots=True)
class QuoteCalibration:
    """A store's record of past quotes, oldest first (as their deliveries became known), and how
    to calibrate a new quote on it."""

    outcomes: tuple[QuoteOutcome, ...] = ()
    window: int = DEFAULT_WINDOW
    min_samples: int = DEFAULT_MIN_SAMPLES
    floor_s: int = DEFAULT_FLOOR_S
    adaptive_step: float | None = None  # None: plain split conformal

    def __post_init__(self) -> None:
        if self.window < 1 or self.min_samples < 1 or self.floor_s < 1:
            raise ValueError("window, min_samples and floor_s must be at least 1")

    @property
    def recent(self) -> tuple[QuoteOutcome, ...]:
        """The outcomes the quantile is taken over: the last `window`."""
        return self.outcomes[-self.window:]

    @property
    def usable(self) -> bool:
        """Whether there are enough outcomes to calibrate on."""
        return len(self.recent) >= self.min_samples

    def working_confidence(self, confidence: float) -> float:
        """The confidence the quantile is taken at: the one asked, or the adaptive one."""
        if self.adaptive_step is None:
            return confidence
        return adaptive_confidence(confidence, self.outcomes, self.adaptive_step)

    def quantile(self, confidence: float) -> float | None:
        """The conformal quantile of the recent residuals at (the working) `confidence`; None
        with fewer than `min_samples`."""
        if not self.usable:
            return None
        return conformal_quantile(normalised_residuals(self.recent, self.floor_s), self.working_confidence(confidence))

    def calibrated_s(self, p50_s: int, p90_s: int, model_s: int, confidence: float) -> tuple[int, int]:
        """A quote's time at `confidence` and the number of outcomes it was calibrated on: the later
        of the model's quantile (`model_s`) and p50 + q (p90 - p50); the model's alone (and 0)
        with fewer than `min_samples`."""
        q = self.quantile(confidence)
        if q is None:
            return int(model_s), 0
        spread = max(self.floor_s, p90_s - p50_s)
        return max(int(model_s), int(math.ceil(p50_s + q * spread))), len(self.recent)
