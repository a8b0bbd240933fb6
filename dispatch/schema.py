"""Pydantic models of the public documents (see the contract): shapes, types and ranges.

Cross-field rules (ids, times in order, carried orders) are checked in `dispatch.documents`.
Types are strict: `true` is not the integer 1, `"3"` is not a number, `12345` is not a time;
every number has a range the solver's integer arithmetic can hold.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone, tzinfo
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo

from pydantic import AfterValidator, AwareDatetime, BaseModel, BeforeValidator, ConfigDict, Field, model_validator
from pydantic_core import PydanticCustomError

from dispatch.model import DEFAULT_REASSIGN_COST

# Times outside these years are typos or probes; inside them every offset and horizon stays
# far from the ends of Python's datetime (year 1 and 9999 overflowed).
EARLIEST = datetime(1900, 1, 1, tzinfo=timezone.utc)
LATEST = datetime(2200, 1, 1, tzinfo=timezone.utc)
_ISO_TIME = re.compile(r"\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}")
# C0 controls and DEL: PostgreSQL refuses NUL in text (pydantic itself refuses lone surrogates).
_UNSTORABLE = re.compile(r"[\x00-\x1f\x7f]")
MAX_SEED = 2**31 - 1
# A work limit beyond what any budget can use: 3600 s at the fastest rate measured (~130k
# iterations a second on store problems) is 4.7e8.
MAX_ITERATIONS = 10**9
# The geometry object, then a MultiPolygon's polygons, rings, positions and numbers.
MAX_GEOFENCE_DEPTH = 5


def _storable(value: str) -> str:
    if _UNSTORABLE.search(value):
        raise PydanticCustomError(
            "unstorable_string", "must not contain control characters (such as NUL)"
        )
    return value


def _time_text(value: Any) -> Any:
    # A number is not a time (pydantic would read 12345 as seconds since 1970), nor is "12345".
    if isinstance(value, datetime) or (isinstance(value, str) and _ISO_TIME.match(value)):
        return value
    raise PydanticCustomError(
        "datetime_format", "must be an ISO 8601 time with a UTC offset, such as 2026-11-23T10:00:00+08:00"
    )


def _geofence_depth(value: dict) -> dict:
    # Checked without recursion, before anything walks the geometry (a fence nested 900 deep
    # broke serialisation); foreign members may nest as deep as the coordinates.
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > MAX_GEOFENCE_DEPTH:
            raise PydanticCustomError(
                "geofence_depth",
                "nests more than {limit} levels deep; a GeoJSON MultiPolygon needs {limit}",
                {"limit": MAX_GEOFENCE_DEPTH},
            )
        children = node.values() if isinstance(node, dict) else node
        stack.extend((child, depth + 1) for child in children if isinstance(child, (dict, list)))
    return value


_FIXED_OFFSET = re.compile(r"^([+-])(\d{2}):(\d{2})$")


def parse_time_zone(name: str) -> tzinfo:
    """A zone from an IANA name (`Asia/Shanghai`), a fixed offset (`+08:00`) or `UTC`; ValueError otherwise."""
    if name in ("UTC", "Z"):
        return timezone.utc
    fixed = _FIXED_OFFSET.match(name)
    if fixed:
        sign, hours, minutes = fixed.group(1), int(fixed.group(2)), int(fixed.group(3))
        if hours > 14 or minutes > 59:
            raise ValueError(f"{name!r} is not a UTC offset (-14:00 to +14:00)")
        offset = timedelta(hours=hours, minutes=minutes)
        return timezone(-offset if sign == "-" else offset)
    try:
        return ZoneInfo(name)
    except Exception:  # ZoneInfoNotFoundError, or a name that is a path ("../x"): both unknown
        raise ValueError(f"{name!r} is not an IANA time zone (such as Asia/Shanghai) or a UTC offset (+08:00)") from None


def _time_zone(value: str) -> str:
    try:
        parse_time_zone(value)
    except ValueError as exc:
        raise PydanticCustomError("time_zone", "{reason}", {"reason": str(exc)}) from None
    return value


def _time_in_range(value: datetime) -> datetime:
    if not EARLIEST <= value < LATEST:
        raise PydanticCustomError("datetime_range", "must be in the years 1900 to 2199")
    return value


NonEmptyId = Annotated[str, Field(min_length=1, max_length=200), AfterValidator(_storable)]
Time = Annotated[AwareDatetime, Field(strict=False), BeforeValidator(_time_text), AfterValidator(_time_in_range)]


class _Doc(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class LocationDoc(_Doc):
    """A WGS84 point."""

    lat: float = Field(ge=-90, le=90, allow_inf_nan=False)
    lon: float = Field(ge=-180, le=180, allow_inf_nan=False)


class ThirdPartyDoc(_Doc):
    """A third-party courier platform the store may send an order to, for a fee."""

    fee_per_order: float = Field(ge=0, le=1e6, allow_inf_nan=False, description="money per order sent out")
    fee_per_extra_km: float = Field(
        default=0.0, ge=0, le=1e5, allow_inf_nan=False, description="money per road km from the store to the door beyond included_km"
    )
    included_km: float = Field(default=0.0, ge=0, le=1000, allow_inf_nan=False)
    arrival_s: int = Field(default=600, ge=0, le=24 * 3600, description="seconds from the plan's time until its courier is at the store")
    speed_mps: float = Field(default=4.5, ge=0.5, le=50, allow_inf_nan=False, description="its courier's speed")
    orders_per_courier: int = Field(default=1, ge=1, le=50, description="how many orders of the store one courier carries on one trip")
    fee_per_added_order: float | None = Field(
        default=None, ge=0, le=1e6, allow_inf_nan=False,
        description="money for each order after a courier's first on one trip (default fee_per_order); "
        "below fee_per_order it makes pooling orders on one courier pay",
    )


class StoreDoc(_Doc):
    """A store and its delivery area."""

    id: NonEmptyId
    location: LocationDoc
    # Up to half the Earth's circumference: a disc that holds every point (Solomon's depots).
    service_radius_m: float = Field(default=3000.0, gt=0, le=2.0e7, allow_inf_nan=False)
    geofence: Annotated[dict, AfterValidator(_geofence_depth)] | None = None
    pickup_service_s: int = Field(default=60, ge=0, le=3600)
    third_party: ThirdPartyDoc | None = Field(
        default=None, description="a courier platform for the overflow: an order goes out when that is cheaper or no own rider keeps its promise"
    )

    time_zone: Annotated[str, Field(min_length=1, max_length=64), AfterValidator(_time_zone)] | None = Field(
        default=None,
        description="IANA name (Asia/Shanghai) or UTC offset (+08:00) the service writes the store's times in; "
        "default: the service's setting, else the offset of the store's first order",
    )


class ZoneDoc(_Doc):
    """Where a rider may deliver: a set of H3 cells, or a GeoJSON Polygon / MultiPolygon (lon, lat)."""

    cells: list[NonEmptyId] | None = Field(default=None, min_length=1, max_length=100_000)
    polygon: Annotated[dict, AfterValidator(_geofence_depth)] | None = None

    @model_validator(mode="after")
    def _one_kind(self) -> "ZoneDoc":
        if (self.cells is None) == (self.polygon is None):
            raise PydanticCustomError("zone_kind", "a zone is either cells or a polygon, exactly one of them")
        return self


class RiderDoc(_Doc):
    """A rider as the order system sees it now."""

    id: NonEmptyId
    location: LocationDoc
    available_at: Time | None = None
    shift_end: Time | None = None
    capacity_items: int = Field(default=30, ge=0, le=100_000)
    max_orders: int = Field(default=6, ge=1, le=1000)
    # From a slow walk: a leg of 20 km stays under 12 hours (1e-300 m/s overflowed the search).
    speed_mps: float = Field(default=4.5, ge=0.5, le=50, allow_inf_nan=False)
    carrying: list[NonEmptyId] = Field(default_factory=list)
    store_id: NonEmptyId | None = None
    # The carried order whose drop-off the rider is riding to now: the plan keeps it first.
    heading_to: NonEmptyId | None = None
    shift_end_rule: Literal["route", "pickups"] | None = Field(
        default=None,
        description="what shift_end bounds: 'route' (the route ends by then) or 'pickups' (no pickup after it, "
        "orders on board are still delivered); default options.shift_end_rule",
    )
    zone: ZoneDoc | None = Field(default=None, description="where it may deliver: H3 cells or a polygon (default anywhere)")


class OrderDoc(_Doc):
    """A customer order."""

    id: NonEmptyId
    store_id: NonEmptyId
    dropoff: LocationDoc
    created_at: Time
    ready_at: Time | None = None
    promised_at: Time | None = None
    items: int = Field(default=1, ge=0, le=100_000)
    dropoff_service_s: int = Field(default=60, ge=0, le=3600)
    priority: int = Field(default=1, ge=1, le=1000)
    max_ride_s: int | None = Field(default=None, gt=0, le=24 * 3600)
    deliver_after: Time | None = Field(
        default=None, description="scheduled orders: the drop-off starts no earlier than this"
    )
    deadline_at: Time | None = Field(
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


class SpeedProfileDoc(_Doc):
    """Speed factors by period of the local day (plan_time's UTC offset), repeating daily."""

    period_min: int = Field(
        default=30, ge=1, le=1440, description="a period's minutes; must divide 1440 (a day)"
    )
    factors: list[Annotated[float, Field(ge=0.05, le=20.0, allow_inf_nan=False)]] = Field(
        min_length=1,
        max_length=1440,
        description="one speed factor per period from local midnight (1440 / period_min of them): "
        "a rider rides at its speed x the factor of the period it is in",
    )


CV = Annotated[float, Field(ge=0.0, le=2.0, allow_inf_nan=False)]


class UncertaintyDoc(_Doc):
    """How real durations scatter around the planned ones: lognormal, mean the planned seconds."""

    period_min: int = Field(
        default=60, ge=1, le=1440, description="the minutes of a period of ride_cv; must divide 1440 (a day)"
    )
    ride_cv: CV | list[CV] = Field(
        default=0.0,
        description="a ride's coefficient of variation (standard deviation / mean), one for the whole "
        "day or one per period from local midnight (1440 / period_min of them), by the ride's departure",
    )
    service_cv: CV = Field(default=0.0, description="a stop's service time's coefficient of variation")


class HaversineTravelDoc(_Doc):
    """Great-circle distance x detour factor, divided by each rider's speed."""

    model: Literal["haversine"] = "haversine"
    detour_factor: float = Field(default=1.3, ge=1.0, le=5.0, allow_inf_nan=False)
    speed_profile: SpeedProfileDoc | None = None
    uncertainty: UncertaintyDoc | None = None


class MatrixTravelDoc(_Doc):
    """Road-network times between listed points; every stop must be one of the points."""

    model: Literal["matrix"]
    locations: list[LocationDoc] = Field(min_length=1)
    durations_s: list[list[float]]
    distances_m: list[list[float]] | None = None
    speed_profile: SpeedProfileDoc | None = Field(
        default=None, description="durations_s are the times at factor 1; the factors scale them by period"
    )
    uncertainty: UncertaintyDoc | None = None


class WeightsDoc(_Doc):
    """Objective weights in rider-seconds: serve first, then keep promises, then travel less."""

    travel_per_s: int = Field(default=1, ge=0, le=1000)
    late_per_s: int = Field(default=100, ge=0, le=100_000)
    unassigned: int = Field(default=10_000_000, ge=1, le=10**12)
    reassign: int = Field(
        default=DEFAULT_REASSIGN_COST,
        ge=0,
        le=10**6,
        description="per order planned on another rider than its assigned_rider_id (re-dispatch)",
    )
    click_to_door_per_s: int = Field(
        default=0, ge=0, le=1000, description="per second from created_at to the drop-off, every order"
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
    seed: int = Field(default=0, ge=0, le=MAX_SEED)
    shift_end_rule: Literal["route", "pickups"] = Field(
        default="route", description="what a rider's shift_end bounds unless the rider says: the whole route or the pickups"
    )
    max_iterations: int | None = Field(
        default=None, ge=0, le=MAX_ITERATIONS, description="a work limit as well as the clock: whichever comes first"
    )
    weights: WeightsDoc = Field(default_factory=WeightsDoc)
    rider_cost_per_hour: float | None = Field(
        default=None, gt=0, le=1e6, allow_inf_nan=False,
        description="money per rider-hour, the currency of third-party fees (needed when a store has a third_party)",
    )


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

    plan_time: Time
    stores: list[StoreDoc] = Field(default_factory=list)
    riders: list[RiderDoc] = Field(default_factory=list)
    orders: list[OrderDoc] = Field(default_factory=list)
    options: OptionsDoc = Field(default_factory=OptionsDoc)
    initial_routes: list[InitialRouteDoc] = Field(
        default_factory=list,
        description="re-dispatch: the routes being followed, a warm start for the search (riders and orders "
        "no longer in the problem are skipped)",
    )


class _PlanPart(BaseModel):
    # A plan document read back (to check it): the fields the validator reads are typed and
    # bounded; others, and fields a service adds (`store_id`, `excluded`), are not read.
    model_config = ConfigDict(extra="ignore", strict=True)


class PlanStopDoc(_PlanPart):
    """A timed stop of a plan: a pickup of `order_ids` at `store_id`, or the drop-off of `order_id`."""

    kind: Literal["pickup", "dropoff"]
    location: LocationDoc | None = None
    arrive_at: Time
    depart_at: Time
    store_id: NonEmptyId | None = None
    order_ids: list[NonEmptyId] = Field(default_factory=list)
    order_id: NonEmptyId | None = None
    late_s: int | None = Field(default=0, ge=0, le=10**9)
    eta_p10: Time | None = None
    eta_p50: Time | None = None
    eta_p90: Time | None = None


class PlanRouteDoc(_PlanPart):
    """One rider's route in a plan."""

    rider_id: NonEmptyId
    stops: list[PlanStopDoc] = Field(default_factory=list)
    distance_m: float = Field(default=0.0, ge=0, le=1e12, allow_inf_nan=False)
    duration_s: int = Field(default=0, ge=-(10**12), le=10**12)
    travel_s: int = Field(default=0, ge=-(10**12), le=10**12)
    start_at: Time | None = None
    end_at: Time | None = None


class PlanUnassignedDoc(_PlanPart):
    """An order left out of every route, with its reason."""

    order_id: NonEmptyId
    reason: str = Field(max_length=200)
    detail: str = Field(default="", max_length=10_000)


class PlanThirdPartyDoc(_PlanPart):
    """An order sent to the store's third-party couriers, with its estimated times and fee."""

    order_id: NonEmptyId
    store_id: NonEmptyId
    pickup_at: Time
    dropoff_at: Time
    late_s: int = Field(default=0, ge=0, le=10**9)
    distance_m: float = Field(default=0.0, ge=0, le=1e12, allow_inf_nan=False)
    fee: float = Field(default=0.0, ge=0, le=1e12, allow_inf_nan=False)
    eta_p10: Time | None = None
    eta_p50: Time | None = None
    eta_p90: Time | None = None
    courier: NonEmptyId | None = Field(
        default=None, description="the platform courier that carries it: one courier's orders are listed together, in drop-off order"
    )


class PlanMetricsDoc(_PlanPart):
    """The totals a plan states about itself."""

    orders: int = Field(default=0, ge=0, le=10**9)
    assigned: int = Field(default=0, ge=0, le=10**9)
    on_time: int = Field(default=0, ge=0, le=10**9)
    late: int = Field(default=0, ge=0, le=10**9)
    total_distance_m: float = Field(default=0.0, ge=0, le=1e15, allow_inf_nan=False)
    total_travel_s: int = Field(default=0, ge=0, le=10**15)
    solve_ms: int = Field(default=0, ge=0, le=10**12)
    late_s_total: int = Field(default=0, ge=0, le=10**15)
    riders_used: int = Field(default=0, ge=0, le=10**9)
    objective: int = Field(default=0, ge=-(10**30), le=10**30)
    third_party: int = Field(default=0, ge=0, le=10**9)
    third_party_fees: float = Field(default=0.0, ge=0, le=1e15, allow_inf_nan=False)


class PlanDoc(_PlanPart):
    """A plan document as the validator reads it (a partial one, `{"routes": [], "unassigned": []}`, fits)."""

    plan_id: str = Field(default="", max_length=200)
    status: str = Field(default="feasible", max_length=50)
    routes: list[PlanRouteDoc] = Field(default_factory=list)
    unassigned: list[PlanUnassignedDoc] = Field(default_factory=list)
    third_party: list[PlanThirdPartyDoc] = Field(default_factory=list)
    metrics: PlanMetricsDoc | None = Field(default_factory=PlanMetricsDoc)
