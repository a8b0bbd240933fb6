"""The command line: `o2o-dispatch demo | solve | quote | validate | generate` (also `python -m dispatch.cli`)."""

from __future__ import annotations

import json
import sys
from datetime import datetime, timedelta
from importlib import resources
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.table import Table

from dispatch.documents import problem_from_document
from dispatch.errors import DispatchError, InvalidProblem
from dispatch.generate import generate_problem
from dispatch.model import Problem
from dispatch.plan import Plan
from dispatch.solver import solve as solve_problem
from dispatch.validate import validate_plan, violations_by_cause

app = typer.Typer(add_completion=False, help="Dispatch optimizer for instant retail delivery from stores.")
out_console = Console()
err_console = Console(stderr=True)


def _load_problem(path: Path, time_limit: float | None = None) -> Problem:
    try:
        document = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        err_console.print(f"[red]cannot read {path}: {exc}[/red]")
        raise typer.Exit(2) from None
    if time_limit is not None:
        document.setdefault("options", {})["time_limit_s"] = time_limit
    try:
        return problem_from_document(document)
    except InvalidProblem as exc:
        for err in exc.errors:
            err_console.print(f"[red]invalid problem: {err}[/red]")
        raise typer.Exit(2) from None


def _warm_up() -> None:
    """Load the compiled search before solving (compiles once per machine, then cached)."""
    import time

    from dispatch.solver import warm_up

    t0 = time.perf_counter()
    warm_up()
    took = time.perf_counter() - t0
    if took > 2:
        err_console.print(f"compiled the search in {took:.0f} s (once per machine; later runs load it)")


def sample_problem_document() -> dict:
    """The bundled sample: one store in Shanghai, 60 orders, 8 riders."""
    text = resources.files("dispatch").joinpath("data/sample_problem.json").read_text()
    return json.loads(text)


def _clock(plan: Plan, seconds: int) -> str:
    return (plan.plan_time + timedelta(seconds=seconds)).strftime("%H:%M:%S")


def print_plan(problem: Problem, plan: Plan, console: Console = out_console) -> None:
    """A readable table per rider and a summary."""
    for route in plan.routes:
        table = Table(title=f"Rider {route.rider_id}", title_justify="left", show_lines=False)
        for col in ("#", "stop", "orders", "arrive", "depart", "late"):
            table.add_column(col)
        for i, s in enumerate(route.stops, 1):
            if s.kind == "pickup":
                what, ids, late = f"pickup at {s.store_id}", ", ".join(s.order_ids), ""
            else:
                what, ids = "drop-off", s.order_id or ""
                late = f"[red]{s.late_s // 60} min {s.late_s % 60} s[/red]" if s.late_s else "on time"
            table.add_row(str(i), what, ids, _clock(plan, s.arrive_s), _clock(plan, s.depart_s), late)
        table.caption = (
            f"{route.distance_m / 1000:.1f} km, {route.travel_s / 60:.0f} min riding, "
            f"done {_clock(plan, route.end_s)}"
        )
        console.print(table)
    if plan.unassigned:
        table = Table(title="Unassigned", title_justify="left")
        for col in ("order", "reason", "detail"):
            table.add_column(col)
        for u in plan.unassigned:
            table.add_row(u.order_id, u.reason, u.detail)
        console.print(table)
    m = plan.metrics
    console.print(
        f"[bold]{plan.status}[/bold]: {m.assigned}/{m.orders} orders assigned to {m.riders_used} riders, "
        f"{m.on_time} on time, {m.late} late ({m.late_s_total // 60} min in all); "
        f"{m.total_travel_s / 60:.1f} rider-minutes of travel, {m.total_distance_m / 1000:.1f} km; "
        f"first plan {m.first_plan_ms} ms, solved in {m.solve_ms} ms ({m.engine})"
    )


@app.command()
def demo(
    out: Annotated[Path, typer.Option(help="Folder for plan.json and plan.png")] = Path("out"),
    time_limit: Annotated[float, typer.Option(help="Solve budget in seconds")] = 2.0,
) -> None:
    """Solve the bundled sample, print the plan per rider, write plan.json and a PNG map."""
    from dispatch.render import render_plan_map

    document = sample_problem_document()
    document["options"]["time_limit_s"] = time_limit
    problem = problem_from_document(document)
    _warm_up()
    plan = solve_problem(problem)
    print_plan(problem, plan)
    violations = validate_plan(problem, plan)
    out.mkdir(parents=True, exist_ok=True)
    (out / "problem.json").write_text(json.dumps(document, indent=2))
    (out / "plan.json").write_text(json.dumps(plan.to_document(), indent=2))
    png = render_plan_map(problem, plan, out / "plan.png")
    verdict = "valid" if not violations else f"[red]{len(violations)} violations[/red]"
    out_console.print(f"validator: {verdict}; wrote {out / 'plan.json'} and {png}")
    if violations:
        raise typer.Exit(1)


@app.command()
def solve(
    problem_path: Annotated[Path, typer.Argument(metavar="PROBLEM.json")],
    time_limit: Annotated[Optional[float], typer.Option(help="Override options.time_limit_s")] = None,
    out: Annotated[Optional[Path], typer.Option(help="Also write the plan here")] = None,
) -> None:
    """Solve a problem document; print the plan document as JSON on stdout."""
    problem = _load_problem(problem_path, time_limit)
    _warm_up()
    try:
        plan = solve_problem(problem)
    except DispatchError as exc:
        err_console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None
    text = json.dumps(plan.to_document(), indent=2)
    if out is not None:
        out.write_text(text)
    sys.stdout.write(text + "\n")
    m = plan.metrics
    err_console.print(
        f"{plan.status}: {m.assigned}/{m.orders} assigned, {m.on_time} on time, "
        f"{m.total_travel_s / 60:.1f} rider-min, {m.solve_ms} ms"
    )


@app.command()
def quote(
    problem_path: Annotated[Path, typer.Argument(metavar="PROBLEM.json", help="the store's state now")],
    store: Annotated[str, typer.Option(help="Store id")],
    lat: Annotated[float, typer.Option(help="Drop-off latitude")],
    lon: Annotated[float, typer.Option(help="Drop-off longitude")],
    items: Annotated[int, typer.Option(min=0, max=100_000, help="Basket size in items")] = 1,
    ready_in_min: Annotated[float, typer.Option(min=0.0, max=24 * 60.0, help="Minutes until the order would be packed")] = 0.0,
    service_s: Annotated[int, typer.Option(min=0, max=3600, help="Drop-off service seconds")] = 60,
    max_promise_min: Annotated[int, typer.Option(min=1, max=24 * 60, help="Longest promise the store gives, minutes")] = 60,
    buffer_s: Annotated[int, typer.Option(min=0, max=3600, help="Safety margin added to the ETA, seconds")] = 0,
) -> None:
    """Before an order is placed: the earliest promise, and the rider, without making anyone late.

    The ranges are the service's (POST /v1/stores/{id}/quote): a negative basket, ready time or
    service time is refused (exit 2), so no promise comes before the problem's plan_time."""
    import math

    from dispatch.live import quote_document, quote_order
    from dispatch.model import Location

    problem = _load_problem(problem_path)
    if not (math.isfinite(lat) and math.isfinite(lon) and -90 <= lat <= 90 and -180 <= lon <= 180):
        err_console.print("[red]--lat must be in [-90, 90] and --lon in [-180, 180][/red]")
        raise typer.Exit(2)
    if not math.isfinite(ready_in_min):
        err_console.print("[red]--ready-in-min must be a number of minutes[/red]")
        raise typer.Exit(2)
    _warm_up()
    answer = quote_order(
        problem, store, Location(lat=lat, lon=lon), items=items, ready_at_s=int(ready_in_min * 60),
        dropoff_service_s=service_s, max_promise_s=max_promise_min * 60, buffer_s=buffer_s,
    )
    sys.stdout.write(json.dumps(quote_document(problem, answer), indent=2) + "\n")


@app.command()
def render(
    problem_path: Annotated[Path, typer.Argument(metavar="PROBLEM.json")],
    plan_path: Annotated[Path, typer.Argument(metavar="PLAN.json", help="any plan document of the problem (solve, the service)")],
    out: Annotated[Path, typer.Option(help="The PNG to write")] = Path("map.png"),
) -> None:
    """Draw a plan on a map: routes with numbered stops and ETAs, unassigned drop-offs, a scale in metres."""
    from dispatch.render import render_plan_map
    from dispatch.schema import PlanDoc

    problem = _load_problem(problem_path)
    try:
        plan_doc = json.loads(plan_path.read_text())
        PlanDoc.model_validate(plan_doc)
    except (OSError, json.JSONDecodeError) as exc:
        err_console.print(f"[red]cannot read {plan_path}: {exc}[/red]")
        raise typer.Exit(2) from None
    except ValueError as exc:  # pydantic's ValidationError: the first broken field
        err_console.print(f"[red]{plan_path} is not a plan document: {str(exc).splitlines()[1:3]}[/red]")
        raise typer.Exit(2) from None
    unknown = sorted({r["rider_id"] for r in plan_doc.get("routes", [])} - set(problem.rider_index))
    if unknown:
        err_console.print(f"[red]{plan_path} names riders the problem does not have: {', '.join(unknown)}[/red]")
        raise typer.Exit(2)
    png = render_plan_map(problem, plan_doc, out)
    err_console.print(f"wrote {png}")


@app.command()
def validate(
    problem_path: Annotated[Path, typer.Argument(metavar="PROBLEM.json")],
    plan_path: Annotated[Path, typer.Argument(metavar="PLAN.json")],
) -> None:
    """Check a plan against its problem; print violations by cause; exit 1 if there are any."""
    problem = _load_problem(problem_path)
    try:
        plan_doc = json.loads(plan_path.read_text())
        violations = validate_plan(problem, plan_doc)
    except (OSError, json.JSONDecodeError, DispatchError) as exc:
        err_console.print(f"[red]cannot read {plan_path}: {exc}[/red]")
        raise typer.Exit(2) from None
    if not violations:
        out_console.print("valid: every time, load, promise and order checks out")
        return
    for cause, items in violations_by_cause(violations).items():
        out_console.print(f"[bold]{cause}[/bold] ({len(items)})")
        for v in items:
            out_console.print(f"  - {v.detail}")
    raise typer.Exit(1)


@app.command()
def generate(
    orders: Annotated[int, typer.Option(min=0, help="Number of orders")] = 100,
    riders: Annotated[int, typer.Option(min=0, help="Number of riders")] = 15,
    seed: Annotated[int, typer.Option(help="Random seed")] = 0,
    stores: Annotated[int, typer.Option(min=1, help="Number of stores")] = 1,
    lateness: Annotated[str, typer.Option(help="soft or hard promises")] = "soft",
    equal_speeds: Annotated[bool, typer.Option(help="All riders at 4.5 m/s")] = False,
    outside_share: Annotated[float, typer.Option(min=0.0, max=1.0, help="Share of drop-offs outside the area")] = 0.0,
    on_road: Annotated[int, typer.Option(min=0, help="Riders out on the road carrying orders")] = 0,
    day: Annotated[bool, typer.Option("--day", help="A day scenario for `simulate`: orders over the opening hours, rider shifts (--riders is per store)")] = False,
    base_rate: Annotated[float, typer.Option(min=0.1, help="--day: orders per hour per store outside the peaks")] = 14.0,
    out: Annotated[Optional[Path], typer.Option(help="Write here instead of stdout")] = None,
) -> None:
    """Write a realistic problem document (drop-offs inside 3 km, 60-minute promises), or a day scenario."""
    if lateness not in ("soft", "hard"):
        err_console.print("[red]--lateness must be soft or hard[/red]")
        raise typer.Exit(2)
    if day:
        from dispatch.live.scenario import generate_day

        document = generate_day(riders, seed, stores=stores, base_orders_per_hour=base_rate)
        document["options"]["lateness"] = lateness
        text = json.dumps(document, indent=2)
        if out is not None:
            out.write_text(text + "\n")
        else:
            sys.stdout.write(text + "\n")
        return
    document = generate_problem(
        orders,
        riders,
        seed,
        stores=stores,
        lateness=lateness,
        equal_speeds=equal_speeds,
        outside_share=outside_share,
        on_road=on_road,
    )
    text = json.dumps(document, indent=2)
    if out is not None:
        out.write_text(text + "\n")
    else:
        sys.stdout.write(text + "\n")


@app.command()
def simulate(
    scenario_path: Annotated[Path, typer.Argument(metavar="SCENARIO.json", help="a day scenario (generate --day, import-mdrp)")],
    policy: Annotated[str, typer.Option(help="rolling, greedy, batch, or all (side by side)")] = "rolling",
    interval: Annotated[Optional[int], typer.Option(min=1, help="Seconds between decisions (default: rolling 60, batch 600, greedy 15)")] = None,
    budget: Annotated[Optional[float], typer.Option(min=0.01, help="Time limit of each re-plan, seconds [default: 0.2]")] = None,
    commit_lead: Annotated[Optional[int], typer.Option(min=0, help="A pickup this close (s) stays with its rider")] = None,
    reassign_cost: Annotated[Optional[int], typer.Option(min=0, help="Cost of moving an uncommitted order to another rider")] = None,
    hold_margin: Annotated[Optional[int], typer.Option(min=-1, help="Rolling: hold a waiting wave while its promises keep this slack, s (-1: never hold)")] = None,
    click_to_door_cost: Annotated[Optional[int], typer.Option(min=0, help="Re-plans' cost per second of click-to-door, every order")] = None,
    riders: Annotated[Optional[int], typer.Option(min=1, help="Use only the first n riders of each store")] = None,
    closed_routes: Annotated[bool, typer.Option("--closed-routes", help="Re-plans count each rider's ride back to the store")] = False,
    warm_start: Annotated[bool, typer.Option("--warm-start/--no-warm-start", help="Re-plans start from the routes riders follow")] = True,
    fleet_sweep: Annotated[bool, typer.Option("--fleet-sweep", help="Find the smallest fleet that keeps --target on time")] = False,
    target: Annotated[float, typer.Option(min=0.0, max=1.0, help="On-time rate the fleet sweep must keep")] = 0.95,
    seed: Annotated[int, typer.Option(help="Seed of the search")] = 0,
    out: Annotated[Optional[Path], typer.Option(help="The result JSON (the shape printed on stdout); a .md summary and a .png timeline go beside it")] = None,
) -> None:
    """Simulate a day: orders appear over time, riders follow the dispatcher's plans; print the KPIs.

    stdout and --out hold one JSON shape whatever the flags: {"scenario", "policies": {policy:
    KPIs}, "fleet_sweep": [{"policy", "target", "riders", "tried"}] (empty without --fleet-sweep)}.

    The dispatcher's settings default to those measured for the kind of day: a store with its own
    riders, or a city of restaurants with shared couriers (docs/SOLVER_NOTES.md); options override."""
    from dataclasses import replace as dc_replace

    from dispatch.live.report import plot_timeline, summary_markdown
    from dispatch.live.simulate import POLICIES, fleet_sweep as sweep, live_options, simulate as run_day

    policies = list(POLICIES) if policy == "all" else [policy]
    if any(p not in POLICIES for p in policies):
        err_console.print(f"[red]--policy must be one of {', '.join(POLICIES)} or all[/red]")
        raise typer.Exit(2)
    try:
        scenario = json.loads(scenario_path.read_text())
        problem_from_document(scenario)
    except (OSError, json.JSONDecodeError) as exc:
        err_console.print(f"[red]cannot read {scenario_path}: {exc}[/red]")
        raise typer.Exit(2) from None
    except InvalidProblem as exc:
        for err in exc.errors:
            err_console.print(f"[red]invalid scenario: {err}[/red]")
        raise typer.Exit(2) from None
    _warm_up()
    given = {
        "budget_s": budget, "commit_lead_s": commit_lead, "reassign_cost": reassign_cost,
        "click_to_door_cost_per_s": click_to_door_cost,
    }
    overrides = {k: v for k, v in given.items() if v is not None}
    if hold_margin is not None:
        overrides["hold_margin_s"] = hold_margin if hold_margin >= 0 else None
    overrides.update(riders=riders, seed=seed, return_to_store=closed_routes, warm_start=warm_start, interval_s=interval)
    results, sweeps = [], []
    for name in policies:
        opts = dc_replace(live_options(scenario, name), **overrides)
        err_console.print(f"simulating {name} ...")
        results.append(run_day(scenario, opts))
        if fleet_sweep:
            err_console.print(f"fleet sweep {name} ...")
            sweeps.append(sweep(scenario, opts, target))
    table = Table(title=f"{scenario_path.name}: the day's KPIs")
    table.add_column("KPI")
    for r in results:
        table.add_column(r.policy, justify="right")
    for key in results[0].metrics:
        if key != "policy":
            table.add_row(key, *[str(r.metrics[key]) for r in results])
    for s in sweeps:
        table.add_row(f"fleet for {s['target']:.0%} on time ({s['policy']})", *[str(s["riders"]) if r.policy == s["policy"] else "" for r in results])
    err_console.print(table)
    text = json.dumps(simulation_document(scenario_path.name, results, sweeps), indent=2)
    sys.stdout.write(text + "\n")
    if out is not None:
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(text + "\n")
        out.with_suffix(".md").write_text(summary_markdown(results, f"Simulated day: {scenario_path.name}", sweeps))
        plot_timeline(results, out.with_suffix(".png"), datetime.fromisoformat(scenario["plan_time"]))
        err_console.print(f"wrote {out}, {out.with_suffix('.md')} and {out.with_suffix('.png')}")


def simulation_document(scenario: str, results: list, sweeps: list[dict]) -> dict:
    """The one shape `simulate` writes: the scenario's name, each policy's KPIs, the fleet sweeps."""
    return {
        "scenario": scenario,
        "policies": {r.policy: {k: v for k, v in r.metrics.items() if k != "policy"} for r in results},
        "fleet_sweep": sweeps,
    }


@app.command("import-mdrp")
def import_mdrp(
    folder: Annotated[Path, typer.Argument(metavar="FOLDER", help="an MDRP instance folder (orders.txt, couriers.txt, ...)")],
    out: Annotated[Path, typer.Option(help="Where to write the day scenario (JSON)")],
    from_min: Annotated[Optional[float], typer.Option(help="Keep orders placed from this minute of the day")] = None,
    to_min: Annotated[Optional[float], typer.Option(help="... up to (not including) this minute")] = None,
    travel_minutes: Annotated[str, typer.Option(help="ceil (the evaluator's rule) or exact (fractional minutes)")] = "ceil",
) -> None:
    """Turn a Grubhub meal-delivery day (MDRP instance) into a day scenario timed as the official evaluator."""
    from dispatch.live.mdrp import TRAVEL_MINUTES, mdrp_scenario

    if travel_minutes not in TRAVEL_MINUTES:
        err_console.print(f"[red]--travel-minutes must be one of {', '.join(TRAVEL_MINUTES)}[/red]")
        raise typer.Exit(2)
    if from_min is not None and to_min is not None and to_min <= from_min:
        err_console.print("[red]--to-min must be after --from-min[/red]")
        raise typer.Exit(2)
    try:
        scenario = mdrp_scenario(folder, from_min, to_min, travel_minutes)
    except InvalidProblem as exc:
        for err in exc.errors:
            err_console.print(f"[red]{err}[/red]")
        raise typer.Exit(2) from None
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(scenario) + "\n")
    err_console.print(
        f"wrote {out}: {len(scenario['orders'])} orders, {len(scenario['riders'])} couriers, "
        f"{len(scenario['stores'])} restaurants"
    )


if __name__ == "__main__":
    app()
