"""Why an order cannot be routed: a screen before solving and an explanation after."""

from __future__ import annotations

from datetime import timedelta

import numpy as np

from dispatch.instance import Instance


def _clock(inst: Instance, seconds: int) -> str:
    return (inst.problem.plan_time + timedelta(seconds=int(seconds))).strftime("%H:%M")


def _solo_trip(inst: Instance, orders: np.ndarray) -> dict[str, np.ndarray]:
    """Each rider (rows) serving each order (columns) alone, straight from where it is now."""
    R = inst.n_riders
    n = len(orders)
    store = inst.order_store[orders]
    op = inst.n_stores + inst.n_riders + orders
    start_o = np.zeros((R, n), dtype=np.int64)
    end = np.zeros((R, n), dtype=np.int64)
    ride = np.zeros((R, n), dtype=np.int64)
    pickup = np.zeros((R, n), dtype=np.int64)
    for r in range(R):
        avail = int(inst.available_s[r])
        at_store = avail + inst.legs_s(r, inst.rider_point(r), store, avail)
        pickup[r] = np.maximum(at_store, inst.ready_s[orders])
        depart = pickup[r] + inst.pickup_service_s[store]
        ride[r] = inst.legs_s(r, store, op, depart)
        start_o[r] = np.maximum(depart + ride[r], inst.earliest_s[orders])  # scheduled orders wait
        end[r] = start_o[r] + inst.service_s[orders]
        if inst.return_to_store:
            back = np.full(n, inst.home_store[r]) if inst.home_store[r] >= 0 else store
            end[r] += inst.legs_s(r, op, back, end[r])
    # What a shift end bounds: the route's end, or (gig couriers) the pickup.
    bounded = np.where(inst.shift_end_pickups[:, None], pickup, end)
    return {"start_o": start_o, "end": end, "ride": ride, "bounded": bounded}


def screen(inst: Instance, orders: list[int]) -> dict[int, tuple[str, str]]:
    """Orders that no rider could serve even alone, with reason code and sentence."""
    todo = np.array([k for k in orders if inst.carried_by[k] < 0], dtype=np.int64)
    out: dict[int, tuple[str, str]] = {}
    if todo.size == 0:
        return out
    if inst.n_riders == 0:
        for k in todo:
            out[int(k)] = ("no_rider_available", "there are no riders in this problem")
        return out
    solo = _solo_trip(inst, todo)
    # A rider whose zone leaves the door out counts as no rider for it.
    zone_ok = inst.zone_ok[todo].T
    by_zone = zone_ok.any(axis=0)
    cap_ok = (inst.items[todo][None, :] <= inst.capacity[:, None]) & zone_ok
    ride_ok = solo["ride"] <= inst.max_ride_s[todo][None, :]
    shift_ok = solo["bounded"] <= inst.shift_end_s[:, None]
    on_time = solo["start_o"] <= inst.promised_s[todo][None, :]
    in_time = solo["start_o"] <= inst.deadline_s[todo][None, :]
    hard = inst.hard_promise[todo]
    # Column masks for every order at once; the per-order loop below runs only for orders that
    # fail (it ran for every order: 2 ms of a 0.1 s budget at 300 orders).
    by_cap = cap_ok.any(axis=0)
    by_ride = (cap_ok & ride_ok).any(axis=0)
    by_shift = (cap_ok & ride_ok & shift_ok).any(axis=0)
    by_deadline = (cap_ok & ride_ok & shift_ok & in_time).any(axis=0)
    by_time = (cap_ok & ride_ok & shift_ok & in_time & on_time).any(axis=0) | ~hard
    for c in np.flatnonzero(~(by_zone & by_cap & by_ride & by_shift & by_deadline & by_time)):
        k = int(todo[c])
        if not by_zone[c]:
            out[k] = ("outside_rider_zones", "its door is outside the zone of every rider who could take it")
        elif not by_cap[c]:
            out[k] = (
                "exceeds_capacity",
                f"{int(inst.items[k])} items; the largest rider capacity is {int(inst.capacity.max())}",
            )
        elif not by_ride[c]:
            out[k] = (
                "max_ride_exceeded",
                f"the ride from the store takes at least {int(solo['ride'][:, c].min()) // 60} min, "
                f"limit {int(inst.max_ride_s[k]) // 60} min",
            )
        elif not by_shift[c]:
            ok = cap_ok[:, c] & ride_ok[:, c]
            out[k] = (
                "no_rider_available",
                f"the earliest a rider could finish it (or, where a shift end bounds pickups, pick it up) is "
                f"{_clock(inst, int(solo['bounded'][ok, c].min()))}, after every shift ends",
            )
        elif not by_deadline[c]:
            ok = cap_ok[:, c] & ride_ok[:, c] & shift_ok[:, c]
            out[k] = (
                "past_deadline",
                f"the earliest possible delivery is {_clock(inst, int(solo['start_o'][ok, c].min()))}, after its "
                f"deadline {_clock(inst, int(inst.deadline_s[k]))}",
            )
        else:
            ok = cap_ok[:, c] & ride_ok[:, c] & shift_ok[:, c]
            best = int(solo["start_o"][ok, c].min())
            late_min = (best - int(inst.promised_s[k]) + 59) // 60
            out[k] = (
                "cannot_be_on_time",
                f"the earliest possible delivery is {_clock(inst, best)}, promised "
                f"{_clock(inst, int(inst.promised_s[k]))} ({late_min} min late)",
            )
    return out


def explain_all_left_out(inst: Instance, orders: list[int], n_planned: int) -> dict[int, tuple[str, str]]:
    """Reasons for orders in no route, all at once (one solo trip per rider for all of them)."""
    out = screen(inst, orders)
    rest = np.array([k for k in orders if k not in out], dtype=np.int64)
    if rest.size == 0:
        return out
    solo = _solo_trip(inst, rest)
    for c, k in enumerate(rest):
        when = _clock(inst, int(solo["start_o"][:, c].min()))
        if inst.problem.options.lateness == "hard":
            out[int(k)] = (
                "cannot_be_on_time",
                f"a free rider could deliver it by {when}, but every rider is booked with the "
                f"{n_planned} orders planned first and none can also be on time for it",
            )
        else:
            out[int(k)] = (
                "fleet_busy",
                f"a free rider could deliver it by {when}, but no rider can fit it with the "
                f"{n_planned} orders planned first within shifts and capacities",
            )
    return out

