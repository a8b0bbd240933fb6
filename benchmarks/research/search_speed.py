"""`python -m benchmarks.research.search_speed [--profile]`: ms per 1,000 iterations of the compiled search.

Each published store problem of a size (100x15 and 300x40, seeds 1-3) is started from the
compiled first plan and searched for a fixed number of iterations, several times; reported is
the median CPU milliseconds per 1,000 iterations per size. `--profile` gives every problem a
steep speed profile (what the time-dependent kernels cost).
"""

from __future__ import annotations

import statistics
import sys
import time

import numpy as np

from dispatch import problem_from_document, warm_up
from dispatch.instance import build_instance
from dispatch.solver import split_by_area
from dispatch.solver.construct import hard_latest
from dispatch.solver.fast_lns import CompiledRuinRecreate

from benchmarks.store_data import load

SIZES = [(100, 15), (300, 40)]
SEEDS = [1, 2, 3]
ITERATIONS = 2000
RUNS = 3
# A morning and an evening peak at half speed (a steep profile, 30-minute periods).
STEEP = [1.0] * 14 + [0.5] * 6 + [1.0] * 14 + [0.6] * 6 + [1.0] * 8


def instance(name: str, profile: bool):
    """The routed instance of a published problem, with the steep profile when asked."""
    doc = load(name)
    if profile:
        doc["options"].setdefault("travel", {})["speed_profile"] = {"period_min": 30, "factors": STEEP}
    problem = problem_from_document(doc)
    routed, _ = split_by_area(problem)
    return build_instance(problem, routed)


def ms_per_1000(inst, seed: int) -> float:
    """CPU ms per 1,000 iterations of one search from the compiled first plan."""
    latest = hard_latest(inst)
    late_weight = np.zeros(inst.n_orders)
    empty = [[] for _ in range(inst.n_riders)]
    first = CompiledRuinRecreate(inst, empty, list(range(inst.n_orders)), seed, latest, late_weight)
    start = first.run(float("inf"), 1, one_idle=True, ruin=False)
    search = CompiledRuinRecreate(inst, start.routes, start.left, seed, latest, late_weight)
    t0 = time.process_time()
    search.run(float("inf"), ITERATIONS)
    return (time.process_time() - t0) * 1000 * 1000 / ITERATIONS


def main(argv: list[str]) -> None:
    """Print the median ms per 1,000 iterations per size."""
    profile = "--profile" in argv
    warm_up()
    for orders, riders in SIZES:
        figures = []
        for s in SEEDS:
            inst = instance(f"o2o-{orders}x{riders}-s{s}", profile)
            ms_per_1000(inst, 0)  # compiles and warms the caches
            figures += [ms_per_1000(inst, run) for run in range(RUNS)]
        print(f"{orders}x{riders}{' profile' if profile else ''}: median {statistics.median(figures):.2f} ms "
              f"per 1,000 iterations (min {min(figures):.2f}, max {max(figures):.2f}, {len(figures)} runs)")


if __name__ == "__main__":
    main(sys.argv[1:])
