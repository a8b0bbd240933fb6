"""A store's day as a scenario: a contract problem document whose orders arrive over the day.

Orders have future `created_at` (the simulator reveals each one only then); riders have
shifts (`available_at` .. `shift_end`). Demand follows a day's shape: a base rate over the
opening hours with a lunch peak and a larger dinner peak; each order is packed 3 to 12
minutes after it is placed and promised 45 or 60 minutes after it. Riders cycle through
full-day, morning and evening shifts, so the first n riders of a scenario always cover the
whole day (the fleet sweep takes prefixes).
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta

import numpy as np

from dispatch.generate import SHANGHAI, _disc_points, _iso, _offset

DAY = datetime.fromisoformat("2026-11-28T00:00:00+08:00")  # a Saturday
OPEN_H, CLOSE_H = 10.0, 22.0
# (centre hour, width in hours, extra orders per hour at the top of the peak)
PEAKS = ((12.25, 0.9, 1.6), (18.75, 1.1, 2.2))
SHIFTS = ((9.75, 22.5), (9.75, 16.0), (15.75, 22.5))  # full day, morning, evening


def demand_per_hour(hour: float, base: float) -> float:
    """Orders per hour at `hour` (0 outside opening hours): base rate times the peaks' shape."""
    if not OPEN_H <= hour < CLOSE_H:
        return 0.0
    shape = 1.0 + sum(height * math.exp(-0.5 * ((hour - centre) / width) ** 2) for centre, width, height in PEAKS)
    return base * shape


def generate_day(
    riders: int = 12,
    seed: int = 0,
    *,
    stores: int = 1,
    base_orders_per_hour: float = 14.0,
    hours: tuple[float, float] = (OPEN_H, CLOSE_H),
    day: datetime = DAY,
) -> dict:
    """A day scenario document for `stores` stores and `riders` riders per store."""
    # Separate streams: the orders do not change with the number of riders (fleet sweeps).
    rng_riders = np.random.default_rng([seed, 1])
    rng = np.random.default_rng([seed, 2])
    lat0, lon0 = SHANGHAI
    store_docs = []
    for s in range(stores):
        loc = _offset(lat0, lon0, 4200.0 * s, 0.0)
        store_docs.append({"id": f"S{s + 1}", "location": loc, "service_radius_m": 3000, "pickup_service_s": 60})
    rider_docs = []
    for s, store in enumerate(store_docs):
        for j in range(riders):
            start_h, end_h = SHIFTS[j % len(SHIFTS)]
            rider_docs.append(
                {
                    "id": f"{store['id']}-R{j + 1:02d}",
                    "store_id": store["id"],
                    "location": store["location"],
                    "available_at": _iso(day + timedelta(hours=start_h)),
                    "shift_end": _iso(day + timedelta(hours=end_h)),
                    "capacity_items": 30,
                    "max_orders": 5,
                    "speed_mps": round(float(rng_riders.uniform(4.0, 5.0)), 2),
                    "carrying": [],
                }
            )
    orders = []
    open_h, close_h = hours
    for s, store in enumerate(store_docs):
        # Thinning: a Poisson process at the peak rate, each arrival kept with rate(t)/peak.
        peak = max(demand_per_hour(h, base_orders_per_hour) for h in np.arange(open_h, close_h, 0.05))
        t = open_h
        arrivals = []
        while True:
            t += rng.exponential(1.0 / peak)
            if t >= close_h:
                break
            if rng.random() < demand_per_hour(t, base_orders_per_hour) / peak:
                arrivals.append(t)
        clusters = rng.uniform(-2000, 2000, size=(5, 2))
        points = _disc_points(rng, len(arrivals), 2800.0, clusters)
        for i, (hour, (east, north)) in enumerate(zip(arrivals, points)):
            created = day + timedelta(hours=float(hour))
            created = created.replace(microsecond=0)
            ready = created + timedelta(seconds=int(rng.integers(180, 721)))
            promise = created + timedelta(minutes=int(rng.choice([45, 60, 60])))
            orders.append(
                {
                    "id": f"{store['id']}-O{i + 1:04d}",
                    "store_id": store["id"],
                    "dropoff": _offset(store["location"]["lat"], store["location"]["lon"], float(east), float(north)),
                    "created_at": _iso(created),
                    "ready_at": _iso(ready),
                    "promised_at": _iso(promise),
                    "items": int(rng.integers(1, 9)),
                    "dropoff_service_s": int(rng.integers(45, 121)),
                    "priority": 1,
                }
            )
    orders.sort(key=lambda o: o["created_at"])
    return {
        "plan_time": _iso(day + timedelta(hours=min(SHIFTS[0][0], open_h))),
        "stores": store_docs,
        "riders": rider_docs,
        "orders": orders,
        "options": {"time_limit_s": 0.3, "lateness": "soft", "travel": {"model": "haversine", "detour_factor": 1.3}},
    }
