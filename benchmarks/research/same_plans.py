"""Do the same seeds still give the same plans? (a refactoring's before/after check)

    python -m benchmarks.research.same_plans record DIR [NAME ...]  # solve and save each plan to DIR
    python -m benchmarks.research.same_plans check DIR [NAME ...]   # solve again; exit 1 on any difference
    python -m benchmarks same-plans record|check DIR [NAME ...]      # the same, as a verb of the harness

Solves the published store problems (`data/store`), two soft-promise generated store problems
(the customer's clock priced, so the time-pricing paths run) and two Solomon instances, each
with a work limit (`max_iterations`) and a fixed seed: the plan then depends on the input alone
as long as the work limit comes before the clock. What is compared is every route (rider,
stops, times) and the unassigned orders of the plan document, and the objective term by term:
every field the record holds must hold the same value again; fields a later version adds to the
documents (absent from the record) are listed, not compared.
A simulated busy stretch of a day (rolling re-plans from the routes being followed, so warm
starts and reassignment costs run) is compared by its outcome per order, timeline and KPIs.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from dispatch import problem_from_document, solve, warm_up
from dispatch.generate import generate_problem
from dispatch.live.scenario import generate_day
from dispatch.live.simulate import DaySimulator, SimOptions
from dispatch.validate import objective_terms

from benchmarks.solomon_data import load as load_solomon
from benchmarks.solomon_data import problem_document as solomon_document
from benchmarks.store_data import instance_names as store_instance_names
from benchmarks.store_data import load as load_store

MAX_ITERATIONS = 1000
SEED = 3
# Far above the time the work limit takes, so the work limit always binds.
TIME_LIMIT_S = 300.0
SOLOMON = ["C101", "RC201"]
SOFT = [(60, 8, 1), (100, 15, 2)]
DAY = "day-rolling-3x2h-s2"
# The plan document's fields that name or measure the run rather than describe the plan.
_RUN_FIELDS = ("plan_id", "solve_ms", "first_plan_ms", "engine")


def problems() -> dict[str, dict]:
    """Every problem document of the check by name, with its work limit and seed set."""
    docs = {name: load_store(name) for name in store_instance_names()}
    for orders, riders, seed in SOFT:
        docs[f"soft-{orders}x{riders}-s{seed}"] = generate_problem(orders, riders, seed, lateness="soft")
    for name in SOLOMON:
        docs[f"solomon-{name}"] = solomon_document(load_solomon(name), TIME_LIMIT_S, SEED)
    for doc in docs.values():
        doc["options"].update(time_limit_s=TIME_LIMIT_S, max_iterations=MAX_ITERATIONS, seed=SEED)
    return docs


def day_record() -> dict:
    """Two busy hours at one store with three riders, re-planned by the rolling policy."""
    scenario = generate_day(riders=3, seed=2, base_orders_per_hour=10, hours=(11.5, 13.5))
    result = DaySimulator(scenario, SimOptions(policy="rolling", max_iterations=200, budget_s=TIME_LIMIT_S)).run()
    metrics = {k: v for k, v in result.metrics.items() if not k.startswith("replan_ms")}
    return {"metrics": metrics, "timeline": result.timeline, "orders": result.orders}


def _headline(record: dict) -> str:
    """One figure of a record to print: a plan's objective, a day's rider kilometres."""
    if "objective_terms" in record:
        return f"objective {record['objective_terms']['total']}"
    return f"{record['metrics']['rider_travel_km']} rider-km"


def plan_record(doc: dict) -> dict:
    """The plan of one problem as compared: routes, unassigned orders and objective terms."""
    problem = problem_from_document(doc)
    plan = solve(problem)
    out = _comparable(plan.to_document())
    out["objective_terms"] = objective_terms(problem, plan).as_dict()
    return out


def _comparable(record: dict) -> dict:
    """The record without the fields that differ from run to run."""
    for field in _RUN_FIELDS:
        record.get("metrics", {}).pop(field, None)
        record.pop(field, None)
    return record


def _records(names: list[str]):
    """(name, how to make its record) for the named cases, or every case."""
    cases = {name: (lambda doc=doc: plan_record(doc)) for name, doc in problems().items()}
    cases[DAY] = day_record
    unknown = set(names) - set(cases)
    if unknown:
        raise SystemExit(f"unknown cases {sorted(unknown)}; the cases are {sorted(cases)}")
    return [(name, make) for name, make in cases.items() if not names or name in names]


def _compare(before, after, path: str, changed: list[str], added: list[str]) -> None:
    """Append to `changed` the paths whose recorded value differs (or is gone) in `after`, and to
    `added` the paths `after` holds that the record does not."""
    if isinstance(before, dict) and isinstance(after, dict):
        for key in before:
            if key not in after:
                changed.append(f"{path}.{key} gone")
            else:
                _compare(before[key], after[key], f"{path}.{key}", changed, added)
        added.extend(f"{path}.{key}" for key in after if key not in before)
    elif isinstance(before, list) and isinstance(after, list) and len(before) == len(after):
        for i, (b, a) in enumerate(zip(before, after)):
            _compare(b, a, f"{path}[{i}]", changed, added)
    elif before != after:
        changed.append(path or "(record)")


def record(directory: Path, names: list[str] = ()) -> None:
    """Solve every problem (or the named ones) and write its record to `directory/<name>.json`."""
    directory.mkdir(parents=True, exist_ok=True)
    warm_up()
    for name, make in _records(list(names)):
        plan = make()
        (directory / f"{name}.json").write_text(json.dumps(plan, indent=1, sort_keys=True) + "\n")
        print(f"{name}: {_headline(plan)}")


def check(directory: Path, names: list[str] = ()) -> int:
    """Solve every problem (or the named ones) again and compare with the records in
    `directory`; the number that differ."""
    warm_up()
    differ = 0
    cases = _records(list(names))
    for name, make in cases:
        path = directory / f"{name}.json"
        if not path.exists():
            print(f"{name}: no record in {directory}")
            differ += 1
            continue
        before = _comparable(json.loads(path.read_text()))
        after = json.loads(json.dumps(make(), sort_keys=True))
        changed, added = [], []
        _compare(before, after, "", changed, added)
        differ += bool(changed)
        verdict = "same plan" if not changed else f"DIFFERENT plan ({', '.join(changed[:5])})"
        print(f"{name}: {_headline(before)} -> {_headline(after)}, {verdict}"
              + (f"; new fields not compared: {', '.join(added[:5])}" if added else ""))
    print(f"{differ} of {len(cases)} plans differ")
    return differ


def main(argv: list[str]) -> int:
    """The command line: `record DIR [NAME ...]` or `check DIR [NAME ...]`."""
    if len(argv) < 2 or argv[0] not in ("record", "check"):
        print(__doc__)
        return 2
    directory, names = Path(argv[1]), argv[2:]
    if argv[0] == "record":
        record(directory, names)
        return 0
    return 1 if check(directory, names) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
