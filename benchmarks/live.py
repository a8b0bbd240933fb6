"""Suite 5, live dispatch: re-plan latency, quote latency, and a generated day under three policies.

- Re-plan latency: mid-day states with 200 open orders and 30 riders (ten of them on the
  road carrying orders), solved with the rolling dispatcher's budget; wall time per re-plan.
- Quote latency: a store with 100 open orders and 15 riders; quotes for random drop-offs.
- A day (`generate --day`): rolling, greedy and batch on the same scenario and riders, then
  the fleet sweep: the smallest fleet per policy that keeps 95% on time.
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Callable

import numpy as np

from dispatch import problem_from_document, solve
from dispatch.generate import generate_problem
from dispatch.live import quote_order
from dispatch.live.scenario import generate_day
from dispatch.live.simulate import POLICIES, fleet_sweep, live_options, simulate
from dispatch.model import Location

from benchmarks.common import percentile


def replan_latency(states: int, budget_s: float, progress: Callable[[str], None]) -> dict:
    """Wall time of re-plans of 200 open orders with 30 riders (10 carrying), `states` seeds."""
    walls = []
    for seed in range(1, states + 1):
        progress(f"live: re-plan 200x30 state {seed}")
        problem = problem_from_document(generate_problem(200, 30, seed, on_road=10, time_limit_s=budget_s))
        started = time.perf_counter()
        solve(problem)
        walls.append((time.perf_counter() - started) * 1000)
    return {
        "orders": 200, "riders": 30, "on_road": 10, "budget_s": budget_s, "states": states,
        "ms_p50": round(percentile(walls, 50), 1), "ms_p95": round(percentile(walls, 95), 1), "ms_max": round(max(walls), 1),
    }


def quote_latency(quotes: int, progress: Callable[[str], None]) -> dict:
    """Wall time of quotes against a store with 100 open orders and 15 riders."""
    problem = problem_from_document(generate_problem(100, 15, 7, on_road=5))
    store = problem.stores[0]
    rng = np.random.default_rng(0)
    walls, feasible = [], 0
    for i in range(quotes):
        if i % 10 == 0:
            progress(f"live: quotes {i}/{quotes}")
        r = 2500 * np.sqrt(rng.random())
        a = rng.random() * 2 * np.pi
        spot = Location(lat=store.location.lat + r * np.sin(a) / 111_195, lon=store.location.lon + r * np.cos(a) / 95_000)
        started = time.perf_counter()
        answer = quote_order(problem, store.id, spot, items=int(rng.integers(1, 6)), ready_at_s=int(rng.integers(0, 600)))
        walls.append((time.perf_counter() - started) * 1000)
        feasible += answer.feasible
    return {
        "open_orders": 100, "riders": 15, "quotes": quotes, "feasible": feasible,
        "ms_p50": round(percentile(walls, 50), 2), "ms_p95": round(percentile(walls, 95), 2), "ms_max": round(max(walls), 2),
    }


def day(riders: int, seed: int, budget_s: float, sweep: bool, target: float, progress: Callable[[str], None], max_riders: int = 24) -> dict:
    """The three policies on one generated day with `riders` riders, then (optionally) each
    policy's smallest fleet among the first 1..`max_riders` riders of the same day."""
    scenario = generate_day(max_riders, seed)
    out = {
        "scenario": {"generator": f"generate_day(riders={max_riders}, seed={seed})", "orders": len(scenario["orders"]), "riders": riders},
        "policies": {},
    }
    for policy in POLICIES:
        progress(f"live: day, {policy}")
        options = replace(live_options(scenario, policy), budget_s=budget_s, riders=riders)
        out["policies"][policy] = simulate(scenario, options).metrics
    if sweep:
        out["fleet_sweep"] = {}
        for policy in POLICIES:
            progress(f"live: fleet sweep, {policy}")
            result = fleet_sweep(scenario, replace(live_options(scenario, policy), budget_s=budget_s), target)
            result["tried"] = {str(n): rate for n, rate in result["tried"].items()}
            out["fleet_sweep"][policy] = result
    return out


def run_live(full: bool, progress: Callable[[str], None]) -> dict:
    """Suite 5 at the quick or the full size."""
    return {
        "replan": replan_latency(10 if full else 5, 0.8, progress),
        "quote": quote_latency(200 if full else 60, progress),
        "day": day(12, 1, 0.1, True, 0.95, progress),
    }
