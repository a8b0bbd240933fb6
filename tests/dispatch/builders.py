"""Tiny, readable problem documents: places are given in metres east/north of the first store."""

from __future__ import annotations

import math
from datetime import datetime, timedelta

from dispatch import problem_from_document, solve
from dispatch.model import Problem
from dispatch.plan import Plan
from dispatch.validate import validate_plan

EPOCH = datetime.fromisoformat("2026-11-23T10:00:00+08:00")
LAT0, LON0 = 31.2304, 121.4737
M_PER_DEG = math.pi / 180 * 6_371_008.8


def at(east_m: float = 0.0, north_m: float = 0.0) -> dict:
    """A location `east_m` east and `north_m` north of the first store."""
    return {
        "lat": LAT0 + north_m / M_PER_DEG,
        "lon": LON0 + east_m / (M_PER_DEG * math.cos(math.radians(LAT0))),
    }


def t(minutes: float) -> str:
    """ISO time `minutes` after the plan epoch."""
    return (EPOCH + timedelta(minutes=minutes)).isoformat()


def store(id: str = "S1", east: float = 0, north: float = 0, **extra) -> dict:
    """A store document."""
    return {"id": id, "location": at(east, north), "pickup_service_s": 60, **extra}


def rider(id: str = "R1", east: float = 0, north: float = 0, **extra) -> dict:
    """A rider at the store by default, free now, 4.5 m/s."""
    doc = {"id": id, "location": at(east, north), "available_at": t(0), "shift_end": t(240),
           "capacity_items": 30, "max_orders": 6, "speed_mps": 4.5, "carrying": []}
    doc.update(extra)
    return doc


def order(id: str, east: float, north: float, store_id: str = "S1", ready: float = 0,
          promised: float = 60, created: float = -5, **extra) -> dict:
    """An order delivered `east`/`north` metres from the store, ready and promised in minutes."""
    doc = {"id": id, "store_id": store_id, "dropoff": at(east, north), "created_at": t(created),
           "ready_at": t(ready), "promised_at": t(promised), "items": 2, "dropoff_service_s": 60,
           "priority": 1}
    doc.update(extra)
    return doc


def document(stores=None, riders=None, orders=None, initial_routes=None, **options) -> dict:
    """A problem document; options default to a reproducible work limit (no clock)."""
    opts = {"time_limit_s": 5.0, "lateness": "soft", "max_iterations": 200,
            "travel": {"model": "haversine", "detour_factor": 1.0}}
    opts.update(options)
    doc = {"plan_time": t(0), "stores": stores if stores is not None else [store()],
           "riders": riders if riders is not None else [rider()], "orders": orders or [], "options": opts}
    if initial_routes is not None:
        doc["initial_routes"] = initial_routes
    return doc


def solved(doc: dict) -> tuple[Problem, Plan]:
    """Solve a document and insist the independent validator accepts the plan."""
    problem = problem_from_document(doc)
    plan = solve(problem)
    violations = validate_plan(problem, plan.to_document())
    assert violations == [], violations
    return problem, plan


def route_of(plan: Plan, rider_id: str):
    """The route of a rider, or None."""
    return next((r for r in plan.routes if r.rider_id == rider_id), None)


def unassigned_reasons(plan: Plan) -> dict[str, str]:
    """Order id -> reason code of every unassigned order."""
    return {u.order_id: u.reason for u in plan.unassigned}


def stop_kinds(route) -> list[str]:
    """The route as a compact string list: 'P:O1+O2' for a pickup, 'D:O1' for a drop-off."""
    return [f"P:{'+'.join(s.order_ids)}" if s.kind == "pickup" else f"D:{s.order_id}" for s in route.stops]
