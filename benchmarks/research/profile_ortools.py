"""`python -m benchmarks.research.profile_ortools`: is OR-Tools' step worth it under a speed profile?

OR-Tools' transits are static, so under a profile it plans with each leg at one estimated factor
(`instance.estimate_factor`) and its plan is re-timed exactly before it can be kept. This solves
generated store problems (planned at 10:00, promises to 11:00) under two profiles with the step
and without it, at one budget, each `repeats` times (1 s solves on a shared machine vary more
than the step's effect), and prints the mean objective of the (validated) plans and how often
OR-Tools' plan was kept.
"""

from __future__ import annotations

import statistics
import sys
from dataclasses import replace

from dispatch import problem_from_document, solve, warm_up
from dispatch.generate import generate_problem
from dispatch.validate import objective_terms, validate_plan

# A rush at 0.6 of the speed from 10:30 to 12:00 (in the middle of the plans), and a steep
# profile: every other quarter hour at 0.4, the others at 1.2.
RUSH = [1.0] * 42 + [0.6] * 6 + [1.0] * 48
STEEP = [0.4 if i % 2 else 1.2 for i in range(96)]
PROFILES = {"rush": RUSH, "steep": STEEP}
CASES = [(60, 8), (100, 15)]
SEEDS = [1, 2, 3]


def run(budget_s: float, repeats: int) -> None:
    """Print one row per problem and the median ratio with / without OR-Tools per profile."""
    warm_up()
    for pname, factors in PROFILES.items():
        ratios = []
        for orders, riders in CASES:
            for lateness in ("soft", "hard"):
                for seed in SEEDS:
                    doc = generate_problem(orders, riders, seed, lateness=lateness)
                    doc["options"]["travel"] = {**doc["options"].get("travel", {}),
                                                "speed_profile": {"period_min": 15, "factors": factors}}
                    doc["options"].update(time_limit_s=budget_s, seed=seed)
                    problem = problem_from_document(doc)
                    means, kept = [], 0
                    for on in (True, False):
                        problem = replace(problem, options=replace(problem.options, ortools_with_profile=on))
                        totals = []
                        for _ in range(repeats):
                            plan = solve(problem)
                            assert validate_plan(problem, plan.to_document()) == []
                            totals.append(objective_terms(problem, plan).total)
                            kept += "ortools" in plan.metrics.engine
                        means.append(statistics.mean(totals))
                    ratios.append(means[0] / means[1])
                    print(f"{pname} {orders}x{riders} {lateness} s{seed}: with {means[0]:.0f} (OR-Tools' plan kept "
                          f"{kept} of {repeats}), without {means[1]:.0f}", flush=True)
        print(f"{pname}: median with / without {statistics.median(ratios):.4f}, "
              f"min {min(ratios):.4f}, max {max(ratios):.4f}", flush=True)


if __name__ == "__main__":
    run(float(sys.argv[1]) if len(sys.argv) > 1 else 1.0, int(sys.argv[2]) if len(sys.argv) > 2 else 3)
