"""The OR-Tools routing model: the only module that imports `ortools`.

Pickup-and-delivery with one pickup node and one drop-off node per order (carried orders
have only the drop-off, on their rider). Every matrix is registered with
`RegisterTransitMatrix`, never a Python callback. Service times are folded into transits:
a drop-off's service is paid on leaving it, a store's pickup service once on leaving the
store, so consecutive pickups at the same store cost nothing between them (one stop).
The search starts from our own construction (`ReadAssignmentFromRoutes`) and improves it
with guided local search.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
from ortools.constraint_solver import pywrapcp, routing_enums_pb2

from dispatch.instance import NO_LIMIT, Instance
from dispatch.solver.carried import heading_index
from dispatch.solver.routes import DROP, PICKUP, Stop, group_pickups


def _keep_heading_first(inst: Instance, manager, routing, drop_node: dict[int, int], r: int) -> None:
    """The drop-off rider r is riding to now follows its start directly."""
    k = heading_index(inst, r)
    if k is not None and k in drop_node:
        routing.NextVar(routing.Start(r)).SetValue(manager.NodeToIndex(drop_node[k]))


def _riders_for(inst: Instance, k: int, allowed: list[int]) -> list[int]:
    """The riders new order k may go to: `allowed` whose zone holds its door, or only its rider
    when it is committed."""
    locked = int(inst.locked_to[k])
    zoned = [r for r in allowed if inst.zone_ok[k, r]]
    return zoned if locked < 0 else [r for r in zoned if r == locked]


@dataclass(slots=True)
class Improvement:
    """Routes found by OR-Tools, or None when it found nothing better than its start."""

    routes: list[list[Stop]] | None
    status: str


class RoutingModel:
    """OR-Tools model of one instance over a chosen subset of orders."""

    def __init__(self, inst: Instance, orders: list[int], forbid_new: set[int]):
        self.inst = inst
        R = inst.n_riders
        self.orders = orders
        node_point: list[int] = [inst.rider_point(r) for r in range(R)] + [0] * R
        kind: list[int] = [-1] * (2 * R)  # -1 start/end, PICKUP, DROP
        node_order: list[int] = [-1] * (2 * R)
        self.pickup_node: dict[int, int] = {}
        self.drop_node: dict[int, int] = {}
        for k in orders:
            if inst.carried_by[k] < 0:
                self.pickup_node[k] = len(node_point)
                node_point.append(inst.store_point(int(inst.order_store[k])))
                kind.append(PICKUP)
                node_order.append(k)
            self.drop_node[k] = len(node_point)
            node_point.append(inst.order_point(k))
            kind.append(DROP)
            node_order.append(k)
        self.node_order = node_order
        self.node_kind = kind
        N = len(node_point)
        pts = np.array(node_point, dtype=np.int64)
        kinds = np.array(kind)
        orders_of_node = np.array(node_order)
        store_of_node = np.where(orders_of_node >= 0, inst.order_store[np.maximum(orders_of_node, 0)], -1)
        service = np.zeros(N, dtype=np.int64)
        is_pick = kinds == PICKUP
        is_drop = kinds == DROP
        service[is_drop] = inst.service_s[orders_of_node[is_drop]]
        service[is_pick] = inst.pickup_service_s[store_of_node[is_pick]]
        same_store_pickups = is_pick[:, None] & is_pick[None, :] & (store_of_node[:, None] == store_of_node[None, :])

        self.manager = pywrapcp.RoutingIndexManager(N, R, list(range(R)), list(range(R, 2 * R)))
        self.routing = pywrapcp.RoutingModel(self.manager)
        routing, manager = self.routing, self.manager

        # One transit and one cost matrix per distinct travel matrix (riders of equal speed share).
        classes: dict[int, tuple[int, int]] = {}
        transit_of_vehicle: list[int] = []
        opts = inst.problem.options
        for r in range(R):
            tt = inst.travel_s_of_rider[r]
            key = id(tt)
            if key not in classes:
                travel = tt[pts[:, None], pts[None, :]].astype(np.int64)
                travel[:, R : 2 * R] = 0
                travel[R : 2 * R, :] = 0
                travel[:, :R] = 0
                if inst.return_to_store:
                    for v in range(R):
                        if inst.travel_s_of_rider[v] is not tt:
                            continue
                        home = int(inst.home_store[v])
                        back = np.where(home >= 0, home, np.maximum(store_of_node, 0))
                        travel[:, R + v] = np.where(is_drop, tt[pts, back], 0)
                transit = travel + service[:, None]
                transit[same_store_pickups] = 0
                transit[:, :R] = 0
                transit[R : 2 * R, :] = 0
                transit[np.arange(R), np.arange(R) + R] = 0
                cost = travel * opts.travel_cost_per_s
                classes[key] = (
                    routing.RegisterTransitMatrix(transit.tolist()),
                    routing.RegisterTransitMatrix(cost.tolist()),
                )
            t_idx, c_idx = classes[key]
            transit_of_vehicle.append(t_idx)
            routing.SetArcCostEvaluatorOfVehicle(c_idx, r)

        horizon = int(inst.horizon_s)
        routing.AddDimensionWithVehicleTransits(transit_of_vehicle, horizon, horizon, False, "time")
        time_dim = routing.GetDimensionOrDie("time")
        self.time_dim = time_dim

        items = np.zeros(N, dtype=np.int64)
        count = np.zeros(N, dtype=np.int64)
        items[is_pick] = inst.items[orders_of_node[is_pick]]
        items[is_drop] = -inst.items[orders_of_node[is_drop]]
        count[is_pick] = 1
        count[is_drop] = -1
        load_idx = routing.RegisterUnaryTransitVector(items.tolist())
        count_idx = routing.RegisterUnaryTransitVector(count.tolist())
        routing.AddDimensionWithVehicleCapacity(load_idx, 0, [int(c) for c in inst.capacity], False, "load")
        routing.AddDimensionWithVehicleCapacity(count_idx, 0, [int(c) for c in inst.max_orders], False, "count")
        load_dim = routing.GetDimensionOrDie("load")
        count_dim = routing.GetDimensionOrDie("count")

        solver = routing.solver()
        for r in range(R):
            carried = inst.carried_of_rider[r]
            start, end = routing.Start(r), routing.End(r)
            load_dim.CumulVar(start).SetValue(int(inst.items[list(carried)].sum()) if carried else 0)
            count_dim.CumulVar(start).SetValue(len(carried))
            time_dim.CumulVar(start).SetValue(int(inst.available_s[r]))
            _keep_heading_first(inst, manager, routing, self.drop_node, r)
            if r not in forbid_new and inst.shift_end_s[r] < NO_LIMIT:
                time_dim.CumulVar(end).SetMax(min(horizon, int(inst.shift_end_s[r])))
        allowed = [r for r in range(R) if r not in forbid_new]
        for k in orders:
            d = manager.NodeToIndex(self.drop_node[k])
            promised = int(inst.promised_s[k])
            if inst.hard_promise[k]:
                time_dim.CumulVar(d).SetMax(promised)
            elif promised < horizon:
                time_dim.SetCumulVarSoftUpperBound(
                    d, max(0, promised), int(opts.late_cost_per_s * inst.priority[k])
                )
            if inst.earliest_s[k] > 0:
                time_dim.CumulVar(d).SetMin(int(inst.earliest_s[k]))  # a scheduled order waits
            if inst.carried_by[k] >= 0:
                routing.VehicleVar(d).SetValue(int(inst.carried_by[k]))
                continue
            p = manager.NodeToIndex(self.pickup_node[k])
            routing.AddPickupAndDelivery(p, d)
            solver.Add(routing.VehicleVar(p) == routing.VehicleVar(d))
            solver.Add(routing.ActiveVar(p) == routing.ActiveVar(d))
            solver.Add(time_dim.CumulVar(p) <= time_dim.CumulVar(d))
            time_dim.CumulVar(p).SetMin(int(inst.ready_s[k]))
            if inst.max_ride_s[k] < NO_LIMIT:
                store = int(inst.order_store[k])
                # Pickup cumul is the service start; the ride runs from the stop's departure.
                solver.Add(
                    time_dim.CumulVar(d)
                    <= time_dim.CumulVar(p) + int(inst.max_ride_s[k]) + int(inst.pickup_service_s[store])
                )
            riders_ok = _riders_for(inst, k, allowed)
            if len(riders_ok) < R:
                # -1 keeps the order droppable; the binding's SetAllowedVehiclesForIndex is unusable.
                routing.VehicleVar(p).SetValues([-1] + riders_ok)
                routing.VehicleVar(d).SetValues([-1] + riders_ok)
            penalty = int(inst.drop_cost[k])
            routing.AddDisjunction([p, d], penalty, 2)
        for r in range(R):
            routing.AddVariableMinimizedByFinalizer(time_dim.CumulVar(routing.End(r)))

    def routes_to_indices(self, routes: list[list[Stop]]) -> list[list[int]]:
        """Our stop lists as OR-Tools routing indices (a pickup stop expands to one per order)."""
        to_index = self.manager.NodeToIndex
        out = []
        for stops in routes:
            nodes = []
            for stop in stops:
                if stop[0] == PICKUP:
                    nodes.extend(to_index(self.pickup_node[k]) for k in stop[2])
                else:
                    nodes.append(to_index(self.drop_node[stop[1]]))
            out.append(nodes)
        return out

    def read_routes(self, solution) -> list[list[Stop]]:
        """Stop lists of an OR-Tools solution, consecutive same-store pickups merged."""
        routing, manager = self.routing, self.manager
        routes = []
        for r in range(self.inst.n_riders):
            stops: list[Stop] = []
            index = solution.Value(routing.NextVar(routing.Start(r)))
            while not routing.IsEnd(index):
                node = manager.IndexToNode(index)
                k = self.node_order[node]
                if self.node_kind[node] == PICKUP:
                    stops.append((PICKUP, int(self.inst.order_store[k]), (k,)))
                else:
                    stops.append((DROP, k))
                index = solution.Value(routing.NextVar(index))
            routes.append(group_pickups(stops))
        return routes


class WaveModel:
    """Single-store model without pickup nodes: drop-off nodes plus a pool of store visits.

    A store visit starts a wave; the orders after it, up to the next visit, are what it
    collected. The ready-time rule becomes a `wave` dimension that only a store visit may
    raise (through its slack) and that each order needs at least at its ready time; the
    store visit's service start must be no earlier than that value. Loads reset at store
    visits (negative transit absorbed by slack). This drops the pickup-and-delivery pairing,
    so OR-Tools' plain VRP moves (relocate, exchange, 2-opt, cross) apply to orders directly.
    """

    def __init__(self, inst: Instance, orders: list[int], forbid_new: set[int], n_visits: int):
        self.inst = inst
        R = inst.n_riders
        self.orders = orders
        node_point: list[int] = [inst.rider_point(r) for r in range(R)] + [0] * R
        node_order: list[int] = [-1] * (2 * R)
        self.drop_node: dict[int, int] = {}
        for k in orders:
            self.drop_node[k] = len(node_point)
            node_point.append(inst.order_point(k))
            node_order.append(k)
        self.first_visit = len(node_point)
        self.visits = list(range(self.first_visit, self.first_visit + n_visits))
        node_point.extend([inst.store_point(0)] * n_visits)
        node_order.extend([-1] * n_visits)
        self.node_order = node_order
        N = len(node_point)
        pts = np.array(node_point, dtype=np.int64)
        orders_of_node = np.array(node_order)
        is_drop = orders_of_node >= 0
        is_visit = np.zeros(N, dtype=bool)
        is_visit[self.first_visit :] = True
        carried = np.zeros(N, dtype=bool)
        carried[is_drop] = inst.carried_by[orders_of_node[is_drop]] >= 0
        service = np.zeros(N, dtype=np.int64)
        service[is_drop] = inst.service_s[orders_of_node[is_drop]]
        service[is_visit] = int(inst.pickup_service_s[0])

        self.manager = pywrapcp.RoutingIndexManager(N, R, list(range(R)), list(range(R, 2 * R)))
        self.routing = pywrapcp.RoutingModel(self.manager)
        routing, manager = self.routing, self.manager
        opts = inst.problem.options
        classes: dict[int, tuple[int, int]] = {}
        transit_of_vehicle = []
        for r in range(R):
            tt = inst.travel_s_of_rider[r]
            if id(tt) not in classes:
                travel = tt[pts[:, None], pts[None, :]].astype(np.int64)
                travel[:, : 2 * R] = 0
                travel[R : 2 * R, :] = 0
                if inst.return_to_store:
                    for v in range(R):
                        if inst.travel_s_of_rider[v] is tt:
                            travel[:, R + v] = np.where(is_drop, tt[pts, 0], 0)
                transit = travel + service[:, None]
                transit[np.ix_(is_visit, is_visit)] = 0  # two visits in a row are one stop
                transit[:, :R] = 0
                transit[R : 2 * R, :] = 0
                transit[np.arange(R), np.arange(R) + R] = 0
                classes[id(tt)] = (
                    routing.RegisterTransitMatrix(transit.tolist()),
                    routing.RegisterTransitMatrix((travel * opts.travel_cost_per_s).tolist()),
                )
            t_idx, c_idx = classes[id(tt)]
            transit_of_vehicle.append(t_idx)
            routing.SetArcCostEvaluatorOfVehicle(c_idx, r)
        horizon = int(inst.horizon_s)
        routing.AddDimensionWithVehicleTransits(transit_of_vehicle, horizon, horizon, False, "time")
        time_dim = routing.GetDimensionOrDie("time")
        zero = routing.RegisterUnaryTransitVector([0] * N)
        # Waves only need to reach the last ready time; a tight range keeps propagation short.
        wave_top = int(max(0, int(inst.ready_s.max(initial=0)))) + 1
        routing.AddDimension(zero, wave_top, wave_top, False, "wave")
        wave_dim = routing.GetDimensionOrDie("wave")

        # Loads count up along a wave and reset at a store visit (its slack absorbs the rest).
        cap_max = int(max(inst.capacity.max(initial=0), 1))
        orders_max = int(max(inst.max_orders.max(initial=0), 1))
        items = np.zeros(N, dtype=np.int64)
        count = np.zeros(N, dtype=np.int64)
        new_drop = is_drop & ~carried
        items[new_drop] = inst.items[orders_of_node[new_drop]]
        count[new_drop] = 1
        items[is_visit] = -cap_max
        count[is_visit] = -orders_max
        routing.AddDimensionWithVehicleCapacity(
            routing.RegisterUnaryTransitVector(items.tolist()), cap_max, [int(c) for c in inst.capacity], False, "load"
        )
        routing.AddDimensionWithVehicleCapacity(
            routing.RegisterUnaryTransitVector(count.tolist()), orders_max, [int(c) for c in inst.max_orders], False, "count"
        )
        load_dim = routing.GetDimensionOrDie("load")
        count_dim = routing.GetDimensionOrDie("count")

        solver = routing.solver()
        allowed = [r for r in range(R) if r not in forbid_new]
        new_indices = [manager.NodeToIndex(self.drop_node[k]) for k in orders if inst.carried_by[k] < 0]
        carried_indices = [manager.NodeToIndex(self.drop_node[k]) for k in orders if inst.carried_by[k] >= 0]
        for r in range(R):
            start, end = routing.Start(r), routing.End(r)
            time_dim.CumulVar(start).SetValue(int(inst.available_s[r]))
            wave_dim.CumulVar(start).SetValue(0)
            wave_dim.SlackVar(start).SetValue(0)  # only a store visit may raise the wave
            load_dim.CumulVar(start).SetValue(0)
            count_dim.CumulVar(start).SetValue(0)
            if r not in forbid_new and inst.shift_end_s[r] < NO_LIMIT:
                time_dim.CumulVar(end).SetMax(min(horizon, int(inst.shift_end_s[r])))
            # A new order needs a store visit before it: never straight from the start.
            if new_indices:
                routing.NextVar(start).RemoveValues(new_indices)
            _keep_heading_first(inst, manager, routing, self.drop_node, r)
        for ci in carried_indices:
            if new_indices:
                routing.NextVar(ci).RemoveValues(new_indices)
        for k in orders:
            d = manager.NodeToIndex(self.drop_node[k])
            wave_dim.SlackVar(d).SetValue(0)
            load_dim.SlackVar(d).SetValue(0)
            count_dim.SlackVar(d).SetValue(0)
            promised = int(inst.promised_s[k])
            if inst.hard_promise[k]:
                time_dim.CumulVar(d).SetMax(promised)
            elif promised < horizon:
                time_dim.SetCumulVarSoftUpperBound(d, max(0, promised), int(opts.late_cost_per_s * inst.priority[k]))
            if inst.earliest_s[k] > 0:
                time_dim.CumulVar(d).SetMin(int(inst.earliest_s[k]))  # a scheduled order waits
            if inst.carried_by[k] >= 0:
                routing.VehicleVar(d).SetValue(int(inst.carried_by[k]))
                continue
            wave_dim.CumulVar(d).SetMin(max(0, int(inst.ready_s[k])))
            riders_ok = _riders_for(inst, k, allowed)
            if len(riders_ok) < R:
                routing.VehicleVar(d).SetValues([-1] + riders_ok)
            routing.AddDisjunction([d], int(inst.drop_cost[k]))
        for node in self.visits:
            j = manager.NodeToIndex(node)
            routing.AddDisjunction([j], 0)
            # The wave leaves no earlier than the latest ready time it carries.
            solver.Add(time_dim.CumulVar(j) >= wave_dim.CumulVar(j) + wave_dim.SlackVar(j))

    def routes_to_indices(self, routes: list[list[Stop]]) -> list[list[int]]:
        """Our stop lists as routing indices: each pickup stop takes one store visit of the pool."""
        to_index = self.manager.NodeToIndex
        pool = iter(self.visits)
        out = []
        for stops in routes:
            idx = []
            for stop in stops:
                if stop[0] == PICKUP:
                    idx.append(to_index(next(pool)))
                else:
                    idx.append(to_index(self.drop_node[stop[1]]))
            out.append(idx)
        return out

    def read_routes(self, solution) -> list[list[Stop]]:
        """Stop lists of a solution: a store visit collects the new orders of its wave."""
        routing, manager = self.routing, self.manager
        inst = self.inst
        routes = []
        for r in range(inst.n_riders):
            stops: list[Stop] = []
            pickup_at = -1
            index = solution.Value(routing.NextVar(routing.Start(r)))
            while not routing.IsEnd(index):
                node = manager.IndexToNode(index)
                k = self.node_order[node]
                if k < 0:
                    if pickup_at < 0 or stops[pickup_at][2]:
                        pickup_at = len(stops)
                        stops.append((PICKUP, 0, ()))
                else:
                    if inst.carried_by[k] < 0:
                        stops[pickup_at] = (PICKUP, 0, stops[pickup_at][2] + (k,))
                    stops.append((DROP, k))
                index = solution.Value(routing.NextVar(index))
            routes.append([s for s in stops if s[0] == DROP or s[2]])
        return routes


def wave_model_fits(inst: Instance, routes: list[list[Stop]]) -> bool:
    """Whether the wave model can express this instance and these start routes exactly."""
    if inst.n_stores != 1 or np.any(inst.max_ride_s < NO_LIMIT):
        return False
    for stops in routes:
        seen_pickup = False
        for stop in stops:
            if stop[0] == PICKUP:
                seen_pickup = True
            elif inst.carried_by[stop[1]] >= 0 and seen_pickup:
                return False  # a carried drop-off after a pickup: keep the general model
    return True


def improve(
    inst: Instance,
    orders: list[int],
    start_routes: list[list[Stop]],
    forbid_new: set[int],
    deadline: float,
    max_solutions: int | None,
    metaheuristic: str = "GUIDED_LOCAL_SEARCH",
    use_waves: bool = True,
) -> Improvement:
    """Guided local search from `start_routes` until `deadline`, or descent until `max_solutions`
    solutions or `deadline`, whichever comes first."""
    if use_waves and wave_model_fits(inst, start_routes):
        n_visits = sum(1 for rt in start_routes for s in rt if s[0] == PICKUP) + len(orders) // 2 + inst.n_riders
        model = WaveModel(inst, orders, forbid_new, n_visits)
    else:
        model = RoutingModel(inst, orders, forbid_new)
    routing = model.routing
    params = pywrapcp.DefaultRoutingSearchParameters()
    params.first_solution_strategy = routing_enums_pb2.FirstSolutionStrategy.PARALLEL_CHEAPEST_INSERTION
    params.local_search_metaheuristic = getattr(routing_enums_pb2.LocalSearchMetaheuristic, metaheuristic)
    if max_solutions is not None:
        # Reproducible: plain descent stops at a local optimum, so the count bounds the work
        # (a metaheuristic would search on without improving and never reach the count).
        params.local_search_metaheuristic = routing_enums_pb2.LocalSearchMetaheuristic.GREEDY_DESCENT
        params.solution_limit = max(1, int(max_solutions))
    initial = routing.ReadAssignmentFromRoutes(model.routes_to_indices(start_routes), True)
    if initial is None:
        return Improvement(None, "start routes rejected by the model")
    # Measured after reading the start (which takes a while on large models), and a little
    # short: OR-Tools overshoots its limit by a few percent, and past the margin it is killed.
    remaining = 0.95 * (deadline - time.perf_counter()) - 0.01
    if remaining <= 0.005:
        return Improvement(None, "no time left")
    params.time_limit.FromMilliseconds(max(1, int(remaining * 1000)))
    solution = routing.SolveFromAssignmentWithParameters(initial, params)
    if solution is None:
        return Improvement(None, f"status {routing.status()}")
    return Improvement(model.read_routes(solution), f"status {routing.status()}")
