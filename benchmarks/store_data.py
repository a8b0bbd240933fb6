"""The published store-dispatch instances and their best-known plans (`data/store/`).

Solomon has fixed files and best-known solutions; store dispatch had neither, only a
generator whose output could drift with its code. The peers' problems (hard promises,
riders at the store with nothing on board, one speed, ready times, several waves, open
routes) are kept as contract problem documents, `o2o-<orders>x<riders>-s<seed>.json`, and
`best_known.json` holds, per instance, the cheapest plan any solver has found (rider
travel, every order served on time), with its routes so that anyone can check it with the
validator. `python -m benchmarks best-known` searches for better ones.
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path

from dispatch import problem_from_document
from dispatch.generate import generate_problem
from dispatch.instance import Instance, build_instance
from dispatch.plan import Plan, UnassignedOrder
from dispatch.solver import split_by_area
from dispatch.solver.plan_builder import build_plan
from dispatch.solver.routes import DROP, PICKUP, Stop
from dispatch.validate import validate_plan

STORE_DATA = Path(__file__).parent / "data" / "store"
BEST_KNOWN = STORE_DATA / "best_known.json"
SIZES = [(30, 5), (60, 8), (100, 15), (200, 25), (300, 40)]
SEEDS = [1, 2, 3]


def instance_name(orders: int, riders: int, seed: int) -> str:
    """The published name of the peers' problem of this size and seed."""
    return f"o2o-{orders}x{riders}-s{seed}"


def generated_document(orders: int, riders: int, seed: int) -> dict:
    """The peers' problem as the generator makes it (what the published files were made from)."""
    return generate_problem(orders, riders, seed, lateness="hard", equal_speeds=True, time_limit_s=1.0)


def instance_names() -> list[str]:
    """Every published instance, smallest first."""
    return [instance_name(o, r, s) for o, r in SIZES for s in SEEDS]


def _path(name: str) -> Path:
    return STORE_DATA / f"{name}.json"


def document(orders: int, riders: int, seed: int, budget_s: float) -> dict:
    """The peers' problem at this budget: the published file when there is one, else generated."""
    name = instance_name(orders, riders, seed)
    doc = load(name) if _path(name).exists() else generated_document(orders, riders, seed)
    doc["options"]["time_limit_s"] = budget_s
    return doc


def load(name: str) -> dict:
    """A published instance's problem document."""
    return json.loads(_path(name).read_text())


def write_instances() -> list[Path]:
    """Write the published instances from the generator (run once; they are kept as files)."""
    STORE_DATA.mkdir(parents=True, exist_ok=True)
    paths = []
    for orders, riders in SIZES:
        for seed in SEEDS:
            path = _path(instance_name(orders, riders, seed))
            path.write_text(json.dumps(generated_document(orders, riders, seed), indent=1) + "\n")
            paths.append(path)
    return paths


def best_known() -> dict[str, dict]:
    """Best-known plan per instance name (empty where none is recorded yet)."""
    return json.loads(BEST_KNOWN.read_text()) if BEST_KNOWN.exists() else {}


def routed_instance(doc: dict) -> Instance:
    """The instance the solver routes for a problem document (orders inside their store's area)."""
    problem = problem_from_document(doc)
    routed, _ = split_by_area(problem)
    return build_instance(problem, routed)


def waves_of(plan: Plan) -> dict[str, list[list[str]]]:
    """A plan's routes as rider id -> waves -> order ids (the form `best_known.json` keeps)."""
    out: dict[str, list[list[str]]] = {}
    for route in plan.routes:
        waves = [list(s.order_ids) for s in route.stops if s.kind == "pickup"]
        if waves:
            out[route.rider_id] = waves
    return out


def plan_from_waves(doc: dict, waves: dict[str, list[list[str]]]) -> Plan:
    """The plan those waves make on the problem `doc`, timed by the contract's rules."""
    inst = routed_instance(doc)
    rider_index = {r.id: i for i, r in enumerate(inst.problem.riders)}
    order_index = {o.id: k for k, o in enumerate(inst.orders)}
    routes: list[list[Stop]] = [[] for _ in range(inst.n_riders)]
    for rider_id, rider_waves in waves.items():
        if rider_id not in rider_index:
            raise ValueError(f"routes: unknown rider_id {rider_id!r}")
        r = rider_index[rider_id]
        for wave in rider_waves:
            unknown = [o for o in wave if o not in order_index]
            if unknown or not wave:
                raise ValueError(f"routes[{rider_id!r}]: " + (f"unknown order ids {unknown}" if unknown else "an empty wave"))
            ks = [order_index[o] for o in wave]
            routes[r].append((PICKUP, int(inst.order_store[ks[0]]), tuple(ks)))
            routes[r].extend((DROP, k) for k in ks)
    visits = Counter(s[1] for rt in routes for s in rt if s[0] == DROP)
    twice = sorted(inst.orders[k].id for k, n in visits.items() if n > 1)
    if twice:
        raise ValueError(f"routes: orders in more than one wave {twice}")
    served = set(visits)
    left = [k for k in range(inst.n_orders) if k not in served]
    unassigned = [UnassignedOrder(inst.orders[k].id, "fleet_busy", "not in the recorded plan") for k in left]
    return build_plan(inst, routes, unassigned, 0, None, "best-known")


def check_record(name: str, record: dict) -> list[str]:
    """Why a best-known record does not hold on its instance (empty when it does)."""
    doc = load(name)
    try:
        plan = plan_from_waves(doc, record["routes"])
    except (KeyError, ValueError) as err:
        return [f"{name}: {err}"]
    problems = [f"{name}: {v}" for v in validate_plan(problem_from_document(doc), plan.to_document())]
    m = plan.metrics
    if m.assigned != m.orders or m.on_time != m.orders:
        problems.append(f"{name}: serves {m.assigned} and keeps {m.on_time} promises of {m.orders} orders")
    if m.total_travel_s != record["travel_s"]:
        problems.append(f"{name}: travel_s is {m.total_travel_s}, the record says {record['travel_s']}")
    return problems


def offer(name: str, plan: Plan, found_by: str, budget_s: float, seed: int) -> bool:
    """Record `plan` as the best known for `name` if it serves every order on time, validates
    and rides less than the record; True if it was recorded."""
    doc = load(name)
    m = plan.metrics
    if m.assigned != m.orders or m.on_time != m.orders:
        return False
    if validate_plan(problem_from_document(doc), plan.to_document()):
        return False
    records = best_known()
    old = records.get(name)
    if old is not None and old["travel_s"] <= m.total_travel_s:
        return False
    records[name] = {
        "travel_s": m.total_travel_s,
        "travel_min": round(m.total_travel_s / 60, 2),
        "riders_used": m.riders_used,
        "found_by": found_by,
        "budget_s": budget_s,
        "seed": seed,
        "found_at": datetime.now(timezone.utc).date().isoformat(),
        "routes": waves_of(plan),
    }
    BEST_KNOWN.parent.mkdir(parents=True, exist_ok=True)
    # Written whole after each improvement: an interrupted search keeps what it found.
    tmp = BEST_KNOWN.with_suffix(".tmp")
    tmp.write_text(json.dumps(dict(sorted(records.items(), key=lambda kv: _order_key(kv[0]))), indent=1) + "\n")
    tmp.replace(BEST_KNOWN)
    return True


def _order_key(name: str) -> tuple:
    size, seed = name.removeprefix("o2o-").split("-s")
    orders, riders = size.split("x")
    return int(orders), int(riders), int(seed)
