"""The service's own re-plans (on a new order, on rider events, every N seconds) and the drop-off
a rider is riding to staying first."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

from fastapi.testclient import TestClient

from api.main import create_app
from tests.api.conftest import ORDER_SYSTEM, RIDER1
from tests.api.helpers import FAST, STORE_LAT, STORE_LON, T0, at, order, rider, seed_store


def _clock(client, minutes: float = 1.0) -> None:
    """The service's own re-plans happen at T0 + `minutes` (the test riders' shifts are around T0)."""
    client.app.state.redispatcher.now = lambda: T0 + timedelta(minutes=minutes)


def _policy(client, **policy) -> dict:
    _clock(client)
    answer = client.put("/v1/stores/S1/redispatch", json={"options": FAST, **policy}, headers=ORDER_SYSTEM)
    assert answer.status_code == 200, answer.text
    return answer.json()


def _settle(client) -> None:
    assert client.app.state.redispatcher.wait_idle(60)


def _store(client) -> dict:
    return client.get("/v1/stores/S1", headers=ORDER_SYSTEM).json()


def _planned_ids(plan: dict) -> set[str]:
    return {s["order_id"] for r in plan["routes"] for s in r["stops"] if s["kind"] == "dropoff"}


def test_a_new_order_replans_the_store_only_when_its_policy_says_so(client):
    seed_store(client, orders=("O1",))
    _settle(client)
    assert client.get("/v1/stores/S1/plan", headers=ORDER_SYSTEM).status_code == 404  # no policy, no plan
    store = _policy(client, on_new_order=True)
    assert store["redispatch"]["on_new_order"] is True and store["dispatched_at"] is None
    client.post("/v1/stores/S1/orders", json=order("O2", -900, 400), headers=ORDER_SYSTEM)
    _settle(client)
    plan = client.get("/v1/stores/S1/plan", headers=ORDER_SYSTEM).json()
    assert _planned_ids(plan) == {"O1", "O2"}
    assert _store(client)["dispatched_at"] is not None


def test_rider_events_replan_when_asked(client):
    seed_store(client, riders=("R1",), orders=("O1", "O2"))
    _policy(client, on_rider_event=True)
    first = client.post("/v1/stores/S1/dispatch", json={"plan_time": at(0), "options": FAST}, headers=ORDER_SYSTEM).json()
    version = _store(client)["dispatch_version"]
    event = {"type": "picked_up", "at": at(3)}
    assert client.post("/v1/orders/O1/events", json=event, headers=RIDER1).status_code == 200
    _settle(client)
    store = _store(client)
    assert store["dispatch_version"] == version + 1 and store["current_plan_id"] != first["plan_id"]
    plan = client.get("/v1/stores/S1/plan", headers=ORDER_SYSTEM).json()
    pickups = {oid for r in plan["routes"] for s in r["stops"] if s["kind"] == "pickup" for oid in s["order_ids"]}
    assert "O1" not in pickups and "O1" in _planned_ids(plan)  # carried now: delivered, not collected


def test_every_s_replans_a_store_with_orders_when_due(client):
    seed_store(client, orders=("O1",))
    _policy(client, every_s=60)
    redispatcher = client.app.state.redispatcher
    assert redispatcher.tick() == ["S1"]  # never dispatched: due at once
    assert _store(client)["dispatched_at"] is not None
    assert redispatcher.tick() == []  # just re-planned
    _clock(client, 1 + 61 / 60)
    assert redispatcher.tick() == ["S1"]
    client.post("/v1/orders/O1/events", json={"type": "cancelled"}, headers=ORDER_SYSTEM)
    _clock(client, 10)
    assert redispatcher.tick() == []  # nothing left to plan


def test_the_service_ticks_by_itself(settings_for):
    with TestClient(create_app(settings_for(redispatch_tick_s=0.05))) as client:
        seed_store(client, orders=("O1",))
        _policy(client, every_s=30)
        deadline = time.monotonic() + 30
        while _store(client)["dispatched_at"] is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _store(client)["dispatched_at"] is not None


def test_a_burst_of_triggers_costs_two_replans_not_one_per_trigger(client):
    redispatcher = client.app.state.redispatcher
    started, release, calls = threading.Event(), threading.Event(), []

    def slow_replan(store_id, trigger):
        calls.append(trigger)
        started.set()
        release.wait(10)

    redispatcher._replan = slow_replan
    first = threading.Thread(target=redispatcher.request, args=("S1", "new_order"))
    first.start()
    assert started.wait(10)
    for _ in range(5):
        redispatcher.request("S1", "new_order")  # returns at once: marked to run again
    release.set()
    first.join(10)
    assert len(calls) == 2


def test_a_bad_policy_names_the_field(client):
    seed_store(client, orders=())
    answer = client.put("/v1/stores/S1/redispatch", json={"every_s": 1}, headers=ORDER_SYSTEM)
    assert answer.status_code == 422 and answer.json()["detail"][0]["loc"] == ["body", "every_s"]
    answer = client.put("/v1/stores/S1/redispatch", json={"options": {"time_limit_s": 60}}, headers=ORDER_SYSTEM)
    assert answer.status_code == 422 and answer.json()["detail"][0]["field"] == "options.time_limit_s"


def _first_drop(plan: dict, rider_id: str) -> str:
    route = next(r for r in plan["routes"] if r["rider_id"] == rider_id)
    return route["stops"][0]["order_id"]


def _on_the_road_with_two(client) -> tuple[str, str]:
    """R1 picks up O1 and O2; returns (the drop-off its route leads to first, the other)."""
    seed_store(client, riders=("R1",), orders=("O1", "O2"))
    plan = client.post("/v1/stores/S1/dispatch", json={"plan_time": at(0), "options": FAST}, headers=ORDER_SYSTEM).json()
    drops = [s["order_id"] for s in plan["routes"][0]["stops"] if s["kind"] == "dropoff"]
    for oid in ("O1", "O2"):
        assert client.post(f"/v1/orders/{oid}/events", json={"type": "picked_up", "at": at(3)}, headers=RIDER1).status_code == 200
    return drops[0], drops[1]


def _move_rider_next_to(client, order_id: str, **extra) -> None:
    spots = {"O1": (1200, 300), "O2": (-900, 400)}
    north, east = spots[order_id]
    near = {"lat": STORE_LAT + (north - 50) / 111_195, "lon": STORE_LON + east / 95_200}
    body = {**rider("R1"), "location": near, "available_at": at(4), **extra}
    answer = client.put("/v1/riders/R1", json=body, headers=RIDER1)
    assert answer.status_code == 200, answer.text


def test_a_rider_on_the_road_keeps_riding_to_the_drop_off_it_was_sent_to(client):
    """Next to the other drop-off, R1 would deliver that one first; it is riding to the first
    stop of its route, so a re-dispatch keeps that stop first."""
    heading, other = _on_the_road_with_two(client)
    _move_rider_next_to(client, other)
    replan = client.post("/v1/stores/S1/dispatch", json={"plan_time": at(4), "options": FAST}, headers=ORDER_SYSTEM).json()
    assert _first_drop(replan, "R1") == heading
    stored = client.get(f"/v1/plans/{replan['plan_id']}", headers=ORDER_SYSTEM).json()
    assert stored["routes"][0]["stops"][0]["order_id"] == heading


def test_a_rider_can_say_where_it_is_heading(client):
    heading, other = _on_the_road_with_two(client)
    _move_rider_next_to(client, heading, heading_to=other)
    replan = client.post("/v1/stores/S1/dispatch", json={"plan_time": at(4), "options": FAST}, headers=ORDER_SYSTEM).json()
    assert _first_drop(replan, "R1") == other
    answer = client.put("/v1/riders/R1", json={**rider("R1"), "heading_to": "O9"}, headers=RIDER1)
    assert answer.status_code == 422 and answer.json()["detail"][0]["field"] == "heading_to"


def _stored_problem(client, plan_id: str) -> dict:
    from api.tables import PlanRow

    with client.app.state.sessions() as db:
        return db.get(PlanRow, plan_id).problem


def test_a_rider_riding_back_to_the_store_keeps_the_pickup_it_was_sent_for(client):
    """R1 is sent for O1 and is away from the store (riding back for it); R2 waits there.
    Planned freely, R2 would take O1; the pickup is committed, so the rider sent keeps it."""
    seed_store(client, riders=("R1", "R2"), orders=("O1",))
    plan = client.post("/v1/stores/S1/dispatch", json={"plan_time": at(0), "options": FAST}, headers=ORDER_SYSTEM).json()
    sent = next(r["rider_id"] for r in plan["routes"] if r["stops"])
    other = "R2" if sent == "R1" else "R1"
    away = {"lat": STORE_LAT - 1500 / 111_195, "lon": STORE_LON}
    assert client.put(f"/v1/riders/{sent}", json={**rider(sent), "location": away}, headers=ORDER_SYSTEM).status_code == 200
    replan = client.post("/v1/stores/S1/dispatch", json={"plan_time": at(1), "options": FAST}, headers=ORDER_SYSTEM).json()
    assert [r["rider_id"] for r in replan["routes"] if r["stops"]] == [sent]
    problem = _stored_problem(client, replan["plan_id"])
    o1 = next(o for o in problem["orders"] if o["id"] == "O1")
    assert o1["committed"] is True and o1["assigned_rider_id"] == sent
    # The re-plan started from the route the rider follows.
    assert problem["initial_routes"] == [
        {"rider_id": sent, "stops": [{"kind": "pickup", "order_ids": ["O1"]}, {"kind": "dropoff", "order_id": "O1"}]}
    ]
    o1["committed"] = False
    free = client.post("/v1/plans", json=problem, headers=ORDER_SYSTEM).json()
    assert [r["rider_id"] for r in free["routes"] if r["stops"]] == [other]


def test_a_rider_waiting_at_the_store_is_not_held_to_a_later_pickup(client):
    """O1 is packed in 40 minutes: R1 waits at the store with time to spare, so its wave stays
    open (not committed); within the lead time it is."""
    seed_store(client, riders=("R1",), orders=())
    late = order("O1", 1200, 300, ready_at=at(40), promised_at=at(80))
    assert client.post("/v1/stores/S1/orders", json=late, headers=ORDER_SYSTEM).status_code == 201
    client.post("/v1/stores/S1/dispatch", json={"plan_time": at(0), "options": FAST}, headers=ORDER_SYSTEM)
    replan = client.post("/v1/stores/S1/dispatch", json={"plan_time": at(1), "options": FAST}, headers=ORDER_SYSTEM).json()
    assert next(o for o in _stored_problem(client, replan["plan_id"])["orders"] if o["id"] == "O1")["committed"] is False
    soon = client.post("/v1/stores/S1/dispatch", json={"plan_time": at(39), "options": FAST}, headers=ORDER_SYSTEM).json()
    assert next(o for o in _stored_problem(client, soon["plan_id"])["orders"] if o["id"] == "O1")["committed"] is True
