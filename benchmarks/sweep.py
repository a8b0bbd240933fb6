"""Robustness sweep: many random problem shapes, each plan validated, budget overrun measured.

    python -m benchmarks.sweep [--count 60] [--seed 1]

Shapes vary in size, stores, promise kind, speeds, drop-offs outside the area, riders on
the road with carried orders, closed routes and freshness limits; budgets are 0.05 s and
0.3 s. It prints every invalid plan and the worst and median time over budget.
"""

from __future__ import annotations

import random
import statistics
import time
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import track

from dispatch import problem_from_document, solve
from dispatch.generate import generate_problem
from dispatch.validate import validate_plan

console = Console()


def random_document(rng: random.Random) -> dict:
    """One random problem document."""
    doc = generate_problem(
        orders=rng.choice([5, 20, 50, 80]),
        riders=rng.choice([1, 3, 6, 10]),
        seed=rng.randrange(10_000),
        stores=rng.choice([1, 1, 1, 2]),
        lateness=rng.choice(["soft", "hard"]),
        equal_speeds=rng.random() < 0.5,
        outside_share=rng.choice([0.0, 0.1]),
        on_road=rng.choice([0, 1, 3]),
        time_limit_s=rng.choice([0.05, 0.3]),
    )
    doc["options"]["return_to_store"] = rng.random() < 0.3
    if rng.random() < 0.3:
        for o in doc["orders"]:
            if rng.random() < 0.3:
                o["max_ride_s"] = rng.choice([600, 900, 1500])
    return doc


def main(
    count: Annotated[int, typer.Option(help="Number of random problems")] = 60,
    seed: Annotated[int, typer.Option(help="Sweep seed")] = 1,
) -> None:
    """Solve random problems; report invalid plans and time over budget."""
    from dispatch.solver import fast_lns

    fast_lns.warm_up()
    rng = random.Random(seed)
    overruns, invalid = [], 0
    for _ in track(range(count), description="sweeping", console=console):
        doc = random_document(rng)
        problem = problem_from_document(doc)
        t0 = time.perf_counter()
        plan = solve(problem)
        overruns.append(time.perf_counter() - t0 - problem.options.time_limit_s)
        violations = validate_plan(problem, plan.to_document())
        if violations:
            invalid += 1
            console.print(f"[red]invalid plan[/red]: {violations[:3]}")
    console.print(
        f"{count} problems, {invalid} invalid plans; time over budget: median "
        f"{statistics.median(overruns) * 1000:.0f} ms, worst {max(overruns) * 1000:.0f} ms"
    )
    if invalid:
        raise typer.Exit(1)


if __name__ == "__main__":
    typer.run(main)
