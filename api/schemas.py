"""Request and response bodies of the service (the contract's documents plus the service's own)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from api import examples
from dispatch.schema import LocationDoc, NonEmptyId, OptionsDoc, OrderDoc, RiderDoc, StoreDoc, Time

OrderStatus = Literal["open", "picked_up", "delivered", "cancelled"]
DEFAULT_COMMIT_LEAD_S = 120
CommitLead = Annotated[
    int,
    Field(
        ge=0,
        le=3600,
        description="a rider's next pickup stays with it when it starts within this many seconds (or the rider "
        "is riding to the store for it)",
    ),
]
EventType = Literal["picked_up", "delivered", "cancelled"]


class _Body(BaseModel):
    # Strict as the contract's documents: `true` is not 1, and a time is an ISO 8601 string.
    model_config = ConfigDict(extra="forbid", strict=True)


class RedispatchPolicy(_Body):
    """When the service re-plans a store by itself; every trigger is off unless set."""

    model_config = ConfigDict(extra="forbid", strict=True, json_schema_extra={"examples": [examples.REDISPATCH]})

    on_new_order: bool = Field(default=False, description="re-plan when the store accepts a new order")
    on_rider_event: bool = Field(
        default=False,
        description="re-plan when one of the store's riders reports its location or duty, or when a pickup, "
        "delivery or cancellation of one of the store's orders is recorded",
    )
    every_s: int | None = Field(
        default=None, ge=10, le=3600, description="re-plan at least this often while the store has orders to plan"
    )
    options: OptionsDoc = Field(default_factory=OptionsDoc, description="solve options of the service's own re-plans")
    commit_lead_s: CommitLead = DEFAULT_COMMIT_LEAD_S


class RedispatchOutcome(BaseModel):
    """What the service's last automatic re-plan of a store did."""

    at: datetime = Field(description="when it ran (UTC)")
    trigger: Literal["new_order", "rider_event", "every_s"]
    outcome: Literal["planned", "skipped", "failed"] = Field(
        description="`planned`: a new current plan; `skipped`: another dispatch won or the solver was busy "
        "(the next trigger plans again); `failed`: the store could not be planned (see detail)"
    )
    detail: str | None = None
    plan_id: str | None = None
    excluded: int = Field(default=0, description="stored records left out of the plan for breaking a rule")


class StorePublic(BaseModel):
    """A store as the service keeps it."""

    model_config = ConfigDict(json_schema_extra={"examples": [examples.STORE_PUBLIC]})

    store: StoreDoc
    time_zone: str = Field(
        default="UTC",
        description="the zone the service writes this store's times in: the document's time_zone, else "
        "DISPATCH_TIME_ZONE, else the offset of the store's first order, else UTC",
    )
    current_plan_id: str | None
    dispatch_version: int
    updated_at: datetime
    dispatched_at: datetime | None = Field(default=None, description="when the current plan was committed")
    redispatch: RedispatchPolicy | None = Field(default=None, description="when the service re-plans by itself")
    last_redispatch: RedispatchOutcome | None = Field(default=None, description="what its last automatic re-plan did")


class RiderPut(RiderDoc):
    """The contract's rider document plus its home store and duty status.

    `carrying` is derived from order events; when sent it must agree with them.
    """

    store_id: NonEmptyId
    on_duty: bool = True


class RiderPublic(BaseModel):
    """A rider as the service keeps it, with the orders it carries now."""

    model_config = ConfigDict(json_schema_extra={"examples": [examples.RIDER_PUBLIC]})

    rider: RiderDoc
    on_duty: bool
    updated_at: datetime
    location_at: datetime | None = Field(default=None, description="when the last location report was made")
    heading_deg: float | None = Field(default=None, description="heading of the last location report (0 north, 90 east)")
    speed_mps: float | None = Field(default=None, description="ground speed of the last location report")


RiderState = Literal["off_duty", "idle", "assigned", "carrying"]


class RiderListItem(RiderPublic):
    """A rider of a store with what it is doing, from its orders and the store's current plan."""

    state: RiderState = Field(
        description="`carrying`: has picked up orders not yet delivered; `assigned`: has stops in the current "
        "plan; `idle`: on duty with nothing planned; `off_duty`"
    )
    stops: int = Field(description="remaining stops in the store's current plan")


class LocationReport(_Body):
    """Where a rider is now, from its app: small enough to send every few seconds."""

    lat: float = Field(ge=-90, le=90, allow_inf_nan=False)
    lon: float = Field(ge=-180, le=180, allow_inf_nan=False)
    at: Time | None = Field(default=None, description="when the position was taken; default: now")
    heading_deg: float | None = Field(default=None, ge=0, lt=360, allow_inf_nan=False, description="0 north, 90 east")
    speed_mps: float | None = Field(default=None, ge=0, le=50, allow_inf_nan=False)


class LocationAck(BaseModel):
    """What became of a location report."""

    rider_id: str
    applied: bool = Field(description="false when a later report was already recorded (this one arrived late)")
    location: LocationDoc = Field(description="the rider's location as recorded now")
    location_at: datetime | None
    heading_deg: float | None = None
    speed_mps: float | None = None


class OrderPlanView(BaseModel):
    """Where the order is in its store's current plan."""

    plan_id: str
    as_of: datetime = Field(description="the plan's plan_time")
    rider_id: str | None = Field(description="the rider the plan gives it to (null: unassigned)")
    pickup_eta: datetime | None = Field(default=None, description="when that rider arrives at the store for it (null once picked up)")
    pickup_departs_at: datetime | None = Field(default=None, description="when the pickup stop ends")
    dropoff_eta: datetime | None = Field(default=None, description="when the rider arrives at the customer's door")
    dropoff_eta_p10: datetime | None = Field(
        default=None, description="the drop-off's ETA range: 10% chance it starts before this (with the plan's "
        "options.travel.uncertainty; without it p10 = p50 = p90 = the planned start)",
    )
    dropoff_eta_p50: datetime | None = Field(default=None, description="the drop-off's ETA range: its median start")
    dropoff_eta_p90: datetime | None = Field(default=None, description="the drop-off's ETA range: 90% chance it starts by this")
    late_s: int = Field(default=0, description="seconds the planned drop-off is after the promise")
    unassigned_reason: str | None = None
    unassigned_detail: str | None = None
    third_party: bool = Field(default=False, description="the plan sends it to the store's third-party couriers (ETAs are theirs)")
    third_party_courier: str | None = Field(
        default=None, description="when third_party: the platform courier the plan gives it to (orders with the same one ride together)"
    )


class OrderPublic(BaseModel):
    """An accepted order and where it is in its life."""

    model_config = ConfigDict(json_schema_extra={"examples": [examples.ORDER_PUBLIC]})

    order: OrderDoc
    status: OrderStatus
    rider_id: str | None = Field(
        description="the rider carrying or who delivered it; for an open order, the rider its store's current plan gives it to"
    )
    promised_at: datetime | None = Field(default=None, description="the promise made to the customer")
    pinned_rider_id: str | None = Field(default=None, description="a dispatcher pinned it to this rider")
    submitted_at: datetime
    picked_up_at: datetime | None
    delivered_at: datetime | None
    cancelled_at: datetime | None
    plan: OrderPlanView | None = Field(
        default=None, description="its place in the store's current plan (open and picked-up orders the plan holds)"
    )


class OrderEventIn(_Body):
    """Something that happened to an order."""

    type: EventType
    at: Time | None = Field(default=None, description="when it happened; default: now")
    rider_id: NonEmptyId | None = Field(
        default=None, description="the rider who picked up or delivered; a rider key implies its own"
    )


class DispatchRequest(_Body):
    """Options of a store dispatch; everything is optional."""

    plan_time: Time | None = Field(
        default=None, description="plan as of this time (replays, tests); default: the service's now"
    )
    options: OptionsDoc = Field(default_factory=OptionsDoc)
    commit_lead_s: CommitLead = DEFAULT_COMMIT_LEAD_S


class QuoteRequest(_Body):
    """An order not placed yet: where it goes, how big it is, when it would be packed."""

    dropoff: LocationDoc
    items: int = Field(default=1, ge=0, le=100_000)
    ready_at: Time | None = Field(default=None, description="when it would be packed; default: `at`")
    dropoff_service_s: int = Field(default=60, ge=0, le=3600)
    max_promise_s: int = Field(default=3600, gt=0, le=24 * 3600, description="the longest promise the store gives")
    buffer_s: int = Field(default=0, ge=0, le=3600, description="safety margin added to the ETA")
    at: Time | None = Field(default=None, description="quote as of this time (replays); default: now")
    promise_rounding: Literal["minute", "second"] = Field(
        default="minute", description="`minute`: the promise is rounded up to a whole minute of the store's clock"
    )
    confidence: float | None = Field(
        default=None, ge=0.5, le=0.99, allow_inf_nan=False,
        description="promise the time the order is at the door by with this chance (the drop-off's quantile); "
        "default: the ETA itself",
    )
    order_id: NonEmptyId | None = Field(
        default=None,
        description="the id the order will be submitted with: the service keeps this quote and calibrates the "
        "store's later quotes on how it fared",
    )


class QuotePublic(BaseModel):
    """Can the store promise it, by when, and which rider would take it (or why not)."""

    model_config = ConfigDict(json_schema_extra={"examples": [examples.QUOTE]})

    store_id: str
    feasible: bool
    promise_at: datetime | None = None
    eta: datetime | None = None
    rider_id: str | None = None
    reason: str | None = None
    detail: str | None = None
    quote_ms: float
    third_party: bool = Field(default=False, description="no own rider keeps it: the store's third-party couriers would")
    fee: float | None = Field(default=None, description="the third party's fee, when third_party")
    confidence: float | None = Field(default=None, description="the confidence the promise was given at, as asked")
    eta_p10: datetime | None = Field(default=None, description="the drop-off's start: 10% quantile")
    eta_p50: datetime | None = Field(default=None, description="the drop-off's start: median")
    eta_p90: datetime | None = Field(default=None, description="the drop-off's start: 90% quantile")
    calibrated_from: int = Field(
        default=0, description="how many of the store's past quotes and deliveries the promise was calibrated on "
        "(0: the ETA range's quantile alone)",
    )


class ValidateRequest(_Body):
    """A problem document and a plan document to check against it."""

    problem: dict[str, Any]
    plan: dict[str, Any]


class ViolationPublic(BaseModel):
    """One rule the plan breaks."""

    cause: str
    detail: str
    rider_id: str | None = None
    order_id: str | None = None


class ValidationReport(BaseModel):
    """The validator's verdict: every violation, and their count per cause."""

    model_config = ConfigDict(json_schema_extra={"examples": [examples.VALIDATION]})

    valid: bool
    violations: list[ViolationPublic]
    by_cause: dict[str, int]


class RouteDocument(BaseModel):
    """A rider's remaining stops in the store's current plan."""

    model_config = ConfigDict(json_schema_extra={"examples": [examples.ROUTE]})

    rider_id: str
    store_id: str
    plan_id: str | None
    as_of: datetime | None = Field(description="the plan_time of the plan the stops come from")
    stops: list[dict[str, Any]]


class PlanSummary(BaseModel):
    """A stored plan of a store, without its stops."""

    plan_id: str
    store_id: str | None
    kind: str = Field(description="`dispatch`: a store dispatch (by request or the service's own re-plan)")
    plan_time: datetime
    created_at: datetime
    current: bool = Field(description="whether it is the store's current plan")
    metrics: dict[str, Any] = Field(default_factory=dict, description="the plan's metrics")


class Health(BaseModel):
    """Liveness or readiness."""

    model_config = ConfigDict(json_schema_extra={"examples": [{"status": "ok", "detail": None}]})

    status: Literal["ok", "unavailable"]
    detail: str | None = None


EventTypeName = Literal[
    "order.accepted", "order.cancelled", "order.picked_up", "order.delivered",
    "plan.current", "rider.route_changed", "order.eta_moved", "order.at_risk",
]


class EventPublic(BaseModel):
    """Something the service did or accepted, as streams and webhooks send it."""

    id: int = Field(description="grows in commit order within a store; resume after it")
    type: EventTypeName
    at: datetime = Field(description="when the service recorded it (UTC)")
    store_id: str
    rider_id: str | None = Field(default=None, description="the rider it concerns, if one")
    order_id: str | None = Field(default=None, description="the order it concerns, if one")
    body: dict[str, Any] = Field(description="what happened; its fields depend on the type (docs/API.md)")


class EventPage(BaseModel):
    """A page of a store's events, oldest first."""

    events: list[EventPublic]
    last_id: int = Field(description="send it as `after` for the next page")


ALL_EVENT_TYPES: list[str] = list(EventTypeName.__args__)


class WebhookIn(_Body):
    """A subscription to a store's events, POSTed signed to `url`."""

    model_config = ConfigDict(extra="forbid", strict=True, json_schema_extra={"examples": [examples.WEBHOOK]})

    url: str = Field(min_length=10, max_length=2000, pattern=r"^https?://[!-~]+$", description="where each event is POSTed (http or https)")
    event_types: list[EventTypeName] = Field(
        default_factory=lambda: list(ALL_EVENT_TYPES), min_length=1, max_length=8, description="the events it wants; default: all"
    )
    secret: str | None = Field(
        default=None, min_length=16, max_length=200, pattern=r"^[!-~]+$",
        description="the HMAC key of the signatures (16-200 printable characters); default: one made for you, answered once",
    )


class WebhookPublic(BaseModel):
    """A webhook subscription (its secret only in the answer that created it)."""

    id: str
    store_id: str
    url: str
    event_types: list[EventTypeName]
    active: bool = Field(description="false once deleted (kept for its delivery log)")
    created_at: datetime
    secret: str | None = Field(default=None, description="only when created")


class DeliveryPublic(BaseModel):
    """One event owed to one subscription, and how its attempts went."""

    id: int
    webhook_id: str
    event_id: int
    event_type: EventTypeName
    status: Literal["pending", "delivered", "failed"]
    attempts: int
    next_attempt_at: datetime | None = Field(description="when it is tried again (pending only)")
    last_attempt_at: datetime | None
    last_status_code: int | None = Field(description="the receiver's last HTTP status (null: no answer)")
    last_error: str | None
    created_at: datetime


class MoveRequest(_Body):
    """Move an open order to another rider of its store."""

    order_id: NonEmptyId
    rider_id: NonEmptyId = Field(description="the rider who should take it")
    plan_time: Time | None = Field(default=None, description="plan as of this time (replays, tests); default: now")
    options: OptionsDoc = Field(default_factory=OptionsDoc, description="solve options of the re-plan around the move")
    commit_lead_s: CommitLead = DEFAULT_COMMIT_LEAD_S


class MoveCheck(BaseModel):
    """The store's plan with the order moved, and the validator's verdict (nothing applied yet)."""

    plan_id: str = Field(description="the checked plan: POST it to /moves to apply exactly this")
    order_id: str
    rider_id: str
    valid: bool = Field(description="the validator finds no violation and the order is on the rider")
    placed_on: str | None = Field(description="the rider the order is on in the checked plan (null: unassigned)")
    reason: str | None = Field(default=None, description="why the order could not be placed there")
    detail: str | None = None
    violations: list[ViolationPublic]
    eta: datetime | None
    promised_at: datetime | None
    slack_s: int | None = Field(description="promise minus ETA (negative: late)")
    before: dict[str, Any] = Field(description="the current plan's late, late_s_total, total_distance_m, assigned")
    after: dict[str, Any] = Field(description="the same figures with the move")


class MoveApply(_Body):
    """Apply a checked move."""

    plan_id: NonEmptyId = Field(description="the plan_id of POST /moves/check")


class PinRequest(_Body):
    """Keep an order with one rider in every re-plan."""

    rider_id: NonEmptyId


class Board(BaseModel):
    """The dispatcher's board of a store (docs/API.md "The console")."""

    store: dict[str, Any]
    now: datetime
    plan_id: str | None
    plan_time: datetime | None
    dispatched_at: datetime | None
    last_event_id: int = Field(description="stream the store's events after this id to stay current")
    riders: list[dict[str, Any]]
    routes: list[dict[str, Any]]
    orders: list[dict[str, Any]]
    unassigned: list[dict[str, Any]]
    at_risk: list[dict[str, Any]]
    kpis: dict[str, Any]


class StaffingRunning(BaseModel):
    """A staffing job still running: ask the same URL again after Retry-After."""

    status: Literal["running"]
    job: str
    started_at: datetime
    running_s: float
    retry_after_s: int
    time_limit_s: float
