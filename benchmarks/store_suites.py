"""Suites 1 and 2 on generated store problems: latency and scaling (ours), and the peers.

Suite 1 (`scaling`) uses the generator's realistic defaults: soft promises, riders at their
own speeds, ready times spread over the next minutes. It records the time to the first valid
plan, the plan at each budget (travel, on-time share, served share), how far past its budget
each solve returned, and the peak memory of one solve per size.

Suite 2 (`peers`) restricts the generator to what the peers express exactly (one store,
riders at the store with nothing on board, one speed, hard promises, ready time as the
earliest departure, several waves, capacity, open routes) and solves the same problems with
our core, PyVRP and VROOM at the same budgets; every plan is judged by our validator. Its
problems are the published instances (`data/store/`, see `store_data`) where the size and
seed have one, so results stay comparable when the generator changes, and each plan's gap
to the instance's best-known plan is reported beside the ratio to the best peer.
"""

from __future__ import annotations

import resource
import tracemalloc
from typing import Callable

from dispatch import problem_from_document, solve
from dispatch.generate import generate_problem
from dispatch.instance import build_instance
from dispatch.solver import split_by_area

from benchmarks.common import Stopwatch, median, peer_plan, percentile, score
from benchmarks.peers import PEERS, peer_available, peer_supported
from benchmarks.store_data import best_known, instance_name
from benchmarks.store_data import document as store_document

Progress = Callable[[str], None]


def _ours(doc: dict) -> dict:
    problem = problem_from_document(doc)
    clock = Stopwatch()
    plan = solve(problem)
    row = score(problem, plan, clock())
    row["first_plan_ms"] = plan.metrics.first_plan_ms
    row["engine"] = plan.metrics.engine
    return row


def peak_memory_mib(doc: dict) -> float:
    """Peak memory traced (Python and numpy allocations) during one solve, in MiB."""
    problem = problem_from_document(doc)
    tracemalloc.start()
    try:
        solve(problem)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return round(peak / 2**20, 3)


def run_scaling(sizes: list[tuple[int, int]], seeds: list[int], budgets: list[float], progress: Progress) -> dict:
    """Suite 1: every size x seed x budget, ours only."""
    runs = []
    memory = {}
    for orders, riders in sizes:
        size = f"{orders}x{riders}"
        for seed in seeds:
            for budget in budgets:
                progress(f"scaling {size} seed {seed} budget {budget:g} s")
                doc = generate_problem(orders, riders, seed, time_limit_s=budget)
                row = _ours(doc)
                row.update(size=size, n_orders=orders, seed=seed, budget_s=budget)
                row["overrun_ms"] = round((row["wall_s"] - budget) * 1000, 1)
                runs.append(row)
        progress(f"scaling {size} memory")
        memory[size] = peak_memory_mib(generate_problem(orders, riders, seeds[0], time_limit_s=min(budgets)))
    summary = []
    for orders, riders in sizes:
        size = f"{orders}x{riders}"
        for budget in budgets:
            group = [r for r in runs if r["size"] == size and r["budget_s"] == budget]
            summary.append(
                {
                    "size": size,
                    "n_orders": orders,
                    "budget_s": budget,
                    "first_plan_ms": median(r["first_plan_ms"] for r in group),
                    "wall_s": median(r["wall_s"] for r in group),
                    "travel_min": median(r["travel_min"] for r in group),
                    "on_time_share": median(r["on_time_share"] for r in group),
                    "served_share": median(r["served_share"] for r in group),
                    "all_valid": all(r["valid"] for r in group),
                    "peak_memory_mib": memory[size],
                }
            )
    overruns = [r["overrun_ms"] for r in runs]
    return {
        "sizes": [f"{o}x{r}" for o, r in sizes],
        "seeds": seeds,
        "budgets_s": budgets,
        "memory_note": "peak traced by tracemalloc (Python and numpy) during one solve at the smallest budget; "
        f"process max RSS at the end {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MiB",
        "overrun_ms_p50": percentile(overruns, 50),
        "overrun_ms_p99": percentile(overruns, 99),
        "overrun_ms_max": max(overruns) if overruns else float("nan"),
        "summary": summary,
        "runs": runs,
    }


def run_peers(
    sizes: list[tuple[int, int]], seeds: list[int], budgets: list[float], peers: list[str], progress: Progress
) -> dict:
    """Suite 2: the same peer-expressible problems solved by us and each available peer."""
    missing = {p: why for p in peers if (why := peer_available(p))}
    active = [p for p in peers if p not in missing]
    records = best_known()
    runs = []
    for orders, riders in sizes:
        size = f"{orders}x{riders}"
        for seed in seeds:
            for budget in budgets:
                doc = store_document(orders, riders, seed, budget)
                progress(f"peers {size} seed {seed} budget {budget:g} s: ours")
                row = {"size": size, "n_orders": orders, "seed": seed, "budget_s": budget, "ours": _ours(doc)}
                record = records.get(instance_name(orders, riders, seed))
                if record is not None:
                    row["best_known_min"] = record["travel_min"]
                problem = problem_from_document(doc)
                routed, _ = split_by_area(problem)
                inst = build_instance(problem, routed)
                why_not = peer_supported(inst)
                for name in active:
                    if why_not:
                        row[name] = {"skipped": why_not}
                        continue
                    progress(f"peers {size} seed {seed} budget {budget:g} s: {name}")
                    result = PEERS[name](inst, list(range(inst.n_orders)), budget, seed)
                    if result.routes is None:
                        row[name] = {"failed": result.note, "wall_s": round(result.wall_s, 3)}
                    else:
                        row[name] = score(problem, peer_plan(inst, result), result.wall_s)
                runs.append(row)
    names = [f"{o}x{r}" for o, r in sizes]
    return {
        "sizes": names,
        "seeds": seeds,
        "budgets_s": budgets,
        "peers": active,
        "peers_missing": missing,
        "threads": "one each: PyVRP is single-threaded, VROOM runs with nb_threads=1, our OR-Tools step runs "
        "in a child while the parent waits",
        "summary": summarise_peers(runs, names, budgets, active),
        "runs": runs,
    }


def _gap_pct(run: dict, solver: str) -> float | None:
    """A solver's travel over the instance's best-known plan, in percent (None without one, or
    when its plan is invalid or leaves an order out)."""
    x, best = run[solver], run.get("best_known_min")
    if best is None or not x.get("valid") or x["served"] != x["orders"]:
        return None
    return round((x["travel_min"] / best - 1) * 100, 2)


def summarise_peers(runs: list[dict], sizes: list[str], budgets: list[float], active: list[str]) -> list[dict]:
    """Per size and budget: each solver's medians over seeds (travel, and its gap to the
    best-known plan where the instance is published), and ours against the best peer.

    The ratio to the best peer is taken per seed (same problem; only valid peer plans serving
    as many orders as ours count), kept by seed, and its median is the headline figure.
    """
    solvers = ["ours"] + active
    summary = []
    for size in sizes:
        for budget in budgets:
            group = [r for r in runs if r["size"] == size and r["budget_s"] == budget]
            entry = {"size": size, "budget_s": budget, "seeds": len(group)}
            for name in solvers:
                rows = [r[name] for r in group if "travel_min" in r.get(name, {})]
                if len(rows) != len(group):
                    entry[name] = {"missing": len(group) - len(rows)}
                    continue
                entry[name] = {
                    "served": median(x["served"] for x in rows),
                    "on_time": median(x["on_time"] for x in rows),
                    "orders": median(x["orders"] for x in rows),
                    "travel_min": median(x["travel_min"] for x in rows),
                    "riders_used": median(x["riders_used"] for x in rows),
                    "wall_s": median(x["wall_s"] for x in rows),
                    "all_valid": all(x["valid"] for x in rows),
                    "gap_pct": median(_gap_pct(r, name) for r in group),
                }
            by_seed = {}
            for r in group:
                peer_travel = [
                    r[p]["travel_min"]
                    for p in active
                    if r.get(p, {}).get("valid") and r[p]["served"] == r["ours"]["served"]
                ]
                if peer_travel and r["ours"]["valid"]:
                    by_seed[str(r["seed"])] = round(r["ours"]["travel_min"] / min(peer_travel), 4)
            entry["ratio_to_best_peer"] = round(median(by_seed.values()), 4) if by_seed else None
            entry["ratio_by_seed"] = by_seed
            summary.append(entry)
    return summary
