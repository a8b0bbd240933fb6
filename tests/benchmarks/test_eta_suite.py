"""Suite eta on a tiny day: three runs, calibration tables per hour and distance band, the report and its plot."""

from __future__ import annotations

import json

from benchmarks.common import write_result
from benchmarks.eta import calibration, run_eta
from benchmarks.report import load_results, write_report


def test_eta_suite_on_a_tiny_day(tmp_path):
    """Half an hour of the evening peak with three riders: every table has its shares in [0, 1],
    the promises of the three runs are reported, and REPORT.md shows the section, how the quotes
    were calibrated and its plot."""
    doc = run_eta(False, lambda _: None, seeds=[1], riders=3, hours=(18.0, 18.5), max_iterations=30)
    day = doc["days"][0]
    assert set(day["promises"]) == {"fixed_60_min", "quoted_0.9", "quoted_0.9_planned_to_median"}
    assert day["promises"]["quoted_0.9"]["quoted"] > 0
    tables = doc["pooled"]["last_plan"]
    assert tables["all"]["ranged"] > 0 and "18" in tables["by_hour"] and len(tables["by_distance"]) == 3
    for key in ("inside_p10_p90", "before_p10", "before_p50", "before_p90", "quote_kept", "promise_kept_median_plan"):
        assert 0 <= tables["all"][key] <= 1, key
    assert tables["all"]["before_p10"] <= tables["all"]["before_p50"] <= tables["all"]["before_p90"]
    write_result("eta", doc, tmp_path)
    assert "rows" not in json.loads((tmp_path / "eta.json").read_text())["days"][0]
    report = write_report(load_results(tmp_path), tmp_path).read_text()
    assert "## ETA ranges and quotes: calibration" in report and "placed 18:00" in report
    assert doc["quote_calibration"]["method"] == "split conformal" and "calibrated on the day's record" in report
    assert (tmp_path / "eta_calibration.png").stat().st_size > 0


def test_calibration_counts_shares_by_hand():
    """Two drop-offs, one inside its range and one after its p90: 50% inside, 50% before p90."""
    rows = [
        {"hour": 18, "km": 1.0, "delivered": 100.0, "eta_first": (90.0, 100.0, 110.0), "eta_last": None,
         "quote": 120.0, "quote_delivered": 130.0, "promise": 120.0, "promise_delivered": 110.0},
        {"hour": 18, "km": 2.5, "delivered": 200.0, "eta_first": (90.0, 100.0, 110.0), "eta_last": None,
         "quote": 220.0, "quote_delivered": 210.0, "promise": 220.0, "promise_delivered": None},
    ]
    c = calibration(rows, "eta_first")
    assert (c["inside_p10_p90"], c["before_p90"], c["before_p50"], c["quote_kept"], c["promise_kept_median_plan"]) == (0.5, 0.5, 0.5, 0.5, 0.5)
    assert calibration(rows, "eta_last")["ranged"] == 0
