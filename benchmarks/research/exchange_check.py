"""Whether a plan can be improved by re-dividing two (or three) riders' orders: an exact check.

A plan is *pair-optimal* when, for every two riders, no other division of their orders between
them, each rider riding at most two waves, rides less; *triple-optimal* likewise for every
three riders. The pair neighbourhood holds every move a local search makes between two routes
(relocate, swap, 2-opt*, SWAP*, whole waves, and any chain of them) whose result leaves each
of the two at most two waves: a pair-optimal plan is left for a better one only by changing
three routes or more at once (or by a third wave).

Exact for the peers' model (`peers.peer_supported`: one store, riders at it with nothing on
board, hard promises, open routes) without scheduled drop-offs: within a wave the rider never
waits, so the fastest sequence of a set of orders is also the one that rides least, and a
dynamic programme over the subsets of a wave's orders finds it. Per rider, the programme
prices every subset of the group's orders as one or two waves; the group's best division
combines those prices. Groups holding more than `MAX_ORDERS` orders, or a rider with more
than two waves, are skipped (and counted). Every improvement found is rebuilt as a plan and
checked by the validator before it is told.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field

import numpy as np
from numba import njit

from dispatch import problem_from_document
from dispatch.instance import NO_LIMIT, Instance
from dispatch.plan import Plan
from dispatch.validate import validate_plan

from benchmarks.peers import peer_supported
from benchmarks.store_data import plan_from_waves, routed_instance, waves_of

# Subsets per rider: 2^14 for a pair (about a second here), 2^18 for three riders (2-40 s).
MAX_ORDERS = {2: 14, 3: 18}
_NONE = np.iinfo(np.int64).max // 4


@njit(cache=True)
def _wave_table(members, count, t_at_store, tt, store, points, ready, promised, service, ps):
    """For each subset of a wave's orders and each last one, the earliest end of its last
    service (_NONE where no sequence keeps every promise), leaving the store once all the
    wave's orders are ready; and that departure time."""
    full = (1 << count) - 1
    latest_ready = t_at_store
    for i in range(count):
        if ready[members[i]] > latest_ready:
            latest_ready = ready[members[i]]
    depart = latest_ready + ps
    done = np.full((full + 1, count), _NONE, dtype=np.int64)
    for i in range(count):
        k = members[i]
        t = depart + tt[store, points[k]]
        if t <= promised[k]:
            done[1 << i, i] = t + service[k]
    for s in range(1, full + 1):
        for j in range(count):
            if done[s, j] >= _NONE:
                continue
            for i in range(count):
                if s >> i & 1:
                    continue
                k = members[i]
                t = done[s, j] + tt[points[members[j]], points[k]]
                if t <= promised[k] and t + service[k] < done[s | 1 << i, i]:
                    done[s | 1 << i, i] = t + service[k]
    return done, depart


@njit(cache=True)
def _members(orders, m, members, service):
    """Write the orders of subset m into `members`; returns their count and summed service."""
    c = 0
    services = 0
    for i in range(orders.shape[0]):
        if m >> i & 1:
            members[c] = orders[i]
            services += service[orders[i]]
            c += 1
    return c, services


@njit(cache=True)
def _best_routes(orders, start_at, lead, tt, store, points, ready, promised, service, items, cap, max_orders, ps,
                 shift_end):
    """Least travel of one rider's route over each subset of `orders` (bit i: orders[i]), in at
    most two waves; inf where no such route keeps every rule. Index 0, no orders, costs 0.

    Also, per subset, how the best route is made: its first wave (the subset itself when it
    is one wave), and the positions in `orders` of the first wave's and the route's last order.
    """
    n = orders.shape[0]
    size = 1 << n
    best = np.full(size, np.inf)
    best[0] = 0.0
    how = np.full((size, 3), -1, dtype=np.int64)
    count = np.zeros(size, dtype=np.int64)
    load = np.zeros(size, dtype=np.int64)
    for m in range(1, size):
        low = 0
        while not (m >> low & 1):
            low += 1
        count[m] = count[m & (m - 1)] + 1
        load[m] = load[m & (m - 1)] + items[orders[low]]
    members = np.empty(n, dtype=np.int64)
    position = np.empty(n, dtype=np.int64)
    # first waves: for each subset and each last order, when the rider is done and what it rode
    first_end = np.full((size, n), _NONE, dtype=np.int64)
    first_travel = np.zeros((size, n), dtype=np.int64)
    single = np.full(size, np.inf)  # least travel as one wave from the start
    for m in range(1, size):
        if count[m] > max_orders or load[m] > cap:
            continue
        c, services = _members(orders, m, members, service)
        done, depart = _wave_table(members, c, start_at + lead, tt, store, points, ready, promised, service, ps)
        ends = done[(1 << c) - 1]
        j = 0
        for i in range(n):
            if m >> i & 1:
                if ends[j] < _NONE and ends[j] <= shift_end:
                    first_end[m, i] = ends[j]
                    first_travel[m, i] = lead + ends[j] - depart - services
                    if first_travel[m, i] < single[m]:
                        single[m] = first_travel[m, i]
                    if first_travel[m, i] < best[m]:
                        best[m] = first_travel[m, i]
                        how[m, 0] = m
                        how[m, 1] = i
                        how[m, 2] = i
                j += 1
    # two waves: a first wave s ending at order i, back to the store, then the rest of m
    for m in range(1, size):
        if count[m] < 2 or count[m] > 2 * max_orders:
            continue
        s = (m - 1) & m
        while s > 0:
            rest = m ^ s
            # Leaving later only tightens the promises: a second wave rides at least what it
            # rides leaving at the earliest, and cannot be made at all if it cannot be then.
            if single[rest] < np.inf and count[s] <= max_orders:
                c, services = _members(orders, rest, members, service)
                j = 0
                for i in range(n):
                    if rest >> i & 1:
                        position[j] = i
                        j += 1
                for i in range(n):
                    if first_end[s, i] >= _NONE:
                        continue
                    back = tt[points[orders[i]], store]
                    if first_travel[s, i] + back + single[rest] - lead >= best[m]:
                        continue
                    done, depart = _wave_table(members, c, first_end[s, i] + back, tt, store, points, ready,
                                               promised, service, ps)
                    ends = done[(1 << c) - 1]
                    for j in range(c):
                        if ends[j] < _NONE and ends[j] <= shift_end:
                            total = first_travel[s, i] + back + ends[j] - depart - services
                            if total < best[m]:
                                best[m] = total
                                how[m, 0] = s
                                how[m, 1] = i
                                how[m, 2] = position[j]
            s = (s - 1) & m
    return best, how


@njit(cache=True)
def _split_table(best_b, best_c):
    """For each subset, the least travel of dividing it between riders b and c (3^n steps)."""
    out = np.full(best_b.shape[0], np.inf)
    for m in range(best_b.shape[0]):
        s = m
        while True:
            v = best_b[s] + best_c[m ^ s]
            if v < out[m]:
                out[m] = v
            if s == 0:
                break
            s = (s - 1) & m
    return out


@njit(cache=True)
def _best_split(best_b, best_c, m):
    """The part of subset m rider b takes in the cheapest division of m between b and c."""
    pick = 0
    least = np.inf
    s = m
    while True:
        v = best_b[s] + best_c[m ^ s]
        if v < least:
            least = v
            pick = s
        if s == 0:
            break
        s = (s - 1) & m
    return pick


@dataclass
class _Rider:
    """What the programme needs of one rider."""

    start_at: int
    lead: int  # seconds from the start to the store
    tt: np.ndarray
    cap: int
    max_orders: int
    shift_end: int

    def alike(self, other: _Rider) -> bool:
        """Whether every route costs and times the same for both riders."""
        same = (self.start_at, self.lead, self.cap, self.max_orders, self.shift_end) == (
            other.start_at, other.lead, other.cap, other.max_orders, other.shift_end)
        return same and np.array_equal(self.tt, other.tt)


@dataclass(frozen=True)
class GroupResult:
    """A group of riders' travel now and the least travel any division of their orders gives."""

    riders: tuple[str, ...]
    orders: int
    travel_s: int
    best_travel_s: int
    waves: dict[str, list[list[str]]] = field(default_factory=dict)  # the better division, if any


@dataclass
class ExchangeCheck:
    """The check over every group of `size` riders of one plan."""

    size: int
    travel_s: int
    groups: list[GroupResult]
    skipped: list[tuple[tuple[str, ...], str]]  # riders and why

    @property
    def best_gain_s(self) -> int:
        """Travel the best single change of a group saves (0: no group can do better)."""
        return max((g.travel_s - g.best_travel_s for g in self.groups), default=0)


def _rider(inst: Instance, r: int) -> _Rider:
    tt = np.ascontiguousarray(np.asarray(inst.travel_s_of_rider[r][:, :], dtype=np.int64))
    return _Rider(
        start_at=int(inst.available_s[r]),
        lead=int(tt[inst.rider_point(r), inst.store_point(0)]),
        tt=tt,
        cap=int(inst.capacity[r]),
        max_orders=int(inst.max_orders[r]),
        shift_end=int(min(inst.shift_end_s[r], NO_LIMIT)),
    )


def _subset_costs(inst: Instance, rider: _Rider, orders: np.ndarray, arrays: tuple) -> tuple[np.ndarray, np.ndarray]:
    return _best_routes(orders, rider.start_at, rider.lead, rider.tt, inst.store_point(0), *arrays, rider.cap,
                        rider.max_orders, int(inst.pickup_service_s[0]), rider.shift_end)


def _order_arrays(inst: Instance) -> tuple[np.ndarray, ...]:
    """Drop-off points, ready, promised, service and items of every order, as the kernels take them."""
    points = np.array([inst.order_point(k) for k in range(inst.n_orders)], dtype=np.int64)
    return (points, inst.ready_s.astype(np.int64), inst.promised_s.astype(np.int64), inst.service_s.astype(np.int64),
            inst.items.astype(np.int64))


def _wave_sequence(inst: Instance, rider: _Rider, arrays: tuple, wave: list[int], t_at_store: int, last: int
                   ) -> tuple[list[int], int]:
    """The fastest sequence of `wave` ending at order `last`, leaving the store at once when
    all are ready, and the end of its last service (traced back through the programme)."""
    points, ready, promised, service, _ = arrays
    members = np.array(wave, dtype=np.int64)
    done, _ = _wave_table(members, len(wave), t_at_store, rider.tt, inst.store_point(0), points, ready, promised,
                          service, int(inst.pickup_service_s[0]))
    subset, j = (1 << len(wave)) - 1, wave.index(last)
    end = int(done[subset, j])
    sequence = [last]
    while subset != 1 << j:
        before = subset ^ (1 << j)
        arrival = done[subset, j] - service[wave[j]]
        j = next(i for i in range(len(wave)) if before >> i & 1 and done[before, i] < _NONE
                 and done[before, i] + rider.tt[points[wave[i]], points[wave[j]]] == arrival)
        subset = before
        sequence.append(wave[j])
    return sequence[::-1], end


def _route(inst: Instance, rider: _Rider, arrays: tuple, orders: list[int], subset: int, how: np.ndarray
           ) -> list[list[int]]:
    """The waves (orders in sequence) of the best route the programme found for `subset` of `orders`."""
    if subset == 0:
        return []
    first_mask, first_last, last = (int(x) for x in how[subset])
    first = [orders[i] for i in range(len(orders)) if first_mask >> i & 1]
    seq, end = _wave_sequence(inst, rider, arrays, first, rider.start_at + rider.lead, orders[first_last])
    waves = [seq]
    if first_mask != subset:
        rest = [orders[i] for i in range(len(orders)) if (subset ^ first_mask) >> i & 1]
        back = int(rider.tt[inst.order_point(seq[-1]), inst.store_point(0)])
        waves.append(_wave_sequence(inst, rider, arrays, rest, end + back, orders[last])[0])
    return waves


def check_exchanges(doc: dict, plan: Plan, size: int = 2, riders: set[str] | None = None) -> ExchangeCheck:
    """Check every group of `size` (2 or 3) riders of `plan`, a plan of the problem `doc`, for a
    better division of their orders; with `riders`, only groups among those riders.

    Raises ValueError when the problem is outside the model the check is exact for.
    """
    if size not in MAX_ORDERS:
        raise ValueError(f"size: groups of {sorted(MAX_ORDERS)} riders, not {size}")
    inst = routed_instance(doc)
    why = peer_supported(inst)
    if why is None and np.any(inst.earliest_s > -NO_LIMIT):
        why = "scheduled drop-offs"
    if why:
        raise ValueError(f"problem: the exchange check is exact only for the peers' model, not with {why}")
    order_index = {o.id: k for k, o in enumerate(inst.orders)}
    rider_index = {r.id: i for i, r in enumerate(inst.problem.riders)}
    waves = {rid: [[order_index[o] for o in w] for w in ws] for rid, ws in waves_of(plan).items()}
    travel = {route.rider_id: route.travel_s for route in plan.routes}
    used = sorted((rid for rid in waves if riders is None or rid in riders), key=lambda rid: rider_index[rid])
    shapes = {rid: _rider(inst, rider_index[rid]) for rid in used}
    arrays = _order_arrays(inst)
    groups, skipped = [], []
    for group in itertools.combinations(used, size):
        orders = [k for rid in group for w in waves[rid] for k in w]
        if len(orders) > MAX_ORDERS[size] or any(len(waves[rid]) > 2 for rid in group):
            skipped.append((group, f"{len(orders)} orders" if len(orders) > MAX_ORDERS[size] else "a route of 3+ waves"))
            continue
        groups.append(_check_group(inst, doc, plan, group, orders, waves, travel, [shapes[rid] for rid in group], arrays))
    return ExchangeCheck(size, sum(travel.values()), groups, skipped)


def _check_group(inst: Instance, doc: dict, plan: Plan, group: tuple[str, ...], orders: list[int],
                 waves: dict[str, list[list[int]]], travel: dict[str, int], shapes: list[_Rider], arrays: tuple
                 ) -> GroupResult:
    """The least travel of any division of `orders` among the riders of `group`."""
    arr = np.array(orders, dtype=np.int64)
    tables: list[tuple[np.ndarray, np.ndarray]] = []
    for shape in shapes:
        # Alike riders (the peers' model has only those) have the same route for each subset.
        same = next((t for other, t in zip(shapes, tables) if other.alike(shape)), None)
        tables.append(same if same is not None else _subset_costs(inst, shape, arr, arrays))
    full = (1 << len(orders)) - 1
    start = 0
    for rid, (cost, _) in zip(group, tables):
        own = sum(len(w) for w in waves[rid])
        mask = ((1 << own) - 1) << start  # the group's orders are listed rider by rider
        start += own
        if cost[mask] > travel[rid]:
            raise AssertionError(f"rider {rid}: the programme prices its route at {cost[mask]:g} s, the plan at "
                                 f"{travel[rid]} s")
    first, rest = tables[0][0], tables[1][0] if len(group) == 2 else _split_table(tables[1][0], tables[2][0])
    totals = first + rest[full ^ np.arange(full + 1)]
    division = [int(np.argmin(totals))]
    if len(group) == 3:
        part = _best_split(tables[1][0], tables[2][0], full ^ division[0])
        division.append(int(part))
    division.append(full ^ sum(division))
    now = sum(travel[rid] for rid in group)
    best = int(round(float(totals[division[0]])))
    better: dict[str, list[list[str]]] = {}
    if best < now:
        ids = [o.id for o in inst.orders]
        better = {rid: [[ids[k] for k in wave] for wave in _route(inst, shape, arrays, orders, m, how)]
                  for rid, shape, (_, how), m in zip(group, shapes, tables, division)}
        _check_division(doc, plan, better, best)
    return GroupResult(group, len(orders), now, min(best, now), better)


def _check_division(doc: dict, plan: Plan, division: dict[str, list[list[str]]], travel_s: int) -> None:
    """Raise unless `plan` with these riders' waves replaced passes the validator and rides, on
    these riders, the travel the programme promised."""
    waves = waves_of(plan)
    waves.update(division)
    rebuilt = plan_from_waves(doc, waves)
    problems = validate_plan(problem_from_document(doc), rebuilt.to_document())
    group_travel = sum(r.travel_s for r in rebuilt.routes if r.rider_id in division)
    if problems or group_travel != travel_s:
        raise AssertionError(f"the exchange check's division does not hold: travel {group_travel} against {travel_s}, "
                             f"{problems[:3]}")
