"""Which orders a solve plans: those inside their store's area, as many as its budget affords."""

from __future__ import annotations

from collections.abc import Callable

from dispatch.geofence import store_area
from dispatch.model import Problem
from dispatch.plan import UnassignedOrder

# Reading the plan back after the search (costing, plan building, reasons) is kept inside
# time_limit_s: a reserve of 1 ms + 0.04 us x orders^2 (docs/SOLVER_NOTES.md, by name).
_RESERVE_BASE_S = 0.001
_RESERVE_PER_ORDER2_S = 0.04e-6
# The instance (travel matrices over every point, the screen of every order against every
# rider) must fit this share of the budget, else the most urgent orders that fit are kept
# (docs/SOLVER_NOTES.md, "_INSTANCE_S_PER_POINT2").
_INSTANCE_S_PER_POINT2 = 45e-9
_SCREEN_S_PER_ORDER_RIDER = 0.1e-6
_INSTANCE_SHARE = 0.5
# Pooling the orders sent out on shared platform couriers runs after the search: it is kept
# 1 ms per order of a store whose platform pools (8 priced pairs, measured 0.1-0.45 ms an order
# sent out), at most a quarter of the budget (docs/SOLVER_NOTES.md, "Pooling orders on a
# platform's couriers").
_POOL_S_PER_ORDER = 1e-3
_POOL_SHARE = 0.25


def reserve_s(orders: int) -> float:
    """Seconds kept at the end of a solve of `orders` orders for reading its plan back."""
    return _RESERVE_BASE_S + _RESERVE_PER_ORDER2_S * orders**2


def pooling_reserve_s(problem: Problem) -> float:
    """Seconds kept after the search for pooling sent-out orders on shared couriers (0 when no
    store's third party takes more than one order per courier)."""
    pooling = {s.id for s in problem.stores if s.third_party is not None and s.third_party.orders_per_courier > 1}
    if not pooling:
        return 0.0
    orders = sum(o.store_id in pooling for o in problem.orders)
    return min(_POOL_SHARE * problem.options.time_limit_s, _POOL_S_PER_ORDER * orders)


def most_within(cost: Callable[[int], float], upper: int, budget_s: float) -> int:
    """The largest count from 0 to `upper` whose (increasing) `cost` is within `budget_s`."""
    lo, hi = 0, upper
    while lo < hi:
        mid = (lo + hi + 1) // 2
        lo, hi = (mid, hi) if cost(mid) <= budget_s else (lo, mid - 1)
    return lo


def split_by_area(problem: Problem) -> tuple[list, list[UnassignedOrder]]:
    """Orders to route, and orders refused for their store or drop-off (carried ones always route)."""
    areas = {s.id: store_area(s) for s in problem.stores}
    carried = problem.carrier_of
    routed, refused = [], []
    by_store: dict[str, list] = {}
    for o in problem.orders:
        if o.id in carried:
            routed.append(o)
        elif o.store_id not in areas:
            refused.append(
                UnassignedOrder(o.id, "unknown_store", f"store {o.store_id} is not in this problem")
            )
        else:
            by_store.setdefault(o.store_id, []).append(o)
    for store_id, orders in by_store.items():
        details = areas[store_id].outside_details([o.dropoff for o in orders])
        for o, detail in zip(orders, details):
            if detail is None:
                routed.append(o)
            else:
                refused.append(UnassignedOrder(o.id, "outside_service_area", detail))
    rank = {o.id: i for i, o in enumerate(problem.orders)}
    routed.sort(key=lambda o: rank[o.id])
    return routed, refused


def fit_to_budget(problem: Problem, routed: list, budget_s: float) -> tuple[list, list[UnassignedOrder]]:
    """The orders to plan when the instance of all of them would not fit the budget: carried
    ones and the most urgent by promise; the rest are left out with `time_limit_reached`."""
    points, riders = len(problem.stores) + len(problem.riders), len(problem.riders)

    def cost(k: int) -> float:
        return (_INSTANCE_S_PER_POINT2 * (points + k) ** 2 + _SCREEN_S_PER_ORDER_RIDER * k * riders
                + _RESERVE_PER_ORDER2_S * k**2)

    allowed = _INSTANCE_SHARE * budget_s
    if cost(len(routed)) <= allowed:
        return routed, []
    carried = problem.carrier_of
    urgent = sorted((o for o in routed if o.id not in carried), key=lambda o: o.promised_at_s)
    room = max(0, most_within(cost, len(routed), allowed) - (len(routed) - len(urgent)))
    keep = {o.id for o in urgent[:room]}
    detail = (
        f"the {problem.options.time_limit_s:g} s budget is too small to plan {len(routed)} orders at once; "
        f"the {room} most urgent were planned, and a larger time_limit_s plans the rest"
    )
    kept = [o for o in routed if o.id in carried or o.id in keep]
    return kept, [UnassignedOrder(o.id, "time_limit_reached", detail) for o in urgent[room:]]
