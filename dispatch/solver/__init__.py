"""The solver: `solve(problem) -> Plan` (the pipeline, `pipeline.py`) and what callers use of it.

The modules, in the order a solve uses them: `admission` (which orders are planned), the
instance (`dispatch.instance`), `reasons` (each order alone), `start` and `construct` (the first
plan), `ortools_adapter` (OR-Tools), `fast_lns` / `lns` (ruin and recreate, compiled / Python),
`set_partition` (the best combination of the routes the search built), `plan_builder` (the plan).
"""

from dispatch.solver.admission import fit_to_budget, split_by_area
from dispatch.solver.pipeline import solve, warm_up
from dispatch.solver.routes import costed, total_cost
from dispatch.solver.start import first_plan

__all__ = ["costed", "first_plan", "fit_to_budget", "solve", "split_by_area", "total_cost", "warm_up"]
