"""Ruin and recreate on trips: remove related orders or whole waves, re-insert by regret.

The recreate step is the construction's own trip-aware regret insertion, so every
candidate plan keeps every hard rule by construction and is re-timed exactly. Acceptance is
a threshold that falls linearly to zero over the budget (record-to-record travel), which is
simple, needs no tuning per size, and is what SISR-style searches use to escape the local
optima a plain descent stops in.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from dispatch.instance import Instance
from dispatch.solver.construct import RouteState, Trip, hard_latest, recreate
from dispatch.solver.routes import Stop, route_cost, unassigned_cost


@dataclass(slots=True)
class SearchResult:
    """The best routes found, the orders still left out, and how many iterations ran."""

    trips: list[list[Trip]] | None  # the Python search's waves
    left: list[int]
    cost: int
    iterations: int
    routes: list[list[Stop]] | None = None  # the compiled search's stop lists

    def stop_lists(self, inst: Instance) -> list[list[Stop]]:
        """The routes as stop lists, whichever search produced them."""
        if self.routes is not None:
            return self.routes
        from dispatch.solver.construct import RouteState

        return [RouteState.with_trips(inst, r, trips).stops() for r, trips in enumerate(self.trips or [])]


def _snapshot(st: RouteState) -> list[Trip]:
    return [Trip(t.store, list(t.orders)) for t in st.trips]


def _solution_cost(inst: Instance, states: list[RouteState], left: list[int]) -> int:
    return sum(route_cost(inst, st.sched) for st in states) + sum(unassigned_cost(inst, k) for k in left)


class RuinRecreate:
    """Large neighbourhood search over a list of route states (changed in place)."""

    def __init__(self, inst: Instance, states: list[RouteState], left: list[int], seed: int):
        self.inst = inst
        self.states = states
        self.left = list(left)
        self.rng = np.random.default_rng(seed)
        self.promised = hard_latest(inst)
        for st in states:
            st.refresh(self.promised)
        n = inst.n_orders
        pts = inst.n_stores + inst.n_riders + np.arange(n)
        tt = inst.travel_s_of_rider[0] if inst.n_riders else np.zeros((0, 0))
        # Relatedness: drop-offs close to each other (symmetrised travel time).
        if n:
            sub = tt[np.ix_(pts, pts)].astype(float)
            self.neighbours = np.argsort(sub + sub.T, axis=1, kind="stable")
        else:
            self.neighbours = np.zeros((0, 0), dtype=np.int64)
        self.route_of = np.full(n, -1, dtype=np.int64)
        self.near_count = 3
        self._index_routes()

    def _index_routes(self) -> None:
        self.route_of[:] = -1
        for r, st in enumerate(self.states):
            for trip in st.trips:
                self.route_of[trip.orders] = r

    def _movable(self, k: int) -> bool:
        return self.inst.carried_by[k] < 0 and self.route_of[k] >= 0

    def _routes_near(self, removed: list[int], touched: list[int]) -> list[int]:
        """Routes worth trying for the removed orders: theirs, their neighbours', one idle one."""
        if self.left:
            return list(range(len(self.states)))
        near = set(touched)
        for k in removed:
            for nb in self.neighbours[k][1 : self.near_count + 1]:
                r = int(self.route_of[nb])
                if r >= 0:
                    near.add(r)
        idle = [r for r, st in enumerate(self.states) if not st.trips and r not in near]
        if idle:
            near.add(idle[int(self.rng.integers(len(idle)))])
        return sorted(near)

    def _ruin(self, planned: np.ndarray) -> list[int]:
        """Pick orders to take out: a radial cluster, or whole waves near a seed order."""
        rng = self.rng
        seed = int(planned[rng.integers(len(planned))])
        size = int(rng.integers(2, max(3, min(16, len(planned) // 4 + 2))))
        if rng.random() < 0.3:
            out: list[int] = []
            for k in self.neighbours[seed]:
                k = int(k)
                if not self._movable(k) or k in out:
                    continue
                st = self.states[self.route_of[k]]
                trip = next(t for t in st.trips if k in t.orders)
                out.extend(o for o in trip.orders if o not in out)
                if len(out) >= size:
                    break
            return out
        out = []
        for k in self.neighbours[seed]:
            k = int(k)
            if self._movable(k):
                out.append(k)
                if len(out) >= size:
                    break
        return out

    def run(self, deadline: float, max_iterations: int | None, stop=None) -> SearchResult:
        """Search until the deadline or for `max_iterations` iterations, whichever comes first
        (or until `stop`, a threading.Event, is set)."""
        inst, states = self.inst, self.states
        current = _solution_cost(inst, states, self.left)
        best = current
        best_trips = [_snapshot(st) for st in states]
        best_left = list(self.left)
        start = time.perf_counter()
        span = max(1e-6, deadline - start)
        threshold0 = 0.01 * current / max(1, inst.n_orders) * 3
        it = 0
        while True:
            if stop is not None and stop.is_set():
                break
            if max_iterations is not None:
                if it >= max_iterations or time.perf_counter() >= deadline:
                    break
                progress = it / max(1, max_iterations)
            else:
                now = time.perf_counter()
                if now >= deadline:
                    break
                progress = (now - start) / span
            it += 1
            planned = np.flatnonzero(self.route_of >= 0)
            planned = planned[inst.carried_by[planned] < 0]
            if planned.size == 0 and not self.left:
                break
            removed = self._ruin(planned) if planned.size else []
            touched = sorted({int(self.route_of[k]) for k in removed})
            before = {r: _snapshot(states[r]) for r in range(len(states))}
            for k in removed:
                states[self.route_of[k]].remove(k)
            for r in touched:
                states[r].refresh(self.promised)
            # Re-insert in a random order of ties; the regret rule decides the rest.
            cand = removed + self.left
            self.rng.shuffle(cand)
            subset = self._routes_near(removed, touched)
            left = recreate(inst, [states[r] for r in subset], cand, self.promised, float("inf"))
            new = _solution_cost(inst, states, left)
            threshold = threshold0 * (1.0 - progress)
            if new < current + threshold:
                current = new
                self.left = left
                self._index_routes()
                if new < best:
                    best = new
                    best_trips = [_snapshot(st) for st in states]
                    best_left = list(left)
            else:
                for r, trips in before.items():
                    if [t.orders for t in trips] != [t.orders for t in states[r].trips]:
                        states[r].trips = trips
                        states[r].refresh(self.promised)
        return SearchResult(best_trips, best_left, best, it)
