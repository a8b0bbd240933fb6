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
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from dispatch.documents import problem_from_document
from dispatch.errors import DispatchError, InvalidProblem
from dispatch.generate import generate_problem
from dispatch.model import Problem
from dispatch.plan import Plan
from dispatch.solver import solve as solve_problem
from dispatch.validate import validate_plan, violations_by_cause

# A re-plan's clock when a work limit is given: far above what the limit takes, so it binds.
WORK_LIMIT_CLOCK_S = 5.0

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


def _load_scenarios(path: Path) -> list[dict]:
    """The day scenarios of a file: a scenario document (JSON), or a CSV of orders, one scenario
    per day; each checked as a problem (exit 2 naming the file and what is wrong)."""
    from dispatch.live.staffing import history_from_csv

    try:
        text = path.read_text()
        if path.suffix.lower() == ".csv":
            return history_from_csv(text)
        scenario = json.loads(text)
        problem_from_document(scenario)
        return [scenario]
    except (OSError, json.JSONDecodeError) as exc:
        err_console.print(f"[red]cannot read {path}: {exc}[/red]")
        raise typer.Exit(2) from None
    except InvalidProblem as exc:
        for err in exc.errors:
            err_console.print(f"[red]invalid scenario {path}: {err}[/red]")
        raise typer.Exit(2) from None


def _load_scenario(path: Path) -> dict:
    """A day scenario's document (JSON), checked as a problem (exit 2 naming what is wrong)."""
    if path.suffix.lower() == ".csv":
        err_console.print(f"[red]{path}: a day scenario is a JSON document, not a CSV[/red]")
        raise typer.Exit(2)
    return _load_scenarios(path)[0]


def _warm_up() -> None:
    """Load the compiled search before solving (compiles once per machine, then cached), with a
    spinner while it does: the first compile takes about 20 s."""
    import time

    from dispatch.solver import warm_up

    t0 = time.perf_counter()
    with err_console.status("loading the compiled search (the first run on a machine compiles it, about 20 s)"):
        warm_up()
    took = time.perf_counter() - t0
    if took > 2:
        err_console.print(f"compiled the search in {took:.0f} s (once per machine; later runs load it)")


def _progress() -> Progress:
    """A progress display on stderr (stdout stays the command's JSON)."""
    return Progress(
        SpinnerColumn(), TextColumn("{task.description}"), BarColumn(), TimeElapsedColumn(), TextColumn("{task.fields[note]}"),
        console=err_console, transient=True,
    )


def solve_with_progress(problem: Problem) -> tuple[Plan, bool]:
    """Solve in a worker thread while a bar shows the budget going; Ctrl-C stops the search and
    the best plan found so far is returned. (plan, interrupted)."""
    import threading
    import time

    stop, done = threading.Event(), threading.Event()
    outcome: dict = {}

    def work() -> None:
        try:
            outcome["plan"] = solve_problem(problem, stop)
        except BaseException as exc:  # noqa: BLE001 - re-raised in the caller's thread
            outcome["error"] = exc
        finally:
            done.set()

    worker = threading.Thread(target=work, name="solve", daemon=True)
    limit = problem.options.time_limit_s
    interrupted = False
    err_console.print(f"solving for up to {limit:g} s (Ctrl-C stops the search and keeps the best plan so far)")
    with _progress() as bar:
        task = bar.add_task("solving", total=limit, note="Ctrl-C: stop and keep the best plan so far")
        t0 = time.perf_counter()
        worker.start()
        # Waited on with an Event: a Ctrl-C inside Thread.join can leave is_alive() false while
        # the thread still runs (CPython gh-90882).
        while not done.is_set():
            try:
                done.wait(0.1)
            except KeyboardInterrupt:
                interrupted = True
                stop.set()
                bar.update(task, description="stopping", note="finishing the best plan found so far")
            bar.update(task, completed=min(limit, time.perf_counter() - t0))
    if "error" in outcome:
        raise outcome["error"]
    return outcome["plan"], interrupted


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
    """Solve a problem document; print the plan document as JSON on stdout (progress on stderr;
    Ctrl-C stops the search and prints the best plan found so far)."""
    problem = _load_problem(problem_path, time_limit)
    _warm_up()
    try:
        plan, interrupted = solve_with_progress(problem)
    except DispatchError as exc:
        err_console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None
    if interrupted:
        err_console.print(f"[yellow]interrupted after {plan.metrics.solve_ms / 1000:.1f} s: the best plan found so far[/yellow]")
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
    confidence: Annotated[Optional[float], typer.Option(min=0.5, max=0.99, help="Promise the time the order is at the door by with this chance (options.travel.uncertainty)")] = None,
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
        dropoff_service_s=service_s, max_promise_s=max_promise_min * 60, buffer_s=buffer_s, confidence=confidence,
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
    third_party_fee: Annotated[Optional[float], typer.Option(min=0.0, help="Give each store a third party at this fee per order (with --rider-cost-per-hour)")] = None,
    rider_cost_per_hour: Annotated[Optional[float], typer.Option(min=0.01, help="options.rider_cost_per_hour: a rider-hour in the fees' money")] = None,
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
        _add_third_party(document, third_party_fee, rider_cost_per_hour)
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
    _add_third_party(document, third_party_fee, rider_cost_per_hour)
    text = json.dumps(document, indent=2)
    if out is not None:
        out.write_text(text + "\n")
    else:
        sys.stdout.write(text + "\n")


def _add_third_party(document: dict, fee: float | None, per_hour: float | None) -> None:
    """A third party at `fee` per order (courier at the store in 10 minutes) on every store."""
    if fee is not None and per_hour is None:
        err_console.print("[red]--third-party-fee needs --rider-cost-per-hour (fees and rider time in one currency)[/red]")
        raise typer.Exit(2)
    if per_hour is not None:
        document["options"]["rider_cost_per_hour"] = per_hour
    if fee is not None:
        for s in document["stores"]:
            s["third_party"] = {"fee_per_order": fee, "arrival_s": 600, "speed_mps": 4.5}


@app.command("cost-curve")
def cost_curve_command(
    scenario_path: Annotated[Path, typer.Argument(metavar="SCENARIO.json", help="a day scenario whose stores have a third_party")],
    riders: Annotated[str, typer.Option(help="Own riders per store to try: 1-12, or 2,4,8")] = "1-12",
    budget: Annotated[Optional[float], typer.Option(min=0.01, help="Time limit of each re-plan, s [default: 0.2]")] = None,
    max_iterations: Annotated[Optional[int], typer.Option(min=1, help="A work limit per re-plan instead (reproducible)")] = None,
    out: Annotated[Path, typer.Option(help="Folder for cost_curve.json and cost_curve.png")] = Path("out"),
) -> None:
    """Cost per order (riders' hours + fees) and on-time rate against own riders, with and without
    the third party: the trade-off as a table, JSON and a PNG."""
    from dataclasses import replace as dc_replace

    from dispatch.live.cost_curve import cost_curve, plot_cost_curve
    from dispatch.live.simulate import live_options

    scenario = _load_scenario(scenario_path)
    try:
        counts = sorted({n for part in riders.split(",") for n in _count_range(part)})
    except ValueError:
        err_console.print(f"[red]--riders must be counts or ranges such as 1-12 or 2,4,8, not {riders!r}[/red]")
        raise typer.Exit(2) from None
    sim = live_options(scenario)
    if budget is not None:
        sim = dc_replace(sim, budget_s=budget)
    if max_iterations is not None:
        # The work limit binds, not the clock (unless --budget says otherwise): reproducible.
        sim = dc_replace(sim, max_iterations=max_iterations, budget_s=budget if budget is not None else WORK_LIMIT_CLOCK_S)
    _warm_up()
    try:
        rows = cost_curve(scenario, sim, counts)
    except ValueError as exc:
        err_console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None
    table = Table(title=f"{scenario_path.name}: cost per order against own riders")
    for col in ("riders", "cost/order with", "on time with", "sent out", "fees", "cost/order without", "on time without"):
        table.add_column(col, justify="right")
    for r in rows:
        w, wo = r["with_third_party"], r["without"]
        table.add_row(str(r["riders"]), f"{w['cost_per_order']:.2f}", f"{w['on_time_rate']:.1%}", f"{w['third_party_share']:.1%}",
                      f"{w['third_party_fees']:.0f}", f"{wo['cost_per_order']:.2f}", f"{wo['on_time_rate']:.1%}")
    err_console.print(table)
    out.mkdir(parents=True, exist_ok=True)
    (out / "cost_curve.json").write_text(json.dumps({"scenario": scenario_path.name, "rows": rows}, indent=2) + "\n")
    plot_cost_curve(rows, out / "cost_curve.png", f"{scenario_path.name}: own riders against a third party")
    err_console.print(f"wrote {out / 'cost_curve.json'} and {out / 'cost_curve.png'}")


def _count_range(part: str) -> range:
    lo, _, hi = part.strip().partition("-")
    a, b = int(lo), int(hi or lo)
    if not 1 <= a <= b <= 1000:
        raise ValueError(part)
    return range(a, b + 1)


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
    zones: Annotated[bool, typer.Option("--zones/--no-zones", help="Riders keep to their zones, or dispatch is free (what zoning costs)")] = True,
    third_party: Annotated[bool, typer.Option("--third-party/--no-third-party", help="Re-plans may send orders to the stores' third parties")] = True,
    fleet_sweep: Annotated[bool, typer.Option("--fleet-sweep", help="Find the smallest fleet that keeps --target on time")] = False,
    target: Annotated[float, typer.Option(min=0.0, max=1.0, help="On-time rate the fleet sweep must keep")] = 0.95,
    seed: Annotated[int, typer.Option(help="Seed of the search")] = 0,
    noise: Annotated[bool, typer.Option("--noise", help="Rides and services really last lognormal draws around the plan's (options.travel.uncertainty, else ride CV 0.25, service CV 0.2)")] = False,
    noise_seed: Annotated[int, typer.Option(help="Seed of the noise (the same seed, the same day)")] = 0,
    quote_confidence: Annotated[Optional[float], typer.Option(min=0.5, max=0.99, help="Quote every order as it is placed at this confidence; the quote becomes its promise")] = None,
    calibrate_quotes: Annotated[bool, typer.Option("--calibrate-quotes/--no-calibrate-quotes", help="With --quote-confidence: calibrate each quote on the day's quotes delivered so far (split conformal)")] = True,
    out: Annotated[Optional[Path], typer.Option(help="The result JSON (the shape printed on stdout); a .md summary and a .png timeline go beside it")] = None,
) -> None:
    """Simulate a day: orders appear over time, riders follow the dispatcher's plans; print the KPIs.

    stdout and --out hold one JSON shape whatever the flags: {"scenario", "policies": {policy:
    KPIs}, "fleet_sweep": [{"policy", "target", "riders", "tried"}] (empty without --fleet-sweep)}.

    The dispatcher's settings default to those measured for the kind of day: a store with its own
    riders, or a city of restaurants with shared couriers (docs/SOLVER_NOTES.md); options override."""
    from dataclasses import replace as dc_replace

    from dispatch.live.quote_calibration import QuoteCalibration
    from dispatch.live.report import plot_timeline, summary_markdown
    from dispatch.live.simulate import POLICIES, fleet_sweep as sweep, live_options, simulate as run_day

    policies = list(POLICIES) if policy == "all" else [policy]
    if any(p not in POLICIES for p in policies):
        err_console.print(f"[red]--policy must be one of {', '.join(POLICIES)} or all[/red]")
        raise typer.Exit(2)
    scenario = _load_scenario(scenario_path)
    _warm_up()
    given = {
        "budget_s": budget, "commit_lead_s": commit_lead, "reassign_cost": reassign_cost,
        "click_to_door_cost_per_s": click_to_door_cost,
    }
    overrides = {k: v for k, v in given.items() if v is not None}
    if hold_margin is not None:
        overrides["hold_margin_s"] = hold_margin if hold_margin >= 0 else None
    overrides.update(riders=riders, seed=seed, return_to_store=closed_routes, warm_start=warm_start, interval_s=interval,
                     zones=zones, third_party=third_party, noise=noise, noise_seed=noise_seed,
                     quote_confidence=quote_confidence, promise_from_quote=quote_confidence is not None,
                     quote_calibration=QuoteCalibration() if quote_confidence is not None and calibrate_quotes else None)
    results, sweeps = [], []
    with _progress() as bar:
        for name in policies:
            opts = dc_replace(live_options(scenario, name), **overrides)
            day = bar.add_task(f"simulating {name}", total=len(scenario.get("orders", [])) or 1, note="orders revealed")
            results.append(run_day(scenario, opts, lambda done, total, task=day: bar.update(task, completed=done, total=total or 1)))
            bar.update(day, completed=bar.tasks[day].total, note=f"{results[-1].metrics['on_time_rate']:.1%} on time")
            if fleet_sweep:
                swept = bar.add_task(f"fleet sweep {name}", total=None, note="")
                sweeps.append(sweep(scenario, opts, target, lambda n, rate, task=swept: bar.update(task, note=f"{n} riders: {rate:.1%} on time")))
                bar.update(swept, total=1, completed=1)
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
        for r in results:  # each order's outcome, for `o2o-dispatch grid`
            outcomes = {"policy": r.policy, "stores": scenario.get("stores", []), "orders": r.orders}
            out.with_suffix(f".{r.policy}.orders.json").write_text(json.dumps(outcomes) + "\n")
        err_console.print(f"wrote {out}, {out.with_suffix('.md')}, {out.with_suffix('.png')} and the orders' outcomes "
                          f"({out.with_suffix('.POLICY.orders.json').name})")


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


def _duration_s(text: str, option: str) -> int:
    """'30m', '2h', '90s' or plain seconds as whole seconds; exit 2 naming the option otherwise."""
    units = {"s": 1, "m": 60, "h": 3600}
    text = text.strip().lower()
    try:
        if text and text[-1] in units:
            return int(round(float(text[:-1]) * units[text[-1]]))
        return int(text)
    except ValueError:
        err_console.print(f"[red]{option} must be a duration such as 30m, 2h or 1800 (seconds), not {text!r}[/red]")
        raise typer.Exit(2) from None


def _read_history(paths: list[Path]) -> list[dict]:
    """Day scenarios (JSON) and CSV files of orders as one history; exit 2 naming what is wrong."""
    return [scenario for path in paths for scenario in _load_scenarios(path)]


@app.command()
def staff(
    history: Annotated[list[Path], typer.Argument(metavar="HISTORY...", help="day scenarios (JSON) or CSV files of orders")],
    target: Annotated[float, typer.Option(min=0.01, max=1.0, help="On-time rate the schedule must keep")] = 0.95,
    max_click_to_door: Annotated[Optional[str], typer.Option(help="And a mean click-to-door (35m, ...) the schedule must not exceed")] = None,
    slot: Annotated[str, typer.Option(help="Slot length (30m, 1h, ...)")] = "30m",
    min_shift: Annotated[str, typer.Option(help="Shortest shift")] = "2h",
    max_shift: Annotated[str, typer.Option(help="Longest shift")] = "8h",
    budget: Annotated[Optional[float], typer.Option(min=0.01, help="Time limit of each re-plan in the simulations, s [default: 0.2]")] = None,
    max_iterations: Annotated[Optional[int], typer.Option(min=1, help="A work limit per re-plan instead (reproducible, faster)")] = None,
    bisection: Annotated[int, typer.Option(min=1, max=20, help="Simulations of the history spent on the workload's scale")] = 5,
    balance: Annotated[int, typer.Option(min=0, max=20, help="Then rounds moving riders between slots")] = 2,
    out: Annotated[Optional[Path], typer.Option(help="Folder for staffing.json, riders.json, scenario.json, staffing.png")] = None,
) -> None:
    """How many riders each slot needs for --target on time (by simulating the rolling dispatcher)
    and the shifts covering them with the fewest rider-hours (an integer programme)."""
    from dataclasses import replace as dc_replace

    from dispatch.live.simulate import live_options
    from dispatch.live.staffing import StaffingOptions, plot_staffing, staff as run_staffing

    days = _read_history(history)
    sim = live_options(days[0])
    if budget is not None:
        sim = dc_replace(sim, budget_s=budget)
    if max_iterations is not None:
        # The work limit binds, not the clock (unless --budget says otherwise): reproducible.
        sim = dc_replace(sim, max_iterations=max_iterations, budget_s=budget if budget is not None else WORK_LIMIT_CLOCK_S)
    options = StaffingOptions(
        target=target, slot_s=_duration_s(slot, "--slot"), min_shift_s=_duration_s(min_shift, "--min-shift"),
        max_click_to_door_mean_s=None if max_click_to_door is None else _duration_s(max_click_to_door, "--max-click-to-door"),
        max_shift_s=_duration_s(max_shift, "--max-shift"), bisection_steps=bisection, balance_rounds=balance, sim=sim,
    )
    try:
        options.check()
    except ValueError as exc:
        err_console.print(f"[red]{exc}[/red]")
        raise typer.Exit(2) from None
    _warm_up()
    err_console.print(f"staffing {len(days)} day(s): each trial simulates the whole history ...")
    result = run_staffing(days, options)
    table = Table(title=f"Staffing for {target:.0%} on time, slots of {options.slot_s // 60} min")
    for col in ("store", "slot", "orders", "needed", "scheduled", "on time"):
        table.add_column(col, justify="right")
    for row in result.table():
        rate = "" if row["on_time_rate"] is None else f"{row['on_time_rate']:.0%}"
        table.add_row(row["store_id"] or "shared", row["slot_start"][11:16], f"{row['orders']:.1f}",
                      str(row["riders_needed"]), str(row["riders_scheduled"]), rate)
    err_console.print(table)
    document = result.to_document()
    sys.stdout.write(json.dumps(document["summary"], indent=2) + "\n")
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
        (out / "staffing.json").write_text(json.dumps(document, indent=2) + "\n")
        (out / "riders.json").write_text(json.dumps(result.riders(), indent=2) + "\n")
        (out / "scenario.json").write_text(json.dumps({**days[0], "riders": result.riders()}) + "\n")
        plot_staffing(result, out / "staffing.png")
        err_console.print(f"wrote {out}/staffing.json, riders.json, scenario.json (the first day with these riders) and staffing.png")


@app.command()
def grid(
    results: Annotated[Path, typer.Argument(metavar="RESULTS", help="orders' outcomes (simulate --out writes NAME.POLICY.orders.json)")],
    resolution: Annotated[int, typer.Option(help="H3 resolution (5-12; 9: cells of about 0.1 km2)")] = 9,
    hours: Annotated[Optional[str], typer.Option(help="Hours of the day to count, e.g. 11-14 or 11-13,18 (default all)")] = None,
    png: Annotated[Optional[Path], typer.Option(help="Also draw a heat map here")] = None,
    figure: Annotated[str, typer.Option(help="The heat map's figure: on_time_rate, click_to_door_mean_min, late_mean_min, third_party_share, orders")] = "on_time_rate",
    out: Annotated[Optional[Path], typer.Option(help="Write the GeoJSON here instead of stdout")] = None,
) -> None:
    """The delivery grid: orders, on-time rate, click-to-door, lateness and third-party share per
    H3 cell (and per hour) as GeoJSON, optionally a PNG heat map."""
    from dispatch.grid import aggregate, grid_geojson, outcomes_from_document, parse_hours, plot_grid

    try:
        document = json.loads(results.read_text())
        chosen = parse_hours(hours)
        cells = aggregate(outcomes_from_document(document), resolution, chosen)
        stores = document.get("stores") or []
        if png is not None:
            plot_grid(cells, png, figure, stores)
    except (OSError, json.JSONDecodeError) as exc:
        err_console.print(f"[red]cannot read {results}: {exc}[/red]")
        raise typer.Exit(2) from None
    except InvalidProblem as exc:
        for err in exc.errors:
            err_console.print(f"[red]{err}[/red]")
        raise typer.Exit(2) from None
    text = json.dumps(grid_geojson(cells, resolution, stores))
    if out is not None:
        out.write_text(text + "\n")
    else:
        sys.stdout.write(text + "\n")
    counted = sum(c.total.orders for c in cells)
    err_console.print(f"{len(cells)} cells, {counted} orders" + (f"; heat map {png}" if png else ""))


def _store_location(text: str | None):
    """'LAT,LON' as a Location (None stays None); exit 2 naming --store otherwise."""
    from dispatch.model import Location

    if text is None:
        return None
    try:
        lat, lon = (float(part) for part in text.split(","))
    except ValueError:
        err_console.print(f"[red]--store must be LAT,LON (31.2304,121.4737), not {text!r}[/red]")
        raise typer.Exit(2) from None
    return Location(lat, lon)


def print_speed_fit(fit, console: Console = err_console) -> None:
    """The fitted factors per period with their rides and errors, as a table."""
    if not fit.rides:
        console.print(f"[yellow]no rides to fit ({fit.skipped}): the profile is flat (every factor 1)[/yellow]")
        return
    table = Table(title=f"Speed profile: base {fit.speed_mps:.2f} m/s ({fit.speed_source}), "
                        f"{fit.rides} rides, MAE {fit.mae_s:.0f} s")
    for col in ("from", "factor", "±95%", "source", "rides", "share", "MAE s", "rel. err"):
        table.add_column(col, justify="right")
    for p in fit.periods:
        d = p.to_document()
        ci = "" if p.factor_se is None else f"{1.96 * p.factor_se:.3f}"
        mae = "" if p.mae_s is None else f"{p.mae_s:.0f}"
        rel = "" if p.mean_relative_error is None else f"{p.mean_relative_error:.1%}"
        table.add_row(d["start"], f"{p.factor:.3f}", ci, p.source, str(p.rides), f"{p.ride_share:.1f}", mae, rel)
    console.print(table)
    filled = [p for p in fit.periods if p.source == "neighbours"]
    if filled:
        console.print(f"{len(filled)} period(s) had too few rides (< {fit.options.min_rides:g} by time): "
                      "their factors are interpolated between the nearest fitted periods")


@app.command("fit-speeds")
def fit_speeds_command(
    history: Annotated[list[Path], typer.Argument(metavar="HISTORY...", help="CSV files of delivered orders, or JSON arrays of the service's order views (docs/CONTRACT.md)")],
    period: Annotated[str, typer.Option(help="Period length, dividing the day (30m, 1h, ...)")] = "30m",
    speed_mps: Annotated[Optional[float], typer.Option(help="Base speed the factors multiply (default: the median of the rides' speeds)")] = None,
    detour: Annotated[float, typer.Option(help="Road metres per great-circle metre (the problem's detour_factor)")] = 1.3,
    min_rides: Annotated[float, typer.Option(help="Rides (counted by time) a period needs for its own factor")] = 5.0,
    store: Annotated[Optional[str], typer.Option(help="The store's LAT,LON (order views do not carry it)")] = None,
    out: Annotated[Optional[Path], typer.Option(help="Also write the result JSON here")] = None,
) -> None:
    """Fit a speed profile (options.travel.speed_profile) to delivered orders' pickup and delivery
    times: factors per period of the local day, with each period's rides and errors."""
    from dispatch.live.fit_speeds import FitOptions, fit_speeds
    from dispatch.live.rides import read_history, rides_from_deliveries

    options = FitOptions(period_s=_duration_s(period, "--period"), speed_mps=speed_mps, detour_factor=detour, min_rides=min_rides)
    location = _store_location(store)
    deliveries, undelivered = [], 0
    try:
        options.check()
        for path in history:
            found, missing = read_history(path.read_text(), path.suffix.lower() == ".csv", location)
            deliveries += found
            undelivered += missing
    except OSError as exc:
        err_console.print(f"[red]cannot read {exc.filename}: {exc.strerror}[/red]")
        raise typer.Exit(2) from None
    except InvalidProblem as exc:
        for err in exc.errors:
            err_console.print(f"[red]{err}[/red]")
        raise typer.Exit(2) from None
    fit = fit_speeds(rides_from_deliveries(deliveries, undelivered), options)
    print_speed_fit(fit)
    text = json.dumps(fit.to_document(), indent=2)
    sys.stdout.write(text + "\n")
    if out is not None:
        out.write_text(text + "\n")
        err_console.print(f"wrote {out}: paste its speed_profile into options.travel.speed_profile")


if __name__ == "__main__":
    app()
