"""The real-days suite on a tiny Grubhub-format day: day selection, resume, the summary against
the anchors, the report section, and the skip when the data is absent."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from benchmarks import realdays
from benchmarks.__main__ import app
from tests.dispatch.test_mdrp import write_day

ANCHORS = (
    "instance,policy,orders,delivered,ctd_mean_min,ctd_p90_min,share_ctd_gt40_of_delivered,rtp_mean_min,"
    "orders_per_courier_hour,courier_hours\n"
    "0o1t100s1p100,foodmatch,2,2,27.0,30.0,0.0,9.0,2.0,1.0\n"
    "0o1t100s1p100,reyes2018,2,2,28.0,31.0,0.0,10.0,2.0,1.0\n"
)


@pytest.fixture
def mdrp_dir(tmp_path, monkeypatch):
    """A development set of one tiny day (two orders, one courier) with its anchors."""
    root = tmp_path / "mdrp"
    write_day(root / "0o1t100s1p100")
    (root / "anchors.csv").write_text(ANCHORS)
    monkeypatch.setenv("DISPATCH_MDRP_DIR", str(root))
    return root


def test_days_are_chosen_by_name_or_pattern(mdrp_dir):
    """Names, patterns and `all` select days; a pattern that matches nothing is refused by name."""
    assert realdays.select_days("all") == realdays.select_days("0o*") == ["0o1t100s1p100"]
    with pytest.raises(ValueError, match="9x"):
        realdays.select_days("9x*")


def test_a_run_resumes_from_the_days_already_done(mdrp_dir, tmp_path):
    """Every (day, policy) is written as it finishes; a second run with the same settings keeps it."""
    out = tmp_path / "realdays.json"
    messages: list[str] = []
    doc = realdays.run_realdays(["0o1t100s1p100"], ["greedy", "rolling"], {}, out, 1, messages.append)
    assert {r["policy"] for r in doc["rows"]} == {"greedy", "rolling"}
    assert json.loads(out.read_text())["rows"] == doc["rows"]
    messages.clear()
    realdays.run_realdays(["0o1t100s1p100"], ["greedy", "rolling"], {}, out, 1, messages.append)
    assert all("kept" in m for m in messages) and len(messages) == 2
    # Other settings are another run: it is done again.
    messages.clear()
    realdays.run_realdays(["0o1t100s1p100"], ["greedy"], {"budget_s": 0.1}, out, 1, messages.append)
    assert not any("kept" in m for m in messages)


def test_the_summary_compares_with_the_anchors_and_the_report_shows_it(mdrp_dir, tmp_path):
    """Greedy's hand-computed 26 minutes against FoodMatch's 27: ahead on every figure; the
    report section has the day, the means, the bound and the plot."""
    out = tmp_path / "realdays.json"
    doc = realdays.run_realdays(["0o1t100s1p100"], ["greedy"], {}, out, 1, lambda m: None)
    doc["rows"] = [dict(r, policy="rolling") for r in doc["rows"]]  # greedy's figures, read as ours
    summary = realdays.summarise(doc)
    assert summary["days"]["0o1t100s1p100"]["rolling"]["ctd_mean_min"] == 26.0
    assert summary["ahead_of_foodmatch"]["0o1t100s1p100"] == {"delivered": True, "ctd_mean": True, "share_over_40": False}
    assert realdays.lower_bound("0o1t100s1p100")["ctd_mean_min"] == pytest.approx((10 + 2 + 3 + 2 + 7 + 2 + 4 + 2) / 2)
    section = "\n".join(realdays.report_section(doc, tmp_path))
    assert "0o1t100s1p100" in section and "**mean**" in section and (tmp_path / "realdays_ceil.png").exists()


def test_the_suite_is_skipped_with_a_message_without_the_data(tmp_path, monkeypatch):
    """No MDRP folder: the suite says so and writes nothing."""
    monkeypatch.setenv("DISPATCH_MDRP_DIR", str(tmp_path / "absent"))
    result = CliRunner().invoke(app, ["run", "--suites", "realdays", "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    assert "realdays skipped" in result.output
    assert not (tmp_path / "out" / "realdays.json").exists()
