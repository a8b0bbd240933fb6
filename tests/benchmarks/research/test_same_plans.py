"""The same-plans check: a plan recorded is found the same again, and a changed one is told."""

import json

import pytest

from benchmarks.research import same_plans


def test_a_recorded_plan_is_the_same_plan_again_and_a_changed_one_differs(tmp_path, compiled_search, capsys):
    """Record one small published problem, check it (0 differ), then change one stop time in the
    record: the check says the plan differs and exits 1."""
    name = "o2o-30x5-s1"
    same_plans.record(tmp_path, [name])
    assert same_plans.main(["check", str(tmp_path), name]) == 0
    path = tmp_path / f"{name}.json"
    recorded = json.loads(path.read_text())
    assert "plan_id" not in recorded and recorded["objective_terms"]["total"] > 0
    recorded["routes"][0]["stops"][0]["arrive_at"] = recorded["routes"][0]["stops"][0]["depart_at"]
    path.write_text(json.dumps(recorded))
    assert same_plans.main(["check", str(tmp_path), name]) == 1
    assert "DIFFERENT plan (.routes[0].stops[0].arrive_at)" in capsys.readouterr().out


def test_unknown_cases_and_bad_arguments_are_refused(tmp_path):
    """A case that does not exist is named in the error; a wrong verb prints the usage (exit 2)."""
    with pytest.raises(SystemExit, match="unknown cases"):
        same_plans.check(tmp_path, ["no-such-problem"])
    assert same_plans.main(["compare", str(tmp_path)]) == 2


def test_fields_a_record_lacks_are_listed_not_compared():
    """A field added to the documents after the record (absent from it) is not a difference; a
    recorded field that changes or is gone is."""
    changed, added = [], []
    same_plans._compare({"a": 1, "b": [1, 2]}, {"a": 1, "b": [1, 2], "c": 0}, "", changed, added)
    assert (changed, added) == ([], [".c"])
    changed, added = [], []
    same_plans._compare({"a": 1, "b": [1, 2]}, {"b": [1, 3]}, "", changed, added)
    assert changed == [".a gone", ".b[1]"] and added == []
