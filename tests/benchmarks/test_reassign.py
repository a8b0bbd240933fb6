"""The reassignment measurement (`python -m benchmarks reassign`) on one small store state."""

from __future__ import annotations

from benchmarks.reassign import measure_reassign, summarise


def test_a_prohibitive_cost_moves_no_more_orders_than_none_and_the_summary_compares_to_the_first_cost():
    """Cost 0 against 10^6 on one state: the priced re-plan moves at most as many orders, and the
    summary's extra riding time is measured against the first cost."""
    rows = measure_reassign([0, 10**6], [1], orders=12, riders=3, new_orders=2, iterations=200)
    assert [r.cost for r in rows] == [0, 10**6]
    free, priced = rows
    assert priced.moved <= free.moved and priced.moved == 0
    summary = summarise(rows)
    assert summary[0]["extra_travel_s"] == 0
    assert summary[1]["extra_travel_s"] == priced.travel_s - free.travel_s
