"""Pydantic models of the public documents (see the contract): shapes, types and ranges.

Cross-field rules (ids, times in order, carried orders) are checked in `dispatch.documents`.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

NonEmptyId = Annotated[str, Field(min_length=1, max_length=200)]


class _Doc(BaseModel):
    model_config = ConfigDict(extra="forbid")


class LocationDoc(_Doc):
    """A WGS84 point."""

    lat: float = Field(ge=-90, le=90, allow_inf_nan=False)
    lon: float = Field(ge=-180, le=180, allow_inf_nan=False)


class StoreDoc(_Doc):
    """A store and its delivery area."""

    id: NonEmptyId
    location: LocationDoc
    service_radius_m: float = Field(default=3000.0, gt=0, allow_inf_nan=False)
    geofence: dict | None = None
    pickup_service_s: int = Field(default=60, ge=0, le=3600)


class RiderDoc(_Doc):
    """A rider as the order system sees it now."""

    id: NonEmptyId
    location: LocationDoc
    available_at: AwareDatetime | None = None
    shift_end: AwareDatetime | None = None
    capacity_items: int = Field(default=30, ge=0)
    max_orders: int = Field(default=6, ge=1)
    speed_mps: float = Field(default=4.5, gt=0, le=50, allow_inf_nan=False)
    carrying: list[NonEmptyId] = Field(default_factory=list)
    store_id: NonEmptyId | None = None
    # The carried order whose drop-off the rider is riding to now: the plan keeps it first.
    heading_to: NonEmptyId | None = None
    shift_end_rule: Literal["route", "pickups"] | None = Field(
        default=None,
        description="what shift_end bounds: 'route' (the route ends by then) or 'pickups' (no pickup after it, "
        "orders on board are still delivered); default options.shift_end_rule",
    )


class OrderDoc(_Doc):
    """A customer order."""

    id: NonEmptyId
    store_id: NonEmptyId
    dropoff: LocationDoc
    created_at: AwareDatetime
    ready_at: AwareDatetime | None = None
    promised_at: AwareDatetime | None = None
    items: int = Field(default=1, ge=0)
    dropoff_service_s: int = Field(default=60, ge=0, le=3600)
    priority: int = Field(default=1, ge=1, le=1000)
    max_ride_s: int | None = Field(default=None, gt=0)
    deliver_after: AwareDatetime | None = Field(
        default=None, description="scheduled orders: the drop-off starts no earlier than this"
    )
    deadline_at: AwareDatetime | None = Field(
        default=None,
        description="the drop-off starts no later than this, whatever the lateness weights; an order that "
        "cannot make it is left out (reason past_deadline)",
    )
    assigned_rider_id: NonEmptyId | None = Field(
        default=None, description="the rider it is assigned to in the plan being followed (re-dispatch)"
    )
    committed: bool = Field(
        default=False,
        description="the order stays with assigned_rider_id: its pickup is under way (the rider was told and "
        "is riding to the store, or the pickup is about to start)",
    )


class HaversineTravelDoc(_Doc):
    """Great-circle distance x detour factor, divided by each rider's speed."""

    model: Literal["haversine"] = "haversine"
    detour_factor: float = Field(default=1.3, ge=1.0, le=5.0, allow_inf_nan=False)


class MatrixTravelDoc(_Doc):
    """Road-network times between listed points; every stop must be one of the points."""

    model: Literal["matrix"]
    locations: list[LocationDoc] = Field(min_length=1)
    durations_s: list[list[float]]
    distances_m: list[list[float]] | None = None


class WeightsDoc(_Doc):
    """Objective weights in rider-seconds: serve first, then keep promises, then travel less."""

    travel_per_s: int = Field(default=1, ge=0, le=1000)
    late_per_s: int = Field(default=100, ge=0, le=100_000)
    unassigned: int = Field(default=10_000_000, ge=1, le=10**12)
    reassign: int = Field(default=0, ge=0, le=10**6)
    click_to_door_per_s: int = Field(
        default=0, ge=0, le=100_000, description="per second from created_at to the drop-off, every order"
    )
    late_steep_after_s: int = Field(
        default=0, ge=0, le=7 * 24 * 3600, description="lateness past this many seconds costs late_steep_per_s more"
    )
    late_steep_per_s: int = Field(default=0, ge=0, le=100_000, description="extra cost per second late past late_steep_after_s")
    late_fixed: int = Field(
        default=0, ge=0, le=10**9, description="once per order delivered after its promise, whatever how late"
    )


class OptionsDoc(_Doc):
    """How to solve."""

    time_limit_s: float = Field(default=1.0, gt=0, le=3600, allow_inf_nan=False)
    lateness: Literal["soft", "hard"] = "soft"
    return_to_store: bool = False
    travel: Annotated[HaversineTravelDoc | MatrixTravelDoc, Field(discriminator="model")] = Field(
        default_factory=HaversineTravelDoc
    )
    seed: int = Field(default=0, ge=0)
    shift_end_rule: Literal["route", "pickups"] = Field(
        default="route", description="what a rider's shift_end bounds unless the rider says: the whole route or the pickups"
    )
    max_iterations: int | None = Field(default=None, ge=0)
    weights: WeightsDoc = Field(default_factory=WeightsDoc)


class InitialStopDoc(BaseModel):
    """A stop of a route being followed: a pickup of `order_ids` or the drop-off of `order_id`
    (a plan's stop fits as it is; its other fields are not read)."""

    model_config = ConfigDict(extra="ignore")

    kind: Literal["pickup", "dropoff"]
    order_ids: list[NonEmptyId] = Field(default_factory=list)
    order_id: NonEmptyId | None = None


class InitialRouteDoc(BaseModel):
    """A rider's route in the plan being followed (a plan's route fits as it is)."""

    model_config = ConfigDict(extra="ignore")

    rider_id: NonEmptyId
    stops: list[InitialStopDoc] = Field(default_factory=list)


class ProblemDoc(_Doc):
    """A dispatch problem: the stores, riders and orders at `plan_time`."""

    plan_time: AwareDatetime
    stores: list[StoreDoc] = Field(default_factory=list)
    riders: list[RiderDoc] = Field(default_factory=list)
    orders: list[OrderDoc] = Field(default_factory=list)
    options: OptionsDoc = Field(default_factory=OptionsDoc)
    initial_routes: list[InitialRouteDoc] = Field(
        default_factory=list,
        description="re-dispatch: the routes being followed, a warm start for the search (riders and orders "
        "no longer in the problem are skipped)",
    )
