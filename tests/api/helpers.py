"""Small named documents for the service tests (times relative to one morning)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from tests.api.conftest import ORDER_SYSTEM

T0 = datetime(2026, 11, 23, 10, 0, tzinfo=timezone(timedelta(hours=8)))
STORE_LAT, STORE_LON = 31.2304, 121.4737
# Fast, reproducible solves: a work limit instead of the clock.
FAST = {"time_limit_s": 2.0, "max_iterations": 20}


def at(minutes: float) -> str:
    """ISO time `minutes` after T0."""
    return (T0 + timedelta(minutes=minutes)).isoformat()


def store(store_id: str = "S1", **extra) -> dict:
    """A store with a 3 km disc."""
    return {"id": store_id, "location": {"lat": STORE_LAT, "lon": STORE_LON}, "service_radius_m": 3000, **extra}


def rider(rider_id: str = "R1", store_id: str = "S1", **extra) -> dict:
    """A rider at the store, on duty."""
    return {
        "id": rider_id,
        "store_id": store_id,
        "location": {"lat": STORE_LAT, "lon": STORE_LON},
        "available_at": at(0),
        "shift_end": at(240),
        **extra,
    }


def order(order_id: str = "O1", north_m: float = 1200, east_m: float = 300, store_id: str = "S1", **extra) -> dict:
    """An order dropped `north_m`, `east_m` from the store, created just before T0, promised in 50 min."""
    return {
        "id": order_id,
        "store_id": store_id,
        "dropoff": {"lat": STORE_LAT + north_m / 111_195, "lon": STORE_LON + east_m / 95_200},
        "created_at": at(-5),
        "ready_at": at(2),
        "promised_at": at(45),
        "items": 2,
        **extra,
    }


def problem(**options) -> dict:
    """A stateless problem: one store, two riders, three orders."""
    return {
        "plan_time": at(0),
        "stores": [store()],
        "riders": [{k: v for k, v in rider(r).items() if k != "store_id"} for r in ("R1", "R2")],
        "orders": [order("O1"), order("O2", -900, 400), order("O3", 300, -1500)],
        "options": {**FAST, **options},
    }


def seed_store(client, riders=("R1", "R2"), orders=("O1", "O2")) -> None:
    """Register store S1, its riders and some orders through the API."""
    assert client.put("/v1/stores/S1", json=store(), headers=ORDER_SYSTEM).status_code == 201
    for r in riders:
        assert client.put(f"/v1/riders/{r}", json=rider(r), headers=ORDER_SYSTEM).status_code == 201
    spots = {"O1": (1200, 300), "O2": (-900, 400), "O3": (300, -1500), "O4": (1500, 1500)}
    for o in orders:
        north, east = spots[o]
        assert client.post("/v1/stores/S1/orders", json=order(o, north, east), headers=ORDER_SYSTEM).status_code == 201
