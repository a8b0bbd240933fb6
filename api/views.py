"""Public views of stored stores, orders and riders, with their times in the store's zone."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timezone, tzinfo

from sqlalchemy.orm import Session

from api import dispatching, repository
from api.local_time import localize, store_zone, store_zone_name
from api.schemas import OrderPlanView, OrderPublic, RiderPublic, StorePublic
from api.tables import OrderRow, PlanRow, RiderRow, StoreRow
from dispatch.schema import OrderDoc, StoreDoc


def _utc(at: datetime | None) -> datetime | None:
    # The service's own timestamps read the same however they were written or read back.
    return at.astimezone(timezone.utc) if at is not None else None


def store_public(row: StoreRow, default_zone: str | None) -> StorePublic:
    """The public view of a stored store, its times in its zone."""
    view = StorePublic(
        store=repository.read_document(StoreDoc, row.document),
        time_zone=store_zone_name(row, default_zone),
        current_plan_id=row.current_plan_id,
        dispatch_version=row.dispatch_version,
        updated_at=_utc(row.updated_at),
        dispatched_at=_utc(row.dispatched_at),
        redispatch=dispatching.policy_of(row),
        last_redispatch=row.last_redispatch,
    )
    return localize(view, store_zone(row, default_zone))


@dataclass
class PlanIndex:
    """Where each order is in a plan: its rider and stops, or why it is unassigned."""

    plan: PlanRow | None
    riders: dict[str, str] = field(default_factory=dict)
    pickups: dict[str, dict] = field(default_factory=dict)
    dropoffs: dict[str, dict] = field(default_factory=dict)
    unassigned: dict[str, dict] = field(default_factory=dict)
    third_party: dict[str, dict] = field(default_factory=dict)

    @classmethod
    def of(cls, plan: PlanRow | None) -> "PlanIndex":
        """Index `plan` (None: an empty index)."""
        index = cls(plan)
        if plan is None:
            return index
        for route in plan.plan.get("routes", []):
            for stop in route.get("stops", []):
                if stop.get("kind") == "pickup":
                    for oid in stop.get("order_ids", []):
                        index.pickups[oid] = stop
                        index.riders[oid] = route["rider_id"]
                elif stop.get("order_id") is not None:
                    index.dropoffs[stop["order_id"]] = stop
                    index.riders[stop["order_id"]] = route["rider_id"]
        for item in plan.plan.get("unassigned", []):
            index.unassigned[item["order_id"]] = item
        for item in plan.plan.get("third_party", []):
            index.third_party[item["order_id"]] = item
        return index

    def view(self, row: OrderRow) -> OrderPlanView | None:
        """The order's place in the plan, while it is open or carried and the plan holds it."""
        oid = row.id
        if self.plan is None or row.status not in ("open", "picked_up"):
            return None
        if oid in self.unassigned:
            item = self.unassigned[oid]
            return OrderPlanView(
                plan_id=self.plan.plan_id, as_of=self.plan.plan_time, rider_id=None,
                unassigned_reason=item.get("reason"), unassigned_detail=item.get("detail"),
            )
        if oid in self.third_party and row.status == "open":
            item = self.third_party[oid]
            return OrderPlanView(
                plan_id=self.plan.plan_id, as_of=self.plan.plan_time, rider_id=None, third_party=True,
                pickup_eta=datetime.fromisoformat(item["pickup_at"]), dropoff_eta=datetime.fromisoformat(item["dropoff_at"]),
                dropoff_eta_p10=_time_or_none(item.get("eta_p10")), dropoff_eta_p50=_time_or_none(item.get("eta_p50")),
                dropoff_eta_p90=_time_or_none(item.get("eta_p90")), late_s=int(item.get("late_s") or 0),
                third_party_courier=item.get("courier"),
            )
        if oid not in self.dropoffs:
            return None  # accepted after the plan was made
        drop = self.dropoffs[oid]
        pickup = self.pickups.get(oid) if row.status == "open" else None
        return OrderPlanView(
            plan_id=self.plan.plan_id,
            as_of=self.plan.plan_time,
            rider_id=self.riders.get(oid),
            pickup_eta=datetime.fromisoformat(pickup["arrive_at"]) if pickup else None,
            pickup_departs_at=datetime.fromisoformat(pickup["depart_at"]) if pickup else None,
            dropoff_eta=datetime.fromisoformat(drop["arrive_at"]),
            # A plan stored before ETA ranges were planned has none.
            dropoff_eta_p10=_time_or_none(drop.get("eta_p10")),
            dropoff_eta_p50=_time_or_none(drop.get("eta_p50")),
            dropoff_eta_p90=_time_or_none(drop.get("eta_p90")),
            late_s=int(drop.get("late_s") or 0),
        )


def _time_or_none(text: str | None) -> datetime | None:
    """An ISO time of a stored plan, or None where it has none."""
    return datetime.fromisoformat(text) if text else None


def current_plan_index(db: Session, store: StoreRow | None) -> PlanIndex:
    """The index of the store's current plan."""
    if store is None or store.current_plan_id is None:
        return PlanIndex(None)
    return PlanIndex.of(db.get(PlanRow, store.current_plan_id))


def order_public(row: OrderRow, zone: tzinfo, index: PlanIndex | None = None) -> OrderPublic:
    """The public view of a stored order: where it is in its life and in the current plan."""
    document = repository.read_document(OrderDoc, row.document)
    planned = index.view(row) if index is not None else None
    rider = row.rider_id or (planned.rider_id if planned is not None and row.status == "open" else None)
    view = OrderPublic(
        order=document,
        status=row.status,
        rider_id=rider,
        promised_at=getattr(document, "promised_at", None),
        pinned_rider_id=row.pinned_rider_id,
        submitted_at=_utc(row.submitted_at),
        picked_up_at=_utc(row.picked_up_at),
        delivered_at=_utc(row.delivered_at),
        cancelled_at=_utc(row.cancelled_at),
        plan=planned,
    )
    return localize(view, zone)


def order_view(db: Session, row: OrderRow, default_zone: str | None) -> OrderPublic:
    """One order's view with its store's zone and current plan."""
    store = db.get(StoreRow, row.store_id)
    return order_public(row, store_zone(store, default_zone), current_plan_index(db, store))


def rider_public(db: Session, row: RiderRow, zone: tzinfo) -> RiderPublic:
    """The public view of a stored rider, with what it carries now."""
    view = RiderPublic(
        rider=repository.rider_document(db, row),
        on_duty=row.on_duty,
        updated_at=_utc(row.updated_at),
        location_at=_utc(row.location_at),
        heading_deg=row.heading_deg,
        speed_mps=row.ground_speed_mps,
    )
    return localize(view, zone)


def rider_zone(db: Session, row: RiderRow, default_zone: str | None) -> tzinfo:
    """The zone of the rider's home store."""
    return store_zone(db.get(StoreRow, row.store_id), default_zone)
