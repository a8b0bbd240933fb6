"""Keys and roles: 401 without a known key, 403 across each role boundary."""

from __future__ import annotations

import pytest

from tests.api.conftest import ADMIN, ORDER_SYSTEM, RIDER1, RIDER2
from tests.api.helpers import at, order, problem, rider, seed_store, store

ENDPOINTS = [
    ("post", "/v1/plans", problem()),
    ("get", "/v1/plans/x", None),
    ("post", "/v1/plans/validate", {"problem": problem(), "plan": {}}),
    ("put", "/v1/stores/S1", store()),
    ("get", "/v1/stores/S1", None),
    ("post", "/v1/stores/S1/orders", order()),
    ("post", "/v1/stores/S1/dispatch", {"plan_time": at(0)}),
    ("get", "/v1/stores/S1/plan", None),
    ("post", "/v1/orders/O1/events", {"type": "cancelled"}),
    ("put", "/v1/riders/R1", rider()),
    ("get", "/v1/riders/R1/route", None),
]


@pytest.mark.parametrize("method, path, body", ENDPOINTS, ids=[f"{m} {p}" for m, p, _ in ENDPOINTS])
def test_missing_and_unknown_keys_are_401(client, method, path, body):
    """Every /v1 endpoint wants a key: none, a malformed header, or an unknown key is a 401."""
    kwargs = {"json": body} if body is not None else {}
    missing = client.request(method, path, **kwargs)
    assert missing.status_code == 401 and missing.headers["www-authenticate"] == "Bearer"
    assert client.request(method, path, headers={"Authorization": "Bearer wrong"}, **kwargs).status_code == 401
    assert client.request(method, path, headers={"Authorization": "Basic b3M6a2V5"}, **kwargs).status_code == 401


RIDER_FORBIDDEN = [
    ("post", "/v1/plans", problem()),
    ("get", "/v1/plans/x", None),
    ("post", "/v1/plans/validate", {"problem": problem(), "plan": {}}),
    ("put", "/v1/stores/S1", store()),
    ("get", "/v1/stores/S1", None),
    ("get", "/v1/stores/S1/orders", None),
    ("post", "/v1/stores/S1/orders", order()),
    ("post", "/v1/stores/S1/dispatch", {"plan_time": at(0)}),
    ("get", "/v1/stores/S1/plan", None),
    ("post", "/v1/orders/O1/events", {"type": "cancelled"}),
    ("get", "/v1/riders/R2/route", None),
    ("get", "/v1/riders/R2", None),
    ("put", "/v1/riders/R2", rider("R2")),
]


@pytest.mark.parametrize("method, path, body", RIDER_FORBIDDEN, ids=[f"{m} {p}" for m, p, _ in RIDER_FORBIDDEN])
def test_a_rider_key_is_403_outside_its_own_rider(client, method, path, body):
    """A rider key reaches only its own route, location and orders' events; everything else is 403."""
    seed_store(client, orders=("O1",))
    kwargs = {"json": body} if body is not None else {}
    response = client.request(method, path, headers=RIDER1, **kwargs)
    assert response.status_code == 403, response.text
    assert response.json()["code"] == "forbidden"


def test_order_system_cannot_report_pickups_or_deliveries(client):
    """The order system cancels; picking up and delivering is the rider's (403)."""
    seed_store(client, orders=("O1",))
    for kind in ("picked_up", "delivered"):
        response = client.post("/v1/orders/O1/events", json={"type": kind, "rider_id": "R1"}, headers=ORDER_SYSTEM)
        assert response.status_code == 403


def test_admin_may_do_what_every_role_does(client):
    """An admin key passes each role's boundary: plan, register, report on behalf of a rider, read routes."""
    assert client.post("/v1/plans", json=problem(), headers=ADMIN).status_code == 201
    assert client.put("/v1/stores/S1", json=store(), headers=ADMIN).status_code == 201
    assert client.put("/v1/riders/R1", json=rider(), headers=ADMIN).status_code == 201
    assert client.post("/v1/stores/S1/orders", json=order(), headers=ADMIN).status_code == 201
    assert client.post("/v1/orders/O1/events", json={"type": "picked_up", "rider_id": "R1", "at": at(3)}, headers=ADMIN).status_code == 200
    assert client.get("/v1/riders/R1/route", headers=ADMIN).status_code == 200
    assert client.get("/v1/orders/O1", headers=RIDER2).status_code == 403


def test_health_endpoints_need_no_key(client):
    """/healthz and /readyz answer without a key."""
    assert client.get("/healthz").json() == {"status": "ok", "detail": None}
    assert client.get("/readyz").status_code == 200
