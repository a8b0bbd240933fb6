"""REPORT.md and its plots from the suites' result files (benchmarks/results/*.json)."""

from __future__ import annotations

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from benchmarks.common import RESULTS  # noqa: E402

SOLVER_NAMES = {"ours": "ours", "pyvrp": "PyVRP", "vroom": "VROOM"}


def load_results(folder: Path = RESULTS) -> dict[str, dict]:
    """Suite name -> its result document, for every result file present."""
    out = {}
    for name in ("scaling", "peers", "solomon", "live", "byo", "spread", "realdays", "eta"):
        path = folder / f"{name}.json"
        if path.exists():
            out[name] = json.loads(path.read_text())
    return out


def _fmt(value, digits: int = 1) -> str:
    if value is None or (isinstance(value, float) and value != value):
        return "–"
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def _store_cell(entry: dict) -> str:
    if "travel_min" not in entry:
        return "–"
    on_time = f"{_fmt(entry['on_time'], 0)}/{_fmt(entry['orders'], 0)}"
    flag = "" if entry["all_valid"] else ", breaks rules"
    gap = entry.get("gap_pct")
    # Invalid plans have no gap: a median over the valid ones would flatter a rule-breaker.
    vs_best = f" ({gap:+.1f}% vs best-known)" if entry["all_valid"] and gap is not None and gap == gap else ""
    return f"{entry['travel_min']:.1f} min{vs_best}, {on_time} on time{flag}"


def headline(results: dict[str, dict]) -> tuple[list[str], list[list[str]]]:
    """The table quoted in the README: store problems and Solomon, ours next to the peers."""
    solvers = ["ours", "pyvrp", "vroom"]
    rows: list[list[str]] = []
    peers = results.get("peers")
    if peers:
        for e in peers["summary"]:
            cells = [_store_cell(e.get(s, {})) for s in solvers]
            ratio = e.get("ratio_to_best_peer")
            rows.append([f"store {e['size']} at {e['budget_s']:g} s: rider travel", *cells, _fmt(ratio, 3)])
    solomon = results.get("solomon")
    if solomon:
        for budget in solomon["budgets_s"]:
            cells, gaps = [], {}
            for s in solvers:
                e = next((x for x in solomon["summary"] if x["solver"] == s and x["budget_s"] == budget), None)
                if e is None:
                    cells.append("–")
                    continue
                gaps[s] = e["mean_gap_pct"]
                cells.append(f"{_fmt(e['mean_gap_pct'], 2)}% ({e['failures']} failed)")
            best_peer = min((g for s, g in gaps.items() if s != "ours" and g is not None), default=None)
            diff = None if best_peer is None or gaps.get("ours") is None else gaps["ours"] - best_peer
            n = len(solomon["instances"])
            rows.append([f"Solomon, {n} instances, {budget:g} s: mean gap to best-known", *cells, (f"{diff:+.2f} pts" if diff is not None else "–")])
    scaling = results.get("scaling")
    if scaling:
        first = {e["size"]: e["first_plan_ms"] for e in scaling["summary"]}
        sizes = ", ".join(f"{s} {_fmt(first[s], 0)}" for s in scaling["sizes"])
        rows.append([f"first valid plan, ms (median): {sizes}", "", "", "", ""])
        rows.append([f"budget overrun, ms: p99 {_fmt(scaling['overrun_ms_p99'])}, max {_fmt(scaling['overrun_ms_max'])}", "", "", "", ""])
    realdays = results.get("realdays")
    if realdays:
        from benchmarks.realdays import summarise

        summary = summarise(realdays)
        ours, fm = summary["mean"].get("rolling"), summary["mean"].get("foodmatch")
        if ours and fm:
            both = sum(1 for a in summary["ahead_of_foodmatch"].values() if all(a.values()))
            rows.append([
                f"real days ({len(summary['days'])}, evaluator's rules): mean click-to-door ours {ours['ctd_mean_min']:.2f} "
                f"min, FoodMatch {fm['ctd_mean_min']:.2f}; over 40 min ours {100 * ours['share_ctd_over_target_of_delivered']:.1f}%, "
                f"FoodMatch {100 * fm['share_ctd_over_target_of_delivered']:.1f}%; ahead on both on {both} days", "", "", "", ""])
    live = results.get("live")
    if live:
        rp, q = live["replan"], live["quote"]
        rows.append([f"live: re-plan 200 orders x 30 riders at {rp['budget_s']:g} s, ms: p50 {rp['ms_p50']:.0f}, p95 {rp['ms_p95']:.0f}", "", "", "", ""])
        rows.append([f"live: quote with {q['open_orders']} open orders, ms: p50 {q['ms_p50']:.1f}, p95 {q['ms_p95']:.1f}", "", "", "", ""])
        sweep = live["day"].get("fleet_sweep")
        if sweep:
            fleets = ", ".join(f"{p} {s['riders'] if s['riders'] is not None else '>max'}" for p, s in sweep.items())
            rows.append([f"live: smallest fleet for 95% on time on a generated day: {fleets}", "", "", "", ""])
    return ["measure", "ours", "PyVRP", "VROOM", "ours vs best peer"], rows


def _markdown_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def spread_sizes(spread: dict) -> list[dict]:
    """The per-size results of a spread file (one written before several sizes is one size)."""
    return spread["sizes"] if "sizes" in spread else [spread]


def spread_table(spread: dict) -> tuple[list[str], list[list[str]]]:
    """Per problem: the best plan known, each solver's median (best-worst, runs at the best), the ratio."""
    solvers = ["ours"] + spread["peers"]
    header = ["problem", "best known min"] + [f"{SOLVER_NAMES[s]}: median (best-worst) at best" for s in solvers] + ["ours / best peer"]
    rows = []
    for entry in spread["problems"]:
        cells = []
        for s in solvers:
            st = entry["stats"].get(s)
            if st is None:
                skipped = entry["runs"].get(s, {})
                cells.append(skipped.get("skipped", "–") if isinstance(skipped, dict) else "–")
                continue
            failed = f", {st['failed_runs']} failed" if st["failed_runs"] else ""
            cells.append("–" + failed if st["median_min"] is None else
                         f"{st['median_min']:.2f} ({st['min_min']:.2f}-{st['max_min']:.2f}) {st['runs_at_best']}/{spread['runs']}{failed}")
        rows.append([entry["instance"], _fmt(entry["best_min"], 2), *cells, _fmt(entry["ratio_to_best_peer"], 4)])
    return header, rows


def spread_summary(spread: dict) -> str:
    """One sentence: where our median stands against the best peer's over the problems."""
    t = spread["tally"]
    at_best = ", ".join(f"{SOLVER_NAMES[s]} {v['runs']}/{v['of']}" for s, v in spread["runs_at_best"].items())
    return (f"Our median rider travel is below the best peer's on {t['ahead']} problems, the same on {t['same']}, "
            f"above on {t['behind']} (not compared: {t['not_compared']}); ratio median {_fmt(spread['ratio_median'], 3)}, "
            f"mean {_fmt(spread['ratio_mean'], 4)}. Runs that reached the best plan known: {at_best}.")


def plot_scaling(scaling: dict, folder: Path) -> list[str]:
    """Two PNGs: first-plan time against size (log-log), and quality against budget."""
    files = []
    summary = scaling["summary"]
    sizes = scaling["sizes"]
    budgets = scaling["budgets_s"]
    fig, ax = plt.subplots(figsize=(6, 4))
    xs = [next(e["n_orders"] for e in summary if e["size"] == s) for s in sizes]
    first = [next(e["first_plan_ms"] for e in summary if e["size"] == s) for s in sizes]
    ax.loglog(xs, first, "o-", label="first valid plan")
    for b in budgets:
        ax.loglog(xs, [next(e["wall_s"] * 1000 for e in summary if e["size"] == s and e["budget_s"] == b) for s in sizes], ".--", alpha=0.6, label=f"whole solve, budget {b:g} s")
    ax.set_xlabel("orders")
    ax.set_ylabel("ms (median over seeds)")
    ax.set_title("Solve time against size")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(folder / "scaling_time.png", dpi=110)
    plt.close(fig)
    files.append("scaling_time.png")

    fig, ax = plt.subplots(figsize=(6, 4))
    for s in sizes:
        travel = [next(e["travel_min"] for e in summary if e["size"] == s and e["budget_s"] == b) for b in budgets]
        best = min(travel)
        ax.semilogx(budgets, [100 * (t / best - 1) for t in travel], "o-", label=s)
    ax.set_xlabel("budget, s")
    ax.set_ylabel("rider travel above the best budget's, %")
    ax.set_title("Plan quality against budget")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(folder / "scaling_quality.png", dpi=110)
    plt.close(fig)
    files.append("scaling_quality.png")
    return files


def plot_solomon(solomon: dict, folder: Path) -> list[str]:
    """Mean gap per family and solver, one panel per budget."""
    budgets = solomon["budgets_s"]
    fig, axes = plt.subplots(1, len(budgets), figsize=(5 * len(budgets), 3.6), squeeze=False)
    for ax, budget in zip(axes[0], budgets):
        entries = [e for e in solomon["summary"] if e["budget_s"] == budget]
        families = sorted(entries[0]["by_family"]) if entries else []
        width = 0.8 / max(1, len(entries))
        for j, e in enumerate(entries):
            gaps = [e["by_family"][f]["mean_gap_pct"] or 0.0 for f in families]
            ax.bar([i + j * width for i in range(len(families))], gaps, width, label=SOLVER_NAMES.get(e["solver"], e["solver"]))
        ax.set_xticks([i + width * (len(entries) - 1) / 2 for i in range(len(families))], families)
        ax.set_ylabel("mean gap to best-known, %")
        ax.set_title(f"Solomon at {budget:g} s")
        ax.legend(fontsize=7)
        ax.grid(True, axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(folder / "solomon_gap.png", dpi=110)
    plt.close(fig)
    return ["solomon_gap.png"]


def write_report(results: dict[str, dict], folder: Path = RESULTS) -> Path:
    """Write REPORT.md (tables and plots) for whatever suites have results."""
    parts = ["# Benchmark report", ""]
    any_doc = next(iter(results.values()), None)
    if any_doc:
        m = any_doc["machine"]
        parts += [
            f"Measured on {m['processor']}, {m['cpus']} CPUs, {m['platform']}, Python {m['python']}; "
            f"o2o-dispatch {m['o2o_dispatch']}, OR-Tools {m['ortools']}, numba {m['numba']}, PyVRP {m['pyvrp']}, pyvroom {m['pyvroom']}.",
            "",
        ]
    # A folder may hold suites from several runs (`--suites` picks some): each says its own.
    for suite, doc in results.items():
        command = f", `{doc['command']}`" if doc.get("command") else ""
        parts.append(f"- {suite}: measured {doc['measured_at']}{command}")
    parts.append("")
    parts += [
        "Every plan, ours and the peers', is checked by our validator (store problems) or by the Solomon checker.",
        "Times are medians over seeds; ratios compare runs made one after the other in the same process.",
        "",
        "## Headline",
        "",
        _markdown_table(*headline(results)),
        "",
    ]
    scaling = results.get("scaling")
    if scaling:
        parts += [
            "## 1. Latency and scaling (ours; generator defaults: soft promises, mixed speeds)",
            "",
            f"Seeds {scaling['seeds']}, budgets {scaling['budgets_s']} s. Budget overrun: p50 {_fmt(scaling['overrun_ms_p50'])} ms, "
            f"p99 {_fmt(scaling['overrun_ms_p99'])} ms, max {_fmt(scaling['overrun_ms_max'])} ms. Memory: {scaling['memory_note']}.",
            "",
        ]
        rows = [
            [e["size"], _fmt(e["budget_s"], 1), _fmt(e["first_plan_ms"], 0), _fmt(e["wall_s"], 3), _fmt(e["travel_min"]),
             f"{100 * e['on_time_share']:.1f}%", f"{100 * e['served_share']:.1f}%", _fmt(e["peak_memory_mib"], 2), "yes" if e["all_valid"] else "NO"]
            for e in scaling["summary"]
        ]
        parts += [_markdown_table(["size", "budget s", "first plan ms", "wall s", "travel min", "on time", "served", "peak MiB", "valid"], rows), ""]
        parts += [f"![{f}]({f})" for f in plot_scaling(scaling, folder)] + [""]
    peers = results.get("peers")
    if peers:
        parts += [
            "## 2. Peers on store dispatch (hard promises, riders at the store, one speed)",
            "",
            f"Seeds {peers['seeds']}, budgets {peers['budgets_s']} s; {peers['threads']}."
            + (f" Missing: {peers['peers_missing']}." if peers["peers_missing"] else ""),
            "How each peer's problem is built: `benchmarks/peers.py` (module docstring).",
            "`ours / best peer`: our rider travel over the best valid peer plan's that serves as many orders,"
            " on the same problem, then the median over seeds; `by seed` lists those ratios in seed order."
            " `gap %`: rider travel over the instance's best-known plan (`benchmarks/data/store/best_known.json`,"
            " any solver at a long budget), median over seeds.",
            "",
        ]
        header = ["size", "budget s"]
        solvers = ["ours"] + peers["peers"]
        for s in solvers:
            header += [f"{SOLVER_NAMES[s]} served/on time", f"{SOLVER_NAMES[s]} travel min", f"{SOLVER_NAMES[s]} gap %", f"{SOLVER_NAMES[s]} riders", f"{SOLVER_NAMES[s]} wall s"]
        header += ["ours / best peer", "by seed"]
        rows = []
        for e in peers["summary"]:
            row = [e["size"], _fmt(e["budget_s"], 1)]
            for s in solvers:
                x = e.get(s, {})
                if "travel_min" not in x:
                    row += ["–"] * 5
                    continue
                valid = "" if x["all_valid"] else " INVALID"
                row += [f"{_fmt(x['served'], 0)}/{_fmt(x['on_time'], 0)} of {_fmt(x['orders'], 0)}{valid}", _fmt(x["travel_min"]), _fmt(x.get("gap_pct"), 2), _fmt(x["riders_used"], 0), _fmt(x["wall_s"], 2)]
            by_seed = e.get("ratio_by_seed") or {}
            row += [_fmt(e.get("ratio_to_best_peer"), 3), " / ".join(f"{by_seed[k]:.3f}" for k in sorted(by_seed, key=int)) or "–"]
            rows.append(row)
        parts += [_markdown_table(header, rows), ""]
    solomon = results.get("solomon")
    if solomon:
        parts += ["## 3. Solomon VRPTW", "", f"{len(solomon['instances'])} instances; {solomon['convention']}.", ""]
        families = sorted(solomon["summary"][0]["by_family"]) if solomon["summary"] else []
        header = ["budget s", "solver", "mean gap %", "failures", "median wall s"] + [f"{f} gap %" for f in families]
        rows = []
        for e in solomon["summary"]:
            rows.append(
                [_fmt(e["budget_s"], 0), SOLVER_NAMES.get(e["solver"], e["solver"]), _fmt(e["mean_gap_pct"], 2), str(e["failures"]), _fmt(e["median_wall_s"], 2)]
                + [_fmt(e["by_family"][f]["mean_gap_pct"], 2) + (f" ({e['by_family'][f]['failures']} failed)" if e["by_family"][f]["failures"] else "") for f in families]
            )
        parts += [_markdown_table(header, rows), ""]
        parts += [f"![{f}]({f})" for f in plot_solomon(solomon, folder)] + [""]
        inst_rows = []
        by_key = {(r["instance"], r["budget_s"], r["solver"]): r for r in solomon["runs"]}
        solvers = ["ours"] + solomon["peers"]
        for name in solomon["instances"]:
            for budget in solomon["budgets_s"]:
                cells = []
                for s in solvers:
                    r = by_key.get((name, budget, s))
                    cells.append("–" if r is None else ("FAILED" if r["failed"] else f"{r['gap_pct']:.2f}"))
                inst_rows.append([name, _fmt(budget, 0), *cells])
        parts += ["<details><summary>Gap per instance (%)</summary>", "", _markdown_table(["instance", "budget s"] + [SOLVER_NAMES[s] for s in solvers], inst_rows), "", "</details>", ""]
    live = results.get("live")
    if live:
        rp, q, d = live["replan"], live["quote"], live["day"]
        parts += [
            "## 5. Live dispatch",
            "",
            f"Re-plan latency, {rp['states']} mid-day states of {rp['orders']} open orders and {rp['riders']} riders "
            f"({rp['on_road']} on the road), budget {rp['budget_s']:g} s: p50 {rp['ms_p50']} ms, p95 {rp['ms_p95']} ms, max {rp['ms_max']} ms.",
            "",
            f"Quote latency, {q['quotes']} quotes against {q['open_orders']} open orders and {q['riders']} riders "
            f"({q['feasible']} feasible): p50 {q['ms_p50']} ms, p95 {q['ms_p95']} ms, max {q['ms_max']} ms.",
            "",
            f"A generated day ({d['scenario']['generator']}: {d['scenario']['orders']} orders, {d['scenario']['riders']} riders):",
            "",
        ]
        keys = ["on_time_rate", "delivered", "click_to_door_mean_s", "click_to_door_p90_s", "late_mean_s", "orders_per_rider_hour",
                "rider_travel_km", "reassignments", "replan_ms_p50", "replan_ms_p95"]
        policies = list(d["policies"])
        rows = [[k] + [str(d["policies"][p][k]) for p in policies] for k in keys]
        parts += [_markdown_table(["KPI"] + policies, rows), ""]
        if d.get("fleet_sweep"):
            rows = [[p, str(s["riders"]), ", ".join(f"{n}: {r:.1%}" for n, r in s["tried"].items())] for p, s in d["fleet_sweep"].items()]
            parts += ["Fleet sweep (smallest riders per store keeping 95% on time):", "", _markdown_table(["policy", "riders", "tried (riders: on-time rate)"], rows), ""]
    byo = results.get("byo")
    if byo:
        parts += ["## 4. Bring your own", ""]
        rows = []
        for r in byo["runs"]:
            for s in ["ours"] + byo["peers"]:
                x = r.get(s, {})
                detail = x.get("skipped") or x.get("failed")
                rows.append([Path(r["problem"]).name, _fmt(r["budget_s"], 1), SOLVER_NAMES[s]] + (
                    [detail, "", "", ""] if detail else [f"{x['served']}/{x['orders']}", f"{x['on_time']}", _fmt(x["travel_min"]), "yes" if x["valid"] else "NO"]
                ))
        parts += [_markdown_table(["problem", "budget s", "solver", "served", "on time", "travel min", "valid"], rows), ""]
    spread = results.get("spread")
    if spread:
        parts += ["## Run-to-run spread", ""]
        for one in spread_sizes(spread):
            best = f", best plan known from every run, one more per solver at {one['best_budget_s']:g} s" if one["best_budget_s"] else ""
            parts += [
                f"### {one['size']} at {one['budget_s']:g} s",
                "",
                f"`{spread['command']}`: {one['size']} problems (seeds {', '.join(map(str, one['seeds']))}), "
                f"{one['runs']} runs per solver at {one['budget_s']:g} s with its seeds 0-{one['runs'] - 1}"
                f"{best} and the published records where there are any; rider-minutes.",
                "",
                _markdown_table(*spread_table(one)),
                "",
                spread_summary(one),
                "",
            ]
    realdays = results.get("realdays")
    if realdays:
        from benchmarks.realdays import report_section

        parts += report_section(realdays, folder)
    eta = results.get("eta")
    if eta:
        from benchmarks.eta import report_section as eta_section

        parts += eta_section(eta, folder)
    path = folder / "REPORT.md"
    path.write_text("\n".join(parts))
    return path
