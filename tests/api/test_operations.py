"""The store's delivery grid and staffing over the service's own orders."""

from __future__ import annotations

import h3

from tests.api.conftest import ORDER_SYSTEM, RIDER1
from tests.api.helpers import STORE_LAT, STORE_LON, at, order, seed_store


def _deliver(client, order_id, picked_min, delivered_min):
    for kind, minutes in (("picked_up", picked_min), ("delivered", delivered_min)):
        r = client.post(f"/v1/orders/{order_id}/events", json={"type": kind, "at": at(minutes)}, headers=RIDER1)
        assert r.status_code == 200, r.text


def test_grid_counts_the_delivered_orders_per_cell(client):
    """Three orders: O1 and O5 to the same door (one cell), O1 on time, O5 15 min late (promised
    at +45, delivered at +60), O3 elsewhere and not delivered yet: the cell of O1/O5 has 2 orders,
    on-time rate 1/2, click-to-door (25 + 65) / 2 = 45 min, lateness 7.5 min."""
    seed_store(client, orders=("O1",))
    client.post("/v1/stores/S1/orders", json=order("O5", 1200, 300), headers=ORDER_SYSTEM)
    client.post("/v1/stores/S1/orders", json=order("O3", -1500, -900), headers=ORDER_SYSTEM)
    _deliver(client, "O1", 5, 20)
    _deliver(client, "O5", 30, 60)
    r = client.get("/v1/stores/S1/grid", params={"resolution": 9}, headers=ORDER_SYSTEM)
    assert r.status_code == 200, r.text
    cells = {f["properties"]["cell"]: f["properties"] for f in r.json()["features"] if f["properties"]["kind"] == "cell"}
    o1 = order("O1")["dropoff"]
    near = cells[h3.latlng_to_cell(o1["lat"], o1["lon"], 9)]
    assert (near["orders"], near["delivered"], near["on_time_rate"]) == (2, 2, 0.5)
    assert (near["click_to_door_mean_min"], near["late_mean_min"]) == (45.0, 7.5)
    assert sum(c["orders"] for c in cells.values()) == 3
    store = [f for f in r.json()["features"] if f["properties"]["kind"] == "store"]
    assert store[0]["geometry"]["coordinates"] == [STORE_LON, STORE_LAT]


def test_grid_hours_filter_and_bad_hours(client):
    """Orders placed at 09:55 local time are in hour 9, not in 10-12; a bad range is a 422 on hours."""
    seed_store(client, orders=("O1",))
    assert client.get("/v1/stores/S1/grid", params={"hours": "9"}, headers=ORDER_SYSTEM).json()["features"][0]["properties"]["orders"] == 1
    only_store = client.get("/v1/stores/S1/grid", params={"hours": "10-12"}, headers=ORDER_SYSTEM).json()["features"]
    assert [f["properties"]["kind"] for f in only_store] == ["store"]
    bad = client.get("/v1/stores/S1/grid", params={"hours": "12-10"}, headers=ORDER_SYSTEM)
    assert bad.status_code == 422 and "hours" in bad.text
    assert client.get("/v1/stores/NOPE/grid", headers=ORDER_SYSTEM).status_code == 404


def test_staffing_from_the_store_history(client):
    """A store with a few orders gets slots, needs and contract riders with shifts in the limits;
    a store without orders is a 404 saying so; a slot that does not divide the day is a 422."""
    seed_store(client, orders=("O1", "O2"))
    client.post("/v1/stores/S1/orders", json=order("O3", -1500, -900), headers=ORDER_SYSTEM)
    r = client.get("/v1/stores/S1/staffing", params={"target": 0.9, "min_shift_h": 1, "max_shift_h": 3}, headers=ORDER_SYSTEM)
    assert r.status_code == 200, r.text
    doc = r.json()
    assert doc["store_id"] == "S1" and doc["summary"]["orders"] == 3 and doc["summary"]["target_met"]
    assert sum(s["orders"] for s in doc["slots"]) == 3
    assert doc["riders"] and all(r["store_id"] == "S1" for r in doc["riders"])
    assert client.get("/v1/stores/S1/staffing", params={"slot_min": 7}, headers=ORDER_SYSTEM).status_code == 422
    bounded = client.get("/v1/stores/S1/staffing", params={"target": 0.9, "min_shift_h": 1, "max_shift_h": 3,
                                                           "max_click_to_door_min": 120}, headers=ORDER_SYSTEM)
    assert bounded.status_code == 200, bounded.text
    assert bounded.json()["options"]["max_click_to_door_mean_s"] == 7200 and bounded.json()["summary"]["target_met"]
    assert client.get("/v1/stores/S1/staffing", params={"max_click_to_door_min": 0}, headers=ORDER_SYSTEM).status_code == 422
    client.put("/v1/stores/S2", json={"id": "S2", "location": {"lat": STORE_LAT, "lon": STORE_LON}}, headers=ORDER_SYSTEM)
    empty = client.get("/v1/stores/S2/staffing", headers=ORDER_SYSTEM)
    assert empty.status_code == 404 and "no orders" in empty.text


def test_a_store_with_a_third_party_quotes_with_it_and_needs_a_rider_cost(settings_for):
    """A store registered with a third party and no riders: the quote comes from the platform
    when the service knows a rider-hour's cost (DISPATCH_RIDER_COST_PER_HOUR), and is a 422
    naming options.rider_cost_per_hour when it does not."""
    from fastapi.testclient import TestClient

    from api.main import create_app
    from tests.api.helpers import store

    body = {"dropoff": order("Q")["dropoff"], "items": 1}
    with TestClient(create_app(settings_for(rider_cost_per_hour=20.0))) as c:
        put = c.put("/v1/stores/S1", json=store(third_party={"fee_per_order": 5.0, "arrival_s": 240}), headers=ORDER_SYSTEM)
        assert put.status_code == 201, put.text
        r = c.post("/v1/stores/S1/quote", json=body, headers=ORDER_SYSTEM)
        assert r.status_code == 200, r.text
        assert r.json()["feasible"] and r.json()["third_party"] and r.json()["fee"] == 5.0
    with TestClient(create_app(settings_for())) as c:
        r = c.post("/v1/stores/S1/quote", json=body, headers=ORDER_SYSTEM)
        assert r.status_code == 422 and "rider_cost_per_hour" in r.text


def test_a_dispatch_sends_out_what_no_rider_can_take_and_the_order_says_so(settings_for):
    """A store with a third party and no riders: its dispatch sends the order out (the plan's
    third_party lists it with its ETAs and fee) and the order's view shows the platform's ETAs."""
    from fastapi.testclient import TestClient

    from api.main import create_app
    from tests.api.helpers import FAST, store

    with TestClient(create_app(settings_for(rider_cost_per_hour=20.0))) as c:
        put = c.put("/v1/stores/S1", json=store(third_party={"fee_per_order": 5.0, "arrival_s": 240}), headers=ORDER_SYSTEM)
        assert put.status_code == 201, put.text
        assert c.post("/v1/stores/S1/orders", json=order("O1"), headers=ORDER_SYSTEM).status_code == 201
        plan = c.post("/v1/stores/S1/dispatch", json={"plan_time": at(0), "options": FAST}, headers=ORDER_SYSTEM)
        assert plan.status_code == 200, plan.text
        sent = plan.json()["third_party"]
        assert [t["order_id"] for t in sent] == ["O1"] and sent[0]["fee"] == 5.0
        view = c.get("/v1/orders/O1", headers=ORDER_SYSTEM).json()["plan"]
        assert view["third_party"] is True and view["rider_id"] is None
        assert view["third_party_courier"] == sent[0]["courier"] == "tp-O1"
        assert view["dropoff_eta"][:19] == sent[0]["dropoff_at"][:19]


def _staffing_client(settings_for, **overrides):
    from fastapi.testclient import TestClient

    from api.main import create_app

    return TestClient(create_app(settings_for(**overrides)))


def test_staffing_answers_202_while_it_runs_and_the_result_when_asked_again(settings_for):
    """With no wait, the first ask starts the job and answers 202 with Retry-After and the URL to
    ask again; asking again (the same question) gives the job's answer, the same each time."""
    import time

    with _staffing_client(settings_for, staffing_wait_s=0) as client:
        seed_store(client, orders=("O1", "O2"))
        params = {"target": 0.9, "min_shift_h": 1, "max_shift_h": 3}
        first = client.get("/v1/stores/S1/staffing", params=params, headers=ORDER_SYSTEM)
        assert first.status_code == 202, first.text
        assert first.json()["status"] == "running" and int(first.headers["Retry-After"]) >= 1
        assert first.headers["Location"].endswith("/v1/stores/S1/staffing?target=0.9&min_shift_h=1&max_shift_h=3")
        for _ in range(600):
            answer = client.get("/v1/stores/S1/staffing", params=params, headers=ORDER_SYSTEM)
            if answer.status_code != 202:
                break
            time.sleep(0.1)
        assert answer.status_code == 200, answer.text
        assert answer.json()["summary"]["orders"] == 2
        # A new order does not start another job: the same question gets the same answer.
        client.post("/v1/stores/S1/orders", json=order("O9", -800, 200), headers=ORDER_SYSTEM)
        again = client.get("/v1/stores/S1/staffing", params=params, headers=ORDER_SYSTEM)
        assert again.status_code == 200 and again.json() == answer.json()


def test_a_staffing_whose_worker_failed_tells_it_once_then_runs_again(settings_for, monkeypatch):
    """A job that fails in a way a retry may not repeat (here: a worker gone) answers its 503 to the
    ask that finds it; the next ask starts a new job."""
    import api.staffing_jobs
    from api.errors import ServiceBusy

    calls = []

    def flaky(scenarios, options):
        calls.append(1)
        if len(calls) == 1:
            raise ServiceBusy("a solver worker died during the solve and was replaced; retry")
        return api.staffing_jobs.staff(scenarios, options).to_document()

    monkeypatch.setattr(api.staffing_jobs, "staff_document", flaky)
    with _staffing_client(settings_for) as client:
        seed_store(client, orders=("O1", "O2"))
        first = client.get("/v1/stores/S1/staffing", headers=ORDER_SYSTEM)
        assert first.status_code == 503, first.text
        second = client.get("/v1/stores/S1/staffing", headers=ORDER_SYSTEM)
        assert second.status_code == 200, second.text
        assert len(calls) == 2


def test_a_staffing_past_its_limit_is_a_504_naming_days(settings_for, monkeypatch):
    """A job that runs past its limit (here: one that sleeps) is cut off: the caller gets a 504
    saying to ask for fewer days."""
    import time

    import api.staffing_jobs

    monkeypatch.setattr(api.staffing_jobs, "staff_document", lambda *_: time.sleep(3))
    with _staffing_client(settings_for, staffing_time_limit_s=0.2, solve_margin_s=0.1, staffing_queue=0) as client:
        seed_store(client, orders=("O1", "O2"))
        r = client.get("/v1/stores/S1/staffing", headers=ORDER_SYSTEM)
        assert r.status_code == 504, r.text
        assert "fewer days" in r.json()["detail"]


def test_a_history_too_big_to_staff_is_a_422_naming_days(settings_for):
    with _staffing_client(settings_for, staffing_max_orders=1) as client:
        seed_store(client, orders=("O1", "O2"))
        r = client.get("/v1/stores/S1/staffing", headers=ORDER_SYSTEM)
        assert r.status_code == 422 and "days" in r.text and "fewer days" in r.text


def test_speed_profile_from_the_store_history(client):
    """Six orders ridden one at a time at 0.8 x 4.5 m/s (road = 1.3 x great circle) between 10:05
    and 13:15 local time, one more not delivered: with the base speed given, every hour with
    rides is fitted at 0.8 (to the rounding of the event times), the others take their
    neighbours', the undelivered order is counted, and the periods are the store's local hours."""
    seed_store(client, orders=())
    for k in range(6):
        north = 1200 + 300 * k
        assert client.post("/v1/stores/S1/orders", json=order(f"F{k}", north, 0), headers=ORDER_SYSTEM).status_code == 201
        picked = 5 + 35 * k
        ride_min = north * 1.3 / (4.5 * 0.8) / 60
        _deliver(client, f"F{k}", picked, picked + ride_min)
    client.post("/v1/stores/S1/orders", json=order("F9", 900, 0), headers=ORDER_SYSTEM)
    params = {"period_min": 60, "speed_mps": 4.5, "detour_factor": 1.3, "min_rides": 1}
    r = client.get("/v1/stores/S1/speed-profile", params=params, headers=ORDER_SYSTEM)
    assert r.status_code == 200, r.text
    doc = r.json()
    assert doc["store_id"] == "S1" and doc["time_zone"] == "+08:00" and doc["days"] == 14
    assert doc["rides"] == 6 and doc["skipped"]["not_delivered"] == 1 and doc["speed_source"] == "given"
    assert doc["speed_profile"]["period_min"] == 60 and len(doc["speed_profile"]["factors"]) == 24
    fitted = [p for p in doc["periods"] if p["source"] == "fitted"]
    assert [p["start"] for p in fitted] == ["10:00", "11:00", "12:00", "13:00"]
    assert all(abs(p["factor"] - 0.8) <= 0.002 and p["mae_s"] < 2 for p in fitted)
    assert doc["periods"][3]["source"] == "neighbours" and abs(doc["periods"][3]["factor"] - 0.8) <= 0.002


def test_speed_profile_of_an_empty_history_and_bad_parameters(client):
    """A store without delivered orders answers a flat profile with rides 0 (not an error); a
    period that does not divide the day, or a speed out of range, is a 422 naming the query
    parameter; an unknown store a 404."""
    client.put("/v1/stores/S2", json={"id": "S2", "location": {"lat": STORE_LAT, "lon": STORE_LON}}, headers=ORDER_SYSTEM)
    empty = client.get("/v1/stores/S2/speed-profile", headers=ORDER_SYSTEM)
    assert empty.status_code == 200, empty.text
    doc = empty.json()
    assert doc["rides"] == 0 and doc["speed_profile"] == {"period_min": 30, "factors": [1.0] * 48}
    assert doc["mae_s"] is None and doc["speed_source"] == "none"
    for params, field in (({"period_min": 7}, "period_min"), ({"speed_mps": 100}, "speed_mps"), ({"days": 0}, "days")):
        bad = client.get("/v1/stores/S2/speed-profile", params=params, headers=ORDER_SYSTEM)
        assert bad.status_code == 422, bad.text
        assert bad.json()["detail"][0]["loc"] == ["query", field]
    assert client.get("/v1/stores/NOPE/speed-profile", headers=ORDER_SYSTEM).status_code == 404
    assert client.get("/v1/stores/S2/speed-profile", headers=RIDER1).status_code == 403
