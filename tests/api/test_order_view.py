"""What an order system sees of an order after a dispatch: its rider, ETAs, status and promise."""

from __future__ import annotations

from tests.api.conftest import ORDER_SYSTEM, RIDER1
from tests.api.helpers import FAST, at, seed_store


def _dispatch(client) -> dict:
    answer = client.post("/v1/stores/S1/dispatch", json={"plan_time": at(0), "options": FAST}, headers=ORDER_SYSTEM)
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_an_open_order_shows_the_planned_rider_and_its_etas_from_the_current_plan(client):
    """After a dispatch: rider_id and plan.rider_id are the plan's rider; the ETAs are its stops'."""
    seed_store(client, riders=("R1",), orders=("O1", "O2"))
    before = client.get("/v1/orders/O1", headers=ORDER_SYSTEM).json()
    assert before["rider_id"] is None and before["plan"] is None and before["promised_at"] == at(45)
    plan = _dispatch(client)
    stops = plan["routes"][0]["stops"]
    pickup = next(s for s in stops if s["kind"] == "pickup" and "O1" in s["order_ids"])
    drop = next(s for s in stops if s["kind"] == "dropoff" and s["order_id"] == "O1")
    view = client.get("/v1/orders/O1", headers=ORDER_SYSTEM).json()
    assert view["status"] == "open" and view["rider_id"] == "R1"
    assert view["plan"]["plan_id"] == plan["plan_id"] and view["plan"]["rider_id"] == "R1"
    assert view["plan"]["pickup_eta"] == pickup["arrive_at"][:19] + "+08:00"
    assert view["plan"]["dropoff_eta"] == drop["arrive_at"][:19] + "+08:00"
    assert view["plan"]["as_of"] == at(0) and view["plan"]["late_s"] == drop["late_s"]
    # Without uncertainty the drop-off's ETA range is its planned start.
    for q in ("p10", "p50", "p90"):
        assert view["plan"][f"dropoff_eta_{q}"] == drop[f"eta_{q}"][:19] + "+08:00"


def test_after_the_pickup_the_order_shows_its_carrier_and_only_the_dropoff_eta(client):
    """A picked-up order: rider_id is its carrier, no pickup ETA, the drop-off ETA stays."""
    seed_store(client, riders=("R1",), orders=("O1",))
    _dispatch(client)
    answer = client.post("/v1/orders/O1/events", json={"type": "picked_up", "at": at(5)}, headers=RIDER1)
    view = answer.json()
    assert view["status"] == "picked_up" and view["rider_id"] == "R1"
    assert view["plan"]["pickup_eta"] is None and view["plan"]["dropoff_eta"] is not None


def test_an_order_the_plan_left_unassigned_says_why(client):
    """No rider on duty: the plan view has no rider and names the reason."""
    seed_store(client, riders=(), orders=("O1",))
    _dispatch(client)
    view = client.get("/v1/orders/O1", headers=ORDER_SYSTEM).json()
    assert view["rider_id"] is None and view["plan"]["rider_id"] is None
    assert view["plan"]["unassigned_reason"] and view["plan"]["unassigned_detail"]


def test_the_store_list_of_orders_carries_the_same_view(client):
    """GET /v1/stores/S1/orders shows each order's rider and ETAs as GET /v1/orders/{id} does."""
    seed_store(client, riders=("R1",), orders=("O1", "O2"))
    _dispatch(client)
    listed = {o["order"]["id"]: o for o in client.get("/v1/stores/S1/orders", headers=ORDER_SYSTEM).json()}
    for oid in ("O1", "O2"):
        assert listed[oid] == client.get(f"/v1/orders/{oid}", headers=ORDER_SYSTEM).json()
