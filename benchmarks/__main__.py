"""`python -m benchmarks`: run the suites, write results/<suite>.json and REPORT.md, print the headline.

    python -m benchmarks run            # quick: a few minutes on 2 cores (make bench)
    python -m benchmarks run --full     # everything (make bench-full)
    python -m benchmarks run --suites eta  # ETA ranges and quotes: calibration on noisy days
    python -m benchmarks byo problem.json [--budgets 0.1,1]
    python -m benchmarks report         # REPORT.md again from the result files
    python -m benchmarks resilience     # the HTTP service under load and faults, on SQLite and PostgreSQL
    python -m benchmarks reassign       # orders moved against rider-seconds, per reassignment cost
    python -m benchmarks chain          # a 200-store chain through a local cluster (1 and 2 workers, kills)

Research instruments (benchmarks/research/, one question each):

    python -m benchmarks best-known     # search the published store instances for better plans
    python -m benchmarks exchange-check # can two (or three) riders of our plans divide their orders better?
    python -m benchmarks spread         # each solver's run-to-run spread at a short budget, per problem
    python -m benchmarks same-plans check DIR  # do the same seeds still give the plans recorded in DIR?
"""

from __future__ import annotations

import json
from dataclasses import asdict
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from benchmarks.research.best_known import search_best_known
from benchmarks.byo import run_byo
from benchmarks.common import LOCAL_RESULTS, RESULTS, results_folder, write_result
from benchmarks.eta import run_eta
from benchmarks.live import run_live
from benchmarks.realdays import available_days, run_realdays, select_days
from benchmarks.realdays import data_dir as realdays_dir
from benchmarks.peers import peer_available
from benchmarks.report import headline, load_results, spread_summary, spread_table, write_report
from benchmarks.solomon import QUICK, run_solomon
from benchmarks.solomon_data import instance_names
from benchmarks.research.spread import run_spread
from benchmarks.research.exchange_check import MAX_ORDERS, check_exchanges
from benchmarks.store_data import BEST_KNOWN, check_record, plan_from_waves
from benchmarks.store_data import load as load_store_instance
from benchmarks.store_data import best_known as store_best_known
from benchmarks.store_data import instance_names as store_instance_names
from benchmarks.store_suites import run_peers, run_scaling

app = typer.Typer(add_completion=False, help=__doc__)
# Piped output (make bench | tee) keeps the headline table readable instead of 80 columns.
console = Console(width=None if sys.stdout.isatty() else 160)

QUICK_PLAN = {
    "scaling": {"sizes": "10x2,30x5,100x15,300x40", "seeds": "1", "budgets": "0.1,0.5,1"},
    "peers": {"sizes": "100x15,300x40", "seeds": "1", "budgets": "0.1,1"},
    "solomon": {"instances": ",".join(QUICK), "budgets": "1"},
    "realdays": {"days": "quick", "policies": "rolling"},
}
FULL_PLAN = {
    "scaling": {"sizes": "10x2,30x5,60x8,100x15,200x25,300x40,500x60", "seeds": "1,2,3", "budgets": "0.1,0.5,1,2,5"},
    "peers": {"sizes": "30x5,60x8,100x15,200x25,300x40", "seeds": "1,2,3", "budgets": "0.1,0.5,1,2,5"},
    "solomon": {"instances": "all", "budgets": "1,5"},
    "realdays": {"days": "all", "policies": "rolling,greedy,batch"},
}


def _sizes(text: str) -> list[tuple[int, int]]:
    return [tuple(int(x) for x in s.lower().split("x")) for s in text.split(",") if s]


def _floats(text: str) -> list[float]:
    return [float(x) for x in text.split(",") if x]


def _ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x]


def _seed_list(text: str) -> list[int]:
    """Seeds as "1,2,5" or ranges "1-12" (both ends included)."""
    out = []
    for part in (p.strip() for p in text.split(",") if p.strip()):
        low, _, high = part.partition("-")
        if not low.isdigit() or (high and not high.isdigit()) or (high and int(high) < int(low)):
            raise typer.BadParameter(f"{part!r} is not a seed or a range like 1-12", param_hint="--seeds")
        out.extend(range(int(low), int(high or low) + 1))
    if not out:
        raise typer.BadParameter("no seeds given", param_hint="--seeds")
    return out


def _steps(plan: dict, suites: list[str], peers: list[str]) -> int:
    n = 0
    if "scaling" in suites:
        p = plan["scaling"]
        n += len(_sizes(p["sizes"])) * (len(_ints(p["seeds"])) * len(_floats(p["budgets"])) + 1)
    if "peers" in suites:
        p = plan["peers"]
        n += len(_sizes(p["sizes"])) * len(_ints(p["seeds"])) * len(_floats(p["budgets"])) * (1 + len(peers))
    if "solomon" in suites:
        p = plan["solomon"]
        names = instance_names() if p["instances"] == "all" else p["instances"].split(",")
        n += len(names) * len(_floats(p["budgets"])) * (1 + len(peers))
    if "live" in suites:
        n += (10 if plan is FULL_PLAN else 5) + (20 if plan is FULL_PLAN else 6) + 3 + 3
    if "realdays" in suites:
        n += len(plan["realdays"]["days_list"]) * len(plan["realdays"]["policies"].split(","))
    if "eta" in suites:
        n += 3 * (6 if plan is FULL_PLAN else 3)  # three runs of each day
    return n


def _print_rows(title: str, header: list[str], rows: list[list[str]], left: str | None = None) -> None:
    """A report table on the terminal (numbers right-aligned when a `left` label column is named)."""
    table = Table(title=title)
    for col in header:
        table.add_column(col, justify="left" if left is None or col == left else "right")
    for row in rows:
        table.add_row(*row)
    console.print(table)


def print_headline(results: dict) -> None:
    """The headline table on the terminal."""
    _print_rows("Headline (medians; ratios measured in the same run)", *headline(results), left="measure")


def written_message(out: Path, suites: list[str], report: Path) -> str:
    """What a run wrote, by name, and whether it is the published copy."""
    files = ", ".join(f"{s}.json" for s in suites)
    where = "local, not tracked: make bench PUBLISH=1 publishes" if out.resolve() == LOCAL_RESULTS.resolve() else "published" if out.resolve() == RESULTS.resolve() else "your folder"
    return f"wrote {files} and {report.name} in {out} ({where})"


@app.command()
def run(
    full: Annotated[bool, typer.Option("--full", help="every size, seed, budget and instance")] = False,
    suites: Annotated[str, typer.Option(help="comma separated: scaling, peers, solomon, live, realdays, eta")] = "scaling,peers,solomon,live,realdays",
    peers: Annotated[str, typer.Option(help="peers to run, comma separated (empty: none)")] = "pyvrp,vroom",
    out: Annotated[Optional[Path], typer.Option(help="folder for the result files and REPORT.md [default: benchmarks/results/local, or benchmarks/results with --publish]")] = None,
    publish: Annotated[bool, typer.Option("--publish", help="write the tracked results in benchmarks/results (make bench PUBLISH=1)")] = False,
    days: Annotated[Optional[str], typer.Option(help="realdays: days by name or pattern (all, quick, 0o50*, ...)")] = None,
    policies: Annotated[Optional[str], typer.Option(help="realdays: rolling, greedy, batch (comma separated)")] = None,
    workers: Annotated[int, typer.Option(min=1, help="realdays: days simulated in parallel processes")] = 2,
    travel: Annotated[str, typer.Option(help="realdays: ceil (the evaluator's rule) or exact travel minutes")] = "ceil",
) -> None:
    """Run the suites (quick by default), write their results and REPORT.md, print the headline.

    A local run writes to benchmarks/results/local (ignored by git); --publish (make bench
    PUBLISH=1) writes the tracked files in benchmarks/results."""
    from dispatch.solver import warm_up

    out = results_folder(out, publish)
    warm_up()  # compile or load the search once, outside any measured solve
    plan = {k: dict(v) for k, v in (FULL_PLAN if full else QUICK_PLAN).items()}
    chosen = [s for s in suites.split(",") if s]
    if "realdays" in chosen:
        if not available_days():
            console.print(f"[yellow]realdays skipped: no MDRP days in {realdays_dir()} (set DISPATCH_MDRP_DIR)[/yellow]")
            chosen.remove("realdays")
        else:
            try:
                plan["realdays"]["days_list"] = select_days(days or plan["realdays"]["days"])
            except ValueError as exc:
                raise typer.BadParameter(str(exc), param_hint="--days") from None
            plan["realdays"]["policies"] = policies or plan["realdays"]["policies"]
            if travel not in ("ceil", "exact"):
                raise typer.BadParameter("ceil or exact", param_hint="--travel")
    if not chosen:
        return
    command = "python -m benchmarks " + " ".join(sys.argv[1:])
    peer_list = [p for p in peers.split(",") if p]
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=console) as bar:
        task = bar.add_task("starting", total=_steps(plan, chosen, peer_list))

        def progress(message: str) -> None:
            bar.update(task, description=message, advance=1)

        if "scaling" in chosen:
            p = plan["scaling"]
            write_result("scaling", {"command": command, **run_scaling(_sizes(p["sizes"]), _ints(p["seeds"]), _floats(p["budgets"]), progress)}, out)
        if "peers" in chosen:
            p = plan["peers"]
            write_result("peers", {"command": command, **run_peers(_sizes(p["sizes"]), _ints(p["seeds"]), _floats(p["budgets"]), peer_list, progress)}, out)
        if "solomon" in chosen:
            p = plan["solomon"]
            names = instance_names() if p["instances"] == "all" else p["instances"].split(",")
            write_result("solomon", {"command": command, **run_solomon(names, _floats(p["budgets"]), peer_list, progress)}, out)
        if "live" in chosen:
            write_result("live", {"command": command, **run_live(full, progress)}, out)
        if "eta" in chosen:
            write_result("eta", {"command": command, **run_eta(full, progress)}, out)
        if "realdays" in chosen:
            p = plan["realdays"]
            # Resumable: each finished day is in the file at once, and a rerun skips it.
            run_realdays(p["days_list"], p["policies"].split(","), {}, out / "realdays.json", workers, progress, travel)
            doc = json.loads((out / "realdays.json").read_text())
            kept = {k: v for k, v in doc.items() if k not in ("suite", "measured_at", "machine", "command")}
            write_result("realdays", {"command": command, **kept}, out)
    results = load_results(out)
    report = write_report(results, out)
    print_headline(results)
    for suite in chosen:
        doc = results.get(suite, {})
        for peer, why in doc.get("peers_missing", {}).items():
            console.print(f"[yellow]{suite}: {peer} skipped: {why}[/yellow]")
    console.print(written_message(out, chosen, report))


@app.command()
def byo(
    problems: Annotated[list[Path], typer.Argument(help="contract problem documents (JSON)")],
    budgets: Annotated[str, typer.Option(help="budgets in seconds, comma separated")] = "0.1,1",
    peers: Annotated[str, typer.Option(help="peers to try, comma separated")] = "pyvrp,vroom",
    out: Annotated[Path, typer.Option(help="folder for byo.json and REPORT.md")] = RESULTS,
) -> None:
    """Benchmark your own problem documents with the same runner and validator."""
    from dispatch.solver import warm_up

    warm_up()
    peer_list = [p for p in peers.split(",") if p]
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), console=console) as bar:
        task = bar.add_task("starting", total=len(problems) * len(_floats(budgets)) * (1 + len(peer_list)))
        result = run_byo(problems, _floats(budgets), peer_list, lambda m: bar.update(task, description=m, advance=1))
    write_result("byo", {"command": "python -m benchmarks " + " ".join(sys.argv[1:]), **result}, out)
    write_report(load_results(out), out)
    table = Table(title="Bring your own")
    for col in ("problem", "budget s", "solver", "served", "on time", "travel min", "valid"):
        table.add_column(col)
    for r in result["runs"]:
        for s in ["ours"] + result["peers"]:
            x = r.get(s, {})
            detail = x.get("skipped") or x.get("failed")
            cells = [detail, "", "", ""] if detail else [f"{x['served']}/{x['orders']}", str(x["on_time"]), f"{x['travel_min']:.1f}", "yes" if x["valid"] else "NO"]
            table.add_row(Path(r["problem"]).name, f"{r['budget_s']:g}", s, *cells)
    console.print(table)


@app.command("best-known")
def best_known_command(
    instances: Annotated[str, typer.Option(help="comma separated names, or all")] = "all",
    solvers: Annotated[str, typer.Option(help="ours and peers, comma separated")] = "ours,pyvrp",
    budget: Annotated[float, typer.Option(help="seconds per solve")] = 30.0,
    seeds: Annotated[str, typer.Option(help="seeds per solver, comma separated")] = "1,2",
) -> None:
    """Solve the published store instances at a long budget; keep every better valid plan."""
    from dispatch.solver import warm_up

    warm_up()
    names = store_instance_names() if instances == "all" else [n for n in instances.split(",") if n]
    unknown = sorted(set(names) - set(store_instance_names()))
    if unknown:
        console.print(f"[red]instances: unknown names {unknown}; published: {store_instance_names()}[/red]")
        raise typer.Exit(2)
    solver_list = [s for s in solvers.split(",") if s]
    seed_list = _ints(seeds)
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=console) as bar:
        task = bar.add_task("starting", total=len(names) * len(solver_list) * len(seed_list))
        rows = search_best_known(names, solver_list, budget, seed_list, lambda m: bar.update(task, description=m, advance=1))
    table = Table(title=f"Best-known search, {budget:g} s per solve")
    for col in ("instance", "solver", "seed", "travel min", "on time", "new record"):
        table.add_column(col)
    for r in rows:
        detail = r.get("skipped") or r.get("failed")
        cells = [detail, "", ""] if detail else [f"{r['travel_min']:.2f}", f"{r['on_time']}/{r['served']}", "yes" if r["improved"] else ""]
        table.add_row(r["instance"], r["solver"], str(r.get("seed", "")), *cells)
    console.print(table)
    records = store_best_known()
    broken = [p for name, record in records.items() for p in check_record(name, record)]
    for line in broken:
        console.print(f"[red]{line}[/red]")
    console.print(f"{BEST_KNOWN}: {len(records)} records" + (f", {len(broken)} problems" if broken else ", all check"))


@app.command("exchange-check")
def exchange_check_command(
    instances: Annotated[str, typer.Option(help="comma separated published names")] = "o2o-30x5-s1,o2o-30x5-s2,o2o-30x5-s3",
    budget: Annotated[float, typer.Option(help="seconds per solve of ours")] = 0.1,
    runs: Annotated[int, typer.Option(help="solves per instance (seeds 0, 1, ...)")] = 3,
    routes: Annotated[int, typer.Option(help="riders re-dividing their orders: 2, or 3 (seconds to a minute a group)")] = 2,
) -> None:
    """Check our plans, and the best-known one, for a better division of any two (or three) riders' orders."""
    from dispatch import problem_from_document, solve
    from dispatch.solver import warm_up

    warm_up()
    names = [n for n in instances.split(",") if n]
    unknown = sorted(set(names) - set(store_instance_names()))
    if unknown or routes not in MAX_ORDERS:  # checked before any solve
        console.print(f"[red]instances: unknown names {unknown}; published: {store_instance_names()}[/red]" if unknown
                      else f"[red]routes: one of {sorted(MAX_ORDERS)}, not {routes}[/red]")
        raise typer.Exit(2)
    records = store_best_known()
    table = Table(title=f"Exchange check: best division of any {routes} riders' orders (ours at {budget:g} s)")
    for col in ("instance", "plan", "travel min", "groups", "skipped", "best gain s", "better division"):
        table.add_column(col)
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=console) as bar:
        task = bar.add_task("starting", total=len(names) * (runs + 1))
        for name in names:
            doc = load_store_instance(name)
            plans = [("best-known", plan_from_waves(doc, records[name]["routes"]))] if name in records else []
            for seed in range(runs):
                doc["options"].update(time_limit_s=budget, seed=seed)
                plans.append((f"ours seed {seed}", solve(problem_from_document(doc))))
            for label, plan in plans:
                bar.update(task, description=f"{name}: {label}", advance=1)
                check = check_exchanges(doc, plan, routes)
                better = next((g for g in check.groups if g.travel_s - g.best_travel_s == check.best_gain_s and g.waves), None)
                table.add_row(name, label, f"{check.travel_s / 60:.2f}", str(len(check.groups)), str(len(check.skipped)),
                              str(check.best_gain_s), f"{better.riders}: {better.waves}" if better else "")
    console.print(table)


@app.command()
def spread(
    size: Annotated[str, typer.Option(help="orders x riders of the peers' problems: 30x5, or several: 30x5,60x8")] = "30x5",
    seeds: Annotated[str, typer.Option(help="problem seeds: 1,2,3 or 1-12")] = "1,2,3",
    runs: Annotated[int, typer.Option(help="solves per solver and problem (solver seeds 0, 1, ...)")] = 5,
    budget: Annotated[float, typer.Option(help="seconds per solve")] = 0.1,
    best_budget: Annotated[float, typer.Option(help="one more solve per solver at this budget, for the best plan (0: none)")] = 0.0,
    peers: Annotated[str, typer.Option(help="peers to run, comma separated (empty: none)")] = "pyvrp",
    out: Annotated[Path, typer.Option(help="folder for spread.json and REPORT.md")] = RESULTS,
) -> None:
    """Each solver's run-to-run spread at a short budget, per problem, and how often ours is ahead."""
    from dispatch.solver import warm_up

    try:
        sizes = _sizes(size)
    except ValueError:
        sizes = []
    if not sizes or any(len(s) != 2 or min(s) < 1 for s in sizes):
        raise typer.BadParameter(f"{size!r} is not a size like 30x5 or a list like 30x5,60x8", param_hint="--size")
    seed_list = _seed_list(seeds)
    peer_list = [p for p in peers.split(",") if p]
    warm_up()
    installed = [p for p in peer_list if not peer_available(p)]
    steps = len(sizes) * len(seed_list) * (1 + len(installed)) * (runs + (1 if best_budget > 0 else 0))
    results = []
    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=console) as bar:
        task = bar.add_task("starting", total=steps)
        try:
            for orders, riders in sizes:
                results.append(run_spread(orders, riders, seed_list, runs, budget, best_budget or None, peer_list,
                                          lambda m: bar.update(task, description=m, advance=1)))
        except ValueError as exc:
            console.print(f"[red]{exc}[/red]")
            raise typer.Exit(2) from None
    write_result("spread", {"command": "python -m benchmarks " + " ".join(sys.argv[1:]), "sizes": results}, out)
    write_report(load_results(out), out)
    for result in results:
        _print_rows(f"Run-to-run spread: {result['size']} at {budget:g} s, {runs} runs per solver", *spread_table(result))
        console.print(spread_summary(result))
    for peer, why in results[0]["peers_missing"].items():
        console.print(f"[yellow]{peer} skipped: {why}[/yellow]")


@app.command()
def resilience(
    databases: Annotated[str, typer.Option(help="comma separated: sqlite, postgresql")] = "sqlite,postgresql",
    levels: Annotated[str, typer.Option(help="concurrent clients of the ramp, comma separated")] = "1,10,50,100,200",
    duration: Annotated[float, typer.Option(help="seconds of each ramp level")] = 10.0,
    out: Annotated[Path, typer.Option(help="folder for resilience.json and resilience.md")] = RESULTS,
) -> None:
    """Load and faults against a real uvicorn: concurrency ramp, a burst of plans, kill -9, bad inputs."""
    from benchmarks.resilience import markdown, run_resilience

    with Progress(TextColumn("{task.description}"), TimeElapsedColumn(), console=console) as bar:
        task = bar.add_task("starting")
        payload = run_resilience([d for d in databases.split(",") if d], _ints(levels), duration,
                                 lambda m: bar.update(task, description=m))
    path = write_result("resilience", {"command": "python -m benchmarks " + " ".join(sys.argv[1:]), **payload}, out)
    doc = json.loads(path.read_text())
    (out / "resilience.md").write_text(markdown(doc) + "\n")
    console.print(markdown(doc))
    console.print(f"wrote {path} and {out / 'resilience.md'}")


@app.command()
def chain(
    stores: Annotated[int, typer.Option(help="stores in the chain")] = 200,
    duration: Annotated[float, typer.Option(help="real seconds of load per run")] = 180.0,
    compression: Annotated[float, typer.Option(help="simulated seconds per real second")] = 20.0,
    workers: Annotated[str, typer.Option(help="worker counts to compare, comma separated")] = "1,2",
    kill: Annotated[bool, typer.Option(help="also a run with 2 workers where one worker and one replica are killed with -9")] = True,
    period: Annotated[int, typer.Option(help="the stores' re-dispatch every_s")] = 30,
    budget: Annotated[float, typer.Option(help="time_limit_s of a re-plan")] = 1.0,
    broker_url: Annotated[str, typer.Option(help="Redis of the cluster")] = "redis://127.0.0.1:6379/0",
    postgres_url: Annotated[str, typer.Option(help="PostgreSQL server (a database per run is created there)")] = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres",
    out: Annotated[Path, typer.Option(help="folder for chain.json and chain.md")] = LOCAL_RESULTS,
) -> None:
    """A chain through the HTTP API of a local cluster (2 replicas): freshness, solves/s, queues, errors, losses."""
    from benchmarks.chain import ChainConfig, markdown, run_chain

    runs = [(f"{n} worker{'s' if n > 1 else ''}", ChainConfig(stores=stores, duration_s=duration, compression=compression, workers=n, period_s=period, budget_s=budget)) for n in _ints(workers)]
    if kill:
        runs.append(("2 workers, kill -9 of a worker and a replica", ChainConfig(stores=stores, duration_s=duration, compression=compression, workers=2, period_s=period, budget_s=budget, kill=True)))
    results = []
    command = "python -m benchmarks chain " + " ".join(sys.argv[2:])
    out.mkdir(parents=True, exist_ok=True)
    for label, config in runs:
        result = run_chain(config, console.print, broker_url, postgres_url)
        result["label"] = label
        results.append(result)
        f = result["freshness_s"]
        console.print(f"{label}: plans/s {result['solves_per_s']}, freshness p50/p95/p99 {f['p50']}/{f['p95']}/{f['p99']} s, lost {result['orders_lost']}, statuses {result['statuses']}")
        # Written after each run: a later run that fails keeps the earlier ones.
        (out / "chain.json").write_text(json.dumps({"command": command, "runs": results}, indent=1, default=str))
        (out / "chain.md").write_text(markdown(results, command))
    console.print((out / "chain.md").read_text())


@app.command()
def reassign(
    costs: Annotated[str, typer.Option(help="reassignment costs (rider-seconds), comma separated; the first is the base")] = "0,30,120,300,1500",
    seeds: Annotated[str, typer.Option(help="store states: 1,2,3 or 1-8")] = "1-6",
    iterations: Annotated[int, typer.Option(help="work limit of each solve")] = 2000,
    out: Annotated[Path, typer.Option(help="folder for reassign.json")] = LOCAL_RESULTS,
) -> None:
    """Re-plan a store a minute later with each reassignment cost: orders moved against riding time."""
    from benchmarks.reassign import measure_reassign, summarise
    from dispatch.solver import warm_up

    warm_up()
    rows = measure_reassign(_ints(costs), _seed_list(seeds), iterations=iterations)
    summary = summarise(rows)
    table = Table(title="Re-dispatch of 40 orders + 4 new, 6 riders, a minute later (totals over the states)")
    for col in ("cost", "states", "orders moved", "riding s", "extra riding s", "rider-s per move kept", "late", "late s"):
        table.add_column(col, justify="right")
    for r in summary:
        per = "" if r["rider_s_per_move_kept"] is None else f"{r['rider_s_per_move_kept']:g}"
        table.add_row(str(r["cost"]), str(r["states"]), str(r["moved"]), str(r["travel_s"]), f"{r['extra_travel_s']:+d}", per, str(r["late"]), str(r["late_s"]))
    console.print(table)
    path = write_result("reassign", {"command": "python -m benchmarks " + " ".join(sys.argv[1:]), "summary": summary,
                                     "rows": [asdict(r) for r in rows]}, out)
    console.print(f"wrote {path}")


@app.command("same-plans")
def same_plans_command(
    action: Annotated[str, typer.Argument(help="record (solve and save each plan) or check (solve again and compare)")],
    directory: Annotated[Path, typer.Argument(help="folder of the recorded plans, outside the repository")],
    names: Annotated[Optional[list[str]], typer.Argument(help="cases to run (default: all)")] = None,
) -> None:
    """Do the same seeds still give the same plans? Exit 1 when any plan differs from its record."""
    from benchmarks.research.same_plans import main as same_plans_main

    code = same_plans_main([action, str(directory), *(names or [])])
    if code:
        raise typer.Exit(code)


@app.command()
def report(out: Annotated[Path, typer.Option(help="results folder")] = RESULTS) -> None:
    """Write REPORT.md again from the result files, and print the headline."""
    results = load_results(out)
    if not results:
        console.print(f"no result files in {out}; run `python -m benchmarks run` first")
        raise typer.Exit(1)
    path = write_report(results, out)
    print_headline(results)
    console.print(f"wrote {path}")


if __name__ == "__main__":
    app()
