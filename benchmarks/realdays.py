"""Suite "realdays": Grubhub's real meal-delivery days replayed through our live policies,
side by side with published policies scored by the official evaluator (`anchors.csv`).

Each day (an MDRP instance of `../shared/data/mdrp`) is imported as the evaluator times it
(`dispatch.live.mdrp`) and simulated with rolling, greedy and batch; the simulator reports the
evaluator's figures under its names. A full day of a large city is hundreds of re-plans, so days
run in parallel processes and every finished (day, policy) is written to the results file at
once: a run that stops resumes from the days already there (same settings), and the 48 days may
be run in pieces.
"""

from __future__ import annotations

import csv
import fnmatch
import json
import os
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import asdict, replace
from pathlib import Path
from typing import Callable

from dispatch.live.mdrp import mdrp_scenario
from dispatch.live.simulate import POLICIES, SimOptions, live_options, simulate

MDRP_DIR = Path(__file__).resolve().parents[2] / "shared" / "data" / "mdrp"
ANCHORS = ("foodmatch", "reyes2018")
# The figures compared, as anchors.csv names them (the simulator reports the same names).
FIGURES = ("delivered", "ctd_mean_min", "ctd_p90_min", "share_ctd_over_target_of_delivered", "rtp_mean_min",
           "orders_per_courier_hour")
_ANCHOR_COLUMN = {"share_ctd_over_target_of_delivered": "share_ctd_gt40_of_delivered"}
# `make bench`: two half-size days of each city, the rolling policy only (a few minutes).
QUICK_DAYS = ("0o50t100s1p100", "1o50t75s2p100")


def data_dir() -> Path:
    """Where the MDRP days are (DISPATCH_MDRP_DIR, else ../shared/data/mdrp beside the project)."""
    return Path(os.environ.get("DISPATCH_MDRP_DIR", MDRP_DIR))


def available_days() -> list[str]:
    """The development-set days found on this machine (empty when the data is absent)."""
    root = data_dir()
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if (p / "orders.txt").is_file())


def select_days(spec: str) -> list[str]:
    """Days by name or pattern, comma separated (`all`, `quick`, `0o50*`, `1o100t75s2p100`)."""
    days = available_days()
    chosen: list[str] = []
    for part in (p.strip() for p in spec.split(",") if p.strip()):
        if part == "all":
            matched = days
        elif part == "quick":
            matched = [d for d in QUICK_DAYS if d in days]
        else:
            matched = fnmatch.filter(days, part)
            if not matched:
                raise ValueError(f"no development-set day matches {part!r} (days: {', '.join(days[:4])}, ...)")
        chosen.extend(d for d in matched if d not in chosen)
    return chosen


def anchors() -> dict[str, dict[str, dict]]:
    """The published policies' figures per day: {day: {policy: {figure: value}}}."""
    path = data_dir() / "anchors.csv"
    out: dict[str, dict[str, dict]] = {}
    if not path.is_file():
        return out
    with path.open(newline="") as f:
        for row in csv.DictReader(f):
            figures = {name: float(row[_ANCHOR_COLUMN.get(name, name)]) for name in FIGURES}
            figures["delivered"] = int(row["delivered"])
            figures["orders"] = int(row["orders"])
            out.setdefault(row["instance"], {})[row["policy"]] = figures
    return out


def _simulate_day(day: str, policy: str, options: dict, travel: str) -> dict:
    """One (day, policy) in a worker process: the scenario, the simulation, the figures."""
    from dispatch.solver import warm_up

    warm_up()
    scenario = mdrp_scenario(data_dir() / day, travel_minutes=travel)
    sim = replace(live_options(scenario, policy), **options)
    metrics = simulate(scenario, sim).metrics
    return {"day": day, "policy": policy, "travel": travel, "options": _settings(sim), "metrics": metrics}


def _settings(sim: SimOptions) -> dict:
    """The options that make a result comparable with another (what a resume must match)."""
    doc = asdict(sim)
    doc.pop("seed", None)
    return doc


def run_realdays(
    days: list[str],
    policies: list[str],
    options: dict,
    results_path: Path,
    workers: int,
    progress: Callable[[str], None],
    travel: str = "ceil",
) -> dict:
    """Simulate every (day, policy) not already in `results_path` with the same settings, in
    `workers` processes; write each result as it finishes; return the whole results document.

    `travel`: the evaluator's ceil'd travel minutes, or "exact" (see `mdrp_scenario`)."""
    unknown = [p for p in policies if p not in POLICIES]
    if unknown:
        raise ValueError(f"policies: {unknown} unknown; choose among {', '.join(POLICIES)}")
    doc = json.loads(results_path.read_text()) if results_path.is_file() else {}
    rows: list[dict] = doc.get("rows", [])
    todo = []
    for day in days:
        for policy in policies:
            wanted = _settings(replace(live_options(None, policy, shared_fleet=True), **options))
            if any(_same(r, day, policy, travel) and r["options"] == wanted for r in rows):
                progress(f"realdays: {day} {policy} (kept from {results_path.name})")
                continue
            todo.append((day, policy))

    def save() -> None:
        doc["rows"] = sorted(rows, key=lambda r: (r["day"], r["policy"]))
        results_path.parent.mkdir(parents=True, exist_ok=True)
        results_path.write_text(json.dumps(doc, indent=1) + "\n")

    with ProcessPoolExecutor(max(1, workers)) as pool:
        futures = {pool.submit(_simulate_day, day, policy, options, travel): (day, policy) for day, policy in todo}
        for future in as_completed(futures):
            day, policy = futures[future]
            row = future.result()
            rows[:] = [r for r in rows if not _same(r, day, policy, travel)] + [row]
            save()
            m = row["metrics"]
            progress(f"realdays: {day} {policy}: {m['ctd_mean_min']:.1f} min, "
                     f"{m['share_ctd_over_target_of_delivered']:.1%} over 40")
    save()
    return doc


def _same(row: dict, day: str, policy: str, travel: str) -> bool:
    return row["day"] == day and row["policy"] == policy and row.get("travel", "ceil") == travel


def summarise(doc: dict, days: list[str] | None = None, travel: str = "ceil") -> dict:
    """Per day and on average: ours (each policy) against the anchors; the worst day."""
    published = anchors()
    rows = [r for r in doc.get("rows", []) if (days is None or r["day"] in days) and r.get("travel", "ceil") == travel]
    by_day: dict[str, dict] = {}
    for r in rows:
        by_day.setdefault(r["day"], {})[r["policy"]] = {k: r["metrics"][k] for k in FIGURES + ("orders", "replan_ms_p95")}
    for day, entry in by_day.items():
        for name in ANCHORS:
            if name in published.get(day, {}):
                entry[name] = published[day][name]
    policies = sorted({p for entry in by_day.values() for p in entry})
    mean = {
        p: {k: sum(e[p][k] for e in by_day.values() if p in e) / max(1, sum(1 for e in by_day.values() if p in e))
            for k in FIGURES}
        for p in policies
    }
    ahead = {}
    if all("rolling" in e and "foodmatch" in e for e in by_day.values()) and by_day:
        for day, e in by_day.items():
            ours, fm = e["rolling"], e["foodmatch"]
            ahead[day] = {
                "delivered": ours["delivered"] >= fm["delivered"],
                "ctd_mean": ours["ctd_mean_min"] < fm["ctd_mean_min"],
                "share_over_40": ours["share_ctd_over_target_of_delivered"] < fm["share_ctd_over_target_of_delivered"],
            }
    worst = None
    if ahead:
        worst = max(by_day, key=lambda d: by_day[d]["rolling"]["ctd_mean_min"] - by_day[d]["foodmatch"]["ctd_mean_min"])
    return {"days": dict(sorted(by_day.items())), "mean": mean, "ahead_of_foodmatch": ahead, "worst_day": worst}


def plot_against_foodmatch(summary: dict, path: Path) -> Path | None:
    """Ours (rolling) against FoodMatch per day: mean click-to-door and share over 40 minutes."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    days = [d for d, e in summary["days"].items() if "rolling" in e and "foodmatch" in e]
    if not days:
        return None
    fig, axes = plt.subplots(2, 1, figsize=(max(8, 0.28 * len(days) + 3), 7), sharex=True)
    x = range(len(days))
    for ax, key, label, scale in (
        (axes[0], "ctd_mean_min", "mean click-to-door (min)", 1),
        (axes[1], "share_ctd_over_target_of_delivered", "share over 40 min (%)", 100),
    ):
        for who, marker in (("rolling", "o"), ("foodmatch", "s"), ("reyes2018", "^")):
            ys = [summary["days"][d][who][key] * scale if who in summary["days"][d] else None for d in days]
            if any(y is not None for y in ys):
                ax.plot(x, ys, marker=marker, linestyle="none", label="ours (rolling)" if who == "rolling" else who)
        ax.set_ylabel(label)
        ax.grid(True, alpha=0.3)
    axes[0].legend(fontsize=8)
    axes[1].set_xticks(list(x), days, rotation=90, fontsize=7)
    fig.suptitle("Grubhub's real days: ours against FoodMatch and Reyes et al. (official evaluator's figures)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def lower_bound(day: str, travel: str = "ceil") -> dict:
    """What no policy can beat on a day: each order picked up the moment it is ready and ridden
    straight to the door (mean click-to-door and share over the target, minutes)."""
    import math

    from dispatch.live.mdrp import read_mdrp

    d = read_mdrp(data_dir() / day)
    p = d.parameters
    ctd = []
    for o in d.orders:
        ride = math.dist(d.restaurants[o["restaurant"]], (o["x"], o["y"])) / p.metres_per_minute
        ride = math.ceil(ride) if travel == "ceil" else ride
        ctd.append(o["ready"] - o["placement"] + p.pickup_service_min / 2 + ride + p.dropoff_service_min / 2)
    over = sum(1 for c in ctd if c > p.target_click_to_door_min)
    return {"ctd_mean_min": round(sum(ctd) / len(ctd), 2), "share_over_target": round(over / len(ctd), 4)}


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def report_section(doc: dict, folder: Path, title: str = "6. Real days: Grubhub's meal-delivery days") -> list[str]:
    """REPORT.md's section: per day ours against the published policies, the means, the plot."""
    parts = [f"## {title}", ""]
    for travel, label in (("ceil", "the evaluator's rules (travel minutes rounded up)"),
                          ("exact", "fractional travel minutes (the footing FoodMatch's figures imply)")):
        summary = summarise(doc, travel=travel)
        if not summary["days"]:
            continue
        bounds = {d: lower_bound(d, travel) for d in summary["days"]}
        policies = [p for p in POLICIES if any(p in e for e in summary["days"].values())]
        parts += [f"### On {label}", "",
                  "Mean click-to-door (min) / share of delivered orders over 40 min / delivered, per day. "
                  "`bound`: each order picked up when ready and ridden straight to the door.", ""]
        header = ["day", *policies, "FoodMatch", "Reyes et al.", "bound"]
        rows = []
        for day, e in summary["days"].items():
            cells = [f"{e[p]['ctd_mean_min']:.2f} / {_pct(e[p]['share_ctd_over_target_of_delivered'])} / {e[p]['delivered']}"
                     if p in e else "–" for p in [*policies, "foodmatch", "reyes2018"]]
            b = bounds[day]
            rows.append([day, *cells, f"{b['ctd_mean_min']:.2f} / {_pct(b['share_over_target'])}"])
        mean = summary["mean"]
        rows.append(["**mean**", *[f"{mean[p]['ctd_mean_min']:.2f} / {_pct(mean[p]['share_ctd_over_target_of_delivered'])}"
                                   if p in mean else "–" for p in [*policies, "foodmatch", "reyes2018"]], ""])
        parts += ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        parts += ["| " + " | ".join(r) + " |" for r in rows]
        ahead = summary["ahead_of_foodmatch"]
        if ahead:
            both = sum(1 for a in ahead.values() if all(a.values()))
            parts += ["", f"Rolling against FoodMatch over {len(ahead)} days: delivered at least as many on "
                      f"{sum(a['delivered'] for a in ahead.values())}, lower mean click-to-door on "
                      f"{sum(a['ctd_mean'] for a in ahead.values())}, lower share over 40 min on "
                      f"{sum(a['share_over_40'] for a in ahead.values())}, all three on {both}; "
                      f"worst day (mean click-to-door against FoodMatch's): {summary['worst_day']}."]
        png = plot_against_foodmatch(summary, folder / f"realdays_{travel}.png")
        if png is not None:
            parts += ["", f"![ours against FoodMatch per day]({png.name})"]
        parts.append("")
    return parts
