"""What a reassignment cost buys: orders moved to another rider against rider-seconds saved.

A store is planned, then planned again a minute later with a few more orders, as the service's
store dispatch does it: every open order carries its rider in the first plan as
`assigned_rider_id`, and the riders' routes are the warm start. Each cost in `costs` re-plans the
same states; the table shows, per cost, the orders that changed rider and the riding time and
lateness of the second plan against the cost-0 plan.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from dispatch.documents import problem_from_document
from dispatch.generate import generate_problem
from dispatch.solver import solve


@dataclass(frozen=True, slots=True)
class ReassignRow:
    """One cost on one store state: what its re-plan did."""

    seed: int
    cost: int
    moved: int  # orders planned on another rider than in the first plan
    travel_s: int  # riding time of the second plan, all riders
    late: int
    late_s: int


def _riders_of(plan_doc: dict) -> dict[str, str]:
    return {s["order_id"]: r["rider_id"] for r in plan_doc["routes"] for s in r["stops"] if s["kind"] == "dropoff"}


def _second_state(first_doc: dict, extra: list[dict], plan: dict, after_s: int, cost: int, seed: int) -> dict:
    """The store `after_s` later, with `extra` orders, the first plan as assignment and warm start."""
    assigned = _riders_of(plan)
    plan_time = datetime.fromisoformat(first_doc["plan_time"]) + timedelta(seconds=after_s)
    orders = [{**o, "assigned_rider_id": assigned[o["id"]]} if o["id"] in assigned else dict(o) for o in first_doc["orders"]]
    routes = [
        {"rider_id": r["rider_id"], "stops": [{k: v for k, v in s.items() if k in ("kind", "order_ids", "order_id")} for s in r["stops"]]}
        for r in plan["routes"]
    ]
    options = {**first_doc["options"], "seed": seed + 1, "weights": {"reassign": cost}}
    return {**first_doc, "plan_time": plan_time.isoformat(), "orders": orders + extra, "options": options, "initial_routes": routes}


def measure_reassign(
    costs: list[int], seeds: list[int], orders: int = 40, riders: int = 6, new_orders: int = 4, iterations: int = 2000
) -> list[ReassignRow]:
    """Re-plan the same store states with each cost (work limits: the same input gives the same rows)."""
    rows = []
    for seed in seeds:
        doc = generate_problem(orders + new_orders, riders, seed, time_limit_s=30.0)
        doc["options"]["max_iterations"] = iterations
        extra = doc["orders"][orders:]
        first_doc = {**doc, "orders": doc["orders"][:orders]}
        first = solve(problem_from_document(first_doc)).to_document()
        before = _riders_of(first)
        for cost in costs:
            plan = solve(problem_from_document(_second_state(first_doc, extra, first, 60, cost, seed))).to_document()
            after = _riders_of(plan)
            m = plan["metrics"]
            rows.append(
                ReassignRow(
                    seed=seed,
                    cost=cost,
                    moved=sum(1 for oid, rid in before.items() if oid in after and after[oid] != rid),
                    travel_s=sum(r["travel_s"] for r in plan["routes"]),
                    late=m["late"],
                    late_s=m["late_s_total"],
                )
            )
    return rows


def summarise(rows: list[ReassignRow]) -> list[dict]:
    """Per cost, over every state: orders moved, riding time, and both against the first cost."""
    costs = sorted({r.cost for r in rows})
    out = []
    for cost in costs:
        mine = [r for r in rows if r.cost == cost]
        out.append(
            {
                "cost": cost,
                "states": len(mine),
                "moved": sum(r.moved for r in mine),
                "travel_s": sum(r.travel_s for r in mine),
                "late": sum(r.late for r in mine),
                "late_s": sum(r.late_s for r in mine),
            }
        )
    base = out[0]
    for row in out:
        row["extra_travel_s"] = row["travel_s"] - base["travel_s"]
        fewer = base["moved"] - row["moved"]
        row["rider_s_per_move_kept"] = round(row["extra_travel_s"] / fewer, 1) if fewer > 0 else None
    return out
