"""Staffing by the slot: how many riders each half hour needs, and the shifts that cover them.

From an order history (day scenarios: a contract problem document per day), the demand per
slot of the day, the riders each slot needs for a target on-time rate, and shifts within the
length limits covering those needs with the fewest rider-hours.

The needs are found by simulating the rolling dispatcher, not by a rule of thumb: a workload
profile (the rider-seconds each order takes alone, spread from its `ready_at` to its promise)
gives each slot's shape; a scale on that shape is searched by bisection, each candidate's
needs turned into shifts by the covering programme (`dispatch.solver.shift_cover`) and the
history's days simulated with those riders; then slots that keep their promises with room to
spare give a rider to slots that do not, while the whole history stays on target.

Riders of a store (`store_id`) are staffed per store; a city's shared couriers as one pool,
each scheduled rider starting at the restaurant with most orders at the start of its shift.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np

from dispatch.documents import problem_from_document
from dispatch.errors import InvalidProblem
from dispatch.live.simulate import SimOptions, live_options, simulate
from dispatch.model import Problem
from dispatch.solver.shift_cover import cover_shifts
from dispatch.travel import LegMeter

# Rider fields a scheduled rider takes from the history's riders (the first of its group).
TEMPLATE_FIELDS = ("capacity_items", "max_orders", "speed_mps", "shift_end_rule")
DEFAULT_SPEED_MPS = 4.5
# Bisection on the workload scale: the bracket's ends, and how close they get before stopping.
SCALE_RANGE = (0.15, 4.0)
SCALE_TOLERANCE = 0.08
# A slot gives up a rider only when its orders beat the target by this much (and have some to spare).
SPARE_MARGIN = 0.03


@dataclass(frozen=True)
class StaffingOptions:
    """What to staff for, and how hard to search."""

    target: float = 0.95  # on-time rate over the history's orders
    # And, when set, the history's mean click-to-door (seconds, over delivered orders) at most this.
    max_click_to_door_mean_s: float | None = None
    slot_s: int = 1800
    min_shift_s: int = 2 * 3600
    max_shift_s: int = 8 * 3600
    bisection_steps: int = 5  # simulations of the history spent on the scale
    balance_rounds: int = 2  # then rounds moving riders from slots with spare to slots short
    cover_time_limit_s: float = 10.0
    sim: SimOptions | None = None  # the dispatcher's settings (None: the measured defaults of the day's kind)

    def check(self) -> None:
        """Raise ValueError naming the option that is out of range."""
        if not 0.0 < self.target <= 1.0:
            raise ValueError(f"target must be in (0, 1], not {self.target}")
        if self.max_click_to_door_mean_s is not None and not 0 < self.max_click_to_door_mean_s <= 86400:
            raise ValueError(f"max click-to-door mean must be in (0, 24 h], not {self.max_click_to_door_mean_s} s")
        if self.slot_s < 300 or 86400 % self.slot_s:
            raise ValueError(f"slot must be at least 5 min and divide the day, not {self.slot_s} s")
        if self.min_shift_s % self.slot_s or self.max_shift_s % self.slot_s:
            raise ValueError("min-shift and max-shift must be whole numbers of slots")
        if not self.slot_s <= self.min_shift_s <= self.max_shift_s <= 86400:
            raise ValueError("shift lengths must satisfy slot <= min-shift <= max-shift <= 24 h")


@dataclass
class Trial:
    """One candidate schedule and how the history fared with it."""

    needs: list[int]
    scheduled: list[int]
    riders: list[dict]
    rider_hours: float
    on_time_rate: float
    per_slot_rate: list[float | None]
    metrics: list[dict]  # per day, the simulator's metrics

    @property
    def click_to_door_mean_s(self) -> float:
        """The history's mean click-to-door over its delivered orders."""
        delivered = sum(m["delivered"] for m in self.metrics)
        return sum(m["click_to_door_mean_s"] * m["delivered"] for m in self.metrics) / delivered if delivered else 0.0

    def meets(self, options: "StaffingOptions") -> bool:
        """Whether the history kept the on-time target (and the click-to-door bound, if any)."""
        bound = options.max_click_to_door_mean_s
        return self.on_time_rate >= options.target and (bound is None or self.click_to_door_mean_s <= bound)


@dataclass
class GroupStaffing:
    """The staffing of one group of riders (a store's own, or a city's shared pool)."""

    store_id: str | None
    first_slot: int  # slot index of the day of `demand[0]`
    demand: list[float]  # orders created per slot, mean over the days
    best: Trial
    trials: list[Trial] = field(default_factory=list)
    optimal_cover: bool = True


@dataclass
class Staffing:
    """The staffing of every group of a history, with what the days' simulations gave."""

    options: StaffingOptions
    days: int
    groups: list[GroupStaffing]
    day_start: datetime  # midnight of the first day (slot 0 starts here)

    def riders(self) -> list[dict]:
        """Every scheduled rider (contract rider documents) on the first day of the history."""
        return [r for g in self.groups for r in g.best.riders]

    def table(self) -> list[dict]:
        """One row per slot and group: time, demand, riders needed, scheduled, on-time rate."""
        rows = []
        for g in self.groups:
            for i, demand in enumerate(g.demand):
                start = self.day_start + timedelta(seconds=(g.first_slot + i) * self.options.slot_s)
                rate = g.best.per_slot_rate[i]
                rows.append({
                    "store_id": g.store_id, "slot_start": start.isoformat(timespec="minutes"),
                    "orders": round(demand, 2), "riders_needed": g.best.needs[i],
                    "riders_scheduled": g.best.scheduled[i],
                    "on_time_rate": None if rate is None else round(rate, 4),
                })
        return rows

    def summary(self) -> dict:
        """The schedule's totals and the simulated service of the history with it."""
        metrics = [m for g in self.groups for m in g.best.metrics]
        delivered = sum(m["delivered"] for m in metrics)
        orders = sum(m["orders"] for m in metrics)
        on_time = sum(m["on_time_rate"] * m["orders"] for m in metrics)
        over = sum(m["share_ctd_over_target_of_delivered"] * m["delivered"] for m in metrics)
        ctd = sum(m["click_to_door_mean_s"] * m["delivered"] for m in metrics)
        return {
            "target": self.options.target,
            "days": self.days,
            "riders": len(self.riders()),
            "rider_hours_per_day": round(sum(g.best.rider_hours for g in self.groups), 2),
            "orders": orders,
            "delivered": delivered,
            "on_time_rate": round(on_time / orders, 4) if orders else 1.0,
            "share_late_of_delivered": round(over / delivered, 4) if delivered else 0.0,
            "click_to_door_mean_min": round(ctd / delivered / 60, 2) if delivered else 0.0,
            "simulations": sum(len(g.trials) for g in self.groups) * self.days,
            "target_met": all(g.best.meets(self.options) for g in self.groups),
            "optimal_cover": all(g.optimal_cover for g in self.groups),
        }

    def to_document(self) -> dict:
        """The staffing as JSON: options, summary, the slot table and the riders."""
        o = self.options
        return {
            "options": {"target": o.target, "max_click_to_door_mean_s": o.max_click_to_door_mean_s, "slot_s": o.slot_s,
                        "min_shift_s": o.min_shift_s, "max_shift_s": o.max_shift_s},
            "summary": self.summary(),
            "slots": self.table(),
            "riders": self.riders(),
        }


def _midnight(problem: Problem) -> datetime:
    return problem.plan_time.replace(hour=0, minute=0, second=0, microsecond=0)


class _Day:
    """One day of the history for one group: the scenario (riders removed), parsed once."""

    def __init__(self, scenario: dict, problem: Problem):
        self.scenario = scenario
        self.problem = problem
        self.midnight = _midnight(problem)
        self.offset_s = int((problem.plan_time - self.midnight).total_seconds())

    def slot_of(self, seconds: int, slot_s: int) -> int:
        """Slot index of the day of a time given in seconds from the plan time."""
        return (self.offset_s + seconds) // slot_s


def _groups(scenario: dict) -> dict[str | None, dict]:
    """The scenario split by rider group: each store's own riders, or one shared pool."""
    riders = scenario.get("riders") or []
    if not riders or all(not r.get("store_id") for r in riders):
        return {None: scenario}
    out = {}
    for store in scenario.get("stores") or []:
        orders = [o for o in scenario.get("orders") or [] if o["store_id"] == store["id"]]
        own = [r for r in riders if r.get("store_id") == store["id"]]
        if orders:
            out[store["id"]] = {**scenario, "stores": [store], "orders": orders, "riders": own}
    return out


def _template(scenario: dict, store_id: str | None) -> dict:
    """The fields a scheduled rider copies from the group's first rider (defaults without one)."""
    riders = scenario.get("riders") or []
    base = {k: riders[0][k] for k in TEMPLATE_FIELDS if riders and k in riders[0]}
    base.setdefault("speed_mps", DEFAULT_SPEED_MPS)
    if store_id is not None:
        base["store_id"] = store_id
    return base


def _workload(day: _Day, slot_s: int, speed_mps: float) -> dict[int, float]:
    """Rider-seconds per slot if each order went alone: to the door and back, spread evenly from
    its ready time to its promise (the shape of the needs, not their size)."""
    p = day.problem
    meter = LegMeter(p.options.travel)
    out: dict[int, float] = {}
    for o in p.orders:
        store = p.store(o.store_id)
        if store is None:
            continue
        # Leaving once it is ready and picked up: under a speed profile the ride depends on when.
        ride = meter.travel_s(store.location, o.dropoff, speed_mps, o.ready_at_s + store.pickup_service_s)
        busy = store.pickup_service_s + o.dropoff_service_s + 2 * ride
        start, end = o.ready_at_s, max(o.promised_at_s, o.ready_at_s + 1)
        first, last = day.slot_of(start, slot_s), day.slot_of(end - 1, slot_s)
        for t in range(first, last + 1):
            lo = max(start, (t * slot_s) - day.offset_s)
            hi = min(end, ((t + 1) * slot_s) - day.offset_s)
            out[t] = out.get(t, 0.0) + busy * max(0, hi - lo) / (end - start)
    return out


def _start_points(days: list[_Day], slot_s: int) -> dict[int, list[dict]]:
    """Per slot, store locations by how many orders they get in that slot and the next hour."""
    count: dict[int, dict[str, int]] = {}
    where: dict[str, dict] = {}
    for day in days:
        for o in day.problem.orders:
            store = day.problem.store(o.store_id)
            if store is None:
                continue
            where[store.id] = {"lat": store.location.lat, "lon": store.location.lon}
            t = day.slot_of(o.created_at_s, slot_s)
            for u in range(t - max(1, 3600 // slot_s) + 1, t + 1):
                count.setdefault(u, {})[store.id] = count.setdefault(u, {}).get(store.id, 0) + 1
    return {t: [where[s] for s, _ in sorted(c.items(), key=lambda kv: (-kv[1], kv[0]))] for t, c in count.items()}


class _GroupSearch:
    """The simulation-driven search for one group of riders."""

    def __init__(self, store_id: str | None, days: list[_Day], options: StaffingOptions, template: dict):
        self.store_id = store_id
        self.days = days
        self.options = options
        self.template = template
        slot_s = options.slot_s
        work: dict[int, float] = {}
        demand: dict[int, float] = {}
        for day in days:
            for t, w in _workload(day, slot_s, float(template["speed_mps"])).items():
                work[t] = work.get(t, 0.0) + w / len(days)
            for o in day.problem.orders:
                t = day.slot_of(o.created_at_s, slot_s)
                demand[t] = demand.get(t, 0.0) + 1.0 / len(days)
        if not work:
            raise InvalidProblem.one("orders", "the history has no orders to staff for")
        self.first = min(min(work), min(demand))
        self.n_slots = max(max(work), max(demand)) - self.first + 1
        self.busy = np.array([work.get(self.first + i, 0.0) / slot_s for i in range(self.n_slots)])
        self.demand = [demand.get(self.first + i, 0.0) for i in range(self.n_slots)]
        self.starts = _start_points(days, slot_s) if store_id is None else {}
        self.trials: list[Trial] = []
        self.optimal = True

    def needs_at(self, scale: float) -> list[int]:
        """Needs proportional to the workload (at least one rider while any order is open)."""
        return [max(1, math.ceil(scale * b - 1e-9)) if b > 0 else 0 for b in self.busy]

    def riders_for(self, needs: list[int]) -> tuple[list[int], list[dict]]:
        """The covering shifts of `needs` as rider documents on the first day of the history."""
        o = self.options
        cover = cover_shifts(needs, o.min_shift_s // o.slot_s, o.max_shift_s // o.slot_s, o.cover_time_limit_s)
        self.optimal = self.optimal and cover.optimal
        day = self.days[0]
        riders = []
        for start, length, count in cover.shifts:
            slot = self.first + start
            begin = day.midnight + timedelta(seconds=slot * o.slot_s)
            points = self.starts.get(slot) or [None]
            for j in range(count):
                rider = {"id": self._rider_id(len(riders)), **self.template}
                if self.store_id is not None:
                    home = day.problem.store(self.store_id).location
                    rider["location"] = {"lat": home.lat, "lon": home.lon}
                else:
                    rider["location"] = points[j % len(points)] or self._any_store(day)
                rider["available_at"] = begin.isoformat(timespec="seconds")
                rider["shift_end"] = (begin + timedelta(seconds=length * o.slot_s)).isoformat(timespec="seconds")
                riders.append(rider)
        return list(cover.scheduled), riders

    def _rider_id(self, k: int) -> str:
        return f"{self.store_id}-staff-{k + 1:03d}" if self.store_id else f"staff-{k + 1:03d}"

    @staticmethod
    def _any_store(day: _Day) -> dict:
        s = day.problem.stores[0].location
        return {"lat": s.lat, "lon": s.lon}

    def trial(self, needs: list[int]) -> Trial:
        """Schedule `needs`, simulate every day of the history with those riders, tally."""
        scheduled, riders = self.riders_for(needs)
        hours = sum(
            (datetime.fromisoformat(r["shift_end"]) - datetime.fromisoformat(r["available_at"])).total_seconds()
            for r in riders
        ) / 3600
        on_time = np.zeros(self.n_slots)
        count = np.zeros(self.n_slots)
        metrics = []
        for day in self.days:
            shifted = [_on_day(r, day.midnight - self.days[0].midnight) for r in riders]
            scenario = {**day.scenario, "riders": shifted}
            sim = self.options.sim or live_options(scenario)
            result = simulate(scenario, replace(sim, riders=None))
            metrics.append(result.metrics)
            promised = {o.id: o for o in day.problem.orders}
            for row in result.orders:
                o = promised[row["order_id"]]
                i = day.slot_of(o.created_at_s, self.options.slot_s) - self.first
                count[i] += 1
                if row["late_s"] == 0:
                    on_time[i] += 1
        total = float(count.sum())
        rate = float(on_time.sum() / total) if total else 1.0
        per_slot = [float(on_time[i] / count[i]) if count[i] else None for i in range(self.n_slots)]
        t = Trial(list(needs), scheduled, riders, round(hours, 2), rate, per_slot, metrics)
        self.trials.append(t)
        return t

    def search(self) -> GroupStaffing:
        """Bisection on the workload's scale, then balancing rounds; the cheapest trial on target."""
        o = self.options
        lo, hi = SCALE_RANGE
        best: Trial | None = None
        scale = 1.0
        for _ in range(o.bisection_steps):
            t = self.trial(self.needs_at(scale))
            if t.meets(o):
                best = t if best is None or t.rider_hours <= best.rider_hours else best
                hi = scale
            else:
                lo = scale
            if hi / lo < 1 + SCALE_TOLERANCE:
                break
            scale = math.sqrt(lo * hi) if hi < SCALE_RANGE[1] else min(hi, 2 * scale)
        if best is None:  # nothing reached the target: the schedule that came closest
            best = max(self.trials, key=lambda t: self._closeness(t))
        tried = {tuple(t.needs) for t in self.trials}
        base = best
        for _ in range(o.balance_rounds):
            needs = self._balanced(base, give_back=base.meets(o))
            if tuple(needs) in tried:
                break
            tried.add(tuple(needs))
            base = self.trial(needs)
            if base.meets(o) and base.rider_hours <= best.rider_hours:
                best = base
        return GroupStaffing(self.store_id, self.first, self.demand, best, self.trials, self.optimal)

    def _closeness(self, t: Trial) -> tuple:
        """How close a trial came to the target, larger is closer: the on-time target kept first,
        then the least click-to-door over its bound, the higher on-time rate, the fewer hours."""
        bound = self.options.max_click_to_door_mean_s
        over = 0.0 if bound is None else max(0.0, t.click_to_door_mean_s - bound)
        return (t.on_time_rate >= self.options.target, -over, t.on_time_rate, -t.rider_hours)

    def _balanced(self, t: Trial, give_back: bool) -> list[int]:
        """One rider more in slots below the target; with `give_back`, one fewer in slots beating
        it with room."""
        target = self.options.target
        needs = list(t.needs)
        for i, rate in enumerate(t.per_slot_rate):
            if rate is None:
                continue
            if rate < target:
                needs[i] += 1
            elif give_back and rate >= min(1.0, target + SPARE_MARGIN) and needs[i] > 1:
                needs[i] -= 1
        return needs


def _on_day(rider: dict, shift: timedelta) -> dict:
    """A scheduled rider moved by `shift` (to another day of the history)."""
    if not shift:
        return rider
    out = dict(rider)
    for key in ("available_at", "shift_end"):
        out[key] = (datetime.fromisoformat(rider[key]) + shift).isoformat(timespec="seconds")
    return out


def staff(history: list[dict], options: StaffingOptions = StaffingOptions()) -> Staffing:
    """Staff the history's days (day scenarios): per slot, demand, riders needed, shifts."""
    options.check()
    if not history:
        raise InvalidProblem.one("history", "no day scenario given")
    per_group: dict[str | None, list[_Day]] = {}
    templates: dict[str | None, dict] = {}
    for k, scenario in enumerate(history):
        for store_id, part in _groups(scenario).items():
            bare = {**part, "riders": []}
            per_group.setdefault(store_id, []).append(_Day(bare, problem_from_document(bare)))
            templates.setdefault(store_id, _template(part, store_id))
    groups = [
        _GroupSearch(store_id, days, options, templates[store_id]).search() for store_id, days in per_group.items()
    ]
    first = problem_from_document({**history[0], "riders": []})
    return Staffing(options, len(history), groups, _midnight(first))


CSV_REQUIRED = ("id", "store_id", "store_lat", "store_lon", "created_at", "dropoff_lat", "dropoff_lon")
CSV_OPTIONAL = ("ready_at", "promised_at", "items", "dropoff_service_s")


def history_from_csv(text: str) -> list[dict]:
    """A plain CSV of orders (one per line: id, store_id, store_lat, store_lon, created_at,
    dropoff_lat, dropoff_lon; optionally ready_at, promised_at, items, dropoff_service_s) as day
    scenarios, one per calendar day of `created_at`, without riders."""
    reader = csv.DictReader(io.StringIO(text))
    missing = [c for c in CSV_REQUIRED if c not in (reader.fieldnames or [])]
    if missing:
        raise InvalidProblem.one("csv", f"missing columns: {', '.join(missing)} (needed: {', '.join(CSV_REQUIRED)})")
    days: dict[str, dict] = {}
    for line, row in enumerate(reader, start=2):
        try:
            created = datetime.fromisoformat(row["created_at"])
            store = {"id": row["store_id"], "location": {"lat": float(row["store_lat"]), "lon": float(row["store_lon"])}}
            order = {
                "id": row["id"], "store_id": row["store_id"], "created_at": row["created_at"],
                "dropoff": {"lat": float(row["dropoff_lat"]), "lon": float(row["dropoff_lon"])},
            }
            for key in CSV_OPTIONAL:
                if row.get(key):
                    order[key] = int(row[key]) if key in ("items", "dropoff_service_s") else row[key]
        except (TypeError, ValueError) as exc:
            raise InvalidProblem.one(f"csv line {line}", f"cannot read the row: {exc}", row.get("id")) from None
        if created.tzinfo is None:
            raise InvalidProblem.one(f"csv line {line}.created_at", "a time needs its UTC offset", row.get("id"))
        day = days.setdefault(created.date().isoformat(), {"plan_time": row["created_at"], "stores": {}, "riders": [], "orders": []})
        day["plan_time"] = min(day["plan_time"], row["created_at"], key=datetime.fromisoformat)
        day["stores"].setdefault(store["id"], store)
        day["orders"].append(order)
    if not days:
        raise InvalidProblem.one("csv", "no orders in the file")
    out = []
    for _, day in sorted(days.items()):
        day["stores"] = list(day["stores"].values())
        day["orders"].sort(key=lambda o: datetime.fromisoformat(o["created_at"]))
        problem_from_document(day)  # every field checked now, with the order named
        out.append(day)
    return out


def plot_staffing(staffing: Staffing, path: str | Path) -> Path:
    """Demand, riders needed and riders scheduled per slot (one panel per group) as a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    n = len(staffing.groups)
    fig, axes = plt.subplots(n, 1, figsize=(10, 3.2 * n + 0.6), squeeze=False)
    slot_h = staffing.options.slot_s / 3600
    for ax, g in zip(axes[:, 0], staffing.groups):
        hours = [(g.first_slot + i) * slot_h for i in range(len(g.demand))]
        ax.bar(hours, g.demand, width=slot_h * 0.9, align="edge", color="tab:gray", alpha=0.45, label="orders per slot")
        ax.set_ylabel("orders")
        twin = ax.twinx()
        edges = hours + [hours[-1] + slot_h]
        twin.stairs(g.best.needs, edges, color="tab:red", linewidth=2, label="riders needed")
        twin.stairs(g.best.scheduled, edges, color="tab:blue", linewidth=1.5, linestyle="--", label="riders scheduled")
        twin.set_ylabel("riders")
        bound = staffing.options.max_click_to_door_mean_s
        ctd = "" if bound is None else (f", click-to-door {g.best.click_to_door_mean_s / 60:.1f} min "
                                        f"(at most {bound / 60:.1f})")
        ax.set_title(f"{g.store_id or 'shared couriers'}: {g.best.rider_hours:.1f} rider-hours, "
                     f"{g.best.on_time_rate:.1%} on time (target {staffing.options.target:.0%}){ctd}", fontsize=10)
        ax.set_xlabel("hour of the day")
        lines = ax.get_legend_handles_labels()
        more = twin.get_legend_handles_labels()
        ax.legend(lines[0] + more[0], lines[1] + more[1], fontsize=8, loc="upper left")
        ax.grid(True, alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
