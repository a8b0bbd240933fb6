"""Suite `eta`: are ETA ranges and quotes calibrated on a store day with an evening peak and noise?

A generated store day (`generate_day`) with every promise 60 minutes after the order, slower
traffic in the evening (a speed profile) and noise on (rides and services drawn around the plan,
CVs by hour in `options.travel.uncertainty`). Three rolling-dispatcher runs of the same day and luck:

- **fixed**: 60-minute promises. Measures the plans' ETA ranges against the real drop-offs: the
  ranges of the first plan that gave the order a rider, and of the last before its pickup was
  committed.
- **quoted**: each order's promise is its 0.9 quote as it is placed (a refused quote keeps the
  60 minutes) and the dispatcher plans to the promises: are the quotes kept 90% of the time?
  Quotes are calibrated on the day's own record (`QUOTE_CALIBRATION`, split conformal over the
  quoted orders delivered so far) in both quoted runs.
- **quoted, planned to the median**: the same promises; re-plans aim each order at its quote's
  median and keep p90 - p50 for the luck: the share of promises kept (target >= 95%), against
  the fixed run's.

Reported per hour of the day and per distance band (store to door): the share of drop-offs
between p10 and p90 (target 80% +- 5), before p90 (90% +- 3), of quotes at 0.9 kept (90% +- 3),
and of promises kept.
"""

from __future__ import annotations

import copy
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Callable

import numpy as np

from dispatch.live.quote_calibration import QuoteCalibration
from dispatch.live.scenario import generate_day
from dispatch.live.simulate import live_options, simulate
from dispatch.model import Location
from dispatch.travel import great_circle_m

# Evening traffic: speed factors by hour of the local day (18:00-19:00 at 60%).
PEAK_FACTORS = [1.0] * 17 + [0.75, 0.6, 0.7, 0.9] + [1.0] * 3
# Rides scatter more in the evening traffic; door and store times by a fifth.
RIDE_CV = [0.2] * 17 + [0.3, 0.35, 0.3, 0.25] + [0.2] * 3
SERVICE_CV = 0.2
CONFIDENCE = 0.9
BANDS_KM = ((0.0, 1.0), (1.0, 2.0), (2.0, 3.0))
TARGETS = {"inside_p10_p90": (0.80, 0.05), "before_p90": (0.90, 0.03), "quote_kept": (0.90, 0.03)}
PROMISES_KEPT_TARGET = 0.95
# Quotes calibrated on the last 100 delivered quotes once there are 20 (the module's defaults);
# plain split conformal: the adaptive variant kept quotes as well and promises no better (SOLVER_NOTES).
QUOTE_CALIBRATION = QuoteCalibration()
QUICK = {"seeds": [1, 2, 3], "riders": 12, "hours": (10.0, 22.0)}
FULL = {"seeds": [1, 2, 3, 4, 5, 6], "riders": 12, "hours": (10.0, 22.0)}


def eta_day(seed: int, riders: int, hours: tuple[float, float], base_orders_per_hour: float = 14.0) -> dict:
    """A generated store day with 60-minute promises, the evening speed profile and uncertainty."""
    day = generate_day(riders=riders, seed=seed, base_orders_per_hour=base_orders_per_hour, hours=hours)
    for o in day["orders"]:
        o["promised_at"] = _plus_minutes(o["created_at"], 60)
    day["options"]["travel"].update(
        speed_profile={"period_min": 60, "factors": PEAK_FACTORS},
        uncertainty={"period_min": 60, "ride_cv": RIDE_CV, "service_cv": SERVICE_CV},
    )
    return day


def _plus_minutes(iso: str, minutes: int) -> str:
    """An ISO time `minutes` later, in its own offset."""
    return (datetime.fromisoformat(iso) + timedelta(minutes=minutes)).isoformat()


def _seconds(iso: str | None) -> float | None:
    return None if iso is None else datetime.fromisoformat(iso).timestamp()


def order_rows(scenario: dict, fixed: list[dict], quoted: list[dict], margin: list[dict]) -> list[dict]:
    """One row per order delivered in the fixed run: the hour it was placed, its distance band,
    its drop-off and ETA ranges (fixed run), its quote and drop-off in the quoted runs (seconds
    since 1970; None where there is none)."""
    stores = {s["id"]: s["location"] for s in scenario["stores"]}
    quoted_by_id, margin_by_id = {o["order_id"]: o for o in quoted}, {o["order_id"]: o for o in margin}
    rows = []
    for o in fixed:
        if o["delivered_at"] is None:
            continue
        store, door = stores[o["store_id"]], o["dropoff"]
        km = great_circle_m(Location(store["lat"], store["lon"]), Location(door["lat"], door["lon"])) / 1000
        q, m = quoted_by_id[o["order_id"]], margin_by_id[o["order_id"]]
        row = {"hour": datetime.fromisoformat(o["created_at"]).hour, "km": km, "delivered": _seconds(o["delivered_at"]),
               "quote": _seconds(q.get("quoted_promise_at")), "quote_delivered": _seconds(q["delivered_at"]),
               "promise": _seconds(m["promised_at"]), "promise_delivered": _seconds(m["delivered_at"])}
        for which in ("eta_first", "eta_last"):
            pred = o.get(which)
            row[which] = None if pred is None else tuple(_seconds(pred[k]) for k in ("p10", "p50", "p90"))
        rows.append(row)
    return rows


def _kept(delivered: float | None, by: float) -> bool:
    return delivered is not None and delivered <= by


def _share(flags: list[bool]) -> float | None:
    return round(float(np.mean(flags)), 4) if flags else None


def calibration(rows: list[dict], which: str = "eta_first") -> dict:
    """Shares of drop-offs inside [p10, p90], before p10 / p50 / p90, and quotes kept, with counts."""
    ranged = [r for r in rows if r[which] is not None]
    quoted = [r for r in rows if r["quote"] is not None]
    return {
        "orders": len(rows),
        "ranged": len(ranged),
        "inside_p10_p90": _share([r[which][0] <= r["delivered"] <= r[which][2] for r in ranged]),
        "before_p10": _share([r["delivered"] <= r[which][0] for r in ranged]),
        "before_p50": _share([r["delivered"] <= r[which][1] for r in ranged]),
        "before_p90": _share([r["delivered"] <= r[which][2] for r in ranged]),
        "quoted": len(quoted),
        "quote_kept": _share([_kept(r["quote_delivered"], r["quote"]) for r in quoted]),
        "promise_kept_median_plan": _share([_kept(r["promise_delivered"], r["promise"]) for r in rows]),
        "p10_p90_width_min": round(float(np.median([(r[which][2] - r[which][0]) / 60 for r in ranged])), 1) if ranged else None,
    }


def by_group(rows: list[dict], which: str) -> dict:
    """Calibration per hour placed and per distance band."""
    hours = sorted({r["hour"] for r in rows})
    return {
        "all": calibration(rows, which),
        "by_hour": {f"{h:02d}": calibration([r for r in rows if r["hour"] == h], which) for h in hours},
        "by_distance": {
            f"{lo:g}-{hi:g} km": calibration([r for r in rows if lo <= r["km"] < hi], which) for lo, hi in BANDS_KM
        },
    }


def run_day(seed: int, riders: int, hours: tuple[float, float], max_iterations: int, progress: Callable[[str], None]) -> dict:
    """The fixed and the quoted run of one day; calibration tables and the promises kept."""
    scenario = eta_day(seed, riders, hours)
    base = replace(live_options(scenario, "rolling"), budget_s=5.0, max_iterations=max_iterations, noise=True,
                   noise_seed=seed, quote_confidence=CONFIDENCE)
    progress(f"eta: day {seed}, 60-minute promises")
    fixed = simulate(copy.deepcopy(scenario), base)
    from_quotes = replace(base, promise_from_quote=True, quote_calibration=QUOTE_CALIBRATION)
    progress(f"eta: day {seed}, promises from quotes at {CONFIDENCE}")
    quoted = simulate(copy.deepcopy(scenario), replace(from_quotes, plan_to_quoted_median=False))
    progress(f"eta: day {seed}, promises from quotes, planned to their median")
    margin = simulate(copy.deepcopy(scenario), from_quotes)
    rows = order_rows(scenario, fixed.orders, quoted.orders, margin.orders)
    keys = ("on_time_rate", "delivered", "click_to_door_mean_s", "late_mean_s", "rider_travel_km", "quoted",
            "quote_kept_rate", "quoted_promise_mean_min", "replans")
    return {
        "scenario": {"generator": f"generate_day(riders={riders}, seed={seed}, hours={hours}), 60-minute promises",
                     "orders": len(scenario["orders"]), "riders": riders},
        "first_plan": by_group(rows, "eta_first"),
        "last_plan": by_group(rows, "eta_last"),
        "promises": {"fixed_60_min": {k: fixed.metrics.get(k) for k in keys},
                     "quoted_0.9": {k: quoted.metrics.get(k) for k in keys},
                     "quoted_0.9_planned_to_median": {k: margin.metrics.get(k) for k in keys}},
        "rows": rows,
    }


def pooled(days: list[dict]) -> dict:
    """The calibration over every day's orders together."""
    rows = [r for d in days for r in d["rows"]]
    return {"first_plan": by_group(rows, "eta_first"), "last_plan": by_group(rows, "eta_last")}


def run_eta(full: bool, progress: Callable[[str], None], *, seeds: list[int] | None = None, riders: int | None = None,
            hours: tuple[float, float] | None = None, max_iterations: int = 1000) -> dict:
    """Suite `eta` at the quick or the full size (or the given days); rows stay in the result for re-analysis."""
    plan = FULL if full else QUICK
    days = [run_day(s, riders or plan["riders"], hours or plan["hours"], max_iterations, progress) for s in (seeds or plan["seeds"])]
    tables = pooled(days)
    for d in days:  # the per-order rows made the tables; the result keeps the figures, diffable
        d.pop("rows")
    return {
        "confidence": CONFIDENCE,
        "quote_calibration": {"method": "split conformal" if QUOTE_CALIBRATION.adaptive_step is None else "adaptive conformal",
                              "window": QUOTE_CALIBRATION.window, "min_samples": QUOTE_CALIBRATION.min_samples,
                              "floor_s": QUOTE_CALIBRATION.floor_s, "adaptive_step": QUOTE_CALIBRATION.adaptive_step},
        "speed_factors_by_hour": PEAK_FACTORS,
        "ride_cv_by_hour": RIDE_CV,
        "service_cv": SERVICE_CV,
        "targets": {k: {"target": t, "tolerance": tol} for k, (t, tol) in TARGETS.items()},
        "promises_kept_target": PROMISES_KEPT_TARGET,
        "days": days,
        "pooled": tables,
    }


def _pct(x: float | None) -> str:
    return "–" if x is None else f"{100 * x:.1f}%"


def report_section(doc: dict, folder: Path) -> list[str]:
    """REPORT.md's part for the suite: the calibration tables, the promises kept, the plot."""
    from benchmarks.report import _markdown_table

    parts = ["## ETA ranges and quotes: calibration", "",
             f"Noise on, evening speed profile (factors by hour {doc['speed_factors_by_hour'][17:21]} from 17:00), "
             f"ride CV by hour {doc['ride_cv_by_hour'][17:21]} from 17:00 (else {doc['ride_cv_by_hour'][0]}), "
             f"service CV {doc['service_cv']}. {_calibration_sentence(doc)} Targets: inside p10-p90 80% +- 5, before p90 90% +- 3, quotes at "
             f"{doc['confidence']} kept 90% +- 3, promises kept from quotes >= 95%.", ""]
    header = ["group", "orders", "inside p10-p90", "before p10", "before p50", "before p90", "p10-p90 min",
              "quotes kept", "promises kept (median plan)"]
    for which, title in (("first_plan", "ranges of the first plan that gave the order a rider"),
                         ("last_plan", "ranges of the last plan before the pickup was committed")):
        g = doc["pooled"][which]
        rows = [["all", *_cells(g["all"])]]
        rows += [[f"placed {h}:00", *_cells(c)] for h, c in g["by_hour"].items()]
        rows += [[band, *_cells(c)] for band, c in g["by_distance"].items()]
        parts += [f"**{title.capitalize()}** (all days pooled):", "", _markdown_table(header, rows), ""]
    rows = []
    for d in doc["days"]:
        for name, m in d["promises"].items():
            rows.append([d["scenario"]["generator"].split(",")[1].strip(), name, _pct(m["on_time_rate"]), str(m["delivered"]),
                         f"{m['click_to_door_mean_s'] / 60:.1f}", str(m.get("quoted_promise_mean_min") or "–"), str(m["rider_travel_km"])])
    parts += ["**Promises kept by the rolling dispatcher** (noise and peak on):", "",
              _markdown_table(["day", "promises", "kept", "delivered", "click-to-door min", "quoted promise mean min", "rider km"], rows), ""]
    png = plot_calibration(doc, folder)
    parts += [f"![calibration]({png})", ""]
    return parts


def _calibration_sentence(doc: dict) -> str:
    """How the quoted runs' quotes were calibrated (results from before the calibration say none)."""
    c = doc.get("quote_calibration")
    if c is None:
        return "Quotes uncalibrated."
    return (f"Quotes in the quoted runs calibrated on the day's record ({c['method']}, last {c['window']} delivered "
            f"quotes, from {c['min_samples']}).")


def _cells(c: dict) -> list[str]:
    return [str(c["ranged"]), _pct(c["inside_p10_p90"]), _pct(c["before_p10"]), _pct(c["before_p50"]), _pct(c["before_p90"]),
            "–" if c["p10_p90_width_min"] is None else f"{c['p10_p90_width_min']:.1f}", _pct(c["quote_kept"]),
            _pct(c["promise_kept_median_plan"])]


def plot_calibration(doc: dict, folder: Path) -> str:
    """Predicted quantile against the observed share of drop-offs before it (a calibrated
    prediction lies on the diagonal); writes eta_calibration.png and returns its name."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(5, 5))
    ax.plot([0, 1], [0, 1], color="grey", lw=1, ls="--", label="calibrated")
    for which, colour in (("first_plan", "tab:blue"), ("last_plan", "tab:green")):
        c = doc["pooled"][which]["all"]
        ax.plot([0.1, 0.5, 0.9], [c["before_p10"], c["before_p50"], c["before_p90"]], "o-", color=colour,
                label=f"plan ETA range, {which.replace('_', ' ')}")
        for band, b in doc["pooled"][which]["by_distance"].items():
            if b["ranged"]:
                ax.plot([0.1, 0.5, 0.9], [b["before_p10"], b["before_p50"], b["before_p90"]], ".", color=colour, alpha=0.4)
    quote = doc["pooled"]["first_plan"]["all"]["quote_kept"]
    if quote is not None:
        ax.plot([doc["confidence"]], [quote], "s", color="tab:red", label=f"quotes at {doc['confidence']}")
    ax.set_xlabel("predicted quantile")
    ax.set_ylabel("observed share of drop-offs before it")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.legend(loc="upper left", fontsize=8)
    ax.set_title("ETA calibration (dots: distance bands)")
    fig.tight_layout()
    name = "eta_calibration.png"
    folder.mkdir(parents=True, exist_ok=True)
    fig.savefig(folder / name, dpi=110)
    plt.close(fig)
    return name
