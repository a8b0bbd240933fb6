"""Peer solvers on the store-dispatch problems they can express exactly.

What the peers can express: one store, riders at the store with nothing on board, hard
promises, ready time as the earliest departure from the store, several waves, capacity
(items and number of orders per trip), open routes. Each peer's plan is turned into our stop
lists, re-timed by the contract's rules and judged by our own validator, exactly like ours.

PyVRP (HGS): clients with `release_time` = ready + pickup service, and the store as a reload
depot whose `service_duration` is the pickup service, so a trip leaves at
max(arrival, ready) + service as in the contract; an open route ends at a zero-cost sink.
Load has two dimensions, items and orders, both reset at every reload. Riders of equal
speed share a routing profile; riders that differ in capacity, order limit or shift end are
separate vehicle types.

VROOM (pyvroom): one shipment per order, picked up at the store and delivered at the door.
The pickup's time window opens at the order's ready time and its `setup` is the store's
pickup service, which VROOM charges once for consecutive pickups at one place, as the
contract does; the delivery's window closes at the promise (VROOM's windows bound the start
of a task, like ours). Amounts are (items, 1) against (capacity, max_orders); each vehicle
starts at the store with no end (open routes) and must finish by its shift end. Riders of
equal speed share a profile (its duration matrix). One difference remains: when a wave
collects orders with different ready times, VROOM may start the setup before the last one is
ready, while the contract starts the single pickup stop at the latest ready time; our
re-timing can therefore put VROOM's drop-offs up to one pickup service later than VROOM
planned them, and the validator reports any promise that breaks.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from dispatch.instance import NO_LIMIT, Instance
from dispatch.solver.routes import DROP, PICKUP, Stop

BIG = 10**9


@dataclass
class PeerResult:
    """A peer's routes in our stop-list form, its unplanned orders and its wall time."""

    name: str
    routes: list[list[Stop]] | None
    left: list[int]
    wall_s: float
    note: str = ""


def peer_supported(inst: Instance) -> str | None:
    """Why a peer cannot express this instance exactly, or None if it can."""
    if inst.n_stores != 1:
        return "more than one store"
    if any(inst.carried_of_rider):
        return "riders carry orders"
    if np.any(inst.available_s != 0):
        return "riders not all available now"
    if inst.problem.options.lateness != "hard":
        return "soft promises"
    if inst.return_to_store:
        return "closed routes"
    if np.any(inst.max_ride_s < NO_LIMIT):
        return "max_ride_s"
    for r in range(inst.n_riders):
        if inst.travel_s_of_rider[r][inst.rider_point(r), inst.store_point(0)] != 0:
            return "riders not at the store"
    return None


def _travel_classes(inst: Instance) -> dict[int, list[int]]:
    """Riders grouped by travel matrix (equal speeds share one)."""
    out: dict[int, list[int]] = {}
    for r in range(inst.n_riders):
        out.setdefault(id(inst.travel_s_of_rider[r]), []).append(r)
    return out


def solve_pyvrp(inst: Instance, orders: list[int], time_limit_s: float, seed: int = 0) -> PeerResult:
    """PyVRP 0.14 (HGS) with release times, reloads at the store and a sink for open routes."""
    try:
        from pyvrp import Model
        from pyvrp.stop import MaxRuntime
    except ImportError:
        return PeerResult("pyvrp", None, list(orders), 0.0, "pyvrp not installed (pip install .[bench])")
    t0 = time.perf_counter()
    m = Model()
    store_loc = m.add_location(0, 0)
    sink_loc = m.add_location(0, 0)
    store = m.add_depot(store_loc, service_duration=int(inst.pickup_service_s[0]))
    sink = m.add_depot(sink_loc)
    client_locs = []
    for k in orders:
        loc = m.add_location(0, 0)
        client_locs.append(loc)
        m.add_client(
            loc,
            delivery=[int(inst.items[k]), 1],
            service_duration=int(inst.service_s[k]),
            tw_early=0,
            tw_late=max(0, int(inst.promised_s[k])),
            release_time=max(0, int(inst.ready_s[k])),
        )
    points = [inst.store_point(0)] + [inst.order_point(k) for k in orders]
    locs = [store_loc] + client_locs
    vehicle_riders: list[list[int]] = []
    for riders in _travel_classes(inst).values():
        profile = m.add_profile()
        tt = inst.travel_s_of_rider[riders[0]]
        sub = tt[np.ix_(points, points)]
        for a, la in enumerate(locs):
            for b, lb in enumerate(locs):
                if a != b:
                    m.add_edge(la, lb, int(sub[a, b]), int(sub[a, b]), profile=profile)
            m.add_edge(la, sink_loc, 0, 0, profile=profile)
            m.add_edge(sink_loc, la, BIG, BIG, profile=profile)
        by_shape: dict[tuple, list[int]] = {}
        for r in riders:
            shape = (int(inst.capacity[r]), int(inst.max_orders[r]), int(min(inst.shift_end_s[r], BIG)))
            by_shape.setdefault(shape, []).append(r)
        for (cap, max_orders, shift_end), group in by_shape.items():
            m.add_vehicle_type(
                num_available=len(group),
                capacity=[cap, max_orders],
                start_depot=store,
                end_depot=sink,
                reload_depots=[store],
                tw_early=0,
                tw_late=shift_end,
                profile=profile,
            )
            vehicle_riders.append(list(group))
    # The budget covers the whole call, as ours does: model building comes out of it.
    search_s = max(0.01, time_limit_s - (time.perf_counter() - t0))
    result = m.solve(stop=MaxRuntime(search_s), seed=seed, display=False)
    wall = time.perf_counter() - t0
    sol = result.best
    if not sol.is_feasible():
        return PeerResult("pyvrp", None, list(orders), wall, "no feasible solution")
    routes: list[list[Stop]] = [[] for _ in range(inst.n_riders)]
    next_free = [0] * len(vehicle_riders)
    for route in sol.routes():
        vt = route.vehicle_type()
        r = vehicle_riders[vt][next_free[vt]]
        next_free[vt] += 1
        trips: list[list[int]] = []
        for act in route.schedule():
            if act.is_depot():
                if act.idx == 0:  # the store (the sink ends the route)
                    trips.append([])
            else:
                trips[-1].append(orders[act.idx])
        for trip in trips:
            if trip:
                routes[r].append((PICKUP, 0, tuple(trip)))
                routes[r].extend((DROP, k) for k in trip)
    served = {s[1] for rt in routes for s in rt if s[0] == DROP}
    return PeerResult("pyvrp", routes, [k for k in orders if k not in served], wall)


def solve_vroom(inst: Instance, orders: list[int], time_limit_s: float, seed: int = 0) -> PeerResult:
    """VROOM (pyvroom) with shipments from the store, one thread, its time limit set to the budget."""
    try:
        import vroom
    except ImportError:
        return PeerResult("vroom", None, list(orders), 0.0, "pyvroom not installed (pip install .[bench])")
    from datetime import timedelta

    t0 = time.perf_counter()
    problem = vroom.Input()
    points = [inst.store_point(0)] + [inst.order_point(k) for k in orders]
    profile_of: dict[int, str] = {}
    for c, riders in enumerate(_travel_classes(inst).values()):
        name = f"p{c}"
        sub = inst.travel_s_of_rider[riders[0]][np.ix_(points, points)]
        problem.set_durations_matrix(name, np.ascontiguousarray(sub, dtype=np.uint32))
        for r in riders:
            profile_of[r] = name
    horizon = int(min(inst.horizon_s, 2**31 - 1))
    for r in range(inst.n_riders):
        end = int(min(inst.shift_end_s[r], horizon))
        problem.add_vehicle(
            vroom.Vehicle(
                r + 1,
                start=0,
                profile=profile_of[r],
                capacity=[int(inst.capacity[r]), int(inst.max_orders[r])],
                time_window=vroom.TimeWindow(0, end),
            )
        )
    setup = int(inst.pickup_service_s[0])
    for j, k in enumerate(orders):
        pickup = vroom.ShipmentStep(
            j + 1, location=0, default_setup=setup, time_windows=[vroom.TimeWindow(max(0, int(inst.ready_s[k])), horizon)]
        )
        delivery = vroom.ShipmentStep(
            j + 1,
            location=j + 1,
            default_service=int(inst.service_s[k]),
            time_windows=[vroom.TimeWindow(0, max(0, int(inst.promised_s[k])))],
        )
        problem.add_job(vroom.Shipment(pickup, delivery, amount=[int(inst.items[k]), 1]))
    search_s = max(0.01, time_limit_s - (time.perf_counter() - t0))
    solution = problem.solve(exploration_level=5, nb_threads=1, timeout=timedelta(seconds=search_s))
    wall = time.perf_counter() - t0
    routes: list[list[Stop]] = [[] for _ in range(inst.n_riders)]
    steps = solution.routes
    for row in steps.itertuples(index=False):
        r = int(row.vehicle_id) - 1
        if row.type == "pickup":
            routes[r].append((PICKUP, 0, (orders[int(row.id) - 1],)))
        elif row.type == "delivery":
            routes[r].append((DROP, orders[int(row.id) - 1]))
    from dispatch.solver.routes import group_pickups

    routes = [group_pickups(rt) for rt in routes]
    served = {s[1] for rt in routes for s in rt if s[0] == DROP}
    return PeerResult("vroom", routes, [k for k in orders if k not in served], wall)


PEERS = {"pyvrp": solve_pyvrp, "vroom": solve_vroom}


def peer_available(name: str) -> str | None:
    """None if the peer's package imports, else why not."""
    module = {"pyvrp": "pyvrp", "vroom": "vroom"}[name]
    try:
        __import__(module)
    except ImportError:
        return f"{name} not installed (pip install .[bench])"
    return None
