"""The run-to-run spread suite: its tally, which runs count, a small real run, and its CLI seeds."""

from __future__ import annotations

import json

import pytest
import typer
from typer.testing import CliRunner

from benchmarks.__main__ import _seed_list, app
from benchmarks.common import write_result
from benchmarks.report import load_results, spread_sizes, spread_table, write_report
from benchmarks.research.spread import run_spread, summarise_spread


def _row(travel: float, valid: bool = True, on_time: int = 30) -> dict:
    return {"travel_min": travel, "valid": valid, "served": 30, "on_time": on_time, "orders": 30}


def _problem(seed: int, ours: list[dict], pyvrp: list[dict], record: float | None = None) -> dict:
    entry = {"seed": seed, "instance": f"p{seed}", "runs": {"ours": ours, "pyvrp": pyvrp}, "long": {}}
    if record is not None:
        entry["record_min"] = record
    return entry


def test_the_tally_compares_medians_and_counts_runs_at_the_best_plan():
    """Ahead, the same and behind are judged on the medians; a run at the best plan known counts."""
    problems = [
        _problem(1, [_row(100.0), _row(100.0), _row(103.0)], [_row(100.0), _row(101.0), _row(102.0)], record=99.0),
        _problem(2, [_row(50.0), _row(50.0), _row(51.0)], [_row(50.0), _row(50.0), _row(50.0)]),
        _problem(3, [_row(80.0), _row(80.5), _row(81.0)], [_row(79.0), _row(79.0), _row(90.0)]),
    ]
    out = summarise_spread(problems, ["ours", "pyvrp"])
    assert out["tally"] == {"ahead": 1, "same": 1, "behind": 1, "not_compared": 0}
    first, second, third = out["problems"]
    assert first["best_min"] == 99.0 and first["stats"]["ours"]["runs_at_best"] == 0  # the record is better
    assert first["ratio_to_best_peer"] == round(100.0 / 101.0, 4)
    assert second["stats"]["ours"]["runs_at_best"] == 2 and second["stats"]["pyvrp"]["runs_at_best"] == 3
    assert third["stats"]["pyvrp"] == {"median_min": 79.0, "min_min": 79.0, "max_min": 90.0, "failed_runs": 0,
                                       "runs_at_best": 2}
    assert out["runs_at_best"] == {"ours": {"runs": 2, "of": 9}, "pyvrp": {"runs": 5, "of": 9}}
    assert out["ratio_median"] == 1.0  # 0.9901, 1.0, 1.0190
    assert out["ratio_mean"] == round((100.0 / 101.0 + 1.0 + 80.5 / 79.0) / 3, 4)


def test_invalid_or_late_plans_do_not_count_and_a_failed_run_of_ours_is_not_compared():
    """A plan that breaks a rule or is late is a failed run: it neither sets the best nor the median."""
    problems = [
        _problem(1, [_row(90.0, valid=False), _row(100.0), _row(100.0)], [_row(95.0, on_time=29), _row(101.0), _row(101.0)]),
    ]
    out = summarise_spread(problems, ["ours", "pyvrp"])
    entry = out["problems"][0]
    assert entry["best_min"] == 100.0
    assert entry["stats"]["ours"]["failed_runs"] == 1 and entry["stats"]["pyvrp"]["failed_runs"] == 1
    assert entry["stats"]["pyvrp"]["median_min"] == 101.0
    # ours failed a run: the problem is left out of the tally rather than judged on the good runs
    assert entry["ratio_to_best_peer"] is None and out["tally"]["not_compared"] == 1 and out["ratio_median"] is None


def test_a_small_spread_run_checks_every_plan_and_reaches_the_report(tmp_path, monkeypatch):
    """Ours on 10x2 (two seeds of the problem, two runs each, one longer solve): every run counts,
    the best plan known is no worse than any median, and the report gets the table."""
    monkeypatch.setattr("benchmarks.research.spread.peer_available", lambda name: f"{name} not installed (test)")
    result = run_spread(10, 2, [1, 2], 2, 0.05, 0.2, ["pyvrp"], lambda _m: None)
    assert result["peers"] == [] and "pyvrp" in result["peers_missing"]
    for entry in result["problems"]:
        stats = entry["stats"]["ours"]
        assert stats["failed_runs"] == 0 and len(entry["runs"]["ours"]) == 2
        assert all(row["valid"] for row in entry["runs"]["ours"]) and entry["long"]["ours"]["valid"]
        assert entry["best_min"] <= stats["min_min"] <= stats["median_min"] <= stats["max_min"]
    assert result["tally"]["not_compared"] == 2  # no peer to compare with
    write_result("spread", {"command": "test", **result}, tmp_path)
    report = write_report(load_results(tmp_path), tmp_path).read_text()
    header, rows = spread_table(result)
    assert "## Run-to-run spread" in report and len(rows) == 2 and rows[0][0] in report


def test_bad_spread_arguments_are_refused_by_name():
    """Seeds are lists or ranges; zero runs or a zero budget are refused before any solve."""
    assert _seed_list("1-3,7") == [1, 2, 3, 7]
    for bad in ("3-1", "a", "", "1-x"):
        with pytest.raises(typer.BadParameter, match="seed"):
            _seed_list(bad)
    with pytest.raises(ValueError, match="runs"):
        run_spread(10, 2, [1], 0, 0.1, None, [], lambda _m: None)
    with pytest.raises(ValueError, match="budget"):
        run_spread(10, 2, [1], 1, 0.0, None, [], lambda _m: None)


def test_the_command_runs_several_sizes_into_one_file_and_one_report(tmp_path):
    """`--size 10x2,12x3`: one result per size in spread.json, a section per size in REPORT.md;
    a file of one size (as written before sizes were lists) still reads."""
    result = CliRunner().invoke(app, ["spread", "--size", "10x2,12x3", "--seeds", "1", "--runs", "1",
                                      "--budget", "0.05", "--peers", "", "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    written = json.loads((tmp_path / "spread.json").read_text())
    assert [one["size"] for one in spread_sizes(written)] == ["10x2", "12x3"]
    for one in written["sizes"]:
        assert one["problems"][0]["stats"]["ours"]["failed_runs"] == 0
    report = (tmp_path / "REPORT.md").read_text()
    assert "### 10x2 at 0.05 s" in report and "### 12x3 at 0.05 s" in report
    legacy = {"command": "old", **written["sizes"][0]}
    assert spread_sizes(legacy) == [written["sizes"][0] | {"command": "old"}]


@pytest.mark.parametrize("size", ["30", "30x", "30x5x2", "0x5", "30x5,abc"])
def test_a_bad_size_is_refused_by_name_before_any_solve(tmp_path, size):
    """Sizes are orders x riders, both at least one."""
    result = CliRunner().invoke(app, ["spread", "--size", size, "--out", str(tmp_path)])
    assert result.exit_code == 2 and "--size" in result.output and not (tmp_path / "spread.json").exists()
