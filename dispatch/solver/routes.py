"""Solver-side routes: stop sequences per rider and their exact, earliest-time schedule.

A stop is a tuple: `(PICKUP, store, (orders...))` collects those orders at a store in one
stop, `(DROP, order)` delivers one order. This is the solver's own timing; the independent
judge is `dispatch.validate`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from dispatch.instance import NO_LIMIT, Instance

PICKUP = 0
DROP = 1

Stop = tuple  # (PICKUP, store, orders) | (DROP, order)


@dataclass(slots=True)
class RouteSchedule:
    """Times at each stop (seconds from the plan epoch) and whether the route is feasible."""

    arrive: list[int] = field(default_factory=list)
    start: list[int] = field(default_factory=list)
    depart: list[int] = field(default_factory=list)
    end_s: int = 0  # last departure, or arrival back at the store for closed routes
    travel_s: int = 0
    late_s: int = 0  # summed over drops
    time_cost: int = 0  # what the drop-off times cost, summed over drops (see `drop_time_costs`)
    reassigned: int = 0  # drops of orders assigned to another rider in the plan being followed
    violation: str | None = None

    @property
    def feasible(self) -> bool:
        """Whether every hard rule holds."""
        return self.violation is None


def group_pickups(stops: list[Stop]) -> list[Stop]:
    """Merge consecutive pickups at the same store into one stop (one service time)."""
    merged: list[Stop] = []
    for stop in stops:
        if stop[0] == PICKUP and merged and merged[-1][0] == PICKUP and merged[-1][1] == stop[1]:
            merged[-1] = (PICKUP, stop[1], tuple(merged[-1][2]) + tuple(stop[2]))
        else:
            merged.append(stop)
    return merged


def schedule_route(inst: Instance, r: int, stops: list[Stop]) -> RouteSchedule:
    """Time `stops` for rider r as early as the rules allow and check every hard rule."""
    sched = RouteSchedule()
    if not stops:
        sched.end_s = int(inst.available_s[r])
        return sched
    tt = inst.travel_s_of_rider[r]
    timed = inst.speed_profile  # under a profile every leg is ridden from its departure
    t = int(inst.available_s[r])
    at = inst.rider_point(r)
    carried = inst.carried_of_rider[r]
    load = int(sum(int(inst.items[k]) for k in carried))
    count = len(carried)
    on_board = set(carried)
    picked_at: dict[int, int] = {}
    cap, max_orders = int(inst.capacity[r]), int(inst.max_orders[r])
    has_pickup = False
    delivered: set[int] = set()
    for stop in stops:
        if stop[0] == PICKUP:
            s, ks = stop[1], stop[2]
            point = inst.store_point(s)
            leg = int(tt[at, point]) if timed is None else inst.leg_s(r, at, point, t)
            arrive = t + leg
            ready = max(int(inst.ready_s[k]) for k in ks)
            start = max(arrive, ready)
            depart = start + int(inst.pickup_service_s[s])
            if inst.shift_end_pickups[r] and start > int(inst.shift_end_s[r]):
                sched.violation = sched.violation or "shift_end"
            for k in ks:
                if inst.carried_by[k] >= 0 or k in on_board or k in delivered or int(inst.order_store[k]) != s:
                    sched.violation = sched.violation or f"bad pickup of order {k}"
                on_board.add(k)
                picked_at[k] = depart
                load += int(inst.items[k])
                count += 1
            has_pickup = True
            if load > cap:
                sched.violation = sched.violation or "capacity"
            if count > max_orders:
                sched.violation = sched.violation or "max_orders"
        else:
            k = stop[1]
            point = inst.order_point(k)
            leg = int(tt[at, point]) if timed is None else inst.leg_s(r, at, point, t)
            arrive = t + leg
            start = max(arrive, int(inst.earliest_s[k]))
            depart = start + int(inst.service_s[k])
            if k not in on_board:
                sched.violation = sched.violation or f"drop of order {k} not on board"
            else:
                on_board.discard(k)
                delivered.add(k)
                load -= int(inst.items[k])
                count -= 1
            if 0 <= inst.assigned_to[k] != r:
                sched.reassigned += 1
            late = max(0, start - int(inst.promised_s[k]))
            if late and inst.hard_promise[k]:
                sched.violation = sched.violation or "late"
            if start > int(inst.deadline_s[k]):
                sched.violation = sched.violation or "deadline"
            sched.late_s += late
            sched.time_cost += int(drop_time_costs(inst, k, start))
            if k in picked_at and start - picked_at[k] > int(inst.max_ride_s[k]):
                sched.violation = sched.violation or "max_ride"
        sched.travel_s += leg
        sched.arrive.append(arrive)
        sched.start.append(start)
        sched.depart.append(depart)
        t, at = depart, point
    if on_board:
        sched.violation = sched.violation or "orders left on board"
    end = t
    if inst.return_to_store:
        last = stops[-1][1] if stops[-1][0] == DROP else stops[-1][2][-1]
        back = inst.store_point(inst.end_store(r, last))
        leg = int(tt[at, back]) if timed is None else inst.leg_s(r, at, back, t)
        sched.travel_s += leg
        end = t + leg
    sched.end_s = end
    ends_route = not inst.shift_end_pickups[r]
    if ends_route and has_pickup and inst.shift_end_s[r] < NO_LIMIT and end > int(inst.shift_end_s[r]):
        sched.violation = sched.violation or "shift_end"
    return sched


def route_cost(inst: Instance, sched: RouteSchedule) -> int:
    """The objective contribution of one timed route (travel, the customers' time, lateness and
    moves, in cost units)."""
    opts = inst.problem.options
    return sched.travel_s * opts.travel_cost_per_s + sched.time_cost + sched.reassigned * opts.reassign_cost


def drop_time_costs(inst: Instance, k, start):
    """What order k's drop-off starting at `start` costs (each of them: k and start may be
    arrays): the customer's clock from created_at, and lateness past the promise, once and per
    second, steeper past the steep threshold; per priority unit."""
    opts = inst.problem.options
    late = np.maximum(0, start - inst.promised_s[k])
    return inst.priority[k] * (
        opts.click_to_door_cost_per_s * (start - inst.created_s[k])
        + opts.late_cost_per_s * late
        + opts.late_fixed_cost * (late > 0)
        + opts.late_steep_cost_per_s * np.maximum(0, late - opts.late_steep_after_s)
    )


def unassigned_cost(inst: Instance, k: int) -> int:
    """What leaving order k out of every route costs: unassigned, or sent to a third party."""
    return int(inst.drop_cost[k])


def costed(inst: Instance, routes: list[list[Stop]], left: list[int]) -> tuple[int, bool, list[RouteSchedule]]:
    """Objective of a solution, whether every route keeps every hard rule, and each route's schedule."""
    cost, ok, schedules = 0, True, []
    for r, stops in enumerate(routes):
        sched = schedule_route(inst, r, stops)
        ok &= sched.feasible
        cost += route_cost(inst, sched)
        schedules.append(sched)
    return cost + sum(unassigned_cost(inst, k) for k in left), ok, schedules


def total_cost(inst: Instance, routes: list[list[Stop]], left: list[int]) -> tuple[int, bool]:
    """Objective of a solution and whether every route keeps every hard rule."""
    cost, ok, _ = costed(inst, routes, left)
    return cost, ok
