"""A re-dispatch's warm start: the routes being followed, in the instance's terms.

A re-plan that starts from the plan the riders follow keeps what still holds and spends its
budget on what changed (new orders, riders who moved). The routes come with the problem
(`Problem.initial_routes`) and are only a hint: riders and orders no longer in the problem,
orders screened out or committed elsewhere, and routes that now break a hard rule are
skipped. Carried orders always lead their rider's route, in the order `sequence_carried` chose.
"""

from __future__ import annotations

from dispatch.instance import Instance
from dispatch.solver.construct import wave_shaped
from dispatch.solver.routes import DROP, PICKUP, Stop, schedule_route


def _transcribe(inst: Instance, r: int, stops, index: dict[str, int], allowed: set[int], placed: set[int]) -> list[Stop]:
    """Rider r's new-order stops of an initial route: each pickup keeps the orders that may
    still go with r and whose drop-off follows it on the route."""
    route: list[Stop] = []
    collected: set[int] = set()
    for kind, ids in stops:
        ks = [index[i] for i in ids if i in index]
        if kind == "pickup":
            ks = [
                k for k in ks
                if k in allowed and k not in placed and inst.carried_by[k] < 0 and inst.locked_to[k] in (-1, r)
                and inst.zone_ok[k, r]
            ]
            if ks:
                route.append((PICKUP, int(inst.order_store[ks[0]]), tuple(ks)))
                collected.update(ks)
        elif ks and ks[0] in collected:
            route.append((DROP, ks[0]))
            collected.discard(ks[0])
            placed.add(ks[0])
    # A pickup keeps only the orders dropped later on; a pickup left with none goes.
    dropped = {s[1] for s in route if s[0] == DROP}
    route = [(s[0], s[1], tuple(k for k in s[2] if k in dropped)) if s[0] == PICKUP else s for s in route]
    return [s for s in route if s[0] == DROP or s[2]]


def warm_routes(inst: Instance, candidates: list[int]) -> list[list[Stop]] | None:
    """The problem's initial routes as a start for the search, or None when there are none
    (or they cannot be read as waves from the store)."""
    if not inst.problem.initial_routes:
        return None
    index = {o.id: k for k, o in enumerate(inst.orders)}
    rider_index = {r.id: i for i, r in enumerate(inst.problem.riders)}
    allowed = set(candidates)
    routes: list[list[Stop]] = [[(DROP, k) for k in inst.carried_of_rider[r]] for r in range(inst.n_riders)]
    placed = {k for r in range(inst.n_riders) for k in inst.carried_of_rider[r]}
    for rider_id, stops in inst.problem.initial_routes:
        r = rider_index.get(rider_id)
        if r is None:
            continue
        before = set(placed)
        waves = _transcribe(inst, r, stops, index, allowed, placed)
        candidate = routes[r] + waves
        if waves and schedule_route(inst, r, candidate).feasible:
            routes[r] = candidate
        else:
            placed.difference_update(placed - before)  # its orders were not placed after all
    if not wave_shaped(inst, routes):
        return None
    return routes
