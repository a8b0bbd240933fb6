"""Regret insertion that knows a store's shape: every pickup of a store is one place.

A route is a sequence of trips (waves): collect some orders at one store in one stop, then
deliver them. An order is inserted either into an existing trip of its store (its drop-off
at any position of that trip) or as a new trip between two trips. Each route is evaluated
for every candidate order at once with numpy, with exact time-window, ready-time, ride-time,
capacity and shift checks through forward time slack (Savelsbergh), so one insertion step
costs a few vector operations per position of one route.

Phase 1 treats every promise as hard, so the plan keeps all promises it can. With soft
promises, phase 2 inserts what is left with its lateness priced in, never making an order
already planned later than its promise (or later than it already is); phase 3 places what
still fits nowhere at its exact cheapest place, pushing others later if it must.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import numpy as np

from dispatch.instance import NO_LIMIT, Instance
from dispatch.solver.routes import DROP, PICKUP, Stop, drop_time_costs, schedule_route

INF = float("inf")
JOIN = 0  # add the order to an existing trip of its store
NEW_TRIP = 1  # open a new trip for the order


@dataclass(slots=True)
class Trip:
    """One wave: the orders collected at `store` in one stop, in drop-off order (store -1: carried)."""

    store: int
    orders: list[int] = field(default_factory=list)


class RouteState:
    """One rider's trips and the cached schedule arrays that make insertion checks O(1)."""

    def __init__(self, inst: Instance, r: int):
        self.inst = inst
        self.r = r
        self.tt = inst.travel_s_of_rider[r]
        carried = list(inst.carried_of_rider[r])
        self.trips: list[Trip] = [Trip(-1, carried)] if carried else []
        self.carried_load = int(inst.items[carried].sum()) if carried else 0
        self.latest_used: np.ndarray | None = None

    @classmethod
    def with_trips(cls, inst: Instance, r: int, trips: list[Trip]) -> "RouteState":
        """A route state holding `trips` (not yet refreshed)."""
        st = cls(inst, r)
        st.trips = trips
        return st

    def stops(self) -> list[Stop]:
        """The route as a stop sequence."""
        out: list[Stop] = []
        for trip in self.trips:
            if trip.store >= 0:
                out.append((PICKUP, trip.store, tuple(trip.orders)))
            out.extend((DROP, k) for k in trip.orders)
        return out

    def keeps_times(self, latest_of: np.ndarray) -> bool:
        """Whether the route, as last refreshed, keeps every rule and starts no drop-off past
        `latest_of` (under a speed profile an insertion's check estimates how a push travels on)."""
        return self.sched.feasible and all(
            start <= latest_of[stop[1]] for stop, start in zip(self.stops(), self.sched.start) if stop[0] == DROP
        )

    def refresh(self, latest_of: np.ndarray) -> bool:
        """Recompute the schedule and slack arrays; False if the route breaks a hard rule."""
        inst, r = self.inst, self.r
        stops = self.stops()
        sched = schedule_route(inst, r, stops)
        self.sched = sched
        m = len(stops)
        n_idx = m + 2  # 0 = start, 1..m = stops, m+1 = end
        pt = np.zeros(n_idx, dtype=np.int64)
        arr = np.zeros(n_idx, dtype=np.int64)
        start = np.zeros(n_idx, dtype=np.int64)
        dep = np.zeros(n_idx, dtype=np.int64)
        latest = np.full(n_idx, NO_LIMIT, dtype=np.int64)
        ride_slack = np.full(n_idx, NO_LIMIT, dtype=np.int64)
        trip_of = np.full(n_idx, -1, dtype=np.int64)
        pickup_of = np.full(n_idx, -1, dtype=np.int64)  # index of the trip's pickup stop
        is_pickup = np.zeros(n_idx, dtype=bool)
        order_at = np.full(n_idx, -1, dtype=np.int64)  # the order a drop-off stop delivers
        pt[0] = inst.rider_point(r)
        arr[0] = start[0] = dep[0] = int(inst.available_s[r])
        i = 1
        for t, trip in enumerate(self.trips):
            p = -1
            if trip.store >= 0:
                pt[i] = inst.store_point(trip.store)
                p = i
                trip_of[i] = t
                is_pickup[i] = True
                if inst.shift_end_pickups[r]:
                    latest[i] = int(inst.shift_end_s[r])  # the shift end bounds each pickup
                i += 1
            for k in trip.orders:
                pt[i] = inst.order_point(k)
                order_at[i] = k
                latest[i] = latest_of[k]
                trip_of[i] = t
                pickup_of[i] = p
                i += 1
        arr[1 : m + 1] = sched.arrive
        start[1 : m + 1] = sched.start
        dep[1 : m + 1] = sched.depart
        end = n_idx - 1
        arr[end] = start[end] = dep[end] = sched.end_s
        latest[end] = NO_LIMIT if inst.shift_end_pickups[r] else int(inst.shift_end_s[r])
        for j in range(1, m + 1):
            p = pickup_of[j]
            if p > 0:
                k = stops[j - 1][1]
                ride_slack[j] = int(inst.max_ride_s[k]) - (start[j] - dep[p])
        # Ride slack is a suffix minimum within each trip: a push at j delays every later drop.
        rs = ride_slack.copy()
        for j in range(m - 1, 0, -1):
            if pickup_of[j] > 0 and pickup_of[j + 1] == pickup_of[j]:
                rs[j] = min(rs[j], rs[j + 1])
        wait = start - arr
        fts = np.zeros(n_idx, dtype=np.int64)
        fts[end] = latest[end] - start[end]
        for j in range(end - 1, 0, -1):
            fts[j] = wait[j] + min(latest[j] - start[j], fts[j + 1])
        old_leg = np.zeros(n_idx, dtype=np.int64)
        timed = inst.speed_profile is not None  # a leg is what riding it took, from its departure
        old_leg[1 : m + 1] = arr[1 : m + 1] - dep[:m] if timed else self.tt[pt[: m], pt[1 : m + 1]]
        if inst.return_to_store and m > 0:
            last = stops[-1][1] if stops[-1][0] == DROP else stops[-1][2][-1]
            pt[end] = inst.store_point(inst.end_store(r, last))
            old_leg[end] = sched.end_s - dep[m] if timed else self.tt[pt[m], pt[end]]
        self.pt, self.arr, self.start, self.dep = pt, arr, start, dep
        self.latest, self.rs, self.fts, self.old_leg = latest, rs, fts, old_leg
        self.trip_of, self.pickup_of, self.is_pickup, self.end = trip_of, pickup_of, is_pickup, end
        self.order_at, self.wait = order_at, wait
        self.trip_load = [
            (self.carried_load if t.store < 0 else int(inst.items[t.orders].sum()) if t.orders else 0)
            for t in self.trips
        ]
        self.latest_used = latest_of
        return sched.feasible

    def _legs(self, a, b, depart):
        """Legs from a to b leaving at `depart` (arrays): exact under a speed profile too."""
        if self.inst.speed_profile is None:
            return self.tt[a, b]
        return self.inst.legs_s(self.r, a, b, depart)

    def _tail(self, i: int, op: np.ndarray, dep_o: np.ndarray, end_pt: np.ndarray):
        """Cost of the leg after the new drop-off, and whether the push it causes fits (under a
        speed profile the push is exact at stop i and estimated beyond: `refresh` decides)."""
        if i == self.end:
            if self.inst.return_to_store:
                leg = self._legs(op, end_pt, dep_o)
            else:
                leg = np.zeros_like(op)
        else:
            leg = self._legs(op, self.pt[i], dep_o)
        push = dep_o + leg - self.arr[i]
        return leg - self.old_leg[i], push, push <= self.fts[i]

    def _push_cost(self, j0: int, j1: int, push: np.ndarray) -> np.ndarray:
        """Added cost, per candidate, of arriving `push` seconds later at stop j0, for the
        drop-offs j0..j1-1 (a wait on the way absorbs its share of the push)."""
        cost = np.zeros(len(push))
        push = push.astype(np.int64)
        for j in range(j0, j1):
            push = np.maximum(0, push - self.wait[j])
            if not push.any():
                break
            k = int(self.order_at[j])
            if k >= 0:
                s0 = int(self.start[j])
                cost += drop_time_costs(self.inst, k, s0 + push) - drop_time_costs(self.inst, k, s0)
        return cost

    def evaluate(
        self,
        cand: np.ndarray,
        cand_latest: np.ndarray,
        late_weight: np.ndarray | None,
        cand_promised: np.ndarray | None = None,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Best insertion of each candidate order into this route: (cost, kind, position).

        With `late_weight` (a search's), the drop-off time is priced as the objective prices it
        (the customer's clock and lateness); without, only the customer's clock (promises kept).
        With `cand_promised` too (a quote), every second past it is priced at `late_weight`.
        When the objective prices time, so is the delay the insertion causes to later stops.
        """
        inst, tt = self.inst, self.tt
        n = len(cand)
        best = np.full(n, INF)
        kind = np.zeros(n, dtype=np.int64)
        where = np.zeros(n, dtype=np.int64)
        if n == 0:
            return best, kind, where
        r = self.r
        cap, max_orders = int(inst.capacity[r]), int(inst.max_orders[r])
        op = inst.n_stores + inst.n_riders + cand
        store = inst.order_store[cand]
        sp = store  # store point index == store index
        ready = inst.ready_s[cand]
        items = inst.items[cand]
        svc = inst.service_s[cand]
        earliest = inst.earliest_s[cand]
        max_ride = inst.max_ride_s[cand]
        ps = inst.pickup_service_s[store]
        home = int(inst.home_store[r])
        end_pt = np.full(n, home) if home >= 0 else sp
        locked = inst.locked_to[cand]
        # A committed order goes only to the rider it is committed to.
        fits_alone = (items <= cap) & ((locked < 0) | (locked == r)) & inst.zone_ok[cand, r]
        assigned = inst.assigned_to[cand]
        moved = np.where((assigned >= 0) & (assigned != r), float(inst.problem.options.reassign_cost), 0.0)

        opts = inst.problem.options
        travel_cost = float(opts.travel_cost_per_s)
        clock_weight = (inst.priority[cand] * opts.click_to_door_cost_per_s).astype(float)

        def consider(cost, ok, start_o, k, i, push_cost=None):
            """Keep, per candidate, the cheapest feasible option seen so far."""
            if late_weight is not None and cand_promised is not None:
                # A quote: every second of the delivery is priced with `late_weight`.
                cost = cost + late_weight * np.maximum(0, start_o - cand_promised)
            elif late_weight is not None:
                cost = cost + drop_time_costs(inst, cand, start_o)
            else:  # promises kept (phase 1): only the customer's clock
                cost = cost + clock_weight * (start_o - inst.created_s[cand])
            if push_cost is not None:
                cost = cost + push_cost
            cost = np.where(ok, cost + moved, INF)
            better = cost < best
            if better.any():
                best[better] = cost[better]
                kind[better] = k
                where[better] = i

        # New trip before stop i, where i is a trip's pickup or the end.
        for i in range(1, self.end + 1):
            if i < self.end and not self.is_pickup[i]:
                continue  # a drop-off: not a trip boundary
            prev_pt, prev_dep = self.pt[i - 1], self.dep[i - 1]
            to_store = self._legs(prev_pt, sp, prev_dep)
            start_p = np.maximum(prev_dep + to_store, ready)
            ride = self._legs(sp, op, start_p + ps)
            start_o = np.maximum(start_p + ps + ride, earliest)
            leg_cost, push, fits = self._tail(i, op, start_o + svc, end_pt)
            ok = fits & (start_o <= cand_latest) & (start_o - (start_p + ps) <= max_ride) & fits_alone
            if inst.shift_end_pickups[r]:
                ok &= start_p <= int(inst.shift_end_s[r])
            pushed = self._push_cost(i, self.end, push) if opts.prices_time else None
            consider((to_store + ride + leg_cost) * travel_cost, ok, start_o, NEW_TRIP, i, pushed)

        # Join trip t: the drop-off goes between i-1 and i, after the trip's pickup p.
        for t, trip in enumerate(self.trips):
            if trip.store < 0:
                continue
            mask = store == trip.store
            if not mask.any():
                continue
            load_ok = (self.trip_load[t] + items <= cap) & (len(trip.orders) + 1 <= max_orders)
            ok_base = mask & load_ok & fits_alone
            if not ok_base.any():
                continue
            p = self._pickup_index(t)
            delta0 = np.maximum(0, ready - self.start[p])
            pre_slack = int(self.latest[p] - self.start[p])  # a shift end that bounds pickups
            for i in range(p + 1, p + len(trip.orders) + 2):
                if i - 1 > p:
                    pre_slack = min(pre_slack, int(self.latest[i - 1] - self.start[i - 1]))
                prev_pt = self.pt[i - 1]
                to_drop = self._legs(prev_pt, op, self.dep[i - 1] + delta0)
                start_o = np.maximum(self.dep[i - 1] + delta0 + to_drop, earliest)
                leg_cost, push, fits = self._tail(i, op, start_o + svc, end_pt)
                ok = ok_base & fits & (delta0 <= pre_slack) & (start_o <= cand_latest)
                ok &= start_o - (self.dep[p] + delta0) <= max_ride
                if i <= p + len(trip.orders):  # a later drop of this trip is pushed
                    ok &= push - delta0 <= self.rs[i]
                pushed = None
                if opts.prices_time:
                    # The wave's earlier drop-offs wait for the later pickup; the later stops are pushed.
                    pushed = self._push_cost(p + 1, i, delta0) + self._push_cost(i, self.end, push)
                consider((to_drop + leg_cost) * travel_cost, ok, start_o, JOIN, i, pushed)
        return best, kind, where

    def _pickup_index(self, t: int) -> int:
        i = 1
        for trip in self.trips[:t]:
            i += len(trip.orders) + (1 if trip.store >= 0 else 0)
        return i

    def apply(self, k: int, kind: int, i: int) -> None:
        """Insert order k as `evaluate` described it (kind, position i)."""
        if kind == NEW_TRIP:
            t = len(self.trips) if i == self.end else int(self.trip_of[i])
            self.trips.insert(t, Trip(int(self.inst.order_store[k]), [k]))
        else:
            t = int(self.trip_of[i - 1])
            p = self._pickup_index(t)
            self.trips[t].orders.insert(i - 1 - p, k)

    def remove(self, k: int) -> None:
        """Take order k out of its trip (a trip left empty disappears); refresh afterwards."""
        for t, trip in enumerate(self.trips):
            if k in trip.orders:
                trip.orders.remove(k)
                if not trip.orders and trip.store >= 0:
                    del self.trips[t]
                return


    def options_for(self, k: int) -> list[tuple[int, int]]:
        """Every (kind, position) at which order k could be inserted, as `apply` takes them."""
        out = [(NEW_TRIP, i) for i in range(1, self.end + 1) if i == self.end or self.is_pickup[i]]
        store = int(self.inst.order_store[k])
        for t, trip in enumerate(self.trips):
            if trip.store == store:
                p = self._pickup_index(t)
                out.extend((JOIN, i) for i in range(p + 1, p + len(trip.orders) + 2))
        return out


def _insert_exactly(inst: Instance, states: list[RouteState], left: list[int], latest_of: np.ndarray, deadline: float) -> list[int]:
    """Cheapest feasible insertion of each order, every route re-timed exactly (slow, for few)."""
    from dispatch.solver.routes import route_cost

    still: list[int] = []
    for k in sorted(left, key=lambda k: (-int(inst.priority[k]), int(inst.promised_s[k]))):
        if time.perf_counter() > deadline:
            still.append(k)
            continue
        best = None
        for st in states:
            base = route_cost(inst, st.sched)
            for kind, i in st.options_for(k):
                st.apply(k, kind, i)
                sched = schedule_route(inst, st.r, st.stops())
                st.remove(k)
                if sched.feasible:
                    delta = route_cost(inst, sched) - base
                    if best is None or delta < best[0]:
                        best = (delta, st, kind, i)
        if best is None:
            still.append(k)
            continue
        _, st, kind, i = best
        st.apply(k, kind, i)
        st.refresh(latest_of)
    return still


@dataclass(slots=True)
class Construction:
    """Routes (stop lists per rider) and the orders no route could take."""

    routes: list[list[Stop]]
    left: list[int]
    states: list[RouteState] | None  # None: not built (`route_states` builds them)
    complete: bool = True  # False: the deadline cut it short, some of `left` were never tried

    def route_states(self, inst: Instance) -> list[RouteState]:
        """The routes as route states (built once; refresh them with your limits before use)."""
        if self.states is None:
            states = states_from_routes(inst, self.routes)
            assert states is not None, "a first plan is made of single-store waves"
            self.states = states
        return self.states


def _regret_insert(
    states: list[RouteState],
    cand: list[int],
    latest_of: np.ndarray,
    cand_latest: np.ndarray,
    late_weight: np.ndarray | None,
    deadline: float,
) -> list[int]:
    """Insert candidates by largest regret; return those that fit nowhere."""
    inst = states[0].inst if states else None
    if not cand or inst is None:
        return list(cand)
    cand_arr = np.array(cand, dtype=np.int64)
    n, R = len(cand_arr), len(states)
    cost = np.full((n, R), INF)
    kinds = np.zeros((n, R), dtype=np.int64)
    where = np.zeros((n, R), dtype=np.int64)
    lw = late_weight
    for r, st in enumerate(states):
        cost[:, r], kinds[:, r], where[:, r] = st.evaluate(cand_arr, cand_latest, lw)
    alive = np.ones(n, dtype=bool)
    left: list[int] = []
    drop_cost = inst.drop_cost[cand_arr].astype(float)
    while alive.any():
        idx = np.flatnonzero(alive)
        sub = cost[idx]
        if R >= 2:
            part = np.partition(sub, 1, axis=1)
            first, second = part[:, 0], part[:, 1]
        else:
            first = sub[:, 0]
            second = np.full(len(idx), INF)
        # An insertion dearer than leaving the order out (to a third party) is no option.
        feasible = np.isfinite(first) & (first < drop_cost[idx])
        if not feasible.any():
            left.extend(int(cand_arr[u]) for u in idx)
            break
        # Regret: what we lose by not taking the best route now; the last resort is to leave
        # the order out, so its drop penalty bounds the second-best alternative.
        alternative = np.minimum(second, drop_cost[idx])
        regret = np.where(feasible, alternative - np.where(feasible, first, 0.0), -INF)
        # Ties (many idle riders) go to the order that is cheapest to serve.
        pick = idx[int(np.lexsort((first, -regret))[0])]
        r = int(np.argmin(cost[pick]))
        k = int(cand_arr[pick])
        st = states[r]
        st.apply(k, int(kinds[pick, r]), int(where[pick, r]))
        if not st.refresh(latest_of) or (inst.speed_profile is not None and not st.keeps_times(latest_of)):
            # A mismatch between the fast check and the exact schedule: never keep it.
            st.remove(k)
            st.refresh(latest_of)
            cost[pick, r] = INF
            continue
        alive[pick] = False
        rest = np.flatnonzero(alive)
        if rest.size:
            c, kd, wh = st.evaluate(
                cand_arr[rest], cand_latest[rest], None if lw is None else lw[rest]
            )
            cost[rest, r], kinds[rest, r], where[rest, r] = c, kd, wh
        if time.perf_counter() > deadline:
            left.extend(int(cand_arr[u]) for u in np.flatnonzero(alive))
            break
    return left


def hard_latest(inst: Instance) -> np.ndarray:
    """Latest drop-off start per order when promises are kept (carried orders are never pushed)."""
    return np.minimum(np.where(inst.carried_by >= 0, NO_LIMIT, inst.promised_s), inst.deadline_s).astype(np.int64)


def recreate(
    inst: Instance, states: list[RouteState], cand: list[int], promised: np.ndarray, deadline: float
) -> list[int]:
    """Insert `cand` into the routes of `states` (phases 1-3); return what fits nowhere."""
    for st in states:
        if st.latest_used is not promised:
            st.refresh(promised)
    cand_arr = np.array(cand, dtype=np.int64)
    left = _regret_insert(states, cand, promised, promised[cand_arr], None, deadline)
    if inst.problem.options.lateness == "soft" and left and time.perf_counter() < deadline:
        # Phase 2: nobody planned gets later than their promise or than they already are.
        latest, weight = search_limits(inst, [st.stops() for st in states], left)
        for st in states:
            st.refresh(latest)
        left_arr = np.array(left, dtype=np.int64)
        left = _regret_insert(states, left, latest, latest[left_arr], weight[left_arr], deadline)
        if left:
            # Phase 3: serving beats any lateness, so let the rest push others later too.
            unbounded = inst.deadline_s.copy()
            for st in states:
                st.refresh(unbounded)
            left = _insert_exactly(inst, states, left, unbounded, deadline)
    return left


def states_from_routes(inst: Instance, routes: list[list[Stop]]) -> list[RouteState] | None:
    """Route states for stop lists made of single-store waves (None if a route is not)."""
    states = initial_states(inst)
    for st, stops in zip(states, routes):
        carried = set(inst.carried_of_rider[st.r])
        trips: list[Trip] = [Trip(-1, [])] if carried else []
        for stop in stops:
            if stop[0] == PICKUP:
                trips.append(Trip(stop[1], []))
            elif stop[1] in carried:
                if len(trips) != 1:
                    return None  # a carried drop-off after a pickup: not a wave route
                trips[0].orders.append(stop[1])
            else:
                trips[-1].orders.append(stop[1])
        for trip, stop in zip([t for t in trips if t.store >= 0], [s for s in stops if s[0] == PICKUP]):
            if sorted(trip.orders) != sorted(stop[2]):
                return None  # a pickup's orders are not exactly its wave's drop-offs
        st.trips = trips
    return states


def search_limits(inst: Instance, routes: list[list[Stop]], left: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """Latest start per order and lateness weight for improving a plan.

    Hard promises stay hard. With soft ones, nobody planned may get later than their promise
    or than they already are, an order left out may be placed late, and lateness is priced;
    unless the objective prices time, and with it every push, when only deadlines bound.
    """
    latest = hard_latest(inst)
    if inst.problem.options.lateness == "hard":
        return latest, np.zeros(inst.n_orders)
    weight = (inst.priority * inst.problem.options.late_cost_per_s).astype(float)
    if inst.problem.options.prices_time:
        # Every insertion prices the delay it causes to the stops after it: the search may
        # trade one order's lateness for another's, and no order needs a bound but its deadline.
        return inst.deadline_s.copy(), weight
    for r, stops in enumerate(routes):
        for stop, start in zip(stops, schedule_route(inst, r, stops).start):
            if stop[0] == DROP:
                latest[stop[1]] = max(latest[stop[1]], start)
    left_arr = np.array(left, dtype=np.int64)
    latest[left_arr] = inst.deadline_s[left_arr]
    return latest, weight


def wave_shaped(inst: Instance, routes: list[list[Stop]]) -> bool:
    """Whether every pickup collects exactly the new orders dropped after it, up to the next pickup."""
    for stops in routes:
        expected: list[int] | None = None
        got: list[int] = []
        for stop in stops + [(PICKUP, -1, ())]:
            if stop[0] == PICKUP:
                if expected is not None and sorted(expected) != sorted(got):
                    return False
                expected, got = list(stop[2]), []
            elif inst.carried_by[stop[1]] < 0:
                if expected is None:
                    return False
                got.append(stop[1])
    return True


def initial_states(inst: Instance) -> list[RouteState]:
    """One route per rider holding only the orders it already carries."""
    return [RouteState(inst, r) for r in range(inst.n_riders)]


def construct(inst: Instance, orders: list[int], deadline: float) -> Construction:
    """Build routes for `orders` (carried orders are placed on their riders first)."""
    states = initial_states(inst)
    todo = [k for k in orders if inst.carried_by[k] < 0]
    left = recreate(inst, states, todo, hard_latest(inst), deadline)
    complete = not left or time.perf_counter() <= deadline
    return Construction(routes=[st.stops() for st in states], left=left, states=states, complete=complete)
