"""What every suite shares: the machine record, scoring a plan with our validator, result files."""

from __future__ import annotations

import json
import math
import os
import platform
import statistics
import time
from datetime import datetime, timezone
from importlib import metadata
from pathlib import Path

from dispatch.instance import Instance
from dispatch.model import Problem
from dispatch.plan import Plan, UnassignedOrder
from dispatch.solver.plan_builder import build_plan
from dispatch.validate import validate_plan

from benchmarks.peers import PeerResult

RESULTS = Path(__file__).parent / "results"
# Where a local run writes unless asked to publish: ignored by git, so `make bench` leaves the
# tracked (published) result files as they are.
LOCAL_RESULTS = RESULTS / "local"


def results_folder(out: Path | None, publish: bool) -> Path:
    """The folder a run writes to: `out` when given, else the published folder with `publish`, else the local one."""
    if out is not None:
        return out
    return RESULTS if publish else LOCAL_RESULTS


def version(name: str) -> str:
    """Installed version of a distribution, or 'not installed'."""
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


def machine() -> dict:
    """The machine and library versions the figures were measured with."""
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "processor": platform.processor() or platform.machine(),
        "o2o_dispatch": version("o2o-dispatch"),
        "ortools": version("ortools"),
        "numba": version("numba"),
        "numpy": version("numpy"),
        "pyvrp": version("pyvrp"),
        "pyvroom": version("pyvroom"),
    }


def score(problem: Problem, plan: Plan, wall_s: float) -> dict:
    """Served, on time, rider travel, riders used and validity of a plan, as a result row."""
    violations = validate_plan(problem, plan.to_document())
    m = plan.metrics
    orders = max(1, m.orders)
    return {
        "wall_s": round(wall_s, 4),
        "orders": m.orders,
        "served": m.assigned,
        "on_time": m.on_time,
        "served_share": round(m.assigned / orders, 4),
        "on_time_share": round(m.on_time / orders, 4),
        "travel_min": round(m.total_travel_s / 60, 2),
        "riders_used": m.riders_used,
        "valid": not violations,
        "violations": len(violations),
    }


def peer_plan(inst: Instance, result: PeerResult) -> Plan:
    """A peer's routes as our plan (re-timed by the contract's rules), for the validator to judge."""
    left = [UnassignedOrder(inst.orders[k].id, "fleet_busy", f"left out by {result.name}") for k in result.left]
    return build_plan(inst, result.routes, left, int(result.wall_s * 1000), None, result.name)


def median(values) -> float:
    """Median of the values that are numbers (nan if none)."""
    vals = [v for v in values if v is not None and not (isinstance(v, float) and math.isnan(v))]
    return statistics.median(vals) if vals else float("nan")


def percentile(values, q: float) -> float:
    """The q-th percentile (0-100) by nearest rank."""
    vals = sorted(values)
    if not vals:
        return float("nan")
    rank = max(0, min(len(vals) - 1, math.ceil(q / 100 * len(vals)) - 1))
    return vals[rank]


def write_result(suite: str, payload: dict, out_dir: Path = RESULTS) -> Path:
    """Write results/<suite>.json with the machine record and a timestamp."""
    out_dir.mkdir(parents=True, exist_ok=True)
    doc = {
        "suite": suite,
        "measured_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": machine(),
        **payload,
    }
    path = out_dir / f"{suite}.json"
    path.write_text(json.dumps(doc, indent=1) + "\n")
    return path


class Stopwatch:
    """perf_counter seconds since creation."""

    def __init__(self) -> None:
        self.t0 = time.perf_counter()

    def __call__(self) -> float:
        return time.perf_counter() - self.t0
