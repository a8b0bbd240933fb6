"""The plan: routes of timed stops, unassigned orders with reasons, metrics; and its document."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import ValidationError

from dispatch.errors import InvalidPlan
from dispatch.model import Location
from dispatch.schema import PlanDoc, PlanMetricsDoc

PlanStatus = Literal["feasible", "partial", "infeasible"]

# Machine-readable reasons an order is not in any route.
REASONS = {
    "outside_service_area": "the drop-off is outside the store's delivery area",
    "unknown_store": "the order names a store that is not in the problem",
    "exceeds_capacity": "the order has more items than any rider can carry",
    "cannot_be_on_time": "no rider can deliver it by its promise (hard promises)",
    "no_rider_available": "no rider is on shift long enough to deliver it",
    "max_ride_exceeded": "no rider can bring it from the store to the door within its max_ride_s",
    "fleet_busy": "a rider could deliver it alone, but not together with the orders planned first",
    "time_limit_reached": "the time budget ran out before the order could be planned",
    "past_deadline": "no rider can deliver it before its deadline_at",
    "outside_rider_zones": "every rider is limited to a zone that leaves its door out",
}


@dataclass(frozen=True, slots=True)
class PlannedStop:
    """A timed stop: a pickup of one or more orders at a store, or one drop-off."""

    kind: Literal["pickup", "dropoff"]
    location: Location
    arrive_s: int
    depart_s: int
    store_id: str | None = None
    order_ids: tuple[str, ...] = ()  # pickup
    order_id: str | None = None  # dropoff
    late_s: int = 0
    # The stop's start as a range (dispatch.eta): 10%, 50% and 90% quantiles; None: not computed.
    eta_p10_s: int | None = None
    eta_p50_s: int | None = None
    eta_p90_s: int | None = None


@dataclass(frozen=True, slots=True)
class PlannedRoute:
    """One rider's stops with its distance and duration."""

    rider_id: str
    stops: tuple[PlannedStop, ...]
    distance_m: float
    duration_s: int
    travel_s: int
    start_s: int
    end_s: int


@dataclass(frozen=True, slots=True)
class UnassignedOrder:
    """An order left out of every route, with a reason code and a sentence."""

    order_id: str
    reason: str
    detail: str


@dataclass(frozen=True, slots=True)
class ThirdPartyOrder:
    """An order sent to its store's third-party couriers: estimated pickup and drop-off, fee."""

    order_id: str
    store_id: str
    pickup_s: int  # the pickup's start
    dropoff_s: int  # the drop-off's start
    late_s: int
    distance_m: float
    fee: float
    # The drop-off's ETA range (its start's 10%, 50%, 90% quantiles), or None (not computed).
    eta_p10_s: int | None = None
    eta_p50_s: int | None = None
    eta_p90_s: int | None = None
    # The platform courier that carries it: a plan lists each courier's orders together, in
    # drop-off order. None (a plan written without it) rides alone.
    courier: str | None = None

    def courier_key(self) -> str:
        """Which courier carries it: its `courier`, or, without one, a courier of its own."""
        return self.courier if self.courier is not None else "\0" + self.order_id


@dataclass(frozen=True, slots=True)
class Metrics:
    """Totals of a plan."""

    orders: int
    assigned: int
    on_time: int
    late: int
    total_distance_m: float
    total_travel_s: int
    solve_ms: int
    late_s_total: int = 0
    riders_used: int = 0
    objective: int = 0
    first_plan_ms: int | None = None
    engine: str = ""
    reassigned: int = 0  # orders planned on another rider than their assigned_rider_id
    third_party: int = 0  # orders sent to third-party couriers
    third_party_fees: float = 0.0


@dataclass(frozen=True, slots=True)
class Plan:
    """A dispatch plan; times are seconds from `plan_time`."""

    plan_id: str
    plan_time: datetime
    status: PlanStatus
    routes: tuple[PlannedRoute, ...]
    unassigned: tuple[UnassignedOrder, ...]
    metrics: Metrics
    extra: dict[str, Any] = field(default_factory=dict)
    third_party: tuple[ThirdPartyOrder, ...] = ()

    def at(self, seconds: int) -> str:
        """ISO 8601 time `seconds` after the plan epoch, in the plan's UTC offset."""
        return (self.plan_time + timedelta(seconds=int(seconds))).isoformat(timespec="seconds")

    def to_document(self) -> dict:
        """The contract's plan document."""
        routes = []
        for route in self.routes:
            stops = []
            for s in route.stops:
                doc: dict[str, Any] = {"kind": s.kind}
                if s.kind == "pickup":
                    doc["store_id"] = s.store_id
                    doc["order_ids"] = list(s.order_ids)
                else:
                    doc["order_id"] = s.order_id
                doc["location"] = {"lat": s.location.lat, "lon": s.location.lon}
                doc["arrive_at"] = self.at(s.arrive_s)
                doc["depart_at"] = self.at(s.depart_s)
                if s.kind == "dropoff":
                    doc["late_s"] = s.late_s
                for name in ("eta_p10", "eta_p50", "eta_p90"):
                    value = getattr(s, f"{name}_s")
                    if value is not None:
                        doc[name] = self.at(value)
                stops.append(doc)
            routes.append(
                {
                    "rider_id": route.rider_id,
                    "stops": stops,
                    "distance_m": round(route.distance_m, 1),
                    "duration_s": route.duration_s,
                    "travel_s": route.travel_s,
                    "start_at": self.at(route.start_s),
                    "end_at": self.at(route.end_s),
                }
            )
        m = self.metrics
        metrics = {
            "orders": m.orders,
            "assigned": m.assigned,
            "on_time": m.on_time,
            "late": m.late,
            "total_distance_m": round(m.total_distance_m, 1),
            "total_travel_s": m.total_travel_s,
            "solve_ms": m.solve_ms,
            "late_s_total": m.late_s_total,
            "riders_used": m.riders_used,
            "objective": m.objective,
            "first_plan_ms": m.first_plan_ms,
            "engine": m.engine,
            "reassigned": m.reassigned,
            "third_party": m.third_party,
            "third_party_fees": round(m.third_party_fees, 2),
        }
        return {
            "plan_id": self.plan_id,
            "plan_time": self.plan_time.isoformat(timespec="seconds"),
            "status": self.status,
            "routes": routes,
            "unassigned": [
                {"order_id": u.order_id, "reason": u.reason, "detail": u.detail} for u in self.unassigned
            ],
            "third_party": [
                {"order_id": t.order_id, "store_id": t.store_id, "pickup_at": self.at(t.pickup_s),
                 "dropoff_at": self.at(t.dropoff_s), "late_s": t.late_s, "distance_m": round(t.distance_m, 1),
                 "fee": round(t.fee, 2), **({"courier": t.courier} if t.courier is not None else {}),
                 **{name: self.at(v) for name, v in (("eta_p10", t.eta_p10_s), ("eta_p50", t.eta_p50_s),
                                                      ("eta_p90", t.eta_p90_s)) if v is not None}}
                for t in self.third_party
            ],
            "metrics": metrics,
            **self.extra,
        }


def _seconds(at: datetime, epoch: datetime) -> int:
    return int(round((at - epoch).total_seconds()))


def _where(loc: tuple[Any, ...]) -> str:
    """pydantic's error location as `routes[0].stops[2].late_s`."""
    out = ""
    for step in loc:
        out += f"[{step}]" if isinstance(step, int) else (f".{step}" if out else str(step))
    return out or "(document)"


def plan_from_document(doc: dict, plan_time: datetime) -> Plan:
    """Read a plan document back (times relative to the problem's `plan_time`); InvalidPlan,
    naming the field, when it cannot be read."""
    if not isinstance(doc, dict):
        raise InvalidPlan("a plan document must be a JSON object")
    try:
        parsed = PlanDoc.model_validate(doc)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = _where(tuple(first["loc"]))
        raise InvalidPlan(f"{field}: {first['msg']}", field=field) from None
    routes = []
    for r in parsed.routes:
        stops = tuple(
            PlannedStop(
                kind=s.kind,
                location=Location(s.location.lat, s.location.lon) if s.location else Location(0.0, 0.0),
                arrive_s=_seconds(s.arrive_at, plan_time),
                depart_s=_seconds(s.depart_at, plan_time),
                store_id=s.store_id,
                order_ids=tuple(s.order_ids),
                order_id=s.order_id,
                late_s=s.late_s or 0,
                eta_p10_s=None if s.eta_p10 is None else _seconds(s.eta_p10, plan_time),
                eta_p50_s=None if s.eta_p50 is None else _seconds(s.eta_p50, plan_time),
                eta_p90_s=None if s.eta_p90 is None else _seconds(s.eta_p90, plan_time),
            )
            for s in r.stops
        )
        routes.append(
            PlannedRoute(
                rider_id=r.rider_id,
                stops=stops,
                distance_m=r.distance_m,
                duration_s=r.duration_s,
                travel_s=r.travel_s,
                start_s=_seconds(r.start_at, plan_time) if r.start_at else (stops[0].arrive_s if stops else 0),
                end_s=_seconds(r.end_at, plan_time) if r.end_at else (stops[-1].depart_s if stops else 0),
            )
        )
    m = parsed.metrics or PlanMetricsDoc()
    return Plan(
        plan_id=parsed.plan_id,
        plan_time=plan_time,
        status=parsed.status,
        routes=tuple(routes),
        unassigned=tuple(UnassignedOrder(u.order_id, u.reason, u.detail) for u in parsed.unassigned),
        metrics=Metrics(
            orders=m.orders,
            assigned=m.assigned,
            on_time=m.on_time,
            late=m.late,
            total_distance_m=m.total_distance_m,
            total_travel_s=m.total_travel_s,
            solve_ms=m.solve_ms,
            late_s_total=m.late_s_total,
            riders_used=m.riders_used,
            objective=m.objective,
            third_party=m.third_party,
            third_party_fees=m.third_party_fees,
        ),
        third_party=tuple(
            ThirdPartyOrder(t.order_id, t.store_id, _seconds(t.pickup_at, plan_time), _seconds(t.dropoff_at, plan_time),
                            t.late_s, t.distance_m, t.fee,
                            *(None if v is None else _seconds(v, plan_time) for v in (t.eta_p10, t.eta_p50, t.eta_p90)),
                            courier=t.courier)
            for t in parsed.third_party
        ),
    )
