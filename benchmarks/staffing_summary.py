"""The staffing table's summary: per kind of schedule, the mean change in courier-hours and the
days that reach FoodMatch's service with 15% fewer courier-hours (the issue's target).

    python -m benchmarks.staffing_summary benchmarks/results/staffing_days.json
"""

from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path

from benchmarks.staffing_days import table_markdown

HOURS_CUT = 0.15  # the target: at least 15% fewer courier-hours than the historical schedule
CTD_ROUNDING_MIN = 0.005  # half the unit FoodMatch's mean click-to-door is published in


def at_share(row: dict) -> bool:
    """Our schedule's share over 40 minutes is at most FoodMatch's on that day."""
    return row["ours"]["share_ctd_over_target_of_delivered"] <= row["foodmatch"]["share_ctd_over_target_of_delivered"] + 1e-9


def at_service(row: dict) -> bool:
    """FoodMatch's service on that day: its share over 40 minutes and its mean click-to-door."""
    return at_share(row) and row["ours"]["ctd_mean_min"] <= row["foodmatch"]["ctd_mean_min"] + CTD_ROUNDING_MIN


def summary_markdown(rows: list[dict]) -> str:
    """Means per schedule kind and how many days reach the target, as Markdown."""
    lines = ["| schedule | days | courier-h theirs | ours | change (mean of days) | over 40 min theirs | ours "
             "| FoodMatch | mean click-to-door theirs | ours | FoodMatch | days at FoodMatch's share "
             "| at its service (share and click-to-door) | ... and 15% fewer hours |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for kind in ("historical", "optimised"):
        rs = [r for r in rows if r["schedule"] == kind]
        if not rs:
            continue
        mean = lambda f: statistics.fmean(f(r) for r in rs)  # noqa: E731
        shares, services = [r for r in rs if at_share(r)], [r for r in rs if at_service(r)]
        cut = [r for r in services if r["ours"]["courier_hours"] <= (1 - HOURS_CUT) * r["theirs"]["courier_hours"]]
        lines.append(
            f"| {kind} | {len(rs)} | {mean(lambda r: r['theirs']['courier_hours']):.1f} | {mean(lambda r: r['ours']['courier_hours']):.1f} "
            f"| {mean(lambda r: r['ours']['courier_hours'] / r['theirs']['courier_hours'] - 1):+.1%} "
            f"| {mean(lambda r: r['theirs']['share_ctd_over_target_of_delivered']):.1%} | {mean(lambda r: r['ours']['share_ctd_over_target_of_delivered']):.1%} "
            f"| {mean(lambda r: r['foodmatch']['share_ctd_over_target_of_delivered']):.1%} "
            f"| {mean(lambda r: r['theirs']['ctd_mean_min']):.2f} | {mean(lambda r: r['ours']['ctd_mean_min']):.2f} "
            f"| {mean(lambda r: r['foodmatch']['ctd_mean_min']):.2f} | {len(shares)} of {len(rs)} | {len(services)} of {len(rs)} "
            f"| {len(cut)} of {len(rs)} |"
        )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    """Print the summary and the per-day table of a staffing_days results file."""
    path = Path((argv or sys.argv[1:])[0])
    rows = json.loads(path.read_text())["rows"]
    print(summary_markdown(rows))
    print(table_markdown(rows))


if __name__ == "__main__":
    main()
