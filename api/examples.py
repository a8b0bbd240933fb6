"""Request examples shown in the OpenAPI documentation (and used in docs/API.md)."""

from __future__ import annotations

STORE = {
    "id": "S1",
    "location": {"lat": 31.2304, "lon": 121.4737},
    "service_radius_m": 3000,
    "geofence": None,
    "pickup_service_s": 60,
}

RIDER = {
    "id": "R1",
    "store_id": "S1",
    "on_duty": True,
    "location": {"lat": 31.2310, "lon": 121.4740},
    "available_at": "2026-11-23T10:00:00+08:00",
    "shift_end": "2026-11-23T14:00:00+08:00",
    "capacity_items": 30,
    "max_orders": 6,
    "speed_mps": 4.5,
}

ORDER = {
    "id": "O1",
    "store_id": "S1",
    "dropoff": {"lat": 31.2420, "lon": 121.4800},
    "created_at": "2026-11-23T09:55:00+08:00",
    "ready_at": "2026-11-23T10:05:00+08:00",
    "promised_at": "2026-11-23T10:55:00+08:00",
    "items": 3,
    "dropoff_service_s": 120,
    "priority": 1,
}

PROBLEM = {
    "plan_time": "2026-11-23T10:00:00+08:00",
    "stores": [STORE],
    "riders": [{k: v for k, v in RIDER.items() if k != "on_duty"} | {"carrying": []}],
    "orders": [
        ORDER,
        {**ORDER, "id": "O2", "dropoff": {"lat": 31.2250, "lon": 121.4650}, "items": 1},
    ],
    "options": {"time_limit_s": 1.0, "lateness": "soft", "return_to_store": False},
}

EVENTS = {
    "picked_up": {"summary": "A rider picked the order up", "value": {"type": "picked_up"}},
    "delivered": {"summary": "The rider delivered it", "value": {"type": "delivered", "at": "2026-11-23T10:31:00+08:00"}},
    "cancelled": {"summary": "The customer cancelled", "value": {"type": "cancelled"}},
}

DISPATCH = {
    "now": {"summary": "Plan at the service's current time", "value": {}},
    "replay": {
        "summary": "Plan as of a given time, with a 2 s budget and hard promises",
        "value": {"plan_time": "2026-11-23T10:00:00+08:00", "options": {"time_limit_s": 2, "lateness": "hard"}},
    },
}
