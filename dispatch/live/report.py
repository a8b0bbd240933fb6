"""What a store manager reads after a simulated day: a Markdown summary and a PNG timeline."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.dates as mdates  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402

from dispatch.live.simulate import SimResult  # noqa: E402

ROWS = (
    ("orders", "orders", "{:.0f}"),
    ("delivered", "delivered", "{:.0f}"),
    ("on_time_rate", "on time", "{:.1%}"),
    ("click_to_door_mean_s", "click to door, mean (min)", "min"),
    ("click_to_door_p90_s", "click to door, p90 (min)", "min"),
    ("late_mean_s", "lateness, mean (min)", "min"),
    ("orders_per_rider_hour", "orders per rider-hour", "{:.2f}"),
    ("rider_travel_km", "rider travel (km)", "{:.1f}"),
    ("reassignments", "reassignments", "{:.0f}"),
    ("replan_ms_p50", "re-plan p50 (ms)", "{:.0f}"),
    ("replan_ms_p95", "re-plan p95 (ms)", "{:.0f}"),
    ("riders", "riders", "{:.0f}"),
)


def _cell(value, fmt: str) -> str:
    if fmt == "min":
        return f"{value / 60:.1f}"
    return fmt.format(value)


def summary_markdown(results: list[SimResult], title: str = "Simulated day", sweep: list[dict] | None = None) -> str:
    """One column per policy, one row per KPI; the fleet sweep below when there is one."""
    lines = [f"# {title}", "", "| KPI | " + " | ".join(r.policy for r in results) + " |", "|---|" + "---|" * len(results)]
    for key, label, fmt in ROWS:
        lines.append(f"| {label} | " + " | ".join(_cell(r.metrics[key], fmt) for r in results) + " |")
    if sweep:
        lines += ["", "## Fleet sweep", "", "| policy | smallest fleet per store with on-time rate >= target | target | tried (riders: on-time rate) |", "|---|---|---|---|"]
        for s in sweep:
            spend = s.get("third_party") or {}
            tried = ", ".join(
                f"{n}: {rate:.1%}" + (f" ({spend[n]['third_party_share']:.0%} sent out, fees {spend[n]['third_party_fees']:.0f})"
                                      if spend.get(n, {}).get("third_party_fees") else "")
                for n, rate in s["tried"].items()
            )
            lines.append(f"| {s['policy']} | {s['riders'] if s['riders'] is not None else 'more than all'} | {s['target']:.0%} | {tried} |")
    return "\n".join(lines) + "\n"


def plot_timeline(results: list[SimResult], path: str | Path, start: datetime | None = None) -> Path:
    """Open orders, riders busy and late deliveries over the day, one line per policy; with
    `start` (the scenario's plan_time) the axis reads clock time in its offset."""
    path = Path(path)
    fig, axes = plt.subplots(3, 1, figsize=(9, 7), sharex=True)
    for r in results:
        if start is not None:
            xs = [start + timedelta(seconds=p["t_s"]) for p in r.timeline]
        else:
            xs = [p["t_s"] / 3600 for p in r.timeline]
        axes[0].plot(xs, [p["open_orders"] for p in r.timeline], label=r.policy)
        axes[1].plot(xs, [p["riders_busy"] for p in r.timeline], label=r.policy)
        axes[2].plot(xs, [p["late"] for p in r.timeline], label=r.policy)
    axes[0].set_ylabel("open orders")
    axes[1].set_ylabel("riders busy")
    axes[2].set_ylabel("late deliveries\n(cumulative)")
    if start is not None:
        axes[2].xaxis.set_major_formatter(mdates.DateFormatter("%H:%M", tz=start.tzinfo))
        axes[2].set_xlabel(f"clock time (UTC{start.strftime('%z')[:3]}:{start.strftime('%z')[3:]})")
    else:
        axes[2].set_xlabel("hours since the scenario's plan_time")
    for ax in axes:
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8, loc="upper left")
    fig.suptitle("The day, policy by policy")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
