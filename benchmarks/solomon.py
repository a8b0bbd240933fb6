"""Suite 3: the 56 Solomon VRPTW instances, ours against PyVRP and VROOM, gap to best-known.

Ours solves the instance as a dispatch problem (`solomon_data.problem_document`: the depot is
a store, vehicles are riders on closed routes, customer windows are `deliver_after` and a
hard `promised_at`); PyVRP reads the file with its DIMACS rounding; VROOM gets jobs with
windows and the same tenths matrix. Every answer, ours and theirs, is turned into tours and
checked by `solomon_data.check_tours` (coverage, capacity, windows, fleet); ours is also
judged by our validator. A failure is a run with no feasible answer or a broken rule.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Callable

import numpy as np

from dispatch import problem_from_document, solve
from dispatch.validate import validate_plan

from benchmarks.common import Stopwatch, median
from benchmarks.peers import peer_available
from benchmarks.solomon_data import SCALE, SolomonInstance, best_known, check_tours, load, problem_document, solution_distance

# A quick subset: two of each family, among them the four a plain OR-Tools model fails on.
QUICK = ["C101", "C201", "R101", "R105", "R201", "R205", "RC101", "RC105", "RC201", "RC205", "C105", "C205"]


def tours_of_plan(plan) -> list[list[int]]:
    """Our plan's waves as Solomon tours (a rider's route may hold several)."""
    tours: list[list[int]] = []
    for route in plan.routes:
        for stop in route.stops:
            if stop.kind == "pickup":
                tours.append([])
            else:
                tours[-1].append(int(stop.order_id[1:]))
    return [t for t in tours if t]


def solve_ours(inst: SolomonInstance, budget: float, seed: int) -> dict:
    """Our core on the instance; tours, plus our validator's verdict."""
    problem = problem_from_document(problem_document(inst, budget, seed))
    clock = Stopwatch()
    plan = solve(problem)
    wall = clock()
    violations = validate_plan(problem, plan.to_document())
    return {"tours": tours_of_plan(plan), "wall_s": wall, "validator_violations": len(violations), "unassigned": len(plan.unassigned)}


def solve_pyvrp(inst: SolomonInstance, budget: float, seed: int) -> dict:
    """PyVRP's HGS on the instance: the same tenths matrix, the file's fleet and windows."""
    from pyvrp import Model
    from pyvrp.stop import MaxRuntime

    clock = Stopwatch()
    dist = inst.distance_tenths()
    m = Model()
    depot_location = m.add_location(int(inst.x[0]), int(inst.y[0]))
    m.add_depot(depot_location, tw_early=0, tw_late=int(inst.due[0]) * SCALE)
    locations = [depot_location]
    for c in range(1, inst.n_customers + 1):
        loc = m.add_location(int(inst.x[c]), int(inst.y[c]))
        m.add_client(
            loc,
            delivery=[int(inst.demand[c])],
            service_duration=int(inst.service[c]) * SCALE,
            tw_early=int(inst.ready[c]) * SCALE,
            tw_late=int(inst.due[c]) * SCALE,
        )
        locations.append(loc)
    m.add_vehicle_type(num_available=inst.vehicles, capacity=[int(inst.capacity)], tw_early=0, tw_late=int(inst.due[0]) * SCALE)
    for a, la in enumerate(locations):
        for b, lb in enumerate(locations):
            if a != b:
                m.add_edge(la, lb, distance=int(dist[a, b]), duration=int(dist[a, b]))
    # The budget covers the whole call, as ours does: model building comes out of it.
    result = m.solve(stop=MaxRuntime(max(0.01, budget - clock())), seed=seed, display=False)
    wall = clock()
    if not result.best.is_feasible():
        return {"tours": None, "wall_s": wall, "note": "no feasible solution"}
    # A client activity's idx counts clients from 0 in the order they were added: customer idx + 1.
    tours = [[act.idx + 1 for act in route.schedule() if not act.is_depot()] for route in result.best.routes()]
    return {"tours": tours, "wall_s": wall}


def solve_vroom(inst: SolomonInstance, budget: float, seed: int) -> dict:
    """VROOM with one job per customer, the tenths matrix, the fleet and the depot's window."""
    import vroom

    clock = Stopwatch()
    problem = vroom.Input()
    problem.set_durations_matrix("car", np.ascontiguousarray(inst.distance_tenths(), dtype=np.uint32))
    end = int(inst.due[0]) * SCALE
    problem.add_vehicle(
        [
            vroom.Vehicle(v + 1, start=0, end=0, capacity=[int(inst.capacity)], time_window=vroom.TimeWindow(0, end))
            for v in range(inst.vehicles)
        ]
    )
    problem.add_job(
        [
            vroom.Job(
                c,
                location=c,
                delivery=[int(inst.demand[c])],
                default_service=int(inst.service[c]) * SCALE,
                time_windows=[vroom.TimeWindow(int(inst.ready[c]) * SCALE, int(inst.due[c]) * SCALE)],
            )
            for c in range(1, inst.n_customers + 1)
        ]
    )
    solution = problem.solve(exploration_level=5, nb_threads=1, timeout=timedelta(seconds=max(0.01, budget - clock())))
    wall = clock()
    tours: dict[int, list[int]] = {}
    for row in solution.routes.itertuples(index=False):
        if row.type == "job":
            tours.setdefault(int(row.vehicle_id), []).append(int(row.id))
    return {"tours": list(tours.values()), "wall_s": wall}


SOLVERS: dict[str, Callable[[SolomonInstance, float, int], dict]] = {
    "ours": solve_ours,
    "pyvrp": solve_pyvrp,
    "vroom": solve_vroom,
}


def run_solomon(names: list[str], budgets: list[float], peers: list[str], progress: Callable[[str], None], seed: int = 1) -> dict:
    """Every instance x budget x solver: distance, vehicles, gap to best-known, failures."""
    bks = best_known()
    missing = {p: why for p in peers if (why := peer_available(p))}
    solvers = ["ours"] + [p for p in peers if p not in missing]
    runs = []
    for name in names:
        inst = load(name)
        for budget in budgets:
            for solver in solvers:
                progress(f"solomon {name} {budget:g} s: {solver}")
                out = SOLVERS[solver](inst, budget, seed)
                row = {"instance": name, "family": inst.family, "budget_s": budget, "solver": solver, "wall_s": round(out["wall_s"], 3)}
                tours = out.get("tours")
                problems = ["no solution: " + out.get("note", "")] if tours is None else check_tours(inst, tours)
                if out.get("validator_violations"):
                    problems.append(f"{out['validator_violations']} validator violations")
                if out.get("unassigned"):
                    problems.append(f"{out['unassigned']} customers unassigned")
                if problems:
                    row.update(failed=True, problems=problems[:3])
                else:
                    distance = solution_distance(inst, tours)
                    row.update(
                        failed=False,
                        distance=round(distance, 1),
                        vehicles=len([t for t in tours if t]),
                        gap_pct=round(100 * (distance / bks[name][1] - 1), 3),
                    )
                runs.append(row)
    summary = []
    families = sorted({r["family"] for r in runs})
    for budget in budgets:
        for solver in solvers:
            rows = [r for r in runs if r["budget_s"] == budget and r["solver"] == solver]
            ok = [r for r in rows if not r["failed"]]
            entry = {
                "budget_s": budget,
                "solver": solver,
                "instances": len(rows),
                "failures": len(rows) - len(ok),
                "mean_gap_pct": round(sum(r["gap_pct"] for r in ok) / len(ok), 3) if ok else None,
                "median_wall_s": median(r["wall_s"] for r in rows),
                "by_family": {},
            }
            for fam in families:
                fam_ok = [r for r in ok if r["family"] == fam]
                fam_all = [r for r in rows if r["family"] == fam]
                entry["by_family"][fam] = {
                    "instances": len(fam_all),
                    "failures": len(fam_all) - len(fam_ok),
                    "mean_gap_pct": round(sum(r["gap_pct"] for r in fam_ok) / len(fam_ok), 3) if fam_ok else None,
                }
            summary.append(entry)
    return {
        "instances": names,
        "budgets_s": budgets,
        "seed": seed,
        "peers": [s for s in solvers if s != "ours"],
        "peers_missing": missing,
        "convention": "distance-minimising, arcs truncated to one decimal (DIMACS), fleet from the file; "
        "gap = distance / best-known - 1; mean gap over instances without failure",
        "summary": summary,
        "runs": runs,
    }
