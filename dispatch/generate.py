"""Realistic store-dispatch problem documents for demos, tests and benchmarks.

Drop-offs are uniform and clustered (housing estates, office towers) inside the service area;
orders were created over the last half hour, are packed 5 to 15 minutes after creation and
promised 60 minutes after it; items 1 to 8; e-bike speeds 4 to 5 m/s; detour factor 1.3.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta

import numpy as np

from dispatch.travel import EARTH_RADIUS_M

PLAN_TIME = datetime.fromisoformat("2026-11-23T10:00:00+08:00")
SHANGHAI = (31.2304, 121.4737)
_M_PER_DEG = math.pi / 180.0 * EARTH_RADIUS_M


def _iso(t: datetime) -> str:
    return t.isoformat(timespec="seconds")


def _offset(lat: float, lon: float, east_m: float, north_m: float) -> dict:
    return {
        "lat": round(lat + north_m / _M_PER_DEG, 6),
        "lon": round(lon + east_m / (_M_PER_DEG * math.cos(math.radians(lat))), 6),
    }


def _disc_points(rng: np.random.Generator, n: int, radius_m: float, clusters: np.ndarray) -> np.ndarray:
    """n points (east, north metres) inside the disc: 40% uniform, 60% around cluster centres."""
    out = np.zeros((n, 2))
    for i in range(n):
        while True:
            if rng.random() < 0.4 or len(clusters) == 0:
                r = radius_m * math.sqrt(rng.random())
                a = rng.random() * 2 * math.pi
                p = np.array([r * math.cos(a), r * math.sin(a)])
            else:
                p = clusters[rng.integers(len(clusters))] + rng.normal(0, 250, 2)
            if np.hypot(*p) <= radius_m:
                out[i] = p
                break
    return out


def generate_problem(
    orders: int,
    riders: int,
    seed: int = 0,
    *,
    stores: int = 1,
    lateness: str = "soft",
    equal_speeds: bool = False,
    outside_share: float = 0.0,
    on_road: int = 0,
    time_limit_s: float = 1.0,
    plan_time: datetime = PLAN_TIME,
) -> dict:
    """A contract problem document with `orders` orders and `riders` riders around `stores` stores.

    `outside_share` of the orders fall 3.2 to 4.5 km out (beyond the 3 km area);
    the first `on_road` riders are out delivering, carrying one or two orders each.
    """
    rng = np.random.default_rng(seed)
    lat0, lon0 = SHANGHAI
    radius = 3000.0
    store_docs = []
    for s in range(stores):
        a = 2 * math.pi * s / max(1, stores)
        east, north = (0.0, 0.0) if s == 0 else (2500 * math.cos(a), 2500 * math.sin(a))
        store_docs.append(
            {
                "id": f"S{s + 1}",
                "location": _offset(lat0, lon0, east, north),
                "service_radius_m": radius,
                "geofence": None,
                "pickup_service_s": 60,
                "_east_north": (east, north),
            }
        )
    clusters = [
        _disc_points(rng, int(rng.integers(3, 7)), radius * 0.85, np.zeros((0, 2))) for _ in store_docs
    ]
    order_docs = []
    for i in range(orders):
        s = int(rng.integers(stores))
        east0, north0 = store_docs[s]["_east_north"]
        if rng.random() < outside_share:
            d, a = rng.uniform(3200, 4500), rng.uniform(0, 2 * math.pi)
            east, north = d * math.cos(a), d * math.sin(a)
        else:
            east, north = _disc_points(rng, 1, radius * 0.98, clusters[s])[0]
        created = plan_time - timedelta(seconds=int(rng.integers(0, 30 * 60)))
        ready = created + timedelta(seconds=int(rng.integers(5 * 60, 15 * 60 + 1)))
        order_docs.append(
            {
                "id": f"O{i + 1:04d}",
                "store_id": f"S{s + 1}",
                "dropoff": _offset(lat0, lon0, east0 + east, north0 + north),
                "created_at": _iso(created),
                "ready_at": _iso(ready),
                "promised_at": _iso(created + timedelta(minutes=60)),
                "items": int(rng.integers(1, 9)),
                "dropoff_service_s": int(rng.choice([60, 90, 120])),
                "priority": 1,
            }
        )
    order_docs.sort(key=lambda o: o["created_at"])
    free = list(order_docs)
    rider_docs = []
    for j in range(riders):
        s = j % stores
        east0, north0 = store_docs[s]["_east_north"]
        rider = {
            "id": f"R{j + 1:02d}",
            "location": dict(store_docs[s]["location"]),
            "available_at": _iso(plan_time),
            "shift_end": _iso(plan_time + timedelta(hours=4)),
            "capacity_items": 30,
            "max_orders": 6,
            "speed_mps": 4.5 if equal_speeds else round(float(rng.uniform(4.0, 5.0)), 2),
            "carrying": [],
        }
        if j < on_road and free:
            # Out on the road, between the store and its next drop-off, carrying 1-2 orders.
            take = [free.pop(0) for _ in range(min(len(free), int(rng.integers(1, 3))))]
            east, north = _disc_points(rng, 1, radius * 0.6, np.zeros((0, 2)))[0]
            rider["location"] = _offset(lat0, lon0, east0 + east, north0 + north)
            rider["carrying"] = [o["id"] for o in take]
            for o in take:
                # Already picked up: it came from this rider's store and was packed by now.
                o["store_id"] = store_docs[s]["id"]
                o["ready_at"] = o["created_at"]
        rider_docs.append(rider)
    for sd in store_docs:
        del sd["_east_north"]
    return {
        "plan_time": _iso(plan_time),
        "stores": store_docs,
        "riders": rider_docs,
        "orders": order_docs,
        "options": {
            "time_limit_s": time_limit_s,
            "lateness": lateness,
            "return_to_store": False,
            "travel": {"model": "haversine", "detour_factor": 1.3},
        },
    }
