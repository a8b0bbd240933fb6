"""Finding 12: no stored record can stop a store from being dispatched. A record that breaks a
rule at the dispatch's time is left out with its field and reason; the rest is planned."""

from __future__ import annotations

from datetime import timedelta

from tests.api.conftest import ORDER_SYSTEM, RIDER1
from tests.api.helpers import FAST, T0, at, order, rider, seed_store


def _dispatch(client, minutes: float) -> dict:
    answer = client.post("/v1/stores/S1/dispatch", json={"plan_time": at(minutes), "options": FAST}, headers=ORDER_SYSTEM)
    assert answer.status_code == 200, answer.text
    return answer.json()


def _planned(plan: dict) -> set[str]:
    return {s["order_id"] for r in plan["routes"] for s in r["stops"] if s["kind"] == "dropoff"}


def test_an_order_open_for_more_than_seven_days_is_left_out_and_the_rest_planned(client):
    """An order accepted 8 days before the dispatch made every dispatch and quote of its store a
    422 naming it; now it is listed in `excluded` and the other orders are planned."""
    seed_store(client, riders=("R1",), orders=())
    old = order("OLD", created_at=at(-8 * 24 * 60), ready_at=at(-8 * 24 * 60), promised_at=at(-8 * 24 * 60 + 45))
    assert client.post("/v1/stores/S1/orders", json=old, headers=ORDER_SYSTEM).status_code == 201
    assert client.post("/v1/stores/S1/orders", json=order("O1"), headers=ORDER_SYSTEM).status_code == 201
    plan = _dispatch(client, 0)
    assert _planned(plan) == {"O1"}
    assert [(e["kind"], e["id"], e["field"]) for e in plan["excluded"]] == [("order", "OLD", "created_at")]
    assert "7 days" in plan["excluded"][0]["reason"]
    quote = client.post("/v1/stores/S1/quote", json={"dropoff": order()["dropoff"], "at": at(0)}, headers=ORDER_SYSTEM)
    assert quote.status_code == 200 and quote.json()["feasible"] is True
    # The stored problem is the one planned: the plan checks out against it.
    stored = client.get(f"/v1/plans/{plan['plan_id']}", headers=ORDER_SYSTEM).json()
    from api.tables import PlanRow

    with client.app.state.sessions() as db:
        problem = db.get(PlanRow, plan["plan_id"]).problem
    checked = client.post("/v1/plans/validate", json={"problem": problem, "plan": stored}, headers=ORDER_SYSTEM).json()
    assert checked["valid"] is True, checked


def test_a_rider_who_moves_its_availability_a_month_ahead_does_not_stop_its_store(client):
    """A rider key may set its own `available_at`: 30 days ahead, the rider is left out of the
    dispatch (listed with the field) and the orders go to the other rider."""
    seed_store(client, riders=("R1", "R2"), orders=("O1", "O2"))
    open_ended = {k: v for k, v in rider("R1").items() if k != "shift_end"}
    assert client.put("/v1/riders/R1", json=open_ended, headers=ORDER_SYSTEM).status_code == 200
    away = (T0 + timedelta(days=30)).isoformat()
    assert client.put("/v1/riders/R1", json={**open_ended, "available_at": away}, headers=RIDER1).status_code == 200
    plan = _dispatch(client, 0)
    assert _planned(plan) == {"O1", "O2"} and {r["rider_id"] for r in plan["routes"] if r["stops"]} == {"R2"}
    assert [(e["kind"], e["id"], e["field"]) for e in plan["excluded"]] == [("rider", "R1", "available_at")]


def test_a_rider_left_out_takes_its_carried_orders_with_it(client):
    """A rider carrying orders whose record breaks a rule goes out with them (they cannot be
    planned without it); the store's other orders are still planned."""
    seed_store(client, riders=("R1", "R2"), orders=("O1", "O2"))
    assert client.post("/v1/orders/O1/events", json={"type": "picked_up", "at": at(3)}, headers=RIDER1).status_code == 200
    open_ended = {k: v for k, v in rider("R1").items() if k != "shift_end"}
    assert client.put("/v1/riders/R1", json=open_ended, headers=ORDER_SYSTEM).status_code == 200
    away = (T0 + timedelta(days=30)).isoformat()
    assert client.put("/v1/riders/R1", json={**open_ended, "available_at": away}, headers=RIDER1).status_code == 200
    plan = _dispatch(client, 4)
    assert _planned(plan) == {"O2"}
    assert {(e["kind"], e["id"]) for e in plan["excluded"]} == {("rider", "R1"), ("order", "O1")}


def test_automatic_redispatch_plans_around_a_bad_record_and_records_what_it_did(client):
    """The service's own re-plans leave bad records out too, and `last_redispatch` on the store
    says what each one did, so a re-plan that cannot run is seen rather than lost in a log."""
    seed_store(client, riders=("R1",), orders=())
    client.app.state.redispatcher.now = lambda: T0 + timedelta(minutes=1)
    old = order("OLD", created_at=at(-8 * 24 * 60), ready_at=at(-8 * 24 * 60), promised_at=at(-8 * 24 * 60 + 45))
    client.post("/v1/stores/S1/orders", json=old, headers=ORDER_SYSTEM)
    policy = {"on_new_order": True, "options": FAST}
    assert client.put("/v1/stores/S1/redispatch", json=policy, headers=ORDER_SYSTEM).status_code == 200
    client.post("/v1/stores/S1/orders", json=order("O1"), headers=ORDER_SYSTEM)
    assert client.app.state.redispatcher.wait_idle(60)
    last = client.get("/v1/stores/S1", headers=ORDER_SYSTEM).json()["last_redispatch"]
    assert last["outcome"] == "planned" and last["excluded"] == 1 and last["trigger"] == "new_order"
    assert _planned(client.get("/v1/stores/S1/plan", headers=ORDER_SYSTEM).json()) == {"O1"}


def test_a_redispatch_that_cannot_plan_is_recorded_as_failed(client):
    """A policy whose travel matrix does not hold the store fails every re-plan (the store is not
    a record to leave out): the failure is on the store for anyone to see, with its reason."""
    seed_store(client, riders=("R1",), orders=())
    client.app.state.redispatcher.now = lambda: T0 + timedelta(minutes=1)
    elsewhere = {"lat": 31.0, "lon": 121.0}
    matrix = {"model": "matrix", "locations": [elsewhere], "durations_s": [[0]]}
    policy = {"on_new_order": True, "options": {**FAST, "travel": matrix}}
    assert client.put("/v1/stores/S1/redispatch", json=policy, headers=ORDER_SYSTEM).status_code == 200
    client.post("/v1/stores/S1/orders", json=order("O1"), headers=ORDER_SYSTEM)
    assert client.app.state.redispatcher.wait_idle(60)
    last = client.get("/v1/stores/S1", headers=ORDER_SYSTEM).json()["last_redispatch"]
    assert last["outcome"] == "failed" and "stores[S1].location" in last["detail"], last


def test_a_policy_with_a_matrix_that_cannot_be_read_is_refused(client):
    """A redispatch policy whose options break a rule on their own is a 422 when it is set, not
    a failure of every later re-plan."""
    seed_store(client, riders=(), orders=())
    ragged = {"model": "matrix", "locations": [{"lat": 31.23, "lon": 121.47}] * 2, "durations_s": [[0, 1], [1]]}
    answer = client.put("/v1/stores/S1/redispatch", json={"options": {"travel": ragged}}, headers=ORDER_SYSTEM)
    assert answer.status_code == 422 and answer.json()["detail"][0]["field"] == "options.travel.durations_s"


def test_records_stored_before_a_rule_was_tightened_are_read_shown_and_left_out(client):
    """An order of 10^12 items and a policy with a work limit of 10^12, written before today's
    bounds: reading them answers 200 with what is stored (no 500), a dispatch leaves the order
    out naming `items`, it can still be cancelled, and a re-plan with the policy is recorded as
    failed with the rule it breaks."""
    from sqlalchemy import update

    from api.tables import OrderRow, StoreRow

    seed_store(client, riders=("R1",), orders=("O1", "O2"))
    with client.app.state.sessions() as db, db.begin():
        row = db.get(OrderRow, "O2")
        row.document = {**row.document, "items": 10**12}
        policy = {"on_new_order": True, "options": {**FAST, "max_iterations": 10**12}}
        db.execute(update(StoreRow).where(StoreRow.id == "S1").values(redispatch=policy))
    read = client.get("/v1/orders/O2", headers=ORDER_SYSTEM)
    assert read.status_code == 200 and read.json()["order"]["items"] == 10**12
    assert client.get("/v1/stores/S1/orders", headers=ORDER_SYSTEM).status_code == 200
    assert client.get("/v1/stores/S1", headers=ORDER_SYSTEM).status_code == 200
    plan = _dispatch(client, 0)
    assert _planned(plan) == {"O1"} and [(e["id"], e["field"]) for e in plan["excluded"]] == [("O2", "items")]
    assert client.post("/v1/orders/O2/events", json={"type": "cancelled", "at": at(1)}, headers=ORDER_SYSTEM).status_code == 200
    client.app.state.redispatcher.now = lambda: T0 + timedelta(minutes=2)
    client.post("/v1/stores/S1/orders", json=order("O3", 300, -1500), headers=ORDER_SYSTEM)
    assert client.app.state.redispatcher.wait_idle(60)
    last = client.get("/v1/stores/S1", headers=ORDER_SYSTEM).json()["last_redispatch"]
    assert last["outcome"] == "failed" and "policy" in last["detail"], last
