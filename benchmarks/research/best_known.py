"""`python -m benchmarks best-known`: search the published store instances for better plans.

Each solver runs on each instance at a long budget with several seeds; every plan that
serves all orders on time, passes our validator and rides less than the record replaces it
in `data/store/best_known.json` (see `store_data`). Records only ever improve, so the file
can be refreshed by anyone with more time or a better solver.
"""

from __future__ import annotations

import copy
from typing import Callable

from dispatch import problem_from_document, solve
from dispatch.instance import build_instance
from dispatch.solver import split_by_area

from benchmarks.common import peer_plan, version
from benchmarks.peers import PEERS, peer_available
from benchmarks.store_data import load, offer

DISTRIBUTIONS = {"ours": "o2o-dispatch", "pyvrp": "pyvrp", "vroom": "pyvroom"}


def search_best_known(
    names: list[str], solvers: list[str], budget_s: float, seeds: list[int], progress: Callable[[str], None]
) -> list[dict]:
    """Solve every instance with every solver and seed; returns one row per solve (improved or not)."""
    rows = []
    for name in names:
        original = load(name)
        for solver in solvers:
            if solver != "ours" and (why := peer_available(solver)):
                rows.append({"instance": name, "solver": solver, "skipped": why})
                continue
            found_by = f"{solver} {version(DISTRIBUTIONS[solver])}"
            for seed in seeds:
                progress(f"{name}: {solver} seed {seed}")
                doc = copy.deepcopy(original)
                doc["options"].update(time_limit_s=budget_s, seed=seed)
                problem = problem_from_document(doc)
                if solver == "ours":
                    plan = solve(problem)
                else:
                    routed, _ = split_by_area(problem)
                    inst = build_instance(problem, routed)
                    result = PEERS[solver](inst, list(range(inst.n_orders)), budget_s, seed)
                    if result.routes is None:
                        rows.append({"instance": name, "solver": solver, "seed": seed, "failed": result.note})
                        continue
                    plan = peer_plan(inst, result)
                m = plan.metrics
                rows.append(
                    {
                        "instance": name,
                        "solver": solver,
                        "seed": seed,
                        "travel_min": round(m.total_travel_s / 60, 2),
                        "served": m.assigned,
                        "on_time": m.on_time,
                        "improved": offer(name, plan, found_by, budget_s, seed),
                    }
                )
    return rows
