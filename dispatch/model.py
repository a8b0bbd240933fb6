"""Frozen value objects of a dispatch problem.

Inside the core every time is integer seconds from the plan epoch (`plan_time`), every
distance metres, every speed metres per second. Documents are converted once, at the edge
(`dispatch.documents`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from datetime import datetime, timedelta
from typing import Literal

import numpy as np

DEFAULT_SERVICE_RADIUS_M = 3000.0
DEFAULT_PROMISE_S = 3600
# Rider-seconds charged for planning an order on another rider than the one it was given: the
# service's re-plans and the simulator share it (measured: docs/SOLVER_NOTES.md, "DEFAULT_REASSIGN_COST").
DEFAULT_REASSIGN_COST = 300
Lateness = Literal["soft", "hard"]
# What a shift end bounds: the whole route ("route": the rider is back, done, by then) or only
# the pickups ("pickups": gig couriers take nothing new after it but deliver what is on board).
ShiftEndRule = Literal["route", "pickups"]


@dataclass(frozen=True, slots=True)
class Location:
    """A WGS84 point in decimal degrees."""

    lat: float
    lon: float


@dataclass(frozen=True, slots=True)
class ThirdParty:
    """A third-party courier platform a store may send an order to, for a fee (money units)."""

    fee_per_order: float
    fee_per_extra_km: float = 0.0  # per road km from the store to the door beyond `included_km`
    included_km: float = 0.0
    arrival_s: int = 600  # from the plan's time until its courier is at the store
    speed_mps: float = 4.5  # its courier's speed (haversine travel; a matrix's times are used as they are)
    orders_per_courier: int = 1  # how many orders one courier carries on one trip
    fee_per_added_order: float | None = None  # each order after a courier's first; None: fee_per_order

    def order_fee(self, position: int, distance_m: float) -> float:
        """The fee of the order a courier drops off `position`-th (0 first), `distance_m` road
        metres from the store, to the cent."""
        base = self.fee_per_order if position == 0 or self.fee_per_added_order is None else self.fee_per_added_order
        return round(base + self.fee_per_extra_km * max(0.0, distance_m / 1000.0 - self.included_km), 2)


@dataclass(frozen=True, slots=True)
class Store:
    """A store that packs orders; its riders pick them up there."""

    id: str
    location: Location
    service_radius_m: float = DEFAULT_SERVICE_RADIUS_M
    geofence: dict | None = None  # GeoJSON Polygon / MultiPolygon, lon-lat order
    pickup_service_s: int = 60
    third_party: ThirdParty | None = None


@dataclass(frozen=True, slots=True)
class Zone:
    """Where a rider may deliver: H3 cells (any resolutions), or a GeoJSON (Multi)Polygon."""

    cells: frozenset[str] = frozenset()
    polygon: dict | None = None


@dataclass(frozen=True, slots=True)
class Rider:
    """A rider: where it is now, when it can start, what it can carry, what it already carries."""

    id: str
    location: Location
    available_at_s: int
    shift_end_s: int | None
    capacity_items: int
    max_orders: int
    speed_mps: float
    carrying: tuple[str, ...] = ()
    store_id: str | None = None  # home store: where a closed route returns
    heading_to: str | None = None  # a carried order being ridden to now: its drop-off stays first
    shift_end_rule: ShiftEndRule = "route"
    zone: Zone | None = None  # where it may deliver (None: anywhere)


@dataclass(frozen=True, slots=True)
class Order:
    """A customer order, packed at `store_id` and delivered to `dropoff`."""

    id: str
    store_id: str
    dropoff: Location
    created_at_s: int
    ready_at_s: int
    promised_at_s: int
    items: int
    dropoff_service_s: int
    priority: int = 1
    max_ride_s: int | None = None  # freshness: pickup departure to door
    # A scheduled order: the customer takes it no earlier than this (the rider waits).
    deliver_after_s: int | None = None
    # The latest the drop-off may start: past it the order is not worth delivering (the
    # customer has given up); an order that cannot make it is left out with a reason.
    deadline_s: int | None = None
    # The rider it is assigned to in the plan being followed; moving it costs `reassign_cost`.
    assigned_rider_id: str | None = None
    committed: bool = False  # stays with assigned_rider_id (or is left out, with its reason)


@dataclass(frozen=True, slots=True, eq=False)
class MatrixTravel:
    """Caller-supplied road times (and optionally distances) between listed points."""

    locations: tuple[Location, ...]
    durations_s: np.ndarray  # (n, n) int64 seconds, used as-is for every rider
    distances_m: np.ndarray | None = None  # (n, n) float metres


def _midnight_later(midnight_s: int, later_s: int) -> int:
    """A local midnight (<= 0, plan-epoch seconds) seen from a plan epoch `later_s` seconds later:
    the last one at or before it (periods of the local day repeat daily)."""
    midnight = (midnight_s - later_s) % 86_400
    return midnight - 86_400 if midnight > 0 else 0


@dataclass(frozen=True, eq=False)
class SpeedProfile:
    """Speed factors by period of the local day: a rider rides at speed x the factor of the
    period it is in, crossing periods as it rides (Ichoua, Gendreau and Potvin 2003)."""

    period_s: int  # a period's length; periods count from local midnight and repeat daily
    factors: tuple[float, ...]  # one per period of the day: 86400 / period_s of them
    midnight_s: int  # the local midnight at or before plan_time, in plan-epoch seconds (<= 0)

    @cached_property
    def factor_array(self) -> np.ndarray:
        """The factors as a float64 array (what the compiled kernels read)."""
        return np.asarray(self.factors, dtype=np.float64)

    def factor_at(self, t_s: float) -> float:
        """The factor of the period holding plan-epoch second `t_s`."""
        return self.factors[int((t_s - self.midnight_s) // self.period_s) % len(self.factors)]

    def rebased(self, later_s: int) -> SpeedProfile:
        """The same profile for a plan epoch `later_s` seconds later (what a re-plan needs)."""
        return SpeedProfile(self.period_s, self.factors, _midnight_later(self.midnight_s, later_s))


@dataclass(frozen=True, eq=False)
class Uncertainty:
    """How real rides and services scatter around the plan's: each real duration is lognormal
    with mean the planned seconds and a coefficient of variation (CV) by period of the local day
    for rides, one CV for services (stop times at stores and doors)."""

    ride_cv: tuple[float, ...]  # one per period of the day: 86400 / period_s of them
    service_cv: float
    period_s: int  # a period's length; periods count from local midnight and repeat daily
    midnight_s: int  # the local midnight at or before plan_time, in plan-epoch seconds (<= 0)

    @property
    def is_certain(self) -> bool:
        """Whether every duration is exactly the planned one (every CV is 0)."""
        return self.service_cv == 0 and not any(self.ride_cv)

    @cached_property
    def ride_cv_array(self) -> np.ndarray:
        """The rides' CVs as a float64 array, one per period."""
        return np.asarray(self.ride_cv, dtype=np.float64)

    def ride_cv_at(self, t_s: np.ndarray | float) -> np.ndarray | float:
        """The CV of a ride leaving at plan-epoch second(s) `t_s`."""
        index = np.floor((np.asarray(t_s, dtype=np.float64) - self.midnight_s) / self.period_s).astype(np.int64)
        return self.ride_cv_array[index % len(self.ride_cv)]

    def rebased(self, later_s: int) -> Uncertainty:
        """The same uncertainty for a plan epoch `later_s` seconds later (what a re-plan needs)."""
        return Uncertainty(self.ride_cv, self.service_cv, self.period_s, _midnight_later(self.midnight_s, later_s))


@dataclass(frozen=True, slots=True, eq=False)
class TravelOptions:
    """How travel is computed: `haversine` (great circle x detour / speed) or `matrix`, at
    speeds that change through the day when a `speed_profile` is given."""

    model: Literal["haversine", "matrix"] = "haversine"
    detour_factor: float = 1.3
    matrix: MatrixTravel | None = None
    speed_profile: SpeedProfile | None = None
    # How real durations scatter around the planned ones (ETA ranges, the simulator's noise);
    # None: exactly as planned.
    uncertainty: Uncertainty | None = None

    def rebased(self, later_s: int) -> TravelOptions:
        """The same travel for a plan epoch `later_s` seconds later: the profile's and the
        uncertainty's periods keep to the local day."""
        if later_s == 0 or (self.speed_profile is None and self.uncertainty is None):
            return self
        return TravelOptions(
            self.model, self.detour_factor, self.matrix,
            None if self.speed_profile is None else self.speed_profile.rebased(later_s),
            None if self.uncertainty is None else self.uncertainty.rebased(later_s),
        )


@dataclass(frozen=True, slots=True)
class Options:
    """Solve options; every weight is in rider-seconds of cost."""

    time_limit_s: float = 1.0
    lateness: Lateness = "soft"
    return_to_store: bool = False
    travel: TravelOptions = field(default_factory=TravelOptions)
    seed: int = 0
    # A work limit instead of the clock: local-search solutions accepted. Reproducible.
    max_iterations: int | None = None
    travel_cost_per_s: int = 1
    late_cost_per_s: int = 100
    unassigned_cost: int = 10_000_000  # per priority unit; more than any lateness
    reassign_cost: int = DEFAULT_REASSIGN_COST  # per order planned on another rider than its assigned_rider_id
    # The customer's clock: per second from created_at to the drop-off, for every order (per
    # priority unit), so that an earlier door is worth something once a promise is kept.
    click_to_door_cost_per_s: int = 0
    # Lateness that grows with how late: past promised_at + late_steep_after_s, this much more
    # per second (per priority unit), so that an order already late is not left to rot.
    late_steep_after_s: int = 0
    late_steep_cost_per_s: int = 0
    # Once per order delivered after its promise (per priority unit): a broken promise counts
    # whatever how late, so the plan breaks as few as it can.
    late_fixed_cost: int = 0
    # What a rider-hour costs in the money of third-party fees: a fee of f costs
    # f * 3600 / rider_cost_per_hour rider-seconds (times travel_cost_per_s, at least 1).
    rider_cost_per_hour: float | None = None
    # Under a speed profile OR-Tools sees static estimates of the legs (its transits are static)
    # and its plan is re-timed exactly before it is kept; off, as measured (SOLVER_NOTES,
    # "ortools_with_profile"). Not a document field: a switch for tests and research.
    ortools_with_profile: bool = False

    @property
    def prices_time(self) -> bool:
        """Whether the objective prices drop-off times beyond plain lateness (then every
        insertion prices the delay it causes to the drop-offs after it)."""
        return self.click_to_door_cost_per_s > 0 or self.late_steep_cost_per_s > 0 or self.late_fixed_cost > 0


@dataclass(frozen=True, eq=False)
class Problem:
    """A validated dispatch problem. Build it with `dispatch.documents.problem_from_document`."""

    plan_time: datetime
    stores: tuple[Store, ...]
    riders: tuple[Rider, ...]
    orders: tuple[Order, ...]
    options: Options = field(default_factory=Options)
    # Re-dispatch warm start: (rider id, stops) of the routes being followed, each stop
    # ("pickup", order ids) or ("dropoff", (order id,)). A hint: stale entries are skipped.
    initial_routes: tuple[tuple[str, tuple[tuple[str, tuple[str, ...]], ...]], ...] = ()

    def at(self, seconds: int | float) -> datetime:
        """The wall-clock time `seconds` after the plan epoch, in the plan's UTC offset."""
        return self.plan_time + timedelta(seconds=float(seconds))

    def store(self, store_id: str) -> Store | None:
        """The store with this id, or None."""
        return self.store_index.get(store_id)

    @cached_property
    def store_index(self) -> dict[str, Store]:
        """Stores by id."""
        return {s.id: s for s in self.stores}

    @cached_property
    def order_index(self) -> dict[str, Order]:
        """Orders by id."""
        return {o.id: o for o in self.orders}

    @cached_property
    def rider_index(self) -> dict[str, Rider]:
        """Riders by id."""
        return {r.id: r for r in self.riders}

    @cached_property
    def carrier_of(self) -> dict[str, str]:
        """For each carried order id, the id of the rider who carries it."""
        return {oid: r.id for r in self.riders for oid in r.carrying}
