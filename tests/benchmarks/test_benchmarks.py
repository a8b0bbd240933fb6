"""The benchmark runner: the Solomon checker, each suite on a tiny plan, the report and its plots."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchmarks import peers as peers_module
from benchmarks.byo import run_byo
from benchmarks.common import write_result
from benchmarks.report import headline, load_results, write_report
from benchmarks.solomon import run_solomon
from benchmarks.solomon_data import DATA, best_known, check_tours, instance_names, load, solution_distance
from benchmarks.store_suites import run_peers, run_scaling, summarise_peers
import dispatch

SAMPLE = Path(dispatch.__file__).parent / "data" / "sample_problem.json"


def _quiet(_message: str) -> None:
    pass


def test_solomon_checker_reproduces_every_best_known_solution():
    """Reading the 56 BKS route files, the checker finds each feasible at exactly its listed distance."""
    bks = best_known()
    assert len(instance_names()) == 56 and set(bks) == set(instance_names())
    for name in instance_names():
        inst = load(name)
        text = (DATA / "sol" / f"{name}.sol").read_text()
        tours = [[int(v) for v in line.split(":")[1].split()] for line in text.splitlines() if line.startswith("Route")]
        assert check_tours(inst, tours) == [], name
        assert solution_distance(inst, tours) == pytest.approx(bks[name][1], abs=0.05), name


def test_solomon_checker_catches_a_broken_window():
    """Swapping two customers of a tight-window tour is reported, not scored."""
    inst = load("R101")
    tours = [[int(v) for v in line.split(":")[1].split()] for line in (DATA / "sol" / "R101.sol").read_text().splitlines() if line.startswith("Route")]
    tours[0][0], tours[0][-1] = tours[0][-1], tours[0][0]
    assert any("due time" in p for p in check_tours(inst, tours))


def test_solomon_suite_scores_our_plan_against_best_known():
    """Our core on C101 (a short budget) gives a feasible plan, checked twice, with a gap near zero."""
    result = run_solomon(["C101"], [0.5], [], _quiet)
    row = result["runs"][0]
    assert row["solver"] == "ours" and row["failed"] is False, row
    assert 0 <= row["gap_pct"] < 5 and row["vehicles"] <= 25
    assert result["summary"][0]["failures"] == 0


def test_store_suites_and_report(tmp_path, monkeypatch):
    """Scaling and peers on a tiny plan write their results, and the report has its tables and plots."""
    monkeypatch.setattr(peers_module, "peer_available", lambda name: f"{name} not installed (test)")
    monkeypatch.setattr("benchmarks.store_suites.peer_available", peers_module.peer_available)
    scaling = run_scaling([(10, 2), (30, 5)], [1], [0.1, 0.3], _quiet)
    assert all(r["valid"] for r in scaling["runs"]) and len(scaling["summary"]) == 4
    assert scaling["summary"][0]["peak_memory_mib"] > 0
    peers = run_peers([(10, 2)], [1], [0.2], ["pyvrp"], _quiet)
    assert peers["peers"] == [] and "pyvrp" in peers["peers_missing"]
    assert peers["runs"][0]["ours"]["valid"]
    write_result("scaling", scaling, tmp_path)
    write_result("peers", peers, tmp_path)
    saved = json.loads((tmp_path / "scaling.json").read_text())
    assert saved["machine"]["cpus"] >= 1 and saved["budgets_s"] == [0.1, 0.3]
    results = load_results(tmp_path)
    header, rows = headline(results)
    assert header[0] == "measure" and any("store 10x2" in row[0] for row in rows)
    report = write_report(results, tmp_path).read_text()
    assert "## 1. Latency and scaling" in report and "## 2. Peers" in report
    assert "by seed" in report
    assert f"- peers: measured {results['peers']['measured_at']}" in report
    assert (tmp_path / "scaling_time.png").stat().st_size > 0 and (tmp_path / "scaling_quality.png").exists()


def test_bring_your_own_document():
    """Any contract document runs through the same runner: the bundled sample at a small budget."""
    result = run_byo([SAMPLE], [0.3], [], _quiet)
    row = result["runs"][0]
    assert row["ours"]["valid"] and row["ours"]["served"] >= 50


def test_peers_summary_keeps_each_seeds_ratio_and_their_median():
    """The ratio is taken per seed against the best valid peer serving as many orders; invalid peers do not count."""

    def row(seed, ours, pyvrp, vroom, vroom_valid=True):
        plan = {"served": 30, "on_time": 30, "orders": 30, "riders_used": 5, "wall_s": 0.1, "valid": True}
        return {
            "size": "30x5", "seed": seed, "budget_s": 0.1,
            "ours": {**plan, "travel_min": ours},
            "pyvrp": {**plan, "travel_min": pyvrp},
            "vroom": {**plan, "travel_min": vroom, "valid": vroom_valid},
        }

    runs = [row(1, 102.9, 102.68, 90.0, vroom_valid=False), row(2, 128.62, 129.92, 131.0), row(3, 108.78, 108.78, 108.78)]
    (entry,) = summarise_peers(runs, ["30x5"], [0.1], ["pyvrp", "vroom"])
    assert entry["ratio_by_seed"] == {"1": round(102.9 / 102.68, 4), "2": round(128.62 / 129.92, 4), "3": 1.0}
    assert entry["ratio_to_best_peer"] == 1.0
    assert entry["ours"]["travel_min"] == 108.78 and entry["vroom"]["all_valid"] is False
    assert "gap_pct" in entry["ours"] and entry["ours"]["gap_pct"] != entry["ours"]["gap_pct"]  # nan: no best-known


def test_peers_summary_gives_each_solvers_gap_to_the_best_known_plan():
    """The gap is taken per seed against that instance's best-known travel; invalid or partial plans have none."""
    plan = {"served": 30, "on_time": 30, "orders": 30, "riders_used": 5, "wall_s": 0.1, "valid": True}
    runs = [
        {"size": "30x5", "seed": 1, "budget_s": 0.1, "best_known_min": 100.0,
         "ours": {**plan, "travel_min": 102.0}, "pyvrp": {**plan, "travel_min": 101.0, "valid": False}},
        {"size": "30x5", "seed": 2, "budget_s": 0.1, "best_known_min": 120.0,
         "ours": {**plan, "travel_min": 120.0}, "pyvrp": {**plan, "travel_min": 126.0}},
        {"size": "30x5", "seed": 3, "budget_s": 0.1, "best_known_min": 50.0,
         "ours": {**plan, "travel_min": 51.0}, "pyvrp": {**plan, "travel_min": 40.0, "served": 29}},
    ]
    (entry,) = summarise_peers(runs, ["30x5"], [0.1], ["pyvrp"])
    assert entry["ours"]["gap_pct"] == 2.0  # median of 2.0, 0.0, 2.0
    assert entry["pyvrp"]["gap_pct"] == 5.0  # only seed 2 counts
    _, rows = headline({"peers": {"summary": [entry]}})
    assert rows[0][1].startswith("102.0 min (+2.0% vs best-known), 30/30 on time")


def test_a_local_run_writes_to_an_ignored_folder_unless_published():
    """`make bench` (no --out) writes benchmarks/results/local, which git ignores; --publish the
    tracked folder; the closing line names the files written (no `<suite>` placeholder)."""
    import subprocess

    from benchmarks.__main__ import written_message
    from benchmarks.common import LOCAL_RESULTS, RESULTS, results_folder

    assert results_folder(None, False) == LOCAL_RESULTS and results_folder(None, True) == RESULTS
    assert results_folder(RESULTS / "full", False) == RESULTS / "full"
    ignored = subprocess.run(["git", "check-ignore", "-q", str(LOCAL_RESULTS / "scaling.json")], cwd=RESULTS.parent.parent)
    assert ignored.returncode == 0, "benchmarks/results/local is not ignored by git"
    line = written_message(LOCAL_RESULTS, ["scaling", "peers"], LOCAL_RESULTS / "REPORT.md")
    assert "scaling.json, peers.json and REPORT.md" in line and "<suite>" not in line and "PUBLISH=1" in line
