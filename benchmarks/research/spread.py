"""`python -m benchmarks spread`: how much each solver's plan varies from run to run.

At short budgets on small problems the peers suite compares one run of each solver per
problem, and two solvers often end on the same plan; where they differ, the difference can be
smaller than either solver's spread between runs with different seeds. This suite runs every
solver several times (its seeds 0 .. runs-1) on each problem of one size, in the peers' model
(the published instance where there is one, else the generator's), and, when asked, once more
at a long budget to learn the best plan any run finds. Per problem it reports each solver's
median, best and worst rider travel, and how many of its runs reached the best plan known
(that of every run here and the published record); over the problems, how often our median is
below, equal to or above the best peer's. Only plans our validator accepts with every order
served on time count; the others are counted as failed runs.
"""

from __future__ import annotations

import copy
from typing import Callable

from dispatch import problem_from_document, solve
from dispatch.instance import Instance, build_instance
from dispatch.solver import split_by_area

from benchmarks.common import Stopwatch, median, peer_plan, score
from benchmarks.peers import PEERS, peer_available, peer_supported
from benchmarks.store_data import best_known, instance_name
from benchmarks.store_data import document as store_document

Progress = Callable[[str], None]
# Travel is compared in minutes rounded to two decimals (the result rows' precision).
SAME_MIN = 0.005


def _solve_once(doc: dict, inst: Instance, solver: str, budget_s: float, seed: int) -> dict:
    """One solve of the problem by one solver with one seed, scored and validated.

    Ours reads the document as a user's call would; a peer gets the instance built once per
    problem (its clock starts inside its call, as in the peers suite).
    """
    if solver == "ours":
        doc = copy.deepcopy(doc)
        doc["options"].update(time_limit_s=budget_s, seed=seed)
        doc["options"].pop("max_iterations", None)
        problem = problem_from_document(doc)
        clock = Stopwatch()
        plan = solve(problem)
        return score(problem, plan, clock())
    result = PEERS[solver](inst, list(range(inst.n_orders)), budget_s, seed)
    if result.routes is None:
        return {"failed": result.note, "wall_s": round(result.wall_s, 3)}
    return score(inst.problem, peer_plan(inst, result), result.wall_s)


def _complete(row: dict) -> bool:
    """A run that counts: a valid plan serving every order on time."""
    return bool(row.get("valid")) and row["served"] == row["orders"] and row["on_time"] == row["orders"]


def run_spread(
    orders: int,
    riders: int,
    seeds: list[int],
    runs: int,
    budget_s: float,
    best_budget_s: float | None,
    peers: list[str],
    progress: Progress,
) -> dict:
    """Every problem seed: `runs` solves per solver at `budget_s`, one more at `best_budget_s`."""
    if runs < 1:
        raise ValueError(f"runs: must be at least 1, got {runs}")
    if budget_s <= 0 or (best_budget_s is not None and best_budget_s <= 0):
        raise ValueError("budget and best budget: must be positive seconds")
    missing = {p: why for p in peers if (why := peer_available(p))}
    active = [p for p in peers if p not in missing]
    records = best_known()
    problems = []
    size = f"{orders}x{riders}"
    for seed in seeds:
        doc = store_document(orders, riders, seed, budget_s)
        problem = problem_from_document(doc)
        routed, _ = split_by_area(problem)
        inst = build_instance(problem, routed)
        why_not = peer_supported(inst)
        entry: dict = {"seed": seed, "instance": instance_name(orders, riders, seed), "runs": {}, "long": {}}
        record = records.get(entry["instance"])
        if record is not None:
            entry["record_min"] = record["travel_min"]
        for solver in ["ours"] + active:
            if solver != "ours" and why_not:
                entry["runs"][solver] = {"skipped": why_not}
                continue
            rows = []
            for run in range(runs):
                progress(f"spread {size} seed {seed}: {solver} run {run + 1}/{runs} at {budget_s:g} s")
                rows.append(_solve_once(doc, inst, solver, budget_s, run))
            entry["runs"][solver] = rows
            if best_budget_s is not None:
                progress(f"spread {size} seed {seed}: {solver} at {best_budget_s:g} s")
                entry["long"][solver] = _solve_once(doc, inst, solver, best_budget_s, 0)
        problems.append(entry)
    return {
        "size": size,
        "seeds": seeds,
        "runs": runs,
        "budget_s": budget_s,
        "best_budget_s": best_budget_s,
        "peers": active,
        "peers_missing": missing,
        **summarise_spread(problems, ["ours"] + active),
    }


def summarise_spread(problems: list[dict], solvers: list[str]) -> dict:
    """Per problem each solver's median, range and runs at the best plan known; then the tally."""
    tally = {"ahead": 0, "same": 0, "behind": 0, "not_compared": 0}
    ratios = []
    at_best_total = {s: [0, 0] for s in solvers}  # runs at the best, runs that counted
    for entry in problems:
        travels: dict[str, list[float]] = {}
        for solver in solvers:
            rows = entry["runs"].get(solver)
            if isinstance(rows, list):
                travels[solver] = [r["travel_min"] for r in rows if _complete(r)]
        candidates = [t for ts in travels.values() for t in ts]
        candidates += [r["travel_min"] for r in entry["long"].values() if _complete(r)]
        if "record_min" in entry:
            candidates.append(entry["record_min"])
        best = min(candidates) if candidates else None
        entry["best_min"] = best
        stats = {}
        for solver, ts in travels.items():
            n_runs = len(entry["runs"][solver])
            at_best = sum(1 for t in ts if best is not None and t <= best + SAME_MIN)
            stats[solver] = {
                "median_min": median(ts) if ts else None,
                "min_min": min(ts) if ts else None,
                "max_min": max(ts) if ts else None,
                "failed_runs": n_runs - len(ts),
                "runs_at_best": at_best,
            }
            at_best_total[solver][0] += at_best
            at_best_total[solver][1] += n_runs
        entry["stats"] = stats
        ours = stats.get("ours", {}).get("median_min")
        peer_medians = [v["median_min"] for s, v in stats.items() if s != "ours" and v["median_min"] is not None]
        if ours is None or not peer_medians or stats["ours"]["failed_runs"]:
            entry["ratio_to_best_peer"] = None
            tally["not_compared"] += 1
            continue
        best_peer = min(peer_medians)
        entry["ratio_to_best_peer"] = round(ours / best_peer, 4)
        ratios.append(ours / best_peer)
        if ours < best_peer - SAME_MIN:
            tally["ahead"] += 1
        elif ours > best_peer + SAME_MIN:
            tally["behind"] += 1
        else:
            tally["same"] += 1
    return {
        "problems": problems,
        "tally": tally,
        "ratio_median": round(median(ratios), 4) if ratios else None,
        "ratio_mean": round(sum(ratios) / len(ratios), 4) if ratios else None,
        "runs_at_best": {s: {"runs": v[0], "of": v[1]} for s, v in at_best_total.items()},
    }
