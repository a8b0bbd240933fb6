"""Bad input: a 422 whose body names the field and the reason, and nothing stored."""

from __future__ import annotations

import pytest

from tests.api.conftest import ORDER_SYSTEM, RIDER1
from tests.api.helpers import at, order, problem, rider, seed_store, store


def _bad_geofence() -> dict:
    return store(geofence={"type": "Polygon", "coordinates": [[[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]]})


def _problem_with(path: list, value) -> dict:
    doc = problem()
    node = doc
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return doc


CASES = [
    # (name, method, path, body, headers, expected field path (suffix of loc), expected type or None)
    ("negative items", "post", "/v1/stores/S1/orders", order(items=-1), ORDER_SYSTEM, ["items"], None),
    ("latitude out of range", "post", "/v1/stores/S1/orders", order(dropoff={"lat": 95, "lon": 121.47}), ORDER_SYSTEM, ["dropoff", "lat"], None),
    ("time without offset", "post", "/v1/stores/S1/orders", order(created_at="2026-11-23T10:00:00"), ORDER_SYSTEM, ["created_at"], None),
    ("ready before created", "post", "/v1/stores/S1/orders", order(ready_at=at(-30)), ORDER_SYSTEM, ["ready_at"], "invalid"),
    ("promise before created", "post", "/v1/stores/S1/orders", order(promised_at=at(-30)), ORDER_SYSTEM, ["promised_at"], "invalid"),
    ("unknown order field", "post", "/v1/stores/S1/orders", order(colour="red"), ORDER_SYSTEM, ["colour"], "extra_forbidden"),
    ("missing drop-off", "post", "/v1/stores/S1/orders", {k: v for k, v in order().items() if k != "dropoff"}, ORDER_SYSTEM, ["dropoff"], "missing"),
    ("order for another store", "post", "/v1/stores/S1/orders", order(store_id="S2"), ORDER_SYSTEM, ["store_id"], "invalid"),
    ("drop-off outside the area", "post", "/v1/stores/S1/orders", order(north_m=4000), ORDER_SYSTEM, ["dropoff"], "outside_service_area"),
    ("bad geofence", "put", "/v1/stores/S1", _bad_geofence(), ORDER_SYSTEM, ["geofence"], "invalid"),
    ("store id differs from path", "put", "/v1/stores/S1", store("S2"), ORDER_SYSTEM, ["id"], "invalid"),
    ("zero speed", "put", "/v1/riders/R1", rider(speed_mps=0), ORDER_SYSTEM, ["speed_mps"], None),
    ("rider of unknown store", "put", "/v1/riders/R3", rider("R3", store_id="S9"), ORDER_SYSTEM, ["store_id"], "unknown_store"),
    ("shift ends before start", "put", "/v1/riders/R3", rider("R3", shift_end=at(-60)), ORDER_SYSTEM, ["shift_end"], "invalid"),
    ("unknown event type", "post", "/v1/orders/O1/events", {"type": "lost"}, RIDER1, ["type"], None),
    ("unknown lateness", "post", "/v1/plans", _problem_with(["options", "lateness"], "maybe"), ORDER_SYSTEM, ["options", "lateness"], None),
    ("carried order not listed", "post", "/v1/plans", _problem_with(["riders", 0, "carrying"], ["O9"]), ORDER_SYSTEM, ["riders[R1]", "carrying"], "invalid"),
    ("bad dispatch plan_time", "post", "/v1/stores/S1/dispatch", {"plan_time": "noon"}, ORDER_SYSTEM, ["plan_time"], None),
    ("plan that cannot be read", "post", "/v1/plans/validate", {"problem": problem(), "plan": {"routes": [{"stops": "x"}]}}, ORDER_SYSTEM, ["plan", "routes", 0, "rider_id"], "invalid_plan"),
]


@pytest.mark.parametrize("name, method, path, body, headers, field, kind", CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_422_naming_the_field(client, name, method, path, body, headers, field, kind):
    """Each kind of bad input gets a 422 whose first error's location ends with the field, with a reason."""
    seed_store(client, riders=("R1",), orders=("O1",) if "events" in path else ())
    before = client.get("/v1/stores/S1/orders", headers=ORDER_SYSTEM).json()
    response = client.request(method, path, json=body, headers=headers)
    assert response.status_code == 422, response.text
    errors = response.json()["detail"]
    assert any(e["loc"][-len(field):] == field for e in errors), errors
    matching = next(e for e in errors if e["loc"][-len(field):] == field)
    assert matching["msg"]
    if kind is not None:
        assert matching["type"] == kind
    assert client.get("/v1/stores/S1/orders", headers=ORDER_SYSTEM).json() == before


def test_body_over_the_size_limit_is_413(settings_for):
    """A body over DISPATCH_MAX_BODY_BYTES is refused before it is parsed."""
    from fastapi.testclient import TestClient

    from api.main import create_app

    with TestClient(create_app(settings_for(max_body_bytes=4096))) as c:
        big = problem()
        big["orders"] = [order(f"O{i}") for i in range(60)]
        response = c.post("/v1/plans", json=big, headers=ORDER_SYSTEM)
        assert response.status_code == 413 and response.json()["code"] == "payload_too_large"
        chunks = (b" " * 1024 for _ in range(8))  # no Content-Length: counted as it streams
        streamed = c.post("/v1/plans", content=chunks, headers={**ORDER_SYSTEM, "content-type": "application/json"})
        assert streamed.status_code == 413
        assert c.post("/v1/plans", json=problem(), headers=ORDER_SYSTEM).status_code == 201
