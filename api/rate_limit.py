"""A token bucket per key, in this process: what keeps a rider's location reports cheap."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable


class TokenBuckets:
    """`burst` requests at once per key, then one per `interval_s`; refusals say how long to wait.

    Held in memory per process (with several replicas each allows its own burst); keys not seen
    for a while are dropped so memory stays bounded by the keys active recently.
    """

    def __init__(self, burst: int, interval_s: float, clock: Callable[[], float] = time.monotonic, max_keys: int = 100_000):
        self.burst = burst
        self.interval_s = interval_s
        self.clock = clock
        self.max_keys = max_keys
        self._lock = threading.Lock()
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, at)

    def take(self, key: str) -> float:
        """0 when `key` may go now (a token is taken), else the seconds until it may."""
        if self.interval_s <= 0:
            return 0.0
        now = self.clock()
        with self._lock:
            tokens, at = self._buckets.get(key, (float(self.burst), now))
            tokens = min(float(self.burst), tokens + (now - at) / self.interval_s)
            if tokens >= 1.0:
                self._buckets[key] = (tokens - 1.0, now)
                if len(self._buckets) > self.max_keys:
                    self._forget_full(now)
                return 0.0
            self._buckets[key] = (tokens, now)
            return (1.0 - tokens) * self.interval_s

    def _forget_full(self, now: float) -> None:
        # A bucket that has refilled is the same as no bucket.
        full_after = self.burst * self.interval_s
        for key in [k for k, (_, at) in self._buckets.items() if now - at >= full_after]:
            del self._buckets[key]


def retry_after_s(wait_s: float) -> int:
    """Whole seconds for a Retry-After header (at least 1)."""
    return max(1, math.ceil(wait_s))
