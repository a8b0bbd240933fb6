"""The published store instances and their best-known plans: every record checks, and only better valid plans replace one."""

from __future__ import annotations

import copy

import pytest

from benchmarks import store_data
from benchmarks.research.best_known import search_best_known
from benchmarks.peers import peer_supported
from benchmarks.store_data import (
    SEEDS,
    SIZES,
    best_known,
    check_record,
    instance_names,
    load,
    offer,
    plan_from_waves,
)
from dispatch import problem_from_document, solve
from dispatch.instance import build_instance
from dispatch.solver import split_by_area


def _quiet(_message: str) -> None:
    pass


def test_every_published_instance_is_a_peer_expressible_problem_of_its_size():
    """Each file is a valid contract document with the orders and riders its name says, within what the peers express."""
    assert len(instance_names()) == len(SIZES) * len(SEEDS)
    for (orders, riders), name in zip([s for s in SIZES for _ in SEEDS], instance_names()):
        problem = problem_from_document(load(name))
        assert len(problem.orders) == orders and len(problem.riders) == riders, name
        routed, out = split_by_area(problem)
        assert not out, name
        assert peer_supported(build_instance(problem, routed)) is None, name


def test_every_instance_has_a_best_known_plan_that_checks():
    """The recorded plans serve every order on time, pass the validator and ride exactly the recorded travel."""
    records = best_known()
    assert set(records) == set(instance_names())
    for name, record in records.items():
        assert check_record(name, record) == [], name
        assert record["travel_min"] == round(record["travel_s"] / 60, 2)


def test_a_tampered_record_is_caught():
    """A record whose travel or orders do not match its routes does not check."""
    name = "o2o-30x5-s1"
    record = copy.deepcopy(best_known()[name])
    record["travel_s"] -= 60
    assert any("travel_s" in p for p in check_record(name, record))
    rider, waves = next(iter(record["routes"].items()))
    record["routes"][rider] = [waves[0][1:]] + waves[1:]
    assert any("promises" in p for p in check_record(name, record))
    record["routes"][rider] = [["O9999"]]
    assert any("unknown order ids" in p for p in check_record(name, record))
    other = [r for r in record["routes"] if r != rider][0]
    record["routes"][rider] = [[record["routes"][other][0][0]]]
    assert any("more than one wave" in p for p in check_record(name, record))


@pytest.fixture
def scratch_records(tmp_path, monkeypatch):
    """best_known.json in a scratch folder, starting empty."""
    monkeypatch.setattr(store_data, "BEST_KNOWN", tmp_path / "best_known.json")
    return tmp_path / "best_known.json"


def test_offer_keeps_only_better_valid_complete_plans(scratch_records):
    """A first valid plan is recorded; a costlier one and one leaving an order out are not; a cheaper one replaces it."""
    name = "o2o-30x5-s1"
    doc = load(name)
    doc["options"].update(max_iterations=0)
    first = solve(problem_from_document(doc))
    assert first.metrics.on_time == 30
    assert offer(name, first, "test", 0.0, 1)
    assert best_known()[name]["travel_s"] == first.metrics.total_travel_s
    assert check_record(name, best_known()[name]) == []
    assert not offer(name, first, "test again", 0.0, 2)  # not strictly better
    waves = best_known()[name]["routes"]
    rider = next(r for r, w in waves.items() if len(w[0]) > 1)
    shorter = {**waves, rider: [waves[rider][0][:-1]] + waves[rider][1:]}  # rides less, serves fewer
    partial = plan_from_waves(doc, shorter)
    assert partial.metrics.total_travel_s < first.metrics.total_travel_s
    assert not offer(name, partial, "test", 0.0, 3)
    doc["options"].update(max_iterations=3000)
    better = solve(problem_from_document(doc))
    assert better.metrics.total_travel_s < first.metrics.total_travel_s
    assert offer(name, better, "test", 0.0, 4)
    assert best_known()[name]["travel_s"] == better.metrics.total_travel_s and best_known()[name]["seed"] == 4


def test_search_records_its_plans_and_skips_missing_peers(scratch_records, monkeypatch):
    """The best-known search records ours and says why a peer that is not installed was skipped."""
    monkeypatch.setattr("benchmarks.research.best_known.peer_available", lambda name: f"{name} not installed (test)")
    rows = search_best_known(["o2o-30x5-s2"], ["ours", "pyvrp"], 0.2, [1], _quiet)
    assert rows[0]["solver"] == "ours" and rows[0]["improved"] and rows[0]["on_time"] == 30
    assert rows[1] == {"instance": "o2o-30x5-s2", "solver": "pyvrp", "skipped": "pyvrp not installed (test)"}
    assert list(best_known()) == ["o2o-30x5-s2"] and best_known()["o2o-30x5-s2"]["found_by"].startswith("ours ")
