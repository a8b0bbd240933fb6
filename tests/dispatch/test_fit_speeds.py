"""Fitting a speed profile: rides timed by the travel model from a known profile are fitted back."""

from __future__ import annotations

import json
from datetime import datetime, timedelta, timezone

import numpy as np
import pytest
from typer.testing import CliRunner

from dispatch.cli import app
from dispatch.errors import InvalidProblem
from dispatch.live.fit_speeds import FitOptions, fit_speeds, occupancy
from dispatch.live.rides import Delivery, Ride, Rides, deliveries_from_csv, rides_from_deliveries
from dispatch.model import Location
from dispatch.travel import great_circle_m, profile_leg_s

PERIOD_S = 1800
SPEED_MPS, DETOUR = 4.5, 1.3
DAY0 = 20_400 * 86_400  # a local midnight (local-clock seconds), late 2025
STORE = Location(31.2304, 121.4737)
TZ = timezone(timedelta(hours=8))


def known_profile() -> np.ndarray:
    """A day with a morning and an evening rush (factors 0.65 and 0.55 at their worst), free nights."""
    hours = np.arange(48) / 2
    f = 1.0 - 0.35 * np.exp(-(((hours - 8.5) / 1.0) ** 2)) - 0.45 * np.exp(-(((hours - 18) / 1.2) ** 2)) + 0.15 * (hours < 6)
    return np.round(f, 3)


def generated_rides(n=3000, metres=(500, 9000), hours=(7, 22), noise_s=20.0, seed=1, factors=None) -> Rides:
    """`n` rides over a week's `hours`, timed by `profile_leg_s` through `factors`, plus seeded noise."""
    factors = known_profile() if factors is None else factors
    rng = np.random.default_rng(seed)
    depart = DAY0 + rng.uniform(hours[0] * 3600, hours[1] * 3600, n) + rng.integers(0, 7, n) * 86_400
    great_circle = rng.uniform(*metres, n)
    base = great_circle * DETOUR / SPEED_MPS
    ride = np.array([profile_leg_s(int(d), b, factors, PERIOD_S, 0) for d, b in zip(depart, base)])
    ride = ride + rng.normal(0.0, noise_s, n)
    return Rides(tuple(Ride(f"O{i}", float(d), float(t), float(m)) for i, (d, t, m) in enumerate(zip(depart, ride, great_circle))), {})


def fitted_mask(fit) -> np.ndarray:
    return np.array([p.source == "fitted" for p in fit.periods])


def test_a_known_profile_is_fitted_back_within_a_percent_per_period():
    """3000 rides between 07:00 and 22:00 at the given base speed, 20 s of noise: every period
    with rides is fitted within 0.01 of its true factor; the night (no rides) is filled from its
    neighbours and says so; the re-timed rides err by about the noise (mean |N(0, 20)| = 16 s)."""
    fit = fit_speeds(generated_rides(), FitOptions(period_s=PERIOD_S, speed_mps=SPEED_MPS, detour_factor=DETOUR))
    true, got, fitted = known_profile(), np.array(fit.factors), fitted_mask(fit)
    assert fitted[14:44].all() and not fitted[:13].any()
    assert np.max(np.abs(got - true)[fitted]) < 0.01
    assert {p.source for p in fit.periods if not fitted[p.index]} == {"neighbours"}
    assert fit.speed_source == "given" and fit.rides == 3000
    assert 12 < fit.mae_s < 20
    for p in fit.periods:
        if p.source == "fitted":
            assert p.factor_se is not None and p.factor_se < 0.01 and p.mae_s < 30
        else:
            assert p.ride_share < 5  # a few rides from 21:59 spill past 22:00


def test_rides_crossing_boundaries_are_attributed_by_time_spent():
    """Long rides (about 1-2 h on 30-min periods, so every one crosses a boundary) over a profile
    that alternates 0.6 and 1.4 (the hardest case: neighbours always share rides): the fit
    recovers each factor from 07:30 to 21:00 within 0.015, where charging a ride to its departure
    period would blur them towards 1. (The last periods, which rides only end in, lean on the
    night's interpolated factors and are less sure.)"""
    factors = np.where(np.arange(48) % 2 == 0, 0.6, 1.4)
    rides = generated_rides(n=2500, metres=(12000, 25000), noise_s=10.0, seed=2, factors=factors)
    assert all(r.ride_s > PERIOD_S for r in rides.rides[:50])
    fit = fit_speeds(rides, FitOptions(period_s=PERIOD_S, speed_mps=SPEED_MPS, detour_factor=DETOUR))
    fitted = fitted_mask(fit)
    assert fitted[15:42].all()
    assert np.max(np.abs(np.array(fit.factors) - factors)[15:42]) < 0.015


def test_the_median_speed_makes_factors_relative_to_it():
    """Without a base speed the median of the rides' speeds is the base: only speed x factor is
    identifiable, and that product is recovered within 1 % in every fitted period; the factors
    average about 1."""
    fit = fit_speeds(generated_rides(seed=3), FitOptions(period_s=PERIOD_S, detour_factor=DETOUR))
    fitted = fitted_mask(fit)
    assert fit.speed_source == "median"
    product = fit.speed_mps * np.array(fit.factors)
    assert np.max(np.abs(product / (SPEED_MPS * known_profile()) - 1)[fitted]) < 0.01
    assert abs(np.mean(np.array(fit.factors)[fitted]) - 1) < 0.1


def test_sparse_periods_take_their_neighbours_and_no_rides_give_a_flat_profile():
    """A period under `min_rides` is interpolated between its fitted neighbours; no rides at all
    give factors of 1 with rides 0 and no errors."""
    rides = generated_rides(n=400, hours=(10, 14), seed=4)
    fit = fit_speeds(rides, FitOptions(period_s=3600, speed_mps=SPEED_MPS, detour_factor=DETOUR, min_rides=30))
    by_hour = {p.index: p for p in fit.periods}
    assert by_hour[11].source == "fitted" and by_hour[3].source == "neighbours"
    empty = fit_speeds(Rides((), {"not_delivered": 2}), FitOptions())
    doc = empty.to_document()
    assert doc["rides"] == 0 and doc["speed_profile"] == {"period_min": 30, "factors": [1.0] * 48}
    assert doc["mae_s"] is None and doc["skipped"] == {"not_delivered": 2}
    assert {p["source"] for p in doc["periods"]} == {"none"}


def test_occupancy_splits_a_ride_at_each_boundary():
    """A ride from 00:20 lasting 50 min spends 10, 30 and 10 minutes in periods 0, 1 and 2."""
    tau = occupancy(np.array([DAY0 + 1200.0]), np.array([3000.0]), PERIOD_S, 48)
    assert tau[0, :3].tolist() == [600.0, 1800.0, 600.0] and tau.sum() == 3000.0


def test_bad_options_name_their_field():
    """A period that does not divide the day, or a speed out of range, names its option."""
    with pytest.raises(InvalidProblem) as bad:
        fit_speeds(Rides((), {}), FitOptions(period_s=7 * 60))
    assert bad.value.field == "period_min"
    with pytest.raises(InvalidProblem) as bad:
        fit_speeds(Rides((), {}), FitOptions(speed_mps=100.0))
    assert bad.value.field == "speed_mps"


def test_a_trip_chains_its_legs_from_door_to_door():
    """A rider picks up A and B at 10:00, delivers A at 10:10 and B at 10:25: B's leg starts at
    A's door 60 s after A's delivery; a rider's lone order rides from the store."""
    a_door, b_door = Location(31.2404, 121.4737), Location(31.2504, 121.4737)
    t = datetime(2026, 11, 23, 10, 0, tzinfo=TZ)
    deliveries = [
        Delivery("A", STORE, a_door, t, t + timedelta(minutes=10), "R1"),
        Delivery("B", STORE, b_door, t, t + timedelta(minutes=25), "R1"),
        Delivery("C", STORE, b_door, t + timedelta(minutes=40), t + timedelta(minutes=60), "R1"),
    ]
    rides = {r.order_id: r for r in rides_from_deliveries(deliveries).rides}
    assert rides["B"].ride_s == 14 * 60 and rides["B"].great_circle_m == pytest.approx(1112, abs=2)
    assert rides["C"].ride_s == 20 * 60 and rides["C"].great_circle_m == pytest.approx(2224, abs=3)
    # Local clock: 10:00 at +08:00 is 36 000 s after a local midnight.
    assert rides["A"].depart_s % 86_400 == 36_000


def write_history_csv(path, n=600, seed=5) -> None:
    """A CSV of `n` single-order trips from the store, timed by the known profile at 4.5 m/s."""
    rng = np.random.default_rng(seed)
    factors = known_profile()
    lines = ["id,store_id,store_lat,store_lon,rider_id,picked_up_at,dropoff_lat,dropoff_lon,delivered_at"]
    for i in range(n):
        picked = datetime(2026, 11, 23, tzinfo=TZ) + timedelta(days=int(rng.integers(0, 3)), seconds=float(rng.uniform(8 * 3600, 20 * 3600)))
        picked = picked.replace(microsecond=0)
        door = Location(STORE.lat + rng.uniform(-0.03, 0.03), STORE.lon + rng.uniform(-0.03, 0.03))
        base = great_circle_m(STORE, door) * DETOUR / SPEED_MPS
        local = (picked.hour * 3600 + picked.minute * 60 + picked.second)
        seconds = profile_leg_s(local, base, factors, PERIOD_S, 0)
        delivered = picked + timedelta(seconds=seconds)
        lines.append(f"O{i},S1,{STORE.lat},{STORE.lon},R{i},{picked.isoformat()},{door.lat:.6f},{door.lon:.6f},{delivered.isoformat()}")
    lines.append("OX,S1,31.2304,121.4737,R1,,31.24,121.48,")  # not delivered yet
    path.write_text("\n".join(lines) + "\n")


def test_cli_fits_a_csv_and_writes_the_profile(tmp_path):
    """`fit-speeds` on a CSV prints the profile and its errors (JSON on stdout), the table on
    stderr, and --out writes the same document; the factors are the known ones within 0.02."""
    history, out = tmp_path / "history.csv", tmp_path / "profile.json"
    write_history_csv(history)
    result = CliRunner().invoke(app, ["fit-speeds", str(history), "--speed-mps", "4.5", "--out", str(out)])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc == json.loads(out.read_text())
    assert doc["speed_profile"]["period_min"] == 30 and len(doc["speed_profile"]["factors"]) == 48
    assert doc["skipped"]["not_delivered"] == 1 and doc["rides"] >= 590
    got = np.array(doc["speed_profile"]["factors"])
    fitted = np.array([p["source"] == "fitted" for p in doc["periods"]])
    assert fitted[18:38].all() and np.max(np.abs(got - known_profile())[fitted]) < 0.02
    assert "mae" in result.stderr.lower()


def test_cli_names_a_bad_period_and_a_bad_file(tmp_path):
    """--period 7m does not divide the day: exit 2 naming it; a CSV without the times: exit 2
    naming the missing columns."""
    history = tmp_path / "history.csv"
    write_history_csv(history, n=20)
    result = CliRunner().invoke(app, ["fit-speeds", str(history), "--period", "7m"])
    assert result.exit_code == 2 and "period" in result.stderr
    bad = tmp_path / "bad.csv"
    bad.write_text("id,store_lat,store_lon\nO1,31.2,121.4\n")
    result = CliRunner().invoke(app, ["fit-speeds", str(bad)])
    assert result.exit_code == 2 and "delivered_at" in result.stderr


def test_deliveries_from_csv_needs_offsets():
    """A time without its UTC offset is refused with the line and field named."""
    text = "id,store_lat,store_lon,dropoff_lat,dropoff_lon,picked_up_at,delivered_at\nO1,31.2,121.4,31.21,121.41,2026-11-23T10:00:00,2026-11-23T10:10:00+08:00\n"
    with pytest.raises(InvalidProblem) as bad:
        deliveries_from_csv(text)
    assert bad.value.field == "csv line 2.picked_up_at"


def test_cli_reads_the_services_order_views_with_the_store_given(tmp_path):
    """A JSON array of order views (as `GET /v1/stores/{id}/orders` answers) fits with --store;
    without it the CLI exits 2 naming what is missing; open orders count as not delivered."""
    t = datetime(2026, 11, 23, 10, 0, tzinfo=TZ)
    views = []
    for k in range(8):
        door = {"lat": STORE.lat + (1500 + 100 * k) / 111_195, "lon": STORE.lon}
        base = great_circle_m(STORE, Location(door["lat"], door["lon"])) * DETOUR / SPEED_MPS
        picked = t + timedelta(minutes=20 * k)
        views.append({"order": {"id": f"V{k}", "store_id": "S1", "dropoff": door}, "status": "delivered", "rider_id": "R1",
                      "picked_up_at": picked.isoformat(), "delivered_at": (picked + timedelta(seconds=round(base / 0.9))).isoformat()})
    views.append({"order": {"id": "OPEN", "store_id": "S1", "dropoff": views[0]["order"]["dropoff"]}, "status": "open",
                  "rider_id": None, "picked_up_at": None, "delivered_at": None})
    history = tmp_path / "orders.json"
    history.write_text(json.dumps(views))
    args = ["fit-speeds", str(history), "--period", "1h", "--speed-mps", "4.5", "--min-rides", "1"]
    result = CliRunner().invoke(app, [*args, "--store", f"{STORE.lat},{STORE.lon}"])
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["rides"] == 8 and doc["skipped"]["not_delivered"] == 1
    assert all(abs(p["factor"] - 0.9) <= 0.002 for p in doc["periods"] if p["source"] == "fitted")
    missing = CliRunner().invoke(app, args)
    assert missing.exit_code == 2 and "store" in missing.stderr
