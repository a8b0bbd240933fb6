"""Order events: the transitions that make sense, the ones that do not, and who may post them."""

from __future__ import annotations

import pytest

from tests.api.conftest import ADMIN, ORDER_SYSTEM, RIDER1, RIDER2
from tests.api.helpers import at, seed_store


def _event(client, order_id, headers, **body):
    return client.post(f"/v1/orders/{order_id}/events", json=body, headers=headers)


def test_pickup_then_delivery_by_the_carrying_rider(client):
    """open -> picked_up (R1) -> delivered (R1); the order records its rider and times."""
    seed_store(client, orders=("O1",))
    picked = _event(client, "O1", RIDER1, type="picked_up", at=at(3))
    assert picked.status_code == 200 and picked.json()["status"] == "picked_up" and picked.json()["rider_id"] == "R1"
    assert client.get("/v1/riders/R1", headers=RIDER1).json()["rider"]["carrying"] == ["O1"]
    done = _event(client, "O1", RIDER1, type="delivered", at=at(15))
    assert done.status_code == 200 and done.json()["status"] == "delivered"
    assert client.get("/v1/riders/R1", headers=RIDER1).json()["rider"]["carrying"] == []


def test_repeating_an_event_changes_nothing(client):
    """A retried pickup by the same rider answers 200 and leaves the order as it was."""
    seed_store(client, orders=("O1",))
    first = _event(client, "O1", RIDER1, type="picked_up", at=at(3)).json()
    again = _event(client, "O1", RIDER1, type="picked_up", at=at(4))
    assert again.status_code == 200 and again.json()["picked_up_at"] == first["picked_up_at"]


@pytest.mark.parametrize(
    "steps, last, words",
    [
        ([], ("delivered", RIDER1), "must be picked up before"),
        ([("picked_up", RIDER1)], ("picked_up", RIDER2), "picked up by rider 'R1'"),
        ([("cancelled", ORDER_SYSTEM)], ("picked_up", RIDER1), "cancelled"),
        ([("picked_up", RIDER1), ("delivered", RIDER1)], ("cancelled", ORDER_SYSTEM), "delivered"),
        ([("cancelled", ORDER_SYSTEM)], ("delivered", ADMIN), "cancelled"),
    ],
    ids=["delivered-before-pickup", "second-rider-pickup", "pickup-after-cancel", "cancel-after-delivery", "deliver-cancelled"],
)
def test_impossible_transitions_are_409_with_the_reason(client, steps, last, words):
    """A transition that makes no sense is refused with 409 and a sentence saying why."""
    seed_store(client, orders=("O1",))
    for kind, headers in steps:
        body = {"type": kind, "at": at(5)}
        if headers is ADMIN and kind != "cancelled":
            body["rider_id"] = "R1"
        assert _event(client, "O1", headers, **body).status_code == 200
    kind, headers = last
    body = {"type": kind, "at": at(20)}
    if headers is ADMIN:
        body["rider_id"] = "R1"
    response = _event(client, "O1", headers, **body)
    assert response.status_code == 409 and response.json()["code"] == "conflict"
    assert words in response.json()["detail"]


def test_delivery_before_pickup_time_is_422_on_at(client):
    """A delivery stamped before its pickup names the field `at`."""
    seed_store(client, orders=("O1",))
    _event(client, "O1", RIDER1, type="picked_up", at=at(10))
    response = _event(client, "O1", RIDER1, type="delivered", at=at(5))
    assert response.status_code == 422 and response.json()["detail"][0]["loc"] == ["body", "at"]


def test_who_may_post_which_event(client):
    """Riders pick up and deliver (only their own), the order system cancels, an admin does any."""
    seed_store(client, orders=("O1", "O2"))
    assert _event(client, "O1", ORDER_SYSTEM, type="picked_up").status_code == 403
    assert _event(client, "O1", RIDER1, type="cancelled").status_code == 403
    assert _event(client, "O1", RIDER1, type="picked_up", rider_id="R2").status_code == 403
    assert _event(client, "O1", RIDER1, type="picked_up", at=at(3)).status_code == 200
    assert _event(client, "O1", RIDER2, type="delivered").status_code == 403
    assert _event(client, "O1", ORDER_SYSTEM, type="delivered").status_code == 403
    assert _event(client, "O1", ADMIN, type="delivered", at=at(20)).status_code == 200
    assert _event(client, "O2", ADMIN, type="picked_up").status_code == 422  # which rider?
    assert _event(client, "O2", ORDER_SYSTEM, type="cancelled").json()["status"] == "cancelled"


def test_a_rider_reads_only_its_own_orders(client):
    """GET /v1/orders/{id}: the carrying rider and the order system may, another rider may not."""
    seed_store(client, orders=("O1",))
    _event(client, "O1", RIDER1, type="picked_up", at=at(3))
    assert client.get("/v1/orders/O1", headers=RIDER1).status_code == 200
    assert client.get("/v1/orders/O1", headers=RIDER2).status_code == 403
    assert client.get("/v1/orders/O1", headers=ORDER_SYSTEM).json()["status"] == "picked_up"
    assert client.get("/v1/orders/O404", headers=ORDER_SYSTEM).status_code == 404


def test_a_cancelled_order_leaves_the_next_dispatch_and_the_route(client):
    """After a cancellation the order is neither planned nor on any rider's route."""
    seed_store(client, riders=("R1",), orders=("O1", "O2"))
    first = client.post("/v1/stores/S1/dispatch", json={"plan_time": at(0), "options": {"max_iterations": 10}}, headers=ORDER_SYSTEM).json()
    assert first["metrics"]["assigned"] == 2
    _event(client, "O2", ORDER_SYSTEM, type="cancelled")
    route = client.get("/v1/riders/R1/route", headers=RIDER1).json()
    assert all(s.get("order_id") != "O2" and "O2" not in s.get("order_ids", []) for s in route["stops"])
    second = client.post("/v1/stores/S1/dispatch", json={"plan_time": at(1), "options": {"max_iterations": 10}}, headers=ORDER_SYSTEM).json()
    assert second["metrics"]["orders"] == 1
