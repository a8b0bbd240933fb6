"""The trade-off a manager weighs: fewer own riders and more third-party fees, as a curve.

For each number of own riders per store, the day is simulated with the store's third party and
without it; each run gives its cost per order (riders' shift hours at the scenario's
`rider_cost_per_hour`, plus fees, over the day's orders), its on-time rate and the share sent
out. Without the third party a short fleet is cheap and late; the curve shows both.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from dispatch.live.simulate import SimOptions, simulate

FIGURES = ("cost_per_order", "on_time_rate", "third_party_share", "third_party_fees", "courier_hours", "click_to_door_mean_s")


def cost_curve(scenario: dict, options: SimOptions, riders: list[int]) -> list[dict]:
    """One row per fleet size: the figures with the third party and without it."""
    if not (scenario.get("options") or {}).get("rider_cost_per_hour"):
        raise ValueError("the scenario needs options.rider_cost_per_hour to put riders and fees in one currency")
    if not any(s.get("third_party") for s in scenario.get("stores") or []):
        raise ValueError("no store of the scenario declares a third_party")
    rows = []
    for n in riders:
        row: dict = {"riders": n}
        for label, on in (("with_third_party", True), ("without", False)):
            m = simulate(scenario, replace(options, riders=n, third_party=on)).metrics
            row[label] = {k: m[k] for k in FIGURES}
        rows.append(row)
    return rows


def plot_cost_curve(rows: list[dict], path: str | Path, title: str = "") -> Path:
    """Cost per order and on-time rate against own riders, with and without the third party."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    path = Path(path)
    n = [r["riders"] for r in rows]
    fig, (cost_ax, rate_ax) = plt.subplots(1, 2, figsize=(11, 4.2))
    for label, style, name in (("with_third_party", "o-", "with third party"), ("without", "s--", "own riders only")):
        cost_ax.plot(n, [r[label]["cost_per_order"] for r in rows], style, label=name)
        rate_ax.plot(n, [r[label]["on_time_rate"] for r in rows], style, label=name)
    for r in rows:
        share = r["with_third_party"]["third_party_share"]
        if share:
            cost_ax.annotate(f"{share:.0%} out", (r["riders"], r["with_third_party"]["cost_per_order"]),
                             textcoords="offset points", xytext=(0, 7), ha="center", fontsize=7)
    cost_ax.set_xlabel("own riders per store")
    cost_ax.set_ylabel("cost per order (riders' hours + fees)")
    rate_ax.set_xlabel("own riders per store")
    rate_ax.set_ylabel("on-time rate")
    rate_ax.set_ylim(0, 1.02)
    for ax in (cost_ax, rate_ax):
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle(title or "Own riders against a third party for the overflow", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
