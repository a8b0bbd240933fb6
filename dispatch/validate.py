"""The independent judge of a plan: recompute every time, load and promise from the rules.

It reads the problem and the plan and nothing of the solver: travel comes from the travel
model one leg at a time, times from the contract's rules (a pickup starts at the later of
arrival and the orders' ready times and costs the store's pickup service once; a drop-off
starts on arrival, or at a scheduled order's deliver_after if later). It reports violations by cause, like VROOM's "check" mode.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from dispatch.geofence import store_area
from dispatch.model import Location, Problem
from dispatch.plan import REASONS, Plan, plan_from_document
from dispatch.travel import LegMeter, great_circle_m
from dispatch.zones import zone_contains

TIME_TOLERANCE_S = 1  # times in documents are whole seconds
PLACE_TOLERANCE_M = 1.0
DISTANCE_TOLERANCE_M = 1.0
FEE_TOLERANCE = 0.005  # fees are stated to the cent


@dataclass(frozen=True, slots=True)
class Violation:
    """One broken rule: a cause code, a sentence, and the rider or order concerned."""

    cause: str
    detail: str
    rider_id: str | None = None
    order_id: str | None = None


def violations_by_cause(violations: list[Violation]) -> dict[str, list[Violation]]:
    """Group violations by cause, in first-seen order."""
    out: dict[str, list[Violation]] = {}
    for v in violations:
        out.setdefault(v.cause, []).append(v)
    return out


def validate_plan(problem: Problem, plan: Plan | dict) -> list[Violation]:
    """Every rule the plan breaks for this problem (an empty list means the plan is valid)."""
    if isinstance(plan, dict):
        plan = plan_from_document(plan, problem.plan_time)
    out: list[Violation] = []
    orders = problem.order_index
    riders = problem.rider_index
    stores = problem.store_index
    carrier = problem.carrier_of
    meter = LegMeter(problem.options.travel)
    areas = {s.id: store_area(s) for s in problem.stores}
    hard = problem.options.lateness == "hard"

    seen: Counter[str] = Counter()
    for u in plan.unassigned:
        seen[u.order_id] += 1
        if u.order_id not in orders:
            out.append(Violation("unknown_order", f"unassigned order {u.order_id} is not in the problem", order_id=u.order_id))
        if u.reason not in REASONS:
            out.append(Violation("bad_reason", f"reason {u.reason!r} is not a known reason code", order_id=u.order_id))
        if not u.detail:
            out.append(Violation("bad_reason", "an unassigned order needs a detail sentence", order_id=u.order_id))
        if u.order_id in carrier:
            out.append(
                Violation("carried_not_delivered", f"order {u.order_id} is on rider {carrier[u.order_id]}'s bike but unassigned", order_id=u.order_id)
            )

    rider_seen: Counter[str] = Counter()
    on_time = late = late_total = travel_total = 0
    distance_total = 0.0
    for route in plan.routes:
        rid = route.rider_id
        rider_seen[rid] += 1
        rider = riders.get(rid)
        if rider is None:
            out.append(Violation("unknown_rider", f"route for unknown rider {rid}", rider_id=rid))
            continue
        if rider_seen[rid] > 1:
            out.append(Violation("duplicate_rider", f"rider {rid} has more than one route", rider_id=rid))
        t = rider.available_at_s
        at: Location = rider.location
        on_board = {oid for oid in rider.carrying}
        load = sum(orders[oid].items for oid in rider.carrying)
        count = len(rider.carrying)
        picked_depart: dict[str, int] = {}
        distance = 0.0
        travel = 0
        has_pickup = False
        last_store: str | None = None

        def check_times(stop, arrive: int, depart: int, what: str, rid: str = rid) -> None:
            """Report a stop whose stated times differ from the recomputed ones."""
            if abs(stop.arrive_s - arrive) > TIME_TOLERANCE_S or abs(stop.depart_s - depart) > TIME_TOLERANCE_S:
                out.append(
                    Violation(
                        "eta_mismatch",
                        f"{what}: plan says arrive {plan.at(stop.arrive_s)} depart {plan.at(stop.depart_s)}, "
                        f"the rules give {plan.at(arrive)} and {plan.at(depart)}",
                        rider_id=rid,
                    )
                )

        for stop in route.stops:
            committed = orders.get(stop.order_id) if stop.kind == "dropoff" else None
            if committed is not None and committed.committed and committed.assigned_rider_id not in (None, rid):
                out.append(
                    Violation(
                        "commitment_broken",
                        f"order {committed.id} is committed to rider {committed.assigned_rider_id}, not {rid}",
                        rider_id=rid,
                        order_id=committed.id,
                    )
                )

        if rider.heading_to is not None and rider.heading_to in rider.carrying:
            first = route.stops[0] if route.stops else None
            if first is None or first.kind != "dropoff" or first.order_id != rider.heading_to:
                out.append(
                    Violation(
                        "heading_to_not_first",
                        f"rider {rid} is riding to order {rider.heading_to} now, but its route does not start there",
                        rider_id=rid,
                        order_id=rider.heading_to,
                    )
                )

        for stop in route.stops:
            if stop.kind == "pickup":
                store = stores.get(stop.store_id or "")
                if store is None:
                    out.append(Violation("unknown_store", f"pickup at unknown store {stop.store_id}", rider_id=rid))
                    continue
                has_pickup = True
                last_store = store.id
                if great_circle_m(stop.location, store.location) > PLACE_TOLERANCE_M:
                    out.append(Violation("wrong_location", f"pickup at {store.id} is not at the store", rider_id=rid))
                if not stop.order_ids:
                    out.append(Violation("empty_pickup", f"pickup at {store.id} collects no order", rider_id=rid))
                leg = meter.travel_s(at, store.location, rider.speed_mps)
                distance += meter.distance_m(at, store.location)
                travel += leg
                arrive = t + leg
                ready = arrive
                for oid in stop.order_ids:
                    order = orders.get(oid)
                    if order is None:
                        out.append(Violation("unknown_order", f"pickup of unknown order {oid}", rider_id=rid, order_id=oid))
                        continue
                    if order.store_id != store.id:
                        out.append(Violation("wrong_store", f"order {oid} is packed at {order.store_id}, not {store.id}", rid, oid))
                    if oid in carrier:
                        out.append(Violation("pickup_of_carried", f"order {oid} is already on rider {carrier[oid]}'s bike", rid, oid))
                    if oid in on_board or oid in picked_depart:
                        out.append(Violation("duplicate_pickup", f"order {oid} is picked up twice", rid, oid))
                    ready = max(ready, order.ready_at_s)
                    on_board.add(oid)
                    load += order.items
                    count += 1
                depart = ready + store.pickup_service_s
                if rider.shift_end_rule == "pickups" and rider.shift_end_s is not None and ready > rider.shift_end_s:
                    out.append(
                        Violation(
                            "shift_end",
                            f"pickup at {store.id} starts {plan.at(ready)}, after the shift end {plan.at(rider.shift_end_s)}",
                            rid,
                        )
                    )
                for oid in stop.order_ids:
                    picked_depart[oid] = depart
                check_times(stop, arrive, depart, f"pickup at {store.id}")
                if load > rider.capacity_items:
                    out.append(Violation("capacity", f"{load} items on board leaving {store.id}, capacity {rider.capacity_items}", rid))
                if count > rider.max_orders:
                    out.append(Violation("max_orders", f"{count} orders on board leaving {store.id}, limit {rider.max_orders}", rid))
                t, at = depart, store.location
            else:
                oid = stop.order_id or ""
                order = orders.get(oid)
                seen[oid] += 1
                if order is None:
                    out.append(Violation("unknown_order", f"drop-off of unknown order {oid}", rider_id=rid, order_id=oid))
                    continue
                if great_circle_m(stop.location, order.dropoff) > PLACE_TOLERANCE_M:
                    out.append(Violation("wrong_location", f"drop-off of {oid} is not at its address", rid, oid))
                leg = meter.travel_s(at, order.dropoff, rider.speed_mps)
                distance += meter.distance_m(at, order.dropoff)
                travel += leg
                arrive = t + leg
                # A scheduled order's drop-off waits for its deliver_after time.
                start = arrive if order.deliver_after_s is None else max(arrive, order.deliver_after_s)
                depart = start + order.dropoff_service_s
                check_times(stop, arrive, depart, f"drop-off of {oid}")
                if oid not in on_board:
                    out.append(Violation("not_on_board", f"order {oid} is dropped off before it is picked up", rid, oid))
                else:
                    on_board.discard(oid)
                    load -= order.items
                    count -= 1
                late_s = max(0, start - order.promised_at_s)
                if stop.late_s != late_s:
                    out.append(Violation("late_mismatch", f"order {oid}: plan says late_s {stop.late_s}, the rules give {late_s}", rid, oid))
                if late_s > 0:
                    late += 1
                    late_total += late_s
                    if hard and oid not in carrier:
                        out.append(Violation("late", f"order {oid} arrives {late_s} s after its promise (hard promises)", rid, oid))
                else:
                    on_time += 1
                if order.deadline_s is not None and oid not in carrier and start > order.deadline_s:
                    out.append(Violation("deadline", f"order {oid} is delivered {plan.at(start)}, after its deadline "
                                                     f"{plan.at(order.deadline_s)}", rid, oid))
                if oid in picked_depart and order.max_ride_s is not None:
                    ride = start - picked_depart[oid]
                    if ride > order.max_ride_s:
                        out.append(Violation("max_ride", f"order {oid} rides {ride} s, limit {order.max_ride_s} s", rid, oid))
                if rider.zone is not None and oid not in carrier and not zone_contains(rider.zone, [order.dropoff])[0]:
                    out.append(Violation("outside_zone", f"order {oid}'s door is outside rider {rid}'s zone", rid, oid))
                if oid not in carrier:
                    if order.store_id not in areas:
                        out.append(Violation("unknown_store", f"order {oid} names unknown store {order.store_id}", rid, oid))
                    elif not areas[order.store_id].contains(order.dropoff):
                        out.append(Violation("outside_service_area", f"order {oid} is outside store {order.store_id}'s area", rid, oid))
                elif carrier[oid] != rid:
                    out.append(Violation("carried_elsewhere", f"order {oid} is on rider {carrier[oid]}'s bike", rid, oid))
                last_store = order.store_id
                t, at = depart, order.dropoff
        if on_board:
            out.append(Violation("not_delivered", f"orders {sorted(on_board)} are still on board at the end", rid))
        end = t
        if problem.options.return_to_store and route.stops:
            back = stores.get(rider.store_id or last_store or "")
            if back is not None:
                leg = meter.travel_s(at, back.location, rider.speed_mps)
                distance += meter.distance_m(at, back.location)
                travel += leg
                end = t + leg
        ends_route = rider.shift_end_rule == "route"
        if ends_route and has_pickup and rider.shift_end_s is not None and end > rider.shift_end_s:
            out.append(Violation("shift_end", f"route ends {plan.at(end)}, after the shift end {plan.at(rider.shift_end_s)}", rid))
        if abs(route.travel_s - travel) > TIME_TOLERANCE_S * max(1, len(route.stops)):
            out.append(Violation("travel_mismatch", f"route travel_s {route.travel_s}, the rules give {travel}", rid))
        if abs(route.distance_m - distance) > DISTANCE_TOLERANCE_M * max(1, len(route.stops)):
            out.append(Violation("distance_mismatch", f"route distance_m {route.distance_m:.1f}, the rules give {distance:.1f}", rid))
        if abs(route.duration_s - (end - rider.available_at_s)) > TIME_TOLERANCE_S:
            out.append(Violation("duration_mismatch", f"route duration_s {route.duration_s}, the rules give {end - rider.available_at_s}", rid))
        travel_total += travel
        distance_total += distance

    tp_violations, tp_on_time, tp_late = third_party_violations(problem, plan, meter, areas)
    out += tp_violations
    on_time += tp_on_time
    late += tp_late
    for t in plan.third_party:
        seen[t.order_id] += 1
    for oid in orders:
        if seen[oid] == 0:
            out.append(Violation("missing_order", f"order {oid} is in no route, not sent out and not unassigned", order_id=oid))
        elif seen[oid] > 1:
            out.append(Violation("duplicate_order", f"order {oid} appears {seen[oid]} times", order_id=oid))
    for rid in riders:
        if rid not in rider_seen and riders[rid].carrying:
            out.append(Violation("carried_not_delivered", f"rider {rid} carries orders but has no route", rider_id=rid))

    m = plan.metrics
    assigned = len(orders) - len({u.order_id for u in plan.unassigned if u.order_id in orders})
    expected = {
        "orders": len(orders),
        "assigned": assigned,
        "on_time": on_time,
        "late": late,
    }
    for name, value in expected.items():
        if getattr(m, name) != value:
            out.append(Violation("metrics_mismatch", f"metrics.{name} is {getattr(m, name)}, the plan holds {value}"))
    if abs(m.total_travel_s - travel_total) > TIME_TOLERANCE_S * max(1, len(plan.routes)):
        out.append(Violation("metrics_mismatch", f"metrics.total_travel_s is {m.total_travel_s}, the routes give {travel_total}"))
    if abs(m.total_distance_m - distance_total) > DISTANCE_TOLERANCE_M * max(1, len(plan.routes)):
        out.append(Violation("metrics_mismatch", f"metrics.total_distance_m is {m.total_distance_m:.1f}, the routes give {distance_total:.1f}"))
    status = "feasible" if assigned == len(orders) else ("infeasible" if assigned == 0 and orders else "partial")
    if plan.status != status:
        out.append(Violation("status_mismatch", f"status is {plan.status!r}, the plan is {status!r}"))
    return out


def third_party_violations(problem: Problem, plan: Plan, meter: LegMeter, areas: dict) -> tuple[list[Violation], int, int]:
    """The rules for orders sent to a store's third-party couriers (see `dispatch.third_party`),
    recomputed here from the travel model; also how many of them are on time and late."""
    out: list[Violation] = []
    orders, stores, carrier = problem.order_index, problem.store_index, problem.carrier_of
    on_time = late = 0
    fees = 0.0
    for t in plan.third_party:
        oid = t.order_id
        order, store = orders.get(oid), stores.get(t.store_id)
        if order is None:
            out.append(Violation("unknown_order", f"third-party order {oid} is not in the problem", order_id=oid))
            continue
        if store is None or store.third_party is None:
            out.append(Violation("no_third_party", f"order {oid} is sent to a third party that store {t.store_id} does not have", order_id=oid))
            continue
        if order.store_id != store.id:
            out.append(Violation("wrong_store", f"order {oid} is packed at {order.store_id}, not {store.id}", order_id=oid))
        if oid in carrier:
            out.append(Violation("carried_elsewhere", f"order {oid} is on rider {carrier[oid]}'s bike, not a third party's", order_id=oid))
        if order.committed:
            out.append(Violation("commitment_broken", f"order {oid} is committed to rider {order.assigned_rider_id}, not a third party", order_id=oid))
        if not areas[store.id].contains(order.dropoff):
            out.append(Violation("outside_service_area", f"order {oid} is outside store {store.id}'s area", order_id=oid))
        tp = store.third_party
        pickup = max(tp.arrival_s, order.ready_at_s)
        depart = pickup + store.pickup_service_s
        metres = meter.distance_m(store.location, order.dropoff)
        arrive = depart + meter.travel_s(store.location, order.dropoff, tp.speed_mps)
        start = arrive if order.deliver_after_s is None else max(arrive, order.deliver_after_s)
        if abs(t.pickup_s - pickup) > TIME_TOLERANCE_S or abs(t.dropoff_s - start) > TIME_TOLERANCE_S:
            out.append(Violation("eta_mismatch", f"third-party order {oid}: plan says pickup {plan.at(t.pickup_s)} drop-off "
                                                 f"{plan.at(t.dropoff_s)}, the rules give {plan.at(pickup)} and {plan.at(start)}", order_id=oid))
        late_s = max(0, start - order.promised_at_s)
        if t.late_s != late_s:
            out.append(Violation("late_mismatch", f"third-party order {oid}: plan says late_s {t.late_s}, the rules give {late_s}", order_id=oid))
        on_time += late_s == 0
        late += late_s > 0
        if late_s > 0 and problem.options.lateness == "hard":
            out.append(Violation("late", f"third-party order {oid} arrives {late_s} s after its promise (hard promises)", order_id=oid))
        if order.deadline_s is not None and start > order.deadline_s:
            out.append(Violation("deadline", f"third-party order {oid} is delivered {plan.at(start)}, after its deadline", order_id=oid))
        if order.max_ride_s is not None and start - depart > order.max_ride_s:
            out.append(Violation("max_ride", f"third-party order {oid} rides {start - depart} s, limit {order.max_ride_s} s", order_id=oid))
        if abs(t.distance_m - metres) > DISTANCE_TOLERANCE_M:
            out.append(Violation("distance_mismatch", f"third-party order {oid}: distance_m {t.distance_m:.1f}, the rules give {metres:.1f}", order_id=oid))
        fee = round(tp.fee_per_order + tp.fee_per_extra_km * max(0.0, metres / 1000.0 - tp.included_km), 2)
        fees += fee
        if abs(t.fee - fee) > FEE_TOLERANCE:
            out.append(Violation("fee_mismatch", f"third-party order {oid}: fee {t.fee:.2f}, the store's terms give {fee:.2f}", order_id=oid))
    m = plan.metrics
    if m.third_party != len(plan.third_party):
        out.append(Violation("metrics_mismatch", f"metrics.third_party is {m.third_party}, the plan sends out {len(plan.third_party)}"))
    if abs(m.third_party_fees - fees) > FEE_TOLERANCE * max(1, len(plan.third_party)):
        out.append(Violation("metrics_mismatch", f"metrics.third_party_fees is {m.third_party_fees:.2f}, the store's terms give {fees:.2f}"))
    return out, on_time, late


# Reasons for orders refused before solving: outside the objective, which prices routed orders.
_REFUSED_BEFORE_SOLVING = frozenset({"outside_service_area", "unknown_store"})


@dataclass(frozen=True, slots=True)
class ObjectiveTerms:
    """A plan's objective, term by term, in cost units (see `Options` for the weights)."""

    travel: int
    click_to_door: int
    late: int
    late_fixed: int
    late_steep: int
    reassign: int
    unassigned: int
    third_party: int = 0  # the fees of orders sent out, in rider-seconds (their time terms are above)

    @property
    def total(self) -> int:
        """The sum of the terms: what the solver minimises."""
        return (
            self.travel + self.click_to_door + self.late + self.late_fixed + self.late_steep + self.reassign
            + self.unassigned + self.third_party
        )

    def as_dict(self) -> dict[str, int]:
        """The terms and their total by name."""
        return {
            "travel": self.travel, "click_to_door": self.click_to_door, "late": self.late,
            "late_fixed": self.late_fixed, "late_steep": self.late_steep, "reassign": self.reassign, "unassigned": self.unassigned,
            "third_party": self.third_party, "total": self.total,
        }


def objective_terms(problem: Problem, plan: Plan | dict) -> ObjectiveTerms:
    """The objective of a plan term by term, from its stated times (meaningful once
    `validate_plan` accepts them): travel, the customers' clock (created_at to the drop-off),
    lateness past the promise (per second and once per order), lateness past the steep
    threshold, moves, orders left out."""
    if isinstance(plan, dict):
        plan = plan_from_document(plan, problem.plan_time)
    opts = problem.options
    orders = problem.order_index
    travel = clock = late = broken = steep = moved = 0
    for route in plan.routes:
        travel += route.travel_s
        for stop in route.stops:
            order = orders.get(stop.order_id or "") if stop.kind == "dropoff" else None
            if order is None:
                continue
            service = order.dropoff_service_s
            start = stop.depart_s - service
            late_s = max(0, start - order.promised_at_s)
            clock += (start - order.created_at_s) * order.priority
            late += late_s * order.priority
            broken += (late_s > 0) * order.priority
            steep += max(0, late_s - opts.late_steep_after_s) * order.priority
            moved += order.assigned_rider_id is not None and order.assigned_rider_id != route.rider_id
    for t in plan.third_party:
        order = orders.get(t.order_id)
        if order is None:
            continue
        late_s = max(0, t.dropoff_s - order.promised_at_s)
        clock += (t.dropoff_s - order.created_at_s) * order.priority
        late += late_s * order.priority
        broken += (late_s > 0) * order.priority
        steep += max(0, late_s - opts.late_steep_after_s) * order.priority
    left = sum(
        orders[u.order_id].priority for u in plan.unassigned if u.order_id in orders and u.reason not in _REFUSED_BEFORE_SOLVING
    )
    per_hour = opts.rider_cost_per_hour
    weight = max(1, opts.travel_cost_per_s)
    # Each fee in rider-seconds, rounded per order as the solver prices it.
    sent_out = sum(int(round(t.fee * 3600.0 / per_hour * weight)) for t in plan.third_party) if per_hour else 0
    return ObjectiveTerms(
        travel=travel * opts.travel_cost_per_s,
        click_to_door=clock * opts.click_to_door_cost_per_s,
        late=late * opts.late_cost_per_s,
        late_fixed=broken * opts.late_fixed_cost,
        late_steep=steep * opts.late_steep_cost_per_s,
        reassign=moved * opts.reassign_cost,
        unassigned=left * opts.unassigned_cost,
        third_party=sent_out,
    )
