"""The MDRP importer: a small Grubhub-format day timed exactly as the official evaluator, and the
simulator's evaluator figures on it, computed by hand."""

from __future__ import annotations

import math
from datetime import datetime
from pathlib import Path

import pytest

from dispatch.documents import problem_from_document
from dispatch.errors import InvalidProblem
from dispatch.live.mdrp import mdrp_scenario
from dispatch.live.simulate import SimOptions, is_shared_fleet, live_options, simulate

PARAMS = "meters_per_minute\tpickup service minutes\tdropoff service minutes\ttarget click-to-door\tmaximum click-to-door\tpay per order\tguaranteed pay per hour\n320\t4\t4\t40\t90\t10\t15\n"


def write_day(folder: Path, off_time: int = 60) -> Path:
    """One restaurant at (0, 0); a courier 640 m north (2 minutes), on from minute 0; two orders:
    o1 960 m south (3 minutes), placed at 0 and ready at 10; o2 1000 m south (3.125 -> 4
    minutes), placed at 5 and ready at 12."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "instance_parameters.txt").write_text(PARAMS)
    (folder / "restaurants.txt").write_text("restaurant\tx\ty\nr1\t0\t0\n")
    (folder / "couriers.txt").write_text(f"courier\tx\ty\ton_time\toff_time\nc1\t0\t640\t0\t{off_time}\n")
    (folder / "orders.txt").write_text(
        "order\tx\ty\tplacement_time\trestaurant\tready_time\no1\t0\t-960\t0\tr1\t10\no2\t0\t-1000\t5\tr1\t12\n"
    )
    return folder


def test_the_scenario_keeps_the_evaluators_timing_rules(tmp_path):
    """Legs are whole minutes rounded up, plus half the service of the stop they lead to; a
    stop's service is the other half; couriers' shift ends bound pickups; orders are promised
    at the target and given up at the maximum click-to-door."""
    scenario = mdrp_scenario(write_day(tmp_path / "day"))
    problem = problem_from_document(scenario)
    assert is_shared_fleet(scenario) and problem.riders[0].shift_end_rule == "pickups"
    assert problem.stores[0].pickup_service_s == 120 and problem.orders[0].dropoff_service_s == 120
    o2 = problem.order_index["o2"]
    assert (o2.promised_at_s - o2.created_at_s, o2.deadline_s - o2.created_at_s) == (40 * 60, 90 * 60)
    matrix = problem.options.travel.matrix
    points = {(round(p.lat, 6), round(p.lon, 6)): i for i, p in enumerate(matrix.locations)}

    def index(loc):
        return points[(round(loc.lat, 6), round(loc.lon, 6))]

    store, courier = problem.stores[0].location, problem.riders[0].location
    assert matrix.durations_s[index(courier), index(store)] == 2 * 60 + 120
    assert matrix.durations_s[index(store), index(o2.dropoff)] == math.ceil(1000 / 320) * 60 + 120


def test_the_simulator_reports_the_evaluators_figures(tmp_path):
    """One courier, orders one at a time (greedy): o1 picked up at 14 (2 min ride + 2 of
    service), stamped at 16 + 3 + 2 = 21; o2 waits for the courier, free at 23 at o1's door:
    picked up at 23 + 3 + 2 = 28, stamped at 30 + 4 + 2 = 36."""
    scenario = mdrp_scenario(write_day(tmp_path / "day"))
    m = simulate(scenario, SimOptions(policy="greedy")).metrics
    assert m["delivered"] == 2
    assert m["ctd_mean_min"] == pytest.approx((21 + (36 - 5)) / 2)
    assert m["ctd_p90_min"] == pytest.approx(21 + 0.9 * (31 - 21))
    assert m["rtp_mean_min"] == pytest.approx(((14 - 10) + (28 - 12)) / 2)
    assert m["share_ctd_over_target_of_delivered"] == 0.0
    assert (m["courier_hours"], m["orders_per_courier_hour"]) == (1.0, 2.0)


def test_no_pickup_after_the_couriers_off_time(tmp_path):
    """Off at minute 25: greedy (one order a trip) cannot pick o2 up at 28 and leaves it; no
    policy picks anything up after minute 25, though deliveries may end later."""
    scenario = mdrp_scenario(write_day(tmp_path / "day", off_time=25))
    off = datetime.fromisoformat(scenario["riders"][0]["shift_end"])
    for policy in ("greedy", "rolling", "batch"):
        result = simulate(scenario, live_options(scenario, policy))
        picked = {o["order_id"]: datetime.fromisoformat(o["picked_up_at"]) for o in result.orders if o["picked_up_at"]}
        assert picked and all(at <= off for at in picked.values()), policy
        if policy == "greedy":
            assert set(picked) == {"o1"}


def test_a_window_keeps_the_orders_placed_in_it_and_the_couriers_on_shift(tmp_path):
    """--from-min/--to-min: orders placed in [from, to), couriers whose shift overlaps it."""
    scenario = mdrp_scenario(write_day(tmp_path / "day"), from_min=3, to_min=10)
    assert [o["id"] for o in scenario["orders"]] == ["o2"] and len(scenario["riders"]) == 1
    assert mdrp_scenario(tmp_path / "day", from_min=61, to_min=70)["riders"] == []


def test_exact_travel_minutes_keep_the_fraction(tmp_path):
    """travel_minutes="exact": 1000 m at 320 m/min is 187.5 s (188), plus the half service."""
    scenario = mdrp_scenario(write_day(tmp_path / "day"), travel_minutes="exact")
    assert 188 + 120 in {v for row in scenario["options"]["travel"]["durations_s"] for v in row}


def test_a_folder_that_is_not_an_instance_is_refused_by_name(tmp_path):
    """Missing files are named."""
    with pytest.raises(InvalidProblem, match="couriers.txt"):
        folder = write_day(tmp_path / "day")
        (folder / "couriers.txt").unlink()
        mdrp_scenario(folder)
