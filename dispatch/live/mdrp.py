"""Grubhub's meal-delivery days (MDRP instances) as day scenarios, timed as the official evaluator.

An MDRP instance is a folder of tab-separated files (see Reyes et al. 2018 and
`../shared/data/README.md`): restaurants, orders (placement and ready minutes), couriers
(shift on and off minutes, start point) and the instance's parameters, on a plane in metres.
The scenario keeps the evaluator's rules exactly, in the contract's terms:

- travel minutes = ceil(metres / metres per minute): an explicit duration matrix between every
  point of the day (restaurants, courier starts, drop-offs), in whole minutes;
- half of a stop's service before it and half after it: the first half is folded into the ride
  to the stop (every leg into a point adds that half), the second half is the stop's service
  time, so a pickup starts at max(arrival + half, ready) and a drop-off is stamped at arrival
  + half, as the evaluator stamps them;
- no pickup after a courier's off time, though it may still deliver what it carries: the
  couriers' shift end bounds their pickups (`shift_end_rule: "pickups"`);
- couriers belong to no restaurant (a shared fleet) and may bundle any number of orders of one
  restaurant; each order is promised at placement + the target click-to-door (40 minutes), and
  one that cannot be at the door by placement + the maximum click-to-door (90) is not delivered.

Points are placed on WGS84 around an arbitrary origin (a local east-north projection) only
because the contract speaks in degrees; every travel time comes from the matrix.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np

from dispatch.errors import InvalidProblem
from dispatch.travel import EARTH_RADIUS_M

EPOCH = datetime.fromisoformat("2026-11-30T00:00:00+00:00")  # minute 0 of an MDRP day
ORIGIN = (40.0, -75.0)  # where the plane's (0, 0) is put on the globe
_M_PER_DEG = math.pi / 180.0 * EARTH_RADIUS_M
# The evaluator bundles any number of orders of one restaurant; this bound is never reached.
BUNDLE_LIMIT = 100
FILES = ("restaurants.txt", "orders.txt", "couriers.txt", "instance_parameters.txt")


@dataclass(frozen=True)
class MdrpParameters:
    """The instance's parameters, as `instance_parameters.txt` gives them."""

    metres_per_minute: float
    pickup_service_min: float
    dropoff_service_min: float
    target_click_to_door_min: float
    max_click_to_door_min: float


@dataclass(frozen=True)
class MdrpDay:
    """One instance as read: rows of each file (ids, coordinates in metres, times in minutes)."""

    name: str
    parameters: MdrpParameters
    restaurants: dict[str, tuple[float, float]]
    orders: list[dict]  # id, x, y, placement, restaurant, ready
    couriers: list[dict]  # id, x, y, on, off


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f, delimiter="\t"))


def read_mdrp(folder: str | Path) -> MdrpDay:
    """Read an MDRP instance folder; InvalidProblem naming the file if one is missing or malformed."""
    folder = Path(folder)
    missing = [name for name in FILES if not (folder / name).is_file()]
    if missing:
        raise InvalidProblem.one(str(folder), f"not an MDRP instance folder: {', '.join(missing)} missing")
    try:
        p = _rows(folder / "instance_parameters.txt")[0]
        params = MdrpParameters(
            metres_per_minute=float(p["meters_per_minute"]),
            pickup_service_min=float(p["pickup service minutes"]),
            dropoff_service_min=float(p["dropoff service minutes"]),
            target_click_to_door_min=float(p["target click-to-door"]),
            max_click_to_door_min=float(p["maximum click-to-door"]),
        )
        restaurants = {r["restaurant"]: (float(r["x"]), float(r["y"])) for r in _rows(folder / "restaurants.txt")}
        orders = [
            {"id": o["order"], "x": float(o["x"]), "y": float(o["y"]), "placement": float(o["placement_time"]),
             "restaurant": o["restaurant"], "ready": float(o["ready_time"])}
            for o in _rows(folder / "orders.txt")
        ]
        couriers = [
            {"id": c["courier"], "x": float(c["x"]), "y": float(c["y"]), "on": float(c["on_time"]),
             "off": float(c["off_time"])}
            for c in _rows(folder / "couriers.txt")
        ]
    except (KeyError, IndexError, ValueError) as exc:
        raise InvalidProblem.one(str(folder), f"malformed MDRP instance: {exc!r}") from None
    unknown = sorted({o["restaurant"] for o in orders} - restaurants.keys())
    if unknown:
        raise InvalidProblem.one(f"{folder}/orders.txt", f"orders name unknown restaurants: {', '.join(unknown[:5])}")
    if params.metres_per_minute <= 0:
        raise InvalidProblem.one(f"{folder}/instance_parameters.txt", "meters_per_minute must be positive")
    return MdrpDay(folder.name, params, restaurants, orders, couriers)


def _lat_lon(x: float, y: float) -> dict:
    lat0, lon0 = ORIGIN
    return {
        "lat": round(lat0 + y / _M_PER_DEG, 7),
        "lon": round(lon0 + x / (_M_PER_DEG * math.cos(math.radians(lat0))), 7),
    }


def _iso(minutes: float) -> str:
    return (EPOCH + timedelta(minutes=minutes)).isoformat(timespec="seconds")


TRAVEL_MINUTES = ("ceil", "exact")


def mdrp_scenario(
    folder: str | Path, from_min: float | None = None, to_min: float | None = None, travel_minutes: str = "ceil"
) -> dict:
    """The day (or the orders placed in [from_min, to_min) and the couriers on shift then) as a
    day scenario document for `simulate`.

    `travel_minutes="ceil"` is the evaluator's rule; "exact" keeps the fractional minutes (to
    the second), the footing the published policies' figures imply (see docs/SOLVER_NOTES.md).
    """
    if travel_minutes not in TRAVEL_MINUTES:
        raise ValueError(f"travel_minutes must be one of {TRAVEL_MINUTES}, not {travel_minutes!r}")
    day = read_mdrp(folder)
    p = day.parameters
    lo = -math.inf if from_min is None else from_min
    hi = math.inf if to_min is None else to_min
    orders = [o for o in day.orders if lo <= o["placement"] < hi]
    couriers = [c for c in day.couriers if c["on"] < hi and c["off"] > lo]
    used = sorted({o["restaurant"] for o in orders})
    pickup_half_s = 30.0 * p.pickup_service_min
    drop_half_s = 30.0 * p.dropoff_service_min

    # Every point of the day once; the half service of the stop made there is added to each
    # leg into it (stops of both kinds at one point must then have equal halves).
    points: dict[tuple[float, float], float | None] = {}

    def add(xy: tuple[float, float], half: float | None) -> None:
        known = points.get(xy)
        if known is not None and half is not None and known != half:
            raise InvalidProblem.one(
                f"{folder}", f"a restaurant and a drop-off share the point {xy} but their half services differ"
            )
        points[xy] = half if half is not None else known

    for rid in used:
        add(day.restaurants[rid], pickup_half_s)
    for o in orders:
        add((o["x"], o["y"]), drop_half_s)
    for c in couriers:
        add((c["x"], c["y"]), None)
    xy = np.array(list(points), dtype=float).reshape(-1, 2)
    into = np.array([half or 0.0 for half in points.values()])
    metres = np.hypot(xy[:, None, 0] - xy[None, :, 0], xy[:, None, 1] - xy[None, :, 1])
    minutes = metres / p.metres_per_minute
    durations = np.rint(60 * (np.ceil(minutes) if travel_minutes == "ceil" else minutes) + into[None, :])

    radius = max((math.dist(day.restaurants[o["restaurant"]], (o["x"], o["y"])) for o in orders), default=0.0)
    first = min([o["placement"] for o in orders] + [c["on"] for c in couriers], default=0.0)
    return {
        "plan_time": _iso(first),
        "stores": [
            {"id": rid, "location": _lat_lon(*day.restaurants[rid]), "service_radius_m": math.ceil(radius) + 1000,
             "pickup_service_s": int(round(pickup_half_s))}
            for rid in used
        ],
        "riders": [
            {"id": c["id"], "location": _lat_lon(c["x"], c["y"]), "available_at": _iso(c["on"]),
             "shift_end": _iso(c["off"]), "shift_end_rule": "pickups", "capacity_items": BUNDLE_LIMIT,
             "max_orders": BUNDLE_LIMIT, "speed_mps": round(p.metres_per_minute / 60.0, 3)}
            for c in couriers
        ],
        "orders": [
            {"id": o["id"], "store_id": o["restaurant"], "dropoff": _lat_lon(o["x"], o["y"]),
             "created_at": _iso(o["placement"]), "ready_at": _iso(o["ready"]),
             "promised_at": _iso(o["placement"] + p.target_click_to_door_min),
             "deadline_at": _iso(max(o["placement"] + p.max_click_to_door_min, o["ready"])), "items": 1,
             "dropoff_service_s": int(round(drop_half_s))}
            for o in sorted(orders, key=lambda o: (o["placement"], o["id"]))
        ],
        "options": {
            "time_limit_s": 0.2,
            "lateness": "soft",
            "travel": {
                "model": "matrix",
                "locations": [_lat_lon(x, y) for x, y in xy],
                "durations_s": durations.astype(np.int64).tolist(),
            },
        },
    }
