"""Suite 4, bring your own: any contract problem document through the same runner.

Ours runs at each budget; each peer runs too when the problem is within what it expresses
exactly (see `peers.peer_supported`), otherwise the result says why it was skipped.
"""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Callable

from dispatch import problem_from_document, solve
from dispatch.instance import build_instance
from dispatch.solver import split_by_area

from benchmarks.common import Stopwatch, peer_plan, score
from benchmarks.peers import PEERS, peer_available, peer_supported


def run_byo(paths: list[Path], budgets: list[float], peers: list[str], progress: Callable[[str], None], seed: int = 0) -> dict:
    """Every document x budget: ours and the peers that can express it, each judged by our validator."""
    missing = {p: why for p in peers if (why := peer_available(p))}
    active = [p for p in peers if p not in missing]
    runs = []
    for path in paths:
        original = json.loads(Path(path).read_text())
        for budget in budgets:
            doc = copy.deepcopy(original)
            doc.setdefault("options", {})["time_limit_s"] = budget
            doc["options"].pop("max_iterations", None)
            problem = problem_from_document(doc)
            progress(f"byo {Path(path).name} {budget:g} s: ours")
            clock = Stopwatch()
            plan = solve(problem)
            row = {"problem": str(path), "budget_s": budget, "ours": score(problem, plan, clock())}
            routed, _ = split_by_area(problem)
            inst = build_instance(problem, routed)
            why_not = peer_supported(inst)
            for name in active:
                if why_not:
                    row[name] = {"skipped": f"the problem has {why_not}, which {name} cannot express exactly"}
                    continue
                progress(f"byo {Path(path).name} {budget:g} s: {name}")
                result = PEERS[name](inst, list(range(inst.n_orders)), budget, seed)
                row[name] = (
                    {"failed": result.note}
                    if result.routes is None
                    else score(problem, peer_plan(inst, result), result.wall_s)
                )
            runs.append(row)
    return {"problems": [str(p) for p in paths], "budgets_s": budgets, "peers": active, "peers_missing": missing, "runs": runs}
