"""Solver routes (indices) to the public Plan (ids, times, metrics): the way out of the core."""

from __future__ import annotations

import uuid

from dispatch.eta import with_eta_ranges
from dispatch.instance import Instance
from dispatch.plan import Metrics, Plan, PlannedRoute, PlannedStop, ThirdPartyOrder, UnassignedOrder
from dispatch.third_party import ThirdPartyTrip
from dispatch.solver.routes import DROP, PICKUP, RouteSchedule, Stop, route_cost, schedule_route


def build_plan(
    inst: Instance,
    routes: list[list[Stop]],
    unassigned: list[UnassignedOrder],
    solve_ms: int,
    first_plan_ms: int | None,
    engine: str,
    plan_id: str | None = None,
    schedules: list[RouteSchedule] | None = None,
    third_party: list[ThirdPartyTrip] = (),
) -> Plan:
    """Time every route (unless `schedules` holds them, as `schedule_route` gives them) and
    assemble the plan document's content."""
    problem = inst.problem
    planned: list[PlannedRoute] = []
    on_time = late = late_total = travel_total = 0
    distance_total = 0.0
    objective = 0
    reassigned = 0
    dist = inst.travel.distance_m
    store_loc = [s.location for s in problem.stores]
    for r, stops in enumerate(routes):
        if not stops:
            continue
        sched = schedules[r] if schedules is not None else schedule_route(inst, r, stops)
        objective += route_cost(inst, sched)
        reassigned += sched.reassigned
        out: list[PlannedStop] = []
        at = inst.rider_point(r)
        distance = 0.0
        for stop, arrive, start, depart in zip(stops, sched.arrive, sched.start, sched.depart):
            if stop[0] == PICKUP:
                point = inst.store_point(stop[1])
                out.append(
                    PlannedStop(
                        kind="pickup",
                        location=store_loc[stop[1]],
                        arrive_s=arrive,
                        depart_s=depart,
                        store_id=problem.stores[stop[1]].id,
                        order_ids=tuple(inst.orders[k].id for k in stop[2]),
                    )
                )
            else:
                k = stop[1]
                point = inst.order_point(k)
                late_s = max(0, start - int(inst.promised_s[k]))
                on_time += late_s == 0
                late += late_s > 0
                late_total += late_s
                out.append(
                    PlannedStop(
                        kind="dropoff",
                        location=inst.orders[k].dropoff,
                        arrive_s=arrive,
                        depart_s=depart,
                        order_id=inst.orders[k].id,
                        late_s=late_s,
                    )
                )
            distance += float(dist[at, point])
            at = point
        if inst.return_to_store:
            last = stops[-1][1] if stops[-1][0] == DROP else stops[-1][2][-1]
            distance += float(dist[at, inst.store_point(inst.end_store(r, last))])
        start_s = int(inst.available_s[r])
        planned.append(
            PlannedRoute(
                rider_id=problem.riders[r].id,
                stops=tuple(out),
                distance_m=distance,
                duration_s=sched.end_s - start_s,
                travel_s=sched.travel_s,
                start_s=start_s,
                end_s=sched.end_s,
            )
        )
        travel_total += sched.travel_s
        distance_total += distance
    routed_index = {o.id: k for k, o in enumerate(inst.orders)}
    for u in unassigned:
        k = routed_index.get(u.order_id)
        if k is not None:  # orders refused before solving are outside the objective
            objective += int(inst.priority[k]) * problem.options.unassigned_cost
    for trip in third_party:
        objective += trip.cost
    for trip in third_party:
        on_time += trip.late_s == 0
        late += trip.late_s > 0
        late_total += trip.late_s
    n_orders = len(problem.orders)
    assigned = n_orders - len(unassigned)
    status = "feasible" if not unassigned else ("infeasible" if assigned == 0 and n_orders else "partial")
    metrics = Metrics(
        orders=n_orders,
        assigned=assigned,
        on_time=on_time,
        late=late,
        total_distance_m=distance_total,
        total_travel_s=travel_total,
        solve_ms=solve_ms,
        late_s_total=late_total,
        riders_used=len(planned),
        objective=objective,
        first_plan_ms=first_plan_ms,
        engine=engine,
        reassigned=reassigned,
        third_party=len(third_party),
        third_party_fees=round(sum(t.fee for t in third_party), 2),
    )
    order_rank = {o.id: i for i, o in enumerate(problem.orders)}
    plan = Plan(
        plan_id=plan_id or uuid.uuid4().hex,
        plan_time=problem.plan_time,
        status=status,
        routes=tuple(planned),
        unassigned=tuple(sorted(unassigned, key=lambda u: order_rank.get(u.order_id, 0))),
        metrics=metrics,
        third_party=tuple(
            ThirdPartyOrder(t.order_id, t.store_id, t.pickup_s, t.dropoff_s, t.late_s, t.distance_m, t.fee, courier=t.courier)
            for t in _by_courier(third_party, order_rank)
        ),
    )
    return with_eta_ranges(problem, plan)  # every stop's ETA range, from the plan's own route


def _by_courier(third_party: list[ThirdPartyTrip], order_rank: dict[str, int]) -> list[ThirdPartyTrip]:
    """Orders sent out, each courier's together in drop-off order, couriers in the order of their
    first order in the problem."""
    first: dict[str, int] = {}
    for t in third_party:
        first[t.courier] = min(first.get(t.courier, len(order_rank)), order_rank.get(t.order_id, 0))
    return sorted(third_party, key=lambda t: first[t.courier])  # stable: each courier's own order kept
