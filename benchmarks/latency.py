"""Solve latency and plan quality on generated store problems, side by side with PyVRP.

    python -m benchmarks.latency [--sizes 30x5,100x15,300x40] [--seeds 1,2] [--budget 1.0]

Problems come from `dispatch.generate` with hard promises, riders at the store and equal
speeds (4.5 m/s), the setting a peer can express exactly. Every plan, ours and the peer's,
is judged by our validator. Times are medians over seeds; ratios compare runs made here,
in this process, one after the other.
"""

from __future__ import annotations

import json
import platform
import statistics
import time
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from dispatch import problem_from_document, solve
from dispatch.generate import generate_problem
from dispatch.instance import build_instance
from dispatch.solver import split_by_area
from dispatch.solver.plan_builder import build_plan
from dispatch.validate import validate_plan

from benchmarks.peers import peer_supported, solve_pyvrp

RESULTS = Path(__file__).parent / "results"
console = Console()


def _version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


def machine() -> dict:
    """What the figures were measured on."""
    import os

    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "processor": platform.processor() or platform.machine(),
        "ortools": _version("ortools"),
        "numpy": _version("numpy"),
        "pyvrp": _version("pyvrp"),
    }


def run_one(orders: int, riders: int, seed: int, budget: float, peers: bool) -> dict:
    """Ours (and PyVRP's) plan for one generated problem, each checked by the validator."""
    doc = generate_problem(orders, riders, seed, lateness="hard", equal_speeds=True, time_limit_s=budget)
    problem = problem_from_document(doc)
    t0 = time.perf_counter()
    plan = solve(problem)
    wall = time.perf_counter() - t0
    violations = validate_plan(problem, plan.to_document())
    m = plan.metrics
    row = {
        "size": f"{orders}x{riders}",
        "seed": seed,
        "budget_s": budget,
        "ours": {
            "first_plan_ms": m.first_plan_ms,
            "wall_s": round(wall, 3),
            "served": m.assigned,
            "on_time": m.on_time,
            "travel_min": round(m.total_travel_s / 60, 1),
            "riders_used": m.riders_used,
            "valid": not violations,
            "engine": m.engine,
        },
    }
    if peers:
        routed, _ = split_by_area(problem)
        inst = build_instance(problem, routed)
        why_not = peer_supported(inst)
        if why_not:
            row["pyvrp"] = {"skipped": why_not}
        else:
            res = solve_pyvrp(inst, list(range(inst.n_orders)), budget, seed)
            if res.routes is None:
                row["pyvrp"] = {"failed": res.note, "wall_s": round(res.wall_s, 3)}
            else:
                from dispatch.plan import UnassignedOrder

                left = [UnassignedOrder(inst.orders[k].id, "fleet_busy", "left out by PyVRP") for k in res.left]
                peer_plan = build_plan(inst, res.routes, left, int(res.wall_s * 1000), None, "pyvrp")
                peer_violations = validate_plan(problem, peer_plan.to_document())
                pm = peer_plan.metrics
                row["pyvrp"] = {
                    "wall_s": round(res.wall_s, 3),
                    "served": pm.assigned,
                    "on_time": pm.on_time,
                    "travel_min": round(pm.total_travel_s / 60, 1),
                    "riders_used": pm.riders_used,
                    "valid": not peer_violations,
                }
    return row


def summarise(rows: list[dict]) -> list[dict]:
    """Medians per size over seeds, and the ratio of our travel to PyVRP's."""
    out = []
    for size in dict.fromkeys(r["size"] for r in rows):
        group = [r for r in rows if r["size"] == size]
        s = {
            "size": size,
            "seeds": len(group),
            "first_plan_ms_median": statistics.median(r["ours"]["first_plan_ms"] for r in group),
            "wall_s_median": statistics.median(r["ours"]["wall_s"] for r in group),
            "travel_min_median": statistics.median(r["ours"]["travel_min"] for r in group),
            "served_min": min(r["ours"]["served"] for r in group),
            "orders": int(size.split("x")[0]),
            "all_valid": all(r["ours"]["valid"] for r in group),
        }
        peer = [r["pyvrp"] for r in group if "travel_min" in r.get("pyvrp", {})]
        if len(peer) == len(group):
            s["pyvrp_travel_min_median"] = statistics.median(p["travel_min"] for p in peer)
            s["pyvrp_served_min"] = min(p["served"] for p in peer)
            s["pyvrp_all_valid"] = all(p["valid"] for p in peer)
            s["travel_ratio_to_pyvrp_median"] = round(
                statistics.median(r["ours"]["travel_min"] / r["pyvrp"]["travel_min"] for r in group), 3
            )
        out.append(s)
    return out


def main(
    sizes: Annotated[str, typer.Option(help="orders x riders, comma separated")] = "30x5,100x15,300x40",
    seeds: Annotated[str, typer.Option(help="Generator seeds, comma separated")] = "1,2",
    budget: Annotated[float, typer.Option(help="Solve budget in seconds, ours and the peer's")] = 1.0,
    peers: Annotated[bool, typer.Option(help="Run PyVRP too (pip install .[bench])")] = True,
    out: Annotated[Path, typer.Option(help="Result file")] = RESULTS / "latency.json",
) -> None:
    """Measure first-plan latency and travel at the budget; compare with PyVRP."""
    from dispatch.solver import fast_lns

    fast_lns.warm_up()  # compile once, outside any measured solve
    pairs = [tuple(int(x) for x in s.lower().split("x")) for s in sizes.split(",")]
    seed_list = [int(s) for s in seeds.split(",")]
    rows = []
    with console.status("benchmarking") as status:
        for orders, riders in pairs:
            for seed in seed_list:
                status.update(f"{orders}x{riders} seed {seed}")
                rows.append(run_one(orders, riders, seed, budget, peers))
    summary = summarise(rows)
    table = Table(title=f"Store dispatch, hard promises, budget {budget:g} s (medians over seeds {seeds})")
    for col in ("size", "first plan ms", "served", "ours travel min", "PyVRP travel min", "ours / PyVRP", "valid"):
        table.add_column(col, justify="right")
    for s in summary:
        table.add_row(
            s["size"],
            f"{s['first_plan_ms_median']:.0f}",
            f"{s['served_min']}/{s['orders']}",
            f"{s['travel_min_median']:.1f}",
            f"{s.get('pyvrp_travel_min_median', float('nan')):.1f}",
            f"{s.get('travel_ratio_to_pyvrp_median', float('nan')):.3f}",
            "yes" if s["all_valid"] and s.get("pyvrp_all_valid", True) else "NO",
        )
    console.print(table)
    out.parent.mkdir(parents=True, exist_ok=True)
    result = {
        "suite": "latency",
        "measured_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": machine(),
        "budget_s": budget,
        "seeds": seed_list,
        "summary": summary,
        "runs": rows,
    }
    out.write_text(json.dumps(result, indent=2) + "\n")
    console.print(f"wrote {out}")


if __name__ == "__main__":
    typer.run(main)
