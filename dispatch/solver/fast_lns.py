"""Ruin and recreate on waves, compiled with numba: the same moves as `lns`, ~100x faster.

Routes are flat arrays per rider (`kind`: 0 pickup, 1 drop-off; `val`: store or order).
A pickup stop collects the orders dropped after it up to the next pickup; drop-offs before
the first pickup are carried orders. Insertion checks are O(1) per position through forward
time slack, exactly as in `construct.RouteState.evaluate`; every route is re-timed exactly
after each change, and the caller re-times and validates the result once more in Python.
numba has no clock, so the search runs in chunks of iterations and Python checks the time.
"""

from __future__ import annotations

import time
import weakref
from dataclasses import dataclass

import numpy as np
from numba import njit

from dispatch.instance import NO_LIMIT, Instance
from dispatch.solver.lns import SearchResult
from dispatch.solver.routes import DROP, PICKUP, Stop
from dispatch.travel import profile_leg_s

BIG = NO_LIMIT
# The acceptance threshold, in average cost per order, at the start of a search; it falls to
# 0 over the search. How each constant below was chosen: docs/SOLVER_NOTES.md, by its name.
THRESHOLD = 0.03
# Beyond this many orders it falls with (THRESHOLD_FULL_UP_TO / orders)^4: a big problem is far
# from converged within a store's budget, and a high threshold only wanders.
THRESHOLD_FULL_UP_TO = 100
# ...and never above this on store problems: with kicks, nearer descent does better.
THRESHOLD_MAX = 0.005
# Scheduled problems (`Instance.windowed`) must accept far worse plans to move between waits.
THRESHOLD_WITH_WINDOWS = 3.0
# Share of ruins that remove strings of consecutive drop-offs (SISR): long routes need whole
# segments out to be reordered.
STRING_SHARE = 0.5
STRING_SHARE_WITH_WINDOWS = 0.6
# Most orders a ruin removes: small ruins make cheap iterations, which short budgets need;
# scheduled problems keep bigger ones.
RUIN_MAX = 10
RUIN_MAX_WITH_WINDOWS = 16
# Kicks: after STALL_PER_ORDER x orders iterations without a better best, back to the best plan
# and ruin KICK_SHARE of it (at most KICK_MAX orders), accepted whatever it costs, to leave a
# local optimum the threshold cannot.
STALL_PER_ORDER = 20.0
KICK_SHARE = 0.3
KICK_MAX = 30
# A recreate of more than LAZY_FROM orders (a first plan) re-evaluates after an insertion only
# the orders among the LAZY_NEAR nearest of it or whose two best routes it was: the others'
# values barely move, and re-evaluating all of them dominated big first plans.
LAZY_FROM = 150
LAZY_NEAR = 20
# In waves of more than GRANULAR_FROM drop-offs an order is tried only next to one of its
# GRANULAR_NEAR nearest (and at the wave's ends): long waves made every insertion costly.
GRANULAR_FROM = 12
GRANULAR_NEAR = 12
PICK = 0
DROPK = 1
# The kernels called tens of times per iteration allocate nothing, so they are compiled without
# numba's reference counting (`_nrt`, underscored: a numba without it compiles them with it).
try:
    from numba.core.options import DefaultOptions

    LEAF = {"cache": True, "_nrt": False} if hasattr(DefaultOptions, "_nrt") else {"cache": True}
except ImportError:  # pragma: no cover - numba moved its options
    LEAF = {"cache": True}
# The steps of an iteration (kick, ruin, recreate, accept and their parts) are compiled
# without reference counting and inlined by LLVM into `_search`, which allocates the scratch
# arrays, so LLVM knows they do not overlap. Each can still be called alone (the tests do).
STEP = {**LEAF, "forceinline": True}


@njit(**LEAF)
def _tt(tt, dist, spd, c, a, b):
    """Seconds from point a to b for travel class c: a stored matrix, or metres / speed."""
    if tt.shape[0] > 0:
        return tt[c, a, b]
    return np.int64(np.rint(dist[a, b] / spd[c]))


# The validator's own rule compiled: solver and judge compute the same seconds.
_profile_leg = njit(**LEAF)(profile_leg_s)
# How the kernels time a leg (`_leg`): static seconds, or through a speed profile from base
# seconds of metres / speed (haversine) or of the stored duration matrix.
STATIC, PROFILE_METRES, PROFILE_MATRIX = 0, 1, 2


@njit(**LEAF)
def _leg(tt, dist, spd, c, a, b, t, td):
    """Seconds from point a to b for travel class c leaving at t: `_tt`, or ridden through the
    speed profile `td` = (mode, factors, period_s, midnight_s)."""
    mode, factors, period_s, midnight_s = td
    if mode == STATIC:
        return _tt(tt, dist, spd, c, a, b)
    if mode == PROFILE_MATRIX:
        base = np.float64(tt[c, a, b])
    else:
        base = dist[a, b] / spd[c]
    return np.int64(_profile_leg(t, base, factors, period_s, midnight_s))


@njit(**LEAF)
def _time_cost(k, start, o_created, o_promised, ctd_w, late_w, fixed_w, steep_after, steep_w):
    """What order k's drop-off starting at `start` costs: the customer's clock and lateness
    (as `routes.drop_time_costs`, with the search's lateness weight)."""
    cost = ctd_w[k] * (start - o_created[k])
    late = start - o_promised[k]
    if late > 0:
        cost += late_w[k] * late + fixed_w[k]
        if late > steep_after:
            cost += steep_w[k] * (late - steep_after)
    return cost


@njit(**LEAF)
def _push_cost(r, j0, j1, push, kind, val, arr, st, o_created, o_promised, ctd_w, late_w, fixed_w, steep_after,
               steep_w):
    """Added cost of arriving `push` seconds later at stop j0 of route r, for the drop-offs
    j0..j1-1 (a wait on the way absorbs its share of the push)."""
    cost = 0.0
    j = j0
    while j < j1 and push > 0:
        push -= st[r, j] - arr[r, j]
        if push <= 0:
            break
        if kind[r, j - 1] == DROPK:
            k = val[r, j - 1]
            s0 = st[r, j]
            cost += (_time_cost(k, s0 + push, o_created, o_promised, ctd_w, late_w, fixed_w, steep_after, steep_w)
                     - _time_cost(k, s0, o_created, o_promised, ctd_w, late_w, fixed_w, steep_after, steep_w))
        j += 1
    return cost


@njit(**LEAF)
def _refresh(r, routes, prob, cache):
    """Exact schedule and slack arrays of route r; returns False if it breaks a rule."""
    kind, val, length = routes
    (tt, rclass, S, R, avail, shift_end, start_pt, home, ret, o_store, o_ready, o_latest, o_promised,
     o_items, o_service, o_maxride, o_prio, o_carried, late_w, drop_cost, ps, cap, maxo, late_cost,
     travel_cost, neighbours, dist, spd, o_earliest, o_assigned, reassign_cost, o_locked, near, idle_group,
     o_created, ctd_w, fixed_w, steep_after, steep_w, price_push, gig, zone_ok, td) = prob
    pt, arr, st, dep, lat, fts, rs, pk, load_at, cnt_at, old_leg, route_cost, end_idx = cache
    c = rclass[r]
    L = length[r]
    e = L + 1
    end_idx[r] = e
    pt[r, 0] = start_pt[r]
    arr[r, 0] = avail[r]
    st[r, 0] = avail[r]
    dep[r, 0] = avail[r]
    t = avail[r]
    at = start_pt[r]
    travel = 0
    late_sum = 0.0
    time_sum = 0.0  # the customers' clock and steep lateness, already weighted
    moved = 0
    ok = True
    has_pick = False
    cur_p = -1
    for i in range(1, L + 1):
        kd = kind[r, i - 1]
        v = val[r, i - 1]
        if kd == PICK:
            has_pick = True
            cur_p = i
            p_pt = v
            leg = _leg(tt, dist, spd, c, at, p_pt, t, td)
            a = t + leg
            ready = a
            load = 0
            cnt = 0
            j = i + 1
            while j <= L and kind[r, j - 1] == DROPK:
                k = val[r, j - 1]
                if o_ready[k] > ready:
                    ready = o_ready[k]
                load += o_items[k]
                cnt += 1
                j += 1
            s0 = ready
            d0 = s0 + ps[v]
            load_at[r, i] = load
            cnt_at[r, i] = cnt
            if load > cap[r] or cnt > maxo[r] or cnt == 0:
                ok = False
            pt[r, i] = p_pt
            arr[r, i] = a
            st[r, i] = s0
            dep[r, i] = d0
            # A shift end that bounds pickups is each pickup's latest start.
            lat[r, i] = shift_end[r] if gig[r] else BIG
            if s0 > lat[r, i]:
                ok = False
            pk[r, i] = i
            travel += leg
            t = d0
            at = p_pt
        else:
            k = v
            p_pt = S + R + k
            leg = _leg(tt, dist, spd, c, at, p_pt, t, td)
            a = t + leg
            s0 = a if a >= o_earliest[k] else o_earliest[k]  # a scheduled order waits
            pt[r, i] = p_pt
            arr[r, i] = a
            st[r, i] = s0
            dep[r, i] = s0 + o_service[k]
            lat[r, i] = o_latest[k]
            pk[r, i] = cur_p
            if s0 > o_latest[k]:
                ok = False
            late = s0 - o_promised[k]
            if late > 0:
                late_sum += late * o_prio[k]
                time_sum += fixed_w[k]
                if late > steep_after:
                    time_sum += steep_w[k] * (late - steep_after)
            time_sum += ctd_w[k] * (s0 - o_created[k])
            if o_assigned[k] >= 0 and o_assigned[k] != r:
                moved += 1
            if cur_p > 0 and s0 - dep[r, cur_p] > o_maxride[k]:
                ok = False
            travel += leg
            t = dep[r, i]
            at = p_pt
    end_t = t
    pt[r, e] = at
    old_leg[r, e] = 0
    if ret and L > 0:
        last = val[r, L - 1]
        back = home[r] if home[r] >= 0 else o_store[last]
        leg = _leg(tt, dist, spd, c, at, back, t, td)
        travel += leg
        end_t = t + leg
        pt[r, e] = back
        old_leg[r, e] = leg
    arr[r, e] = end_t
    st[r, e] = end_t
    dep[r, e] = end_t
    lat[r, e] = BIG if gig[r] else shift_end[r]
    if has_pick and end_t > lat[r, e]:
        ok = False
    fts[r, e] = lat[r, e] - end_t
    for i in range(L, 0, -1):
        wait = st[r, i] - arr[r, i]
        m = lat[r, i] - st[r, i]
        if fts[r, i + 1] < m:
            m = fts[r, i + 1]
        fts[r, i] = wait + m
    for i in range(L, 0, -1):
        rs[r, i] = BIG
        if kind[r, i - 1] == DROPK and pk[r, i] > 0:
            rs[r, i] = o_maxride[val[r, i - 1]] - (st[r, i] - dep[r, pk[r, i]])
            if i < L and kind[r, i] == DROPK and pk[r, i + 1] == pk[r, i] and rs[r, i + 1] < rs[r, i]:
                rs[r, i] = rs[r, i + 1]
    for i in range(1, L + 1):
        old_leg[r, i] = arr[r, i] - dep[r, i - 1]  # the leg as ridden (from its departure)
    route_cost[r] = travel * travel_cost + late_sum * late_cost + time_sum + moved * reassign_cost
    return ok


@njit(**STEP)
def _new_wave(k, r, prev, s, op, c, pt, dep, prob):
    """Order k in a new wave of route r after stop `prev`: (ride to the store, ride to the door,
    drop-off start), the second -1 if the wave breaks a rule (a pickup past a gig shift's end,
    the order's latest start, its freshness)."""
    (tt, rclass, S, R, avail, shift_end, start_pt, home, ret, o_store, o_ready, o_latest, o_promised,
     o_items, o_service, o_maxride, o_prio, o_carried, late_w, drop_cost, ps, cap, maxo, late_cost,
     travel_cost, neighbours, dist, spd, o_earliest, o_assigned, reassign_cost, o_locked, near, idle_group,
     o_created, ctd_w, fixed_w, steep_after, steep_w, price_push, gig, zone_ok, td) = prob
    to_store = _leg(tt, dist, spd, c, pt[r, prev], s, dep[r, prev], td)
    sp = dep[r, prev] + to_store
    if o_ready[k] > sp:
        sp = o_ready[k]
    if gig[r] and sp > shift_end[r]:
        return to_store, -1, 0
    ride = _leg(tt, dist, spd, c, s, op, sp + ps[s], td)
    so = sp + ps[s] + ride
    if so < o_earliest[k]:
        so = o_earliest[k]
    if so > o_latest[k] or so - (sp + ps[s]) > o_maxride[k]:
        return to_store, -1, 0
    return to_store, ride, so


@njit(**LEAF)
def _leg_after(r, i, e, c, op, end_pt, done_at, ret, tt, dist, spd, pt, arr, old_leg, td):
    """Riding on from a new drop-off to stop i (or the end): added cost and the push at i."""
    if i == e:
        leg = _leg(tt, dist, spd, c, op, end_pt, done_at, td) if ret else 0
    else:
        leg = _leg(tt, dist, spd, c, op, pt[r, i], done_at, td)
    return leg - old_leg[r, i], done_at + leg - arr[r, i]


@njit(**LEAF)
def _wave_ready(r, j, kind, val, length, o_ready):
    """When the orders collected by pickup j of route r are all ready."""
    ready = -BIG
    m = j + 1
    while m <= length[r] and kind[r, m - 1] == DROPK:
        if o_ready[val[r, m - 1]] > ready:
            ready = o_ready[val[r, m - 1]]
        m += 1
    return ready


@njit(**LEAF)
def _walk(r, j0, j1, from_pt, t, wave_dep, routes, prob, cache):
    """Stops j0..j1-1 of route r re-timed when the rider leaves `from_pt` at t for stop j0 (after
    a change before it), each leg ridden from its new departure (a speed profile's exact push).

    `wave_dep` is the new departure from the pickup of stop j0's wave. Returns whether every
    rule holds, the new departure from the last stop walked (t when none), the change in travel
    seconds and in what the drop-off times cost. Stops once a wait absorbs the push: the rest of
    the route is then as it was.
    """
    kind, val, length = routes
    (tt, rclass, S, R, avail, shift_end, start_pt, home, ret, o_store, o_ready, o_latest, o_promised,
     o_items, o_service, o_maxride, o_prio, o_carried, late_w, drop_cost, ps, cap, maxo, late_cost,
     travel_cost, neighbours, dist, spd, o_earliest, o_assigned, reassign_cost, o_locked, near, idle_group,
     o_created, ctd_w, fixed_w, steep_after, steep_w, price_push, gig, zone_ok, td) = prob
    pt, arr, st, dep, lat, fts, rs, pk, load_at, cnt_at, old_leg, route_cost, end_idx = cache
    c = rclass[r]
    d_travel = 0
    d_time = 0.0
    at = from_pt
    for j in range(j0, j1):
        leg = _leg(tt, dist, spd, c, at, pt[r, j], t, td)
        d_travel += leg - old_leg[r, j]
        a = t + leg
        v = val[r, j - 1]
        if kind[r, j - 1] == PICK:
            ready = _wave_ready(r, j, kind, val, length, o_ready)
            s0 = a if a >= ready else ready
            if s0 > lat[r, j]:
                return False, t, d_travel, d_time
            t = s0 + ps[v]
            wave_dep = t
        else:
            s0 = a if a >= o_earliest[v] else o_earliest[v]
            if s0 > lat[r, j]:
                return False, t, d_travel, d_time
            if pk[r, j] > 0 and s0 - wave_dep > o_maxride[v]:
                return False, t, d_travel, d_time
            d_time += (_time_cost(v, s0, o_created, o_promised, ctd_w, late_w, fixed_w, steep_after, steep_w)
                       - _time_cost(v, st[r, j], o_created, o_promised, ctd_w, late_w, fixed_w, steep_after,
                                    steep_w))
            t = s0 + o_service[v]
        at = pt[r, j]
        if t == dep[r, j]:  # the push is absorbed: the rest rides as before
            return True, dep[r, j1 - 1], d_travel, d_time
    return True, t, d_travel, d_time


@njit(**LEAF)
def _to_end(r, e, at, t, end_pt, routes, prob, cache):
    """Riding from `at` (left at t) to route r's end: whether the end keeps the shift end, and
    the change in travel seconds."""
    (tt, rclass, S, R, avail, shift_end, start_pt, home, ret, o_store, o_ready, o_latest, o_promised,
     o_items, o_service, o_maxride, o_prio, o_carried, late_w, drop_cost, ps, cap, maxo, late_cost,
     travel_cost, neighbours, dist, spd, o_earliest, o_assigned, reassign_cost, o_locked, near, idle_group,
     o_created, ctd_w, fixed_w, steep_after, steep_w, price_push, gig, zone_ok, td) = prob
    pt, arr, st, dep, lat, fts, rs, pk, load_at, cnt_at, old_leg, route_cost, end_idx = cache
    leg = _leg(tt, dist, spd, rclass[r], at, end_pt, t, td) if ret else 0
    return t + leg <= lat[r, e], leg - old_leg[r, e]


@njit(**LEAF)
def _tail_exact(r, i, e, from_pt, t, wave_dep, end_pt, routes, prob, cache):
    """The stops from i to the end re-timed exactly after the rider leaves `from_pt` at t: whether
    every rule holds, the change in travel seconds and in what the drop-off times cost."""
    pt, arr, st, dep, lat, fts, rs, pk, load_at, cnt_at, old_leg, route_cost, end_idx = cache
    if i == e:
        ok, d_travel = _to_end(r, e, from_pt, t, end_pt, routes, prob, cache)
        return ok, d_travel, 0.0
    ok, t_last, d_travel, d_time = _walk(r, i, e, from_pt, t, wave_dep, routes, prob, cache)
    if not ok:
        return False, d_travel, d_time
    if t_last != dep[r, e - 1]:  # pushed to the last stop: the end moves too
        ok, d_end = _to_end(r, e, pt[r, e - 1], t_last, pt[r, e], routes, prob, cache)
        d_travel += d_end
    return ok, d_travel, d_time


@njit(**LEAF)
def _timed_new_wave(k, r, moved, routes, prob, cache):
    """Under a speed profile, the cheapest new wave for order k in route r (before a pickup or at
    the end), the route after it re-timed exactly: (cost, position) or (inf, -1)."""
    kind, val, length = routes
    (tt, rclass, S, R, avail, shift_end, start_pt, home, ret, o_store, o_ready, o_latest, o_promised,
     o_items, o_service, o_maxride, o_prio, o_carried, late_w, drop_cost, ps, cap, maxo, late_cost,
     travel_cost, neighbours, dist, spd, o_earliest, o_assigned, reassign_cost, o_locked, near, idle_group,
     o_created, ctd_w, fixed_w, steep_after, steep_w, price_push, gig, zone_ok, td) = prob
    pt, arr, st, dep, lat, fts, rs, pk, load_at, cnt_at, old_leg, route_cost, end_idx = cache
    c = rclass[r]
    e = end_idx[r]
    s = o_store[k]
    op = S + R + k
    end_pt = home[r] if home[r] >= 0 else s
    best = np.inf
    bpos = -1
    for i in range(1, e + 1):
        if i < e and kind[r, i - 1] != PICK:
            continue
        to_store, ride, so = _new_wave(k, r, i - 1, s, op, c, pt, dep, prob)
        if ride < 0:
            continue
        ok, d_travel, d_time = _tail_exact(r, i, e, op, so + o_service[k], -BIG, end_pt, routes, prob, cache)
        if not ok:
            continue
        cost = (to_store + ride + d_travel) * travel_cost + moved
        cost += _time_cost(k, so, o_created, o_promised, ctd_w, late_w, fixed_w, steep_after, steep_w)
        if price_push:
            cost += d_time
        if cost < best:
            best = cost
            bpos = i
    return best, bpos


@njit(**LEAF)
def _timed_join(k, r, p, moved, routes, prob, cache):
    """Under a speed profile, the cheapest place for order k in the wave of route r whose pickup
    is stop p, the wave's earlier drop-offs (when the pickup waits for k) and the stops after it
    re-timed exactly: (cost, position) or (inf, -1)."""
    kind, val, length = routes
    (tt, rclass, S, R, avail, shift_end, start_pt, home, ret, o_store, o_ready, o_latest, o_promised,
     o_items, o_service, o_maxride, o_prio, o_carried, late_w, drop_cost, ps, cap, maxo, late_cost,
     travel_cost, neighbours, dist, spd, o_earliest, o_assigned, reassign_cost, o_locked, near, idle_group,
     o_created, ctd_w, fixed_w, steep_after, steep_w, price_push, gig, zone_ok, td) = prob
    pt, arr, st, dep, lat, fts, rs, pk, load_at, cnt_at, old_leg, route_cost, end_idx = cache
    c = rclass[r]
    e = end_idx[r]
    L = length[r]
    op = S + R + k
    end_pt = home[r] if home[r] >= 0 else o_store[k]
    best = np.inf
    bpos = -1
    q = p
    while q + 1 <= L and kind[r, q] == DROPK:
        q += 1
    long_wave = q - p > GRANULAR_FROM
    delta0 = o_ready[k] - st[r, p]
    if delta0 < 0:
        delta0 = 0
    if delta0 > lat[r, p] - st[r, p]:  # a later pickup must keep a shift end that bounds pickups
        return best, bpos
    wave_dep = dep[r, p] + delta0
    for i in range(p + 1, q + 2):
        if long_wave and i - 1 > p and i <= q:
            if not near[k, val[r, i - 2]] and not near[k, val[r, i - 1]]:
                continue
        # The wave's drop-offs before i wait for the later pickup (re-timed when it is later).
        d_prev = dep[r, i - 1] + delta0 if i - 1 == p else dep[r, i - 1]
        d_travel0 = 0
        d_time0 = 0.0
        if delta0 > 0 and i - 1 > p:
            ok, d_prev, d_travel0, d_time0 = _walk(r, p + 1, i, pt[r, p], wave_dep, wave_dep, routes, prob, cache)
            if not ok:
                break  # a later position pushes these stops the same way
        to_drop = _leg(tt, dist, spd, c, pt[r, i - 1], op, d_prev, td)
        so = d_prev + to_drop
        if so < o_earliest[k]:
            so = o_earliest[k]
        if so > o_latest[k] or so - wave_dep > o_maxride[k]:
            continue
        ok, d_travel, d_time = _tail_exact(r, i, e, op, so + o_service[k], wave_dep, end_pt, routes, prob, cache)
        if not ok:
            continue
        cost = (to_drop + d_travel0 + d_travel) * travel_cost + moved
        cost += _time_cost(k, so, o_created, o_promised, ctd_w, late_w, fixed_w, steep_after, steep_w)
        if price_push:
            cost += d_time0 + d_time
        if cost < best:
            best = cost
            bpos = i
    return best, bpos


@njit(**LEAF)
def _evaluate_timed(k, r, routes, prob, cache):
    """`_evaluate` under a speed profile: a push does not travel down the route unchanged (legs
    take longer in slower periods), so every insertion re-times the route after it exactly."""
    kind, val, length = routes
    (tt, rclass, S, R, avail, shift_end, start_pt, home, ret, o_store, o_ready, o_latest, o_promised,
     o_items, o_service, o_maxride, o_prio, o_carried, late_w, drop_cost, ps, cap, maxo, late_cost,
     travel_cost, neighbours, dist, spd, o_earliest, o_assigned, reassign_cost, o_locked, near, idle_group,
     o_created, ctd_w, fixed_w, steep_after, steep_w, price_push, gig, zone_ok, td) = prob
    pt, arr, st, dep, lat, fts, rs, pk, load_at, cnt_at, old_leg, route_cost, end_idx = cache
    e = end_idx[r]
    if o_items[k] > cap[r] or (o_locked[k] >= 0 and o_locked[k] != r) or not zone_ok[k, r]:
        return np.inf, -1, -1
    if arr[r, e] > lat[r, e]:  # only carried orders may end a route past its shift end
        return np.inf, -1, -1
    moved = reassign_cost if o_assigned[k] >= 0 and o_assigned[k] != r else 0.0
    best, bpos = _timed_new_wave(k, r, moved, routes, prob, cache)
    bkind = 1 if bpos >= 0 else -1
    for p in range(1, length[r] + 1):
        if kind[r, p - 1] != PICK or pt[r, p] != o_store[k]:
            continue
        if load_at[r, p] + o_items[k] > cap[r] or cnt_at[r, p] + 1 > maxo[r]:
            continue
        cost, i = _timed_join(k, r, p, moved, routes, prob, cache)
        if cost < best:
            best = cost
            bkind = 0
            bpos = i
    return best, bkind, bpos


@njit(**LEAF)
def _evaluate(k, r, routes, prob, cache):
    """Cheapest insertion of order k into route r: (cost, kind, position) or (inf, -1, -1)."""
    kind, val, length = routes
    (tt, rclass, S, R, avail, shift_end, start_pt, home, ret, o_store, o_ready, o_latest, o_promised,
     o_items, o_service, o_maxride, o_prio, o_carried, late_w, drop_cost, ps, cap, maxo, late_cost,
     travel_cost, neighbours, dist, spd, o_earliest, o_assigned, reassign_cost, o_locked, near, idle_group,
     o_created, ctd_w, fixed_w, steep_after, steep_w, price_push, gig, zone_ok, td) = prob
    if td[0] != STATIC:
        return _evaluate_timed(k, r, routes, prob, cache)
    pt, arr, st, dep, lat, fts, rs, pk, load_at, cnt_at, old_leg, route_cost, end_idx = cache
    c = rclass[r]
    e = end_idx[r]
    L = length[r]
    s = o_store[k]
    op = S + R + k
    end_pt = home[r] if home[r] >= 0 else s
    best = np.inf
    bkind = -1
    bpos = -1
    if o_items[k] > cap[r] or (o_locked[k] >= 0 and o_locked[k] != r) or not zone_ok[k, r]:
        return best, bkind, bpos
    # Moving an order off the rider it is assigned to costs reassign_cost, wherever it goes.
    moved = reassign_cost if o_assigned[k] >= 0 and o_assigned[k] != r else 0.0
    # a new wave before stop i (a pickup) or at the end
    for i in range(1, e + 1):
        if i < e and kind[r, i - 1] != PICK:
            continue
        to_store, ride, so = _new_wave(k, r, i - 1, s, op, c, pt, dep, prob)
        if ride < 0:
            continue
        leg_cost, push = _leg_after(r, i, e, c, op, end_pt, so + o_service[k], ret, tt, dist, spd, pt, arr, old_leg, td)
        if push > fts[r, i]:
            continue
        cost = (to_store + ride + leg_cost) * travel_cost + moved
        cost += _time_cost(k, so, o_created, o_promised, ctd_w, late_w, fixed_w, steep_after, steep_w)
        if price_push:
            cost += _push_cost(r, i, e, push, kind, val, arr, st, o_created, o_promised, ctd_w, late_w, fixed_w,
                               steep_after, steep_w)
        if cost < best:
            best = cost
            bkind = 1
            bpos = i
    # join a wave of the same store
    for p in range(1, L + 1):
        if kind[r, p - 1] != PICK or pt[r, p] != s:
            continue
        if load_at[r, p] + o_items[k] > cap[r] or cnt_at[r, p] + 1 > maxo[r]:
            continue
        q = p
        while q + 1 <= L and kind[r, q] == DROPK:
            q += 1
        long_wave = q - p > GRANULAR_FROM
        delta0 = o_ready[k] - st[r, p]
        if delta0 < 0:
            delta0 = 0
        pre = lat[r, p] - st[r, p]  # a later pickup must keep a shift end that bounds pickups
        for i in range(p + 1, q + 2):
            if i - 1 > p:
                m = lat[r, i - 1] - st[r, i - 1]
                if m < pre:
                    pre = m
            if delta0 > pre:
                break
            # In a long wave only positions next to a near order (or the wave's ends) are tried:
            # the others are rarely the cheapest and cost most of the time on long routes.
            if long_wave and i - 1 > p and i <= q:
                if not near[k, val[r, i - 2]] and not near[k, val[r, i - 1]]:
                    continue
            to_drop = _leg(tt, dist, spd, c, pt[r, i - 1], op, dep[r, i - 1] + delta0, td)
            so = dep[r, i - 1] + delta0 + to_drop
            if so < o_earliest[k]:
                so = o_earliest[k]
            if so > o_latest[k]:
                continue
            if so - (dep[r, p] + delta0) > o_maxride[k]:
                continue
            leg_cost, push = _leg_after(r, i, e, c, op, end_pt, so + o_service[k], ret, tt, dist, spd, pt, arr, old_leg, td)
            if push > fts[r, i]:
                continue
            if i <= q and push - delta0 > rs[r, i]:
                continue
            cost = (to_drop + leg_cost) * travel_cost + moved
            cost += _time_cost(k, so, o_created, o_promised, ctd_w, late_w, fixed_w, steep_after, steep_w)
            if price_push:
                # The wave's earlier drop-offs wait for the later pickup; the later stops are pushed.
                cost += _push_cost(r, p + 1, i, delta0, kind, val, arr, st, o_created, o_promised, ctd_w, late_w,
                                   fixed_w, steep_after, steep_w)
                cost += _push_cost(r, i, e, push, kind, val, arr, st, o_created, o_promised, ctd_w, late_w,
                                   fixed_w, steep_after, steep_w)
            if cost < best:
                best = cost
                bkind = 0
                bpos = i
    return best, bkind, bpos


@njit(**LEAF)
def _insert(k, r, bkind, bpos, kind, val, length, o_store):
    L = length[r]
    n_new = 2 if bkind == 1 else 1
    at = bpos - 1  # array index where the new stops go
    for j in range(L - 1, at - 1, -1):
        kind[r, j + n_new] = kind[r, j]
        val[r, j + n_new] = val[r, j]
    if bkind == 1:
        kind[r, at] = PICK
        val[r, at] = o_store[k]
        kind[r, at + 1] = DROPK
        val[r, at + 1] = k
    else:
        kind[r, at] = DROPK
        val[r, at] = k
    length[r] = L + n_new


@njit(**LEAF)
def _remove(k, r, kind, val, length):
    L = length[r]
    idx = -1
    for j in range(L):
        if kind[r, j] == DROPK and val[r, j] == k:
            idx = j
            break
    if idx < 0:
        return
    for j in range(idx, L - 1):
        kind[r, j] = kind[r, j + 1]
        val[r, j] = val[r, j + 1]
    L -= 1
    # a pickup followed by another pickup or the end collects nothing any more
    j = 0
    while j < L:
        if kind[r, j] == PICK and (j + 1 >= L or kind[r, j + 1] == PICK):
            for m in range(j, L - 1):
                kind[r, m] = kind[r, m + 1]
                val[r, m] = val[r, m + 1]
            L -= 1
        else:
            j += 1
    length[r] = L


@njit(**STEP)
def _is_removed(o, removed, n_rem):
    """Whether order o is among the first n_rem removed."""
    for m in range(n_rem):
        if removed[m] == o:
            return True
    return False


@njit(**STEP)
def _drop_index(r, k, kind, val, length):
    """Array index of order k's drop-off in route r (0 if absent)."""
    for j in range(length[r]):
        if kind[r, j] == DROPK and val[r, j] == k:
            return j
    return 0


@njit(**STEP)
def _save_route(r, kind, val, length, to_kind, to_val, to_length):
    """Copy route r (its used part) from kind/val/length into to_kind/to_val/to_length."""
    L = length[r]
    for j in range(L):  # element by element: a slice copy may allocate (numba checks overlap)
        to_kind[r, j] = kind[r, j]
        to_val[r, j] = val[r, j]
    to_length[r] = L


@njit(**STEP)
def _rescan(ci, cost_tab, top1, top2, top_v):
    """The two cheapest routes of candidate ci (route -1 and cost inf where there are none)."""
    first = np.inf
    second = np.inf
    r1 = -1
    r2 = -1
    for r in range(cost_tab.shape[1]):
        v = cost_tab[ci, r]
        if v < first:
            second = first
            r2 = r1
            first = v
            r1 = r
        elif v < second:
            second = v
            r2 = r
    top1[ci] = r1
    top2[ci] = r2
    top_v[ci, 0] = first
    top_v[ci, 1] = second


@njit(**LEAF)
def _offer(ci, r, c, top1, top2, top_v):
    """Route r at cost c as an option for candidate ci: update its two cheapest routes."""
    if c < top_v[ci, 1]:
        if c < top_v[ci, 0]:
            top_v[ci, 1] = top_v[ci, 0]
            top2[ci] = top1[ci]
            top_v[ci, 0] = c
            top1[ci] = r
        else:
            top_v[ci, 1] = c
            top2[ci] = r


@njit(**LEAF)
def _pool_add(r, kind, val, length, cost, pool):
    """Keep route r (cost `cost`) in the route pool unless the pool holds its orders on an alike
    rider at no more cost; False once the pool is full."""
    buf, off, plen, prider, pcost, phash, table, group_key, order_key, meta = pool
    L = length[r]
    h = group_key[r]
    for j in range(L):
        if kind[r, j] == DROPK:
            h ^= order_key[val[r, j]]
    # Routes are told apart by this hash alone: two sets sharing it (odds about 2^-62) would
    # cost one route of the pool, never a wrong one (the programme reads each route's orders).
    mask = table.shape[0] - 1
    slot = h & mask
    q = table[slot] - 1
    while q >= 0:
        if phash[q] == h:
            if cost >= pcost[q]:
                return True
            break  # a cheaper sequence of the same orders: stored anew, the slot points to it
        slot = (slot + 1) & mask
        q = table[slot] - 1
    n_cols, used = meta[0], meta[1]
    # Full at half the table's slots (probes stay short) or at the end of the buffer.
    if n_cols >= prider.shape[0] or 2 * (n_cols + 1) > table.shape[0] or used + L > buf.shape[0]:
        return False
    for j in range(L):
        buf[used + j] = val[r, j] if kind[r, j] == DROPK else -1 - val[r, j]
    off[n_cols] = used
    plen[n_cols] = L
    prider[n_cols] = r
    pcost[n_cols] = cost
    phash[n_cols] = h
    if q >= 0:
        pcost[q] = np.inf  # superseded
    table[slot] = n_cols + 1
    meta[0] = n_cols + 1
    meta[1] = used + L
    return True


@njit(cache=True)
def seed_kernels(seed):
    """Seed the random numbers the kernels draw (numba's own generator, not numpy's)."""
    np.random.seed(seed)


@njit(**STEP)
def _plan_cost(route_cost, left_mask, drop_cost):
    """Cost of the current plan: its routes, and the orders it leaves out."""
    cost = 0.0
    for r in range(route_cost.shape[0]):
        cost += route_cost[r]
    for k in range(left_mask.shape[0]):
        if left_mask[k]:
            cost += drop_cost[k]
    return cost


@njit(**STEP)
def _kick(routes, route_of, left_mask, best, dirty, stall, prob, cache):
    """Back to the best plan (routes re-timed, which route holds each order, what is left out),
    counting the kick in `stall`; the best plan's cost. The ruin that follows is larger and is
    accepted whatever it costs."""
    kind, val, length = routes
    best_kind, best_val, best_length, best_left, best_cost_arr = best
    stall[0] = 0
    stall[1] += 1
    R = length.shape[0]
    for r in range(R):
        _save_route(r, best_kind, best_val, best_length, kind, val, length)
        _refresh(r, routes, prob, cache)
        dirty[r] = False
    for k in range(left_mask.shape[0]):
        left_mask[k] = best_left[k]
        route_of[k] = -1
    for r in range(R):
        for j in range(length[r]):
            if kind[r, j] == DROPK:
                route_of[val[r, j]] = r
    return best_cost_arr[0]


@njit(**STEP)
def _ruin_size(n_pl, ruin_max, kick, kick_share):
    """How many orders a ruin removes: 2 to min(ruin_max, a quarter of the plan) at random; a
    kick removes kick_share of the plan (at least as many)."""
    hi = min(ruin_max, n_pl // 4 + 2)
    if hi < 3:
        hi = 3
    size = np.random.randint(2, hi)
    if kick:
        size = max(hi, min(n_pl, int(kick_share * n_pl)))
    return size


@njit(**STEP)
def _related_orders(seed_k, size, string_share, routes, route_of, o_carried, neighbours, removed, ruined):
    """Up to `size` orders related to `seed_k`, written to `removed`: from the routes its nearest
    neighbours lie on, strings of consecutive drop-offs (SISR; long routes need whole segments out
    to be reordered), whole waves, or the neighbours alone. Carried orders stay. How many.
    `ruined` is scratch space, a flag per route."""
    kind, val, length = routes
    n_rem = 0
    mode = np.random.random()
    whole_waves = mode < 0.3
    strings = mode >= 1.0 - string_share
    ruined[:] = False
    for nb in neighbours[seed_k]:
        if n_rem >= size:
            break
        if route_of[nb] < 0 or o_carried[nb] >= 0 or _is_removed(nb, removed, n_rem):
            continue
        if strings:
            r = route_of[nb]
            if ruined[r]:
                continue
            ruined[r] = True
            idx = _drop_index(r, nb, kind, val, length)
            want = np.random.randint(1, max(2, min(size - n_rem, 12)) + 1)
            j = max(0, idx - np.random.randint(0, want))
            while j < length[r] and want > 0:
                o = val[r, j]
                if kind[r, j] == DROPK and o_carried[o] < 0 and not _is_removed(o, removed, n_rem):
                    removed[n_rem] = o
                    n_rem += 1
                    want -= 1
                j += 1
        elif whole_waves:
            r = route_of[nb]
            # the wave of nb: from its pickup to the next pickup
            p = _drop_index(r, nb, kind, val, length)
            while p >= 0 and kind[r, p] != PICK:
                p -= 1
            j = p + 1
            while j < length[r] and kind[r, j] == DROPK:
                o = val[r, j]
                if o_carried[o] < 0 and not _is_removed(o, removed, n_rem):
                    removed[n_rem] = o
                    n_rem += 1
                j += 1
        else:
            removed[n_rem] = nb
            n_rem += 1
    return n_rem


@njit(**STEP)
def _ruin(routes, route_of, planned, n_pl, ruin_max, string_share, kick, kick_share, removed, touched, saved,
          ruined, o_carried, neighbours, prob, cache):
    """Remove orders related to one planned at random (`_related_orders`) from their routes; each
    route touched is saved first (for a restore) and re-timed after. How many were removed."""
    kind, val, length = routes
    save_kind, save_val, save_len = saved
    seed_k = planned[np.random.randint(n_pl)]
    size = _ruin_size(n_pl, ruin_max, kick, kick_share)
    n_rem = _related_orders(seed_k, size, string_share, routes, route_of, o_carried, neighbours, removed, ruined)
    for m in range(n_rem):
        k = removed[m]
        r = route_of[k]
        if not touched[r]:
            _save_route(r, kind, val, length, save_kind, save_val, save_len)
            touched[r] = True
        _remove(k, r, kind, val, length)
        route_of[k] = -1
    for r in range(length.shape[0]):
        if touched[r]:
            _refresh(r, routes, prob, cache)
    return n_rem


@njit(**STEP)
def _candidates(removed, n_rem, left_mask, cand):
    """The orders to insert, written to `cand`: the removed ones and every one left out (no longer
    marked left out), in random order. How many."""
    n_c = 0
    for m in range(n_rem):
        cand[n_c] = removed[m]
        n_c += 1
    for k in range(left_mask.shape[0]):
        if left_mask[k]:
            cand[n_c] = k
            n_c += 1
            left_mask[k] = False
    for a in range(n_c - 1, 0, -1):
        b = np.random.randint(a + 1)
        tmp = cand[a]
        cand[a] = cand[b]
        cand[b] = tmp
    return n_c


@njit(**STEP)
def _routes_to_try(use_route, n_c, n_rem, removed, touched, route_of, length, neighbours, near_k, near_routes_all):
    """Routes worth trying: those the removed orders came from, those of their nearest
    neighbours, and one idle rider; every route while some order is left out (or with few riders)."""
    R = length.shape[0]
    if n_c > n_rem or R <= near_routes_all:
        use_route[:] = True
        return
    for r in range(R):
        use_route[r] = touched[r]
    for m in range(n_rem):
        nb_row = neighbours[removed[m]]
        for j in range(min(near_k, nb_row.shape[0])):
            rr = route_of[nb_row[j]]
            if rr >= 0:
                use_route[rr] = True
    n_idle = 0
    for r in range(R):
        if length[r] == 0 and not use_route[r]:
            n_idle += 1
    if n_idle > 0:
        target = np.random.randint(n_idle)
        for r in range(R):
            if length[r] == 0 and not use_route[r]:
                if target == 0:
                    use_route[r] = True
                    break
                target -= 1


@njit(**STEP)
def _one_idle_per_group(use_route, length, idle_group, group_open):
    """In a first plan, interchangeable idle riders are one option: with several alike, every
    order's two best insertions were equal (regret 0) and the regret rule degenerated into
    cheapest first, opening a rider per far order."""
    group_open[:] = False
    for r in range(length.shape[0]):
        if use_route[r] and length[r] == 0:
            if group_open[idle_group[r]]:
                use_route[r] = False
            else:
                group_open[idle_group[r]] = True


@njit(**STEP)
def _evaluate_candidates(cand, n_c, use_route, tabs, routes, prob, cache):
    """The cheapest insertion of every candidate into every route tried (inf elsewhere), and each
    candidate's two cheapest routes."""
    cost_tab, kind_tab, pos_tab, stale, top1, top2, top_v = tabs
    R = use_route.shape[0]
    for ci in range(n_c):
        k = cand[ci]
        for r in range(R):
            if not use_route[r]:
                cost_tab[ci, r] = np.inf
                continue
            c_, k_, p_ = _evaluate(k, r, routes, prob, cache)
            cost_tab[ci, r] = c_
            kind_tab[ci, r] = k_
            pos_tab[ci, r] = p_
            stale[ci, r] = False
    for ci in range(n_c):
        _rescan(ci, cost_tab, top1, top2, top_v)


@njit(**STEP)
def _most_regret(cand, n_c, alive, top_v, drop_cost):
    """The live candidate with the largest regret (its second-best option, or leaving it out,
    against its best), the cheaper best on ties; -1 when none can be inserted anywhere."""
    pick = -1
    pick_regret = -np.inf
    pick_first = np.inf
    for ci in range(n_c):
        if not alive[ci]:
            continue
        first = top_v[ci, 0]
        # An order whose cheapest insertion costs more than leaving it out (a third party's
        # trip, or the unassigned weight) stays out.
        if first == np.inf or first >= drop_cost[cand[ci]]:
            continue
        second = top_v[ci, 1]
        alt = second if second < drop_cost[cand[ci]] else drop_cost[cand[ci]]
        regret = alt - first
        if regret > pick_regret or (regret == pick_regret and first < pick_first):
            pick = ci
            pick_regret = regret
            pick_first = first
    return pick


@njit(**STEP)
def _offer_alike_idle(br, n_c, alive, use_route, length, idle_group, tabs):
    """After idle rider `br` took an order as its group's one option, the next idle rider alike
    stands in: it costs what `br` cost while idle, so its column is copied, not evaluated (idle
    routes never go stale; 300x40 first plan 18.6 -> 16.2 ms, same plans)."""
    cost_tab, kind_tab, pos_tab, stale, top1, top2, top_v = tabs
    nxt = -1
    for r in range(length.shape[0]):
        if length[r] == 0 and not use_route[r] and idle_group[r] == idle_group[br]:
            nxt = r
            break
    if nxt < 0:
        return
    use_route[nxt] = True
    for ci in range(n_c):
        if not alive[ci]:
            continue
        c_, k_, p_ = cost_tab[ci, br], kind_tab[ci, br], pos_tab[ci, br]
        cost_tab[ci, nxt] = c_
        kind_tab[ci, nxt] = k_
        pos_tab[ci, nxt] = p_
        stale[ci, nxt] = False
        _offer(ci, nxt, c_, top1, top2, top_v)


@njit(**STEP)
def _update_after_insert(k, br, cand, n_c, alive, lazy, neighbours, tabs, routes, prob, cache):
    """Re-evaluate route `br` for the live candidates after order k went into it. A big recreate
    (`lazy`) re-evaluates only the orders near k and those whose two best routes it changed; the
    rest keep their value, marked stale, and are re-evaluated before being inserted."""
    cost_tab, kind_tab, pos_tab, stale, top1, top2, top_v = tabs
    for ci in range(n_c):
        if not alive[ci]:
            continue
        was_top = top1[ci] == br or top2[ci] == br
        if lazy and not was_top:
            close = False
            nb_row = neighbours[cand[ci]]
            for j in range(min(LAZY_NEAR, nb_row.shape[0])):
                if nb_row[j] == k:
                    close = True
                    break
            if not close:
                stale[ci, br] = True
                continue
        c_, k_, p_ = _evaluate(cand[ci], br, routes, prob, cache)
        cost_tab[ci, br] = c_
        kind_tab[ci, br] = k_
        pos_tab[ci, br] = p_
        stale[ci, br] = False
        if was_top:
            _rescan(ci, cost_tab, top1, top2, top_v)
        else:
            _offer(ci, br, c_, top1, top2, top_v)


@njit(**STEP)
def _regret_insert(cand, n_c, use_route, one_idle, touched, saved, tabs, alive, routes, route_of, left_mask,
                   drop_cost, neighbours, idle_group, o_store, prob, cache):
    """Insert the candidates one at a time, the one with the largest regret first, each into its
    cheapest route; a route that an insertion would break is struck off for that order. What
    cannot go anywhere is left out. `alive` is scratch space, a flag per candidate."""
    kind, val, length = routes
    save_kind, save_val, save_len = saved
    cost_tab, kind_tab, pos_tab, stale, top1, top2, top_v = tabs
    _evaluate_candidates(cand, n_c, use_route, tabs, routes, prob, cache)
    lazy = n_c > LAZY_FROM
    alive[:n_c] = True
    remaining = n_c
    while remaining > 0:
        pick = _most_regret(cand, n_c, alive, top_v, drop_cost)
        if pick < 0:
            break
        k = cand[pick]
        br = top1[pick]
        if stale[pick, br]:
            c_, k_, p_ = _evaluate(k, br, routes, prob, cache)
            cost_tab[pick, br] = c_
            kind_tab[pick, br] = k_
            pos_tab[pick, br] = p_
            stale[pick, br] = False
            _rescan(pick, cost_tab, top1, top2, top_v)
            continue
        if not touched[br]:
            _save_route(br, kind, val, length, save_kind, save_val, save_len)
            touched[br] = True
        opened = one_idle and length[br] == 0
        _insert(k, br, kind_tab[pick, br], pos_tab[pick, br], kind, val, length, o_store)
        if not _refresh(br, routes, prob, cache):
            _remove(k, br, kind, val, length)
            _refresh(br, routes, prob, cache)
            cost_tab[pick, br] = np.inf
            _rescan(pick, cost_tab, top1, top2, top_v)
            continue
        route_of[k] = br
        alive[pick] = False
        remaining -= 1
        if opened:
            _offer_alike_idle(br, n_c, alive, use_route, length, idle_group, tabs)
        _update_after_insert(k, br, cand, n_c, alive, lazy, neighbours, tabs, routes, prob, cache)
    for ci in range(n_c):
        if alive[ci]:
            left_mask[cand[ci]] = True


@njit(**STEP)
def _recreate(removed, n_rem, one_idle, near_k, near_routes_all, work, touched, saved, routes, route_of, left_mask,
              drop_cost, neighbours, idle_group, o_store, prob, cache):
    """Re-insert the removed orders and every order left out, by regret, into the routes near
    them (`_routes_to_try`); what fits nowhere is left out."""
    cand, use_route, group_open, alive, tabs = work
    n_c = _candidates(removed, n_rem, left_mask, cand)
    _routes_to_try(use_route, n_c, n_rem, removed, touched, route_of, routes[2], neighbours, near_k, near_routes_all)
    if one_idle:
        _one_idle_per_group(use_route, routes[2], idle_group, group_open)
    _regret_insert(cand, n_c, use_route, one_idle, touched, saved, tabs, alive, routes, route_of, left_mask,
                   drop_cost, neighbours, idle_group, o_store, prob, cache)


@njit(**STEP)
def _pool_touched(routes, touched, route_cost, pool):
    """Keep the routes an iteration built in the pool; False once it is full."""
    kind, val, length = routes
    for r in range(length.shape[0]):
        if touched[r] and length[r] > 0:
            if not _pool_add(r, kind, val, length, route_cost[r], pool):
                return False
    return True


@njit(**STEP)
def _accept(new, cur, threshold, kick, routes, route_of, left_mask, touched, dirty, saved, saved_state, best,
            prob, cache):
    """Threshold acceptance: the new plan stays if it is a kick or costs less than the current
    plus `threshold`, and is copied to the best when it beats it; otherwise the touched routes,
    which route holds each order and what is left out are restored. The current plan's cost."""
    kind, val, length = routes
    save_kind, save_val, save_len = saved
    save_route_of, save_left = saved_state
    best_kind, best_val, best_length, best_left, best_cost_arr = best
    R = length.shape[0]
    if kick or new < cur + threshold:
        for r in range(R):
            if touched[r]:
                dirty[r] = True
        if new < best_cost_arr[0]:
            best_cost_arr[0] = new
            for r in range(R):
                if dirty[r]:
                    _save_route(r, kind, val, length, best_kind, best_val, best_length)
                    dirty[r] = False
            for k in range(left_mask.shape[0]):
                best_left[k] = left_mask[k]
        return new
    for r in range(R):
        if touched[r]:
            _save_route(r, save_kind, save_val, save_len, kind, val, length)
            _refresh(r, routes, prob, cache)
    for k in range(route_of.shape[0]):
        route_of[k] = save_route_of[k]
        left_mask[k] = save_left[k]
    return cur


@njit(cache=True)
def _search(n_iter, progress0, progress1, threshold0, string_share, ruin_max, one_idle, seed, near_k, near_routes_all,
            routes, route_of, left_mask, best_kind, best_val, best_length, best_left, best_cost_arr,
            prob, cache, pool, pool_slack, stall_limit, kick_share, stall):
    """Run n_iter ruin-and-recreate iterations in place; keep the best in best_*.

    Each iteration: a kick when the search has settled (`_kick`), `_ruin`, `_recreate`, the
    routes of near-best plans to the pool, `_accept`. With `pool_slack` >= 0, the routes an
    iteration built are kept in `pool` whenever its plan costs at most (1 + pool_slack) times the
    best so far (for the set-partitioning step). After `stall_limit` iterations (0: never)
    without a better best, the search kicks; `stall` holds the iterations since the last better
    best and the number of kicks.
    """
    kind, val, length = routes
    (tt, rclass, S, R, avail, shift_end, start_pt, home, ret, o_store, o_ready, o_latest, o_promised,
     o_items, o_service, o_maxride, o_prio, o_carried, late_w, drop_cost, ps, cap, maxo, late_cost,
     travel_cost, neighbours, dist, spd, o_earliest, o_assigned, reassign_cost, o_locked, near, idle_group,
     o_created, ctd_w, fixed_w, steep_after, steep_w, price_push, gig, zone_ok, td) = prob
    route_cost = cache[11]
    np.random.seed(seed)
    n = o_store.shape[0]
    best = (best_kind, best_val, best_length, best_left, best_cost_arr)
    # The scratch space is allocated here, in the function the steps are inlined into: LLVM then
    # knows no two arrays overlap (passed in as arguments, the loop ran 20-25% slower).
    # Only the routes an iteration touches are saved (and restored, or copied to the best):
    # copying every route each iteration cost more than the moves on 300-order problems.
    saved = (np.empty_like(kind), np.empty_like(val), length.copy())
    saved_state = (route_of.copy(), left_mask.copy())
    save_route_of, save_left = saved_state
    dirty = np.ones(R, dtype=np.bool_)  # routes changed since the best was last copied
    removed = np.empty(n, dtype=np.int64)
    planned = np.empty(n, dtype=np.int64)
    touched = np.zeros(R, dtype=np.bool_)
    ruined = np.zeros(R, dtype=np.bool_)
    tabs = (np.empty((n, R)), np.empty((n, R), dtype=np.int64), np.empty((n, R), dtype=np.int64),
            np.zeros((n, R), dtype=np.bool_), np.empty(n, dtype=np.int64), np.empty(n, dtype=np.int64),
            np.empty((n, 2)))
    work = (np.empty(n, dtype=np.int64), np.ones(R, dtype=np.bool_), np.zeros(R + 1, dtype=np.bool_),
            np.ones(n, dtype=np.bool_), tabs)
    cur = _plan_cost(route_cost, left_mask, drop_cost)
    for it in range(n_iter):
        progress = progress0 + (progress1 - progress0) * it / max(1, n_iter)
        kick = stall_limit > 0 and stall[0] >= stall_limit and ruin_max > 0
        if kick:
            cur = _kick(routes, route_of, left_mask, best, dirty, stall, prob, cache)
        n_pl = 0
        n_left = 0
        for k in range(n):
            if route_of[k] >= 0 and o_carried[k] < 0:
                planned[n_pl] = k
                n_pl += 1
            if left_mask[k]:
                n_left += 1
        if n_pl == 0 and n_left == 0:
            break
        save_route_of[:] = route_of
        save_left[:] = left_mask
        touched[:] = False
        n_rem = 0
        if n_pl > 0 and ruin_max > 0:  # ruin_max 0: insert what is left out, ruin nothing
            n_rem = _ruin(routes, route_of, planned, n_pl, ruin_max, string_share, kick, kick_share, removed, touched,
                          saved, ruined, o_carried, neighbours, prob, cache)
        _recreate(removed, n_rem, one_idle, near_k, near_routes_all, work, touched, saved, routes, route_of,
                  left_mask, drop_cost, neighbours, idle_group, o_store, prob, cache)
        new = _plan_cost(route_cost, left_mask, drop_cost)
        # Routes of near-best plans, accepted or not: the set partitioning recombines them.
        if pool_slack >= 0.0 and new <= best_cost_arr[0] * (1.0 + pool_slack):
            if not _pool_touched(routes, touched, route_cost, pool):
                pool_slack = -1.0
        if new < best_cost_arr[0]:
            stall[0] = 0
        else:
            stall[0] += 1
        cur = _accept(new, cur, threshold0 * (1.0 - progress), kick, routes, route_of, left_mask, touched, dirty, saved,
                      saved_state, best, prob, cache)
    return cur


def idle_groups(inst: Instance, rclass: np.ndarray, tt: np.ndarray, dist: np.ndarray) -> np.ndarray:
    """A group per rider such that idle riders of one group are interchangeable for every order.

    Alike: same travel class and travel from the start (compared row by row, so a duration
    matrix is honoured), availability, shift end, capacity, order limit and home store, and no
    order carried by, assigned or locked to them (those make one rider's cost differ).
    """
    R, S = inst.n_riders, inst.n_stores
    group = np.zeros(R, dtype=np.int64)
    bound = {int(r) for r in inst.assigned_to if r >= 0} | {int(r) for r in inst.locked_to if r >= 0}
    keys: dict[tuple, int] = {}
    for r in range(R):
        if r in bound or inst.carried_of_rider[r]:
            key: tuple = ("own", r)
        else:
            c = int(rclass[r])
            from_start = tt[c, S + r].tobytes() if tt.shape[0] else b""
            key = (c, dist[S + r].tobytes(), from_start, int(inst.available_s[r]), int(inst.shift_end_s[r]),
                   int(inst.capacity[r]), int(inst.max_orders[r]), int(inst.home_store[r]),
                   inst.zone_ok[:, r].tobytes())
        group[r] = keys.setdefault(key, len(keys))
    return group


def nearest_orders(distance_m: np.ndarray, count: int) -> np.ndarray:
    """Each order's `count` nearest orders (itself first), nearest first, by round-trip metres."""
    n = distance_m.shape[0]
    both = distance_m + distance_m.T
    if n <= count:
        return np.argsort(both, axis=1, kind="stable").astype(np.int64)
    # A partition then a sort of the kept columns: a full sort of every row took ~15 ms at 500.
    kept = np.argpartition(both, count - 1, axis=1)[:, :count]
    order = np.argsort(np.take_along_axis(both, kept, axis=1), axis=1, kind="stable")
    return np.take_along_axis(kept, order, axis=1).astype(np.int64)


_READY = False


def ready() -> bool:
    """Whether the compiled search is loaded in this process (see `warm_up`)."""
    return _READY


def warm_up() -> None:
    """Compile (or load from numba's cache) the search once; call it at start-up, not per solve.

    The first compile on a machine takes seconds; later processes load the cached code.
    `solve` uses the compiled search only once this has run, so no solve waits for a compile.
    """
    global _READY
    if _READY:
        return
    from dispatch.documents import problem_from_document
    from dispatch.generate import generate_problem
    from dispatch.instance import build_instance
    from dispatch.solver.construct import construct, hard_latest

    problem = problem_from_document(generate_problem(6, 2, seed=0, lateness="hard", equal_speeds=True))
    inst = build_instance(problem, list(problem.orders))
    built = construct(inst, list(range(inst.n_orders)), float("inf"))
    search = CompiledRuinRecreate(inst, built.routes, built.left, 0, hard_latest(inst), np.zeros(inst.n_orders))
    search.run(float("inf"), 5)
    _READY = True


@dataclass(frozen=True)
class _Tables:
    """What a search needs that depends on the instance alone (built once per instance)."""

    drop_cost: np.ndarray  # cost of leaving each order out
    prob: tuple  # the kernels' problem tuple without `latest` and `late_weight`
    idle_group: np.ndarray  # per rider, its group of interchangeable idle riders (see idle_groups)


# A solve builds a search two or three times (the first plan, a warm start's completion, one
# per trajectory): the tables are kept while the instance lives rather than built each time.
_TABLES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _tables(inst: Instance) -> _Tables:
    """The instance's search tables, from the cache or built now."""
    found = _TABLES.get(inst)
    if found is None:
        found = _TABLES[inst] = _build_tables(inst)
    return found


def _build_tables(inst: Instance) -> _Tables:
    """Travel classes, neighbour lists, granular pairs, idle groups and the problem tuple."""
    n, R, S = inst.n_orders, inst.n_riders, inst.n_stores
    # Riders of one speed share a travel class. Few classes: stored second matrices; many
    # (every rider its own speed): metres / speed on the fly, rounded exactly as TravelModel.
    # A duration matrix is the same for every speed: one class then.
    by_matrix = inst.problem.options.travel.model == "matrix"
    classes: dict[float, int] = {}
    first_rider = []
    speeds = []
    rclass = np.zeros(R, dtype=np.int64)
    for r in range(R):
        speed = float(inst.problem.riders[r].speed_mps)
        key = 0.0 if by_matrix else speed
        if key not in classes:
            classes[key] = len(speeds)
            first_rider.append(r)
            speeds.append(speed)
        rclass[r] = classes[key]
    on_the_fly = not by_matrix and len(speeds) > CompiledRuinRecreate.MAX_STORED_CLASSES
    if on_the_fly or not speeds:
        tt = np.zeros((0, 1, 1), dtype=np.int64)
    elif by_matrix and inst.speed_profile is not None:  # the durations, ridden through the profile
        tt = np.ascontiguousarray(np.stack([inst.base_s_of_rider[r] for r in first_rider]).astype(np.int64))
    else:
        tt = np.ascontiguousarray(np.stack([inst.travel_s_of_rider[r] for r in first_rider]))
    dist = np.ascontiguousarray(inst.travel.distance_m, dtype=np.float64)
    spd = np.array(speeds or [1.0], dtype=np.float64)
    opts = inst.problem.options
    pts = S + R + np.arange(n)
    if n and R:
        neighbours = nearest_orders(dist[np.ix_(pts, pts)], CompiledRuinRecreate.NEIGHBOURS)
    else:
        neighbours = np.zeros((max(n, 1), 1), dtype=np.int64)
    # Granular insertion in long waves: order pairs among each other's nearest.
    near = np.zeros((max(n, 1), max(n, 1)), dtype=np.bool_)
    if n and R:
        rows = np.repeat(np.arange(n), min(n, GRANULAR_NEAR))
        cols = neighbours[:, :GRANULAR_NEAR].ravel()
        near[rows, cols] = True
        near |= near.T
    drop_cost = inst.drop_cost.astype(np.float64)
    carried = inst.carried_by >= 0
    group = idle_groups(inst, rclass, tt, dist)
    prob = (
        tt, rclass, S, R, inst.available_s.astype(np.int64), inst.shift_end_s.astype(np.int64),
        (S + np.arange(R)).astype(np.int64), inst.home_store.astype(np.int64), bool(inst.return_to_store),
        inst.order_store.astype(np.int64), np.where(carried, -NO_LIMIT, inst.ready_s).astype(np.int64),
        # (here the kernels' [11]: the latest drop-off start, given per search)
        inst.promised_s.astype(np.int64), inst.items.astype(np.int64), inst.service_s.astype(np.int64),
        # A carried order rides from no pickup of this route and is ready by definition.
        np.where(carried, NO_LIMIT, inst.max_ride_s).astype(np.int64), inst.priority.astype(np.int64),
        inst.carried_by.astype(np.int64),
        # (here the kernels' [18]: the lateness weight, given per search)
        drop_cost, inst.pickup_service_s.astype(np.int64),
        inst.capacity.astype(np.int64), inst.max_orders.astype(np.int64), float(opts.late_cost_per_s),
        float(opts.travel_cost_per_s), neighbours, dist, spd,
        inst.earliest_s.astype(np.int64), inst.assigned_to.astype(np.int64), float(opts.reassign_cost),
        inst.locked_to.astype(np.int64), near, group,
        inst.created_s.astype(np.int64), (inst.priority * opts.click_to_door_cost_per_s).astype(np.float64),
        (inst.priority * opts.late_fixed_cost).astype(np.float64), int(opts.late_steep_after_s), (inst.priority * opts.late_steep_cost_per_s).astype(np.float64),
        bool(opts.prices_time), inst.shift_end_pickups.astype(np.bool_),
        # Rider zones: an order goes only to riders whose zone holds its door (n x R).
        np.ascontiguousarray(inst.zone_ok, dtype=np.bool_).reshape(max(n, 0), R),
        _timing(inst, by_matrix),
    )
    return _Tables(drop_cost, prob, group)


def _timing(inst: Instance, by_matrix: bool) -> tuple:
    """How the kernels time legs (`_leg`): (mode, factors, period_s, midnight_s)."""
    p = inst.speed_profile
    if p is None:
        return (STATIC, np.ones(1, dtype=np.float64), 1, 0)
    return (PROFILE_MATRIX if by_matrix else PROFILE_METRES, p.factor_array, int(p.period_s), int(p.midnight_s))


def stop_list(inst: Instance, kinds: np.ndarray, vals: np.ndarray) -> list[Stop]:
    """A route's stops from its flat kind/value arrays (each pickup lists the orders it collects)."""
    stops: list[Stop] = []
    pickup_at = -1
    for kd, v in zip(kinds.tolist(), vals.tolist()):
        if kd == PICK:
            pickup_at = len(stops)
            stops.append((PICKUP, v, ()))
        else:
            if inst.carried_by[v] < 0:
                stops[pickup_at] = (PICKUP, stops[pickup_at][1], stops[pickup_at][2] + (v,))
            stops.append((DROP, v))
    # a pickup left with only carried orders after it collects nothing: drop the stop
    return [s for s in stops if s[0] == DROP or s[2]]


@dataclass(frozen=True)
class PoolRoute:
    """One route of the pool: the rider it was built for, its orders, cost and stops."""

    rider: int
    group: int  # riders of one idle group can each take it at the same cost
    orders: frozenset
    cost: float
    stops: list


class RoutePool:
    """Routes the search built in near-best plans, the cheapest per set of orders and kind of rider.

    Filled by the compiled search (`_pool_add`) while it runs; the set partitioning then picks
    the best combination of them. Riders of one idle group are interchangeable, so a set of
    orders is kept once per group, at the lowest cost seen.
    """

    def __init__(self, inst: Instance, slack: float, max_routes: int, max_stops: int):
        self.inst = inst
        self.slack = float(slack)
        self.groups = _tables(inst).idle_group
        rng = np.random.default_rng(20261124)  # keys for order-independent hashes of order sets
        order_key = rng.integers(1, 2**62, size=max(1, inst.n_orders), dtype=np.int64)
        group_key = rng.integers(1, 2**62, size=max(1, int(self.groups.max(initial=0)) + 1), dtype=np.int64)
        slots = 1 << max(4, int(2 * max_routes - 1).bit_length())
        self.arrays = (
            np.empty(max_stops, dtype=np.int64),  # stops, a drop-off as its order, a pickup as -1 - store
            np.empty(max_routes, dtype=np.int64),  # where each route's stops begin
            np.empty(max_routes, dtype=np.int64),  # how many stops
            np.empty(max_routes, dtype=np.int64),  # the rider it was built for
            np.empty(max_routes, dtype=np.float64),  # its cost (inf once a cheaper one replaced it)
            np.empty(max_routes, dtype=np.int64),  # hash of its group and orders
            np.zeros(slots, dtype=np.int64),  # hash table: route index + 1, 0 for a free slot
            group_key[self.groups] if inst.n_riders else np.zeros(1, dtype=np.int64),
            order_key,
            np.zeros(2, dtype=np.int64),  # routes kept, stops used
        )

    def __len__(self) -> int:
        return int(self.arrays[9][0])

    def routes(self) -> list[PoolRoute]:
        """The routes kept (superseded ones left out)."""
        buf, off, plen, prider, pcost = self.arrays[:5]
        out = []
        for q in range(len(self)):
            if not np.isfinite(pcost[q]):
                continue
            seq = buf[off[q] : off[q] + plen[q]]
            kinds = np.where(seq >= 0, DROPK, PICK)
            vals = np.where(seq >= 0, seq, -1 - seq)
            r = int(prider[q])
            out.append(PoolRoute(r, int(self.groups[r]), frozenset(int(k) for k in seq[seq >= 0]), float(pcost[q]),
                                 stop_list(self.inst, kinds, vals)))
        return out


# Stands in for a pool when none is kept (never written: the slack is negative).
_NO_POOL = (
    np.zeros(1, dtype=np.int64), np.zeros(1, dtype=np.int64), np.zeros(1, dtype=np.int64), np.zeros(1, dtype=np.int64),
    np.zeros(1, dtype=np.float64), np.zeros(1, dtype=np.int64), np.zeros(2, dtype=np.int64),
    np.zeros(1, dtype=np.int64), np.zeros(1, dtype=np.int64), np.zeros(2, dtype=np.int64),
)


class CompiledRuinRecreate:
    """`lns.RuinRecreate` with the inner loop compiled; same inputs, same result type."""

    CHUNK = 200
    NEIGHBOURS = 40  # nearest orders kept per order (ruins and routes to try come from them)
    MAX_STORED_CLASSES = 4  # beyond this many rider speeds, compute seconds on the fly
    NEAR_K = 6  # neighbours whose routes a removed order may go to
    NEAR_ALL_BELOW = 12  # with this few riders, try every route

    def __init__(self, inst: Instance, routes: list[list[Stop]], left: list[int], seed: int,
                 latest: np.ndarray, late_weight: np.ndarray, pool: RoutePool | None = None):
        self.inst = inst
        self.seed = seed
        self.pool = pool
        self.kicks = 0  # how often the last run went back to its best plan and kicked it
        n, R = inst.n_orders, inst.n_riders
        M = 2 * n + 4
        self.kind = np.zeros((R, M), dtype=np.int64)
        self.val = np.zeros((R, M), dtype=np.int64)
        self.length = np.zeros(R, dtype=np.int64)
        self.route_of = np.full(n, -1, dtype=np.int64)
        for r, stops in enumerate(routes):
            for i, stop in enumerate(stops):
                if stop[0] == PICKUP:
                    self.kind[r, i], self.val[r, i] = PICK, stop[1]
                else:
                    self.kind[r, i], self.val[r, i] = DROPK, stop[1]
                    self.route_of[stop[1]] = r
            self.length[r] = len(stops)
        self.left_mask = np.zeros(n, dtype=np.bool_)
        self.left_mask[list(left)] = True
        tables = _tables(inst)
        self.drop_cost = tables.drop_cost
        # Order matters: the kernels unpack this tuple by position.
        self.prob = tables.prob[:11] + (latest.astype(np.int64),) + tables.prob[11:17] + (
            late_weight.astype(np.float64),) + tables.prob[17:]
        W = M + 2
        # pt, arr, st, dep, lat, fts, rs, pk, load_at, cnt_at, old_leg per stop; cost and end per route
        self.cache = tuple(np.zeros((R, W), dtype=np.int64) for _ in range(11)) + (
            np.zeros(R, dtype=np.float64),
            np.zeros(R, dtype=np.int64),
        )
        self.routes = (self.kind, self.val, self.length)
        self.ok = all(bool(_refresh(r, self.routes, self.prob, self.cache)) for r in range(R))
        if self.ok and pool is not None:
            for r in range(R):  # the start's routes are columns too
                if self.length[r] and not _pool_add(r, self.kind, self.val, self.length, self.cache[11][r], pool.arrays):
                    break

    def run(self, deadline: float, max_iterations: int | None, one_idle: bool = False,
            ruin: bool = True, stop=None) -> SearchResult | None:
        """Search until the deadline or `max_iterations`, whichever comes first; None if the start is not feasible.

        `one_idle` (for a first plan) offers interchangeable idle riders to the regret rule as
        one option, the next one alike once it is taken. `ruin=False` only inserts the orders
        left out (one iteration of it is a regret insertion into the routes as they are).
        """
        if not self.ok:
            return None
        start_cost = float(self.cache[11].sum() + self.drop_cost[self.left_mask].sum())
        best_kind, best_val = self.kind.copy(), self.val.copy()
        best_length, best_left = self.length.copy(), self.left_mask.copy()
        best_cost = np.array([start_cost])
        if self.inst.windowed:
            threshold = THRESHOLD_WITH_WINDOWS
        else:
            threshold = min(THRESHOLD_MAX, THRESHOLD * min(1.0, (THRESHOLD_FULL_UP_TO / max(1, self.inst.n_orders)) ** 4))
        threshold0 = threshold * start_cost / max(1, self.inst.n_orders)
        string_share = STRING_SHARE_WITH_WINDOWS if self.inst.windowed else STRING_SHARE
        ruin_max = (RUIN_MAX_WITH_WINDOWS if self.inst.windowed else RUIN_MAX) if ruin else 0
        pool_arrays, pool_slack = (self.pool.arrays, self.pool.slack) if self.pool is not None else (_NO_POOL, -1.0)
        stall_limit = int(STALL_PER_ORDER * self.inst.n_orders) if ruin and STALL_PER_ORDER > 0 else 0
        stall = np.zeros(2, dtype=np.int64)
        kick_share = min(KICK_SHARE, KICK_MAX / max(1, self.inst.n_orders))
        t0 = time.perf_counter()
        span = max(1e-6, deadline - t0)
        done = 0
        chunk = 0
        while True:
            if stop is not None and stop.is_set():  # interrupted: the best so far is the answer
                break
            if max_iterations is not None:
                # A work limit and the clock: whichever comes first (whole chunks keep the work
                # limit reproducible; one chunk takes milliseconds even at 2,000 orders).
                if done >= max_iterations or time.perf_counter() >= deadline:
                    break
                n_iter = min(self.CHUNK, max_iterations - done)
                p0, p1 = done / max_iterations, (done + n_iter) / max_iterations
            else:
                now = time.perf_counter()
                if now >= deadline:
                    break
                # Size each chunk to the time left from the iterations timed so far: on big
                # problems one iteration takes milliseconds, and a fixed chunk overran the budget.
                per_iter = (now - t0) / done if done else None
                if per_iter is None:
                    n_iter = 1
                else:
                    n_iter = int(max(1, min(self.CHUNK, 0.5 * (deadline - now) / max(per_iter, 1e-7))))
                p0 = (now - t0) / span
                p1 = min(1.0, p0 + n_iter * (per_iter or 0.0) / span)
            _search(n_iter, p0, p1, threshold0, string_share, ruin_max, one_idle, self.seed * 7919 + chunk,
                    self.NEAR_K, self.NEAR_ALL_BELOW, self.routes, self.route_of, self.left_mask, best_kind, best_val,
                    best_length, best_left, best_cost, self.prob, self.cache, pool_arrays, pool_slack,
                    stall_limit, kick_share, stall)
            done += n_iter
            chunk += 1
        self.kicks = int(stall[1])
        routes = [
            stop_list(self.inst, best_kind[r, : best_length[r]], best_val[r, : best_length[r]])
            for r in range(self.inst.n_riders)
        ]
        left = [int(k) for k in np.flatnonzero(best_left)]
        return SearchResult(None, left, int(best_cost[0]), done, routes=routes)
