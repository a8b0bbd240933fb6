"""Staffing: the shift-covering programme on small cases with known optima, and the
simulation-driven needs on a short generated day."""

from dataclasses import replace
from datetime import datetime

import pytest

from dispatch.errors import InvalidProblem
from dispatch.live.scenario import generate_day
from dispatch.live.simulate import live_options, simulate
from dispatch.live.staffing import StaffingOptions, history_from_csv, plot_staffing, staff
from dispatch.solver.shift_cover import cover_shifts


def test_cover_with_a_peak_is_one_slot_above_the_sum_of_needs():
    """Needs 1,1,3,3,1,1 with shifts of 3 to 6 slots: 11 rider-slots is optimal. The needs sum to
    10, but no cover is exact: any shift over the peak (slots 2-3) lasts 3 slots or more and so
    spills onto a slot needing 1 that another shift already covers. 0-3, 2-5 and a 3-slot shift
    over the peak reach 11."""
    cover = cover_shifts([1, 1, 3, 3, 1, 1], min_slots=3, max_slots=6)
    assert cover.optimal
    assert cover.rider_slots == 11
    assert all(s >= n for s, n in zip(cover.scheduled, [1, 1, 3, 3, 1, 1]))
    assert all(3 <= length <= 6 for _, length, _ in cover.shifts)


def test_cover_reaches_the_sum_of_needs_when_shifts_fit_exactly():
    """Needs 2,2,2,2,0,0,1,1 with shifts of 2 to 4 slots: two 4-slot and one 2-slot shift, 10
    rider-slots (the sum of the needs, so nothing can do better); the empty slots stay empty."""
    cover = cover_shifts([2, 2, 2, 2, 0, 0, 1, 1], min_slots=2, max_slots=4)
    assert cover.rider_slots == 10
    assert list(cover.scheduled) == [2, 2, 2, 2, 0, 0, 1, 1]


def test_cover_pays_the_minimum_length_for_a_short_need():
    """A single slot needing one rider costs a whole minimum shift (4 slots), not one slot."""
    cover = cover_shifts([0, 0, 1, 0, 0, 0, 0, 0], min_slots=4, max_slots=8)
    assert cover.rider_slots == 4
    assert cover.scheduled[2] == 1


def test_cover_refuses_impossible_lengths():
    """Shift lengths out of order are an error naming them."""
    with pytest.raises(ValueError, match="min"):
        cover_shifts([1, 1], min_slots=3, max_slots=2)


def _short_day() -> dict:
    return generate_day(riders=6, seed=3, base_orders_per_hour=5.0, hours=(11.0, 14.0))


def test_staffing_meets_its_target_when_the_day_is_replayed_with_its_riders():
    """The rider list is ready to simulate: replaying the day with it (a fresh simulation) keeps
    the target, every shift is within the limits, and it takes fewer rider-hours than the
    generated fleet (6 riders on 6-12 h shifts)."""
    day = _short_day()
    sim = replace(live_options(day), max_iterations=60, budget_s=5.0)
    options = StaffingOptions(target=0.9, min_shift_s=3600, max_shift_s=4 * 3600, bisection_steps=4, balance_rounds=1, sim=sim)
    result = staff([day], options)
    riders = result.riders()
    assert riders and result.summary()["target_met"]
    for r in riders:
        hours = (datetime.fromisoformat(r["shift_end"]) - datetime.fromisoformat(r["available_at"])).total_seconds() / 3600
        assert 1 <= hours <= 4 and r["store_id"] == "S1"
    replay = simulate({**day, "riders": riders}, sim).metrics
    assert replay["on_time_rate"] >= 0.9
    generated = simulate(day, sim).metrics
    assert replay["courier_hours"] < generated["courier_hours"]
    rows = result.table()
    assert sum(r["orders"] for r in rows) == len(day["orders"])
    assert all(r["riders_scheduled"] >= r["riders_needed"] for r in rows)


def test_staffing_png_is_written(tmp_path):
    """The PNG of demand, needs and schedule is a real image."""
    day = _short_day()
    sim = replace(live_options(day), max_iterations=30, budget_s=5.0)
    result = staff([day], StaffingOptions(target=0.5, bisection_steps=1, balance_rounds=0, sim=sim))
    path = plot_staffing(result, tmp_path / "staffing.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


CSV = """id,store_id,store_lat,store_lon,created_at,dropoff_lat,dropoff_lon,items
A1,S1,31.2304,121.4737,2026-11-28T11:05:00+08:00,31.2400,121.4800,2
A2,S1,31.2304,121.4737,2026-11-28T11:40:00+08:00,31.2200,121.4700,1
B1,S1,31.2304,121.4737,2026-11-29T12:10:00+08:00,31.2350,121.4650,3
"""


def test_csv_history_is_one_scenario_per_day():
    """A CSV of orders becomes day scenarios, one per date of created_at, with the store."""
    days = history_from_csv(CSV)
    assert [len(d["orders"]) for d in days] == [2, 1]
    assert days[0]["stores"] == [{"id": "S1", "location": {"lat": 31.2304, "lon": 121.4737}}]
    assert days[0]["plan_time"] == "2026-11-28T11:05:00+08:00"


def test_csv_history_names_the_missing_column_and_the_bad_row():
    """A missing column, or a row that cannot be read, is an error naming it."""
    with pytest.raises(InvalidProblem, match="dropoff_lat"):
        history_from_csv("id,store_id,store_lat,store_lon,created_at,dropoff_lon\n")
    with pytest.raises(InvalidProblem, match="line 3"):
        history_from_csv(CSV.replace("31.2200", "north"))


def test_staffing_options_are_checked():
    """A slot that does not divide the day, or shifts that are not whole slots, are refused."""
    with pytest.raises(ValueError, match="slot"):
        StaffingOptions(slot_s=7 * 60).check()
    with pytest.raises(ValueError, match="whole numbers of slots"):
        StaffingOptions(min_shift_s=3700).check()


def test_a_click_to_door_bound_asks_for_more_riders_than_the_on_time_rate_alone():
    """With the on-time target alone the short day is staffed at H hours; bounding its mean
    click-to-door below what that schedule gives asks for more hours, and the schedule found
    keeps both (the summary says so); a bound out of range is refused."""
    day = _short_day()
    sim = replace(live_options(day), max_iterations=60, budget_s=5.0)
    options = StaffingOptions(target=0.8, min_shift_s=3600, max_shift_s=4 * 3600, bisection_steps=5, balance_rounds=0, sim=sim)
    alone = staff([day], options)
    loose = alone.groups[0].best
    bound = loose.click_to_door_mean_s - 120
    bounded = staff([day], replace(options, max_click_to_door_mean_s=bound))
    best = bounded.groups[0].best
    assert bounded.summary()["target_met"] and best.meets(bounded.options)
    assert best.click_to_door_mean_s <= bound < loose.click_to_door_mean_s
    assert best.rider_hours > loose.rider_hours
    assert bounded.to_document()["options"]["max_click_to_door_mean_s"] == bound
    with pytest.raises(ValueError, match="click-to-door"):
        replace(options, max_click_to_door_mean_s=0.0).check()


def test_when_no_schedule_keeps_the_bound_the_closest_to_it_is_kept():
    """Of schedules none of which keeps both (on-time 0.8, click-to-door 20 min): one keeping the
    rate with the least click-to-door over the bound is closest, ahead of a higher on-time rate
    further over it; one missing the rate comes last whatever its click-to-door. A real search
    with a bound no fleet keeps (one second) says the target is not met."""
    from types import SimpleNamespace

    from dispatch.live.staffing import Trial, _GroupSearch

    def trial(rate: float, ctd_min: float, hours: float) -> Trial:
        metrics = [{"delivered": 100, "click_to_door_mean_s": ctd_min * 60}]
        return Trial([1], [1], [], hours, rate, [rate], metrics)

    search = SimpleNamespace(options=StaffingOptions(target=0.8, max_click_to_door_mean_s=20 * 60))
    high_rate, less_over, short = trial(0.95, 40, 30), trial(0.85, 30, 20), trial(0.7, 10, 10)
    ranked = sorted([high_rate, less_over, short], key=lambda t: _GroupSearch._closeness(search, t), reverse=True)
    assert ranked == [less_over, high_rate, short]
    day = _short_day()
    sim = replace(live_options(day), max_iterations=60, budget_s=5.0)
    options = StaffingOptions(target=0.8, max_click_to_door_mean_s=1.0, min_shift_s=3600, max_shift_s=4 * 3600,
                              bisection_steps=3, balance_rounds=0, sim=sim)
    assert not staff([day], options).summary()["target_met"]
