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

_PICKUP = {
    "kind": "pickup", "store_id": "S1", "order_ids": ["O2", "O1"],
    "location": {"lat": 31.2304, "lon": 121.4737},
    "arrive_at": "2026-11-23T10:00:21+08:00", "depart_at": "2026-11-23T10:06:00+08:00",
}
_DROP_O2 = {
    "kind": "dropoff", "order_id": "O2", "location": {"lat": 31.225, "lon": 121.465},
    "arrive_at": "2026-11-23T10:10:55+08:00", "depart_at": "2026-11-23T10:12:55+08:00", "late_s": 0,
}
_DROP_O1 = {
    "kind": "dropoff", "order_id": "O1", "location": {"lat": 31.242, "lon": 121.48},
    "arrive_at": "2026-11-23T10:24:19+08:00", "depart_at": "2026-11-23T10:26:19+08:00", "late_s": 0,
}

# What POST /v1/plans returned for PROBLEM (a real answer, trimmed of nothing).
PLAN = {
    "plan_id": "7b7539d3519749dd82d67d21016c95fa",
    "plan_time": "2026-11-23T10:00:00+08:00",
    "status": "feasible",
    "routes": [
        {
            "rider_id": "R1",
            "stops": [_PICKUP, _DROP_O2, _DROP_O1],
            "distance_m": 4501.5, "duration_s": 1579, "travel_s": 1000,
            "start_at": "2026-11-23T10:00:00+08:00", "end_at": "2026-11-23T10:26:19+08:00",
        }
    ],
    "unassigned": [],
    "metrics": {
        "orders": 2, "assigned": 2, "on_time": 2, "late": 0, "total_distance_m": 4501.5,
        "total_travel_s": 1000, "solve_ms": 987, "late_s_total": 0, "riders_used": 1,
        "objective": 1000, "first_plan_ms": 1, "engine": "construction+ortools",
    },
}

ROUTE = {
    "rider_id": "R1",
    "store_id": "S1",
    "plan_id": PLAN["plan_id"],
    "as_of": "2026-11-23T02:00:00Z",
    "stops": [_PICKUP, _DROP_O2, _DROP_O1],
}

VALIDATION = {
    "valid": False,
    "violations": [
        {"cause": "missing_order", "detail": "order O2 is in no route and not unassigned", "rider_id": None, "order_id": "O2"}
    ],
    "by_cause": {"missing_order": 1},
}


def plan_response(description: str) -> dict:
    """An OpenAPI `responses` entry whose example is a plan document."""
    return {"description": description, "content": {"application/json": {"example": PLAN}}}


REDISPATCH = {"on_new_order": True, "on_rider_event": True, "every_s": 120, "options": {"time_limit_s": 1.0, "lateness": "soft"}}
STORE_PUBLIC = {
    "store": STORE,
    "time_zone": "+08:00",
    "current_plan_id": PLAN["plan_id"],
    "dispatch_version": 3,
    "updated_at": "2026-11-23T09:58:00+08:00",
    "dispatched_at": "2026-11-23T10:00:01+08:00",
    "redispatch": REDISPATCH,
}
RIDER_PUBLIC = {
    "rider": {**{k: v for k, v in RIDER.items() if k != "on_duty"}, "carrying": ["O1"]},
    "on_duty": True,
    "updated_at": "2026-11-23T10:07:10+08:00",
    "location_at": "2026-11-23T10:07:08+08:00",
    "heading_deg": 75.0,
    "speed_mps": 4.2,
}
LOCATION = {"lat": 31.2335, "lon": 121.4761, "at": "2026-11-23T10:07:08+08:00", "heading_deg": 75.0, "speed_mps": 4.2}
ORDER_PUBLIC = {
    "order": ORDER,
    "status": "open",
    "rider_id": "R1",
    "promised_at": "2026-11-23T10:55:00+08:00",
    "submitted_at": "2026-11-23T09:55:01+08:00",
    "picked_up_at": None,
    "delivered_at": None,
    "cancelled_at": None,
    "plan": {
        "plan_id": PLAN["plan_id"],
        "as_of": "2026-11-23T10:00:00+08:00",
        "rider_id": "R1",
        "pickup_eta": "2026-11-23T10:05:00+08:00",
        "pickup_departs_at": "2026-11-23T10:06:00+08:00",
        "dropoff_eta": "2026-11-23T10:17:12+08:00",
        "late_s": 0,
        "unassigned_reason": None,
        "unassigned_detail": None,
    },
}

QUOTE_REQUEST = {"dropoff": {"lat": 31.2380, "lon": 121.4790}, "items": 2, "ready_at": "2026-11-23T10:08:00+08:00"}
QUOTE = {
    "store_id": "S1",
    "feasible": True,
    "promise_at": "2026-11-23T10:19:00+08:00",
    "eta": "2026-11-23T10:18:12+08:00",
    "rider_id": "R1",
    "reason": None,
    "detail": None,
    "quote_ms": 6.4,
}

WEBHOOK = {"url": "https://orders.example.com/dispatch-events", "event_types": ["order.at_risk", "order.eta_moved", "order.delivered"]}
