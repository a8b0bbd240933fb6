"""Issue 21's bad inputs, one regression test each: every one is a 4xx naming the field (never a
500), its body is valid JSON, and nothing is stored."""

from __future__ import annotations

import json

import pytest

from tests.api.conftest import ADMIN, ORDER_SYSTEM, RIDER1, RIDER2
from tests.api.helpers import at, order, problem, rider, seed_store, store

JSON = {"content-type": "application/json"}


def _strict(text: str):
    """The body as strict JSON: NaN or Infinity in an answer fails here."""
    def refuse(name: str):
        raise AssertionError(f"the answer holds {name}, which is not JSON")

    return json.loads(text, parse_constant=refuse)


def _post_raw(client, method: str, path: str, body: str, headers: dict):
    return client.request(method, path, content=body.encode("utf-8", "surrogatepass"), headers={**headers, **JSON})


def _fields(response) -> list[str]:
    return [e["field"] for e in _strict(response.text)["detail"]]


def _raw(doc: dict, marker: str, literal: str) -> str:
    """`doc` as JSON text with the string `marker` replaced by `literal` (NaN, 1e400, ...)."""
    return json.dumps(doc).replace(json.dumps(marker), literal)


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", "1e400"])
def test_a_non_finite_number_anywhere_is_a_422_naming_it(client, literal):
    """Finding 1: NaN, Infinity or 1e400 in any number (a typed field, or inside a plan that is
    only a dict to the route) is one 422 naming where it is, with a body JSON can carry."""
    seed_store(client, riders=("R1",), orders=())
    cases = [
        ("post", "/v1/stores/S1/orders", order(items="X"), "items"),
        ("put", "/v1/riders/R1", rider(speed_mps="X"), "speed_mps"),
        ("post", "/v1/plans", {**problem(), "options": {"time_limit_s": "X"}}, "options.time_limit_s"),
        ("post", "/v1/plans/validate", {"problem": problem(), "plan": {"routes": [{"rider_id": "R1", "stops": [], "distance_m": "X"}]}},
         "plan.routes.0.distance_m"),
    ]
    for method, path, doc, field in cases:
        response = _post_raw(client, method, path, _raw(doc, "X", literal), ORDER_SYSTEM)
        assert response.status_code == 422, response.text
        assert _fields(response) == [field] and _strict(response.text)["detail"][0]["type"] == "finite_number"
    assert client.get("/v1/stores/S1/orders", headers=ORDER_SYSTEM).json() == []


@pytest.mark.parametrize(
    "method, path, body, field",
    [
        ("post", "/v1/stores/S1/orders", order(items=10**12), "items"),
        ("post", "/v1/stores/S1/orders", order(max_ride_s=10**12), "max_ride_s"),
        ("put", "/v1/riders/R1", rider(capacity_items=10**12), "capacity_items"),
        ("put", "/v1/riders/R1", rider(max_orders=10**12), "max_orders"),
        ("put", "/v1/riders/R1", rider(speed_mps=1e-300), "speed_mps"),
        ("post", "/v1/stores/S1/dispatch", {"plan_time": at(0), "options": {"seed": 10**30}}, "options.seed"),
        ("post", "/v1/stores/S1/dispatch", {"plan_time": at(0), "options": {"max_iterations": 10**12}}, "options.max_iterations"),
        ("post", "/v1/plans", problem(max_iterations=10**12), "options.max_iterations"),
    ],
)
def test_unbounded_numbers_are_refused_where_stored_as_where_solved(client, method, path, body, field):
    """Finding 2: the same bounds hold for what is stored (orders, riders) as for what is solved,
    so no accepted record can overflow a later dispatch; the store still plans afterwards."""
    seed_store(client, riders=("R1",), orders=("O1",))
    response = client.request(method, path, json=body, headers=ORDER_SYSTEM)
    assert response.status_code == 422 and field in _fields(response), response.text
    dispatched = client.post("/v1/stores/S1/dispatch", json={"plan_time": at(0), "options": {"max_iterations": 10}}, headers=ORDER_SYSTEM)
    assert dispatched.status_code == 200 and dispatched.json()["metrics"]["assigned"] == 1


def test_strict_types_a_boolean_is_not_a_number_nor_a_number_a_time(client):
    """Finding 14: `true` is not the integer 1, 1 is not `true`, and 12345 is not a date."""
    seed_store(client, riders=("R1",), orders=())
    for body, field in [
        (order(items=True), "items"),
        (order(created_at=12345), "created_at"),
        (order(created_at="12345"), "created_at"),
        (order(committed=1), "committed"),
    ]:
        response = client.post("/v1/stores/S1/orders", json=body, headers=ORDER_SYSTEM)
        assert response.status_code == 422 and field in _fields(response), response.text
    answer = client.put("/v1/riders/R1", json=rider(on_duty=1), headers=ORDER_SYSTEM)
    assert answer.status_code == 422 and _fields(answer) == ["on_duty"]


@pytest.mark.parametrize(
    "method, path, body, field",
    [
        ("post", "/v1/stores/S1/orders", order(created_at="9999-12-31T23:59:59-23:59"), "created_at"),
        ("post", "/v1/stores/S1/orders", order(promised_at="0001-01-01T00:00:00+01:00"), "promised_at"),
        ("post", "/v1/stores/S1/dispatch", {"plan_time": "0001-01-01T00:00:00+00:00"}, "plan_time"),
        ("post", "/v1/orders/O1/events", {"type": "cancelled", "at": "9999-12-31T23:59:59+00:00"}, "at"),
        ("post", "/v1/plans", {**problem(), "plan_time": "9999-12-31T23:59:59-23:59"}, "plan_time"),
    ],
)
def test_extreme_dates_are_a_422(client, method, path, body, field):
    """Finding 4: year 9999 and year 1 overflowed; they are outside 1900-2199 and refused."""
    seed_store(client, riders=("R1",), orders=("O1",))
    response = client.request(method, path, json=body, headers=ORDER_SYSTEM)
    assert response.status_code == 422 and field in _fields(response), response.text


def test_ids_the_database_cannot_store_are_a_422_naming_the_field(client):
    """Finding 5: a NUL byte (PostgreSQL refuses it) or a lone surrogate (not UTF-8) in a body
    id, or a NUL in a path, is a 422 on that field; nothing is stored, on either database."""
    seed_store(client, riders=("R1",), orders=())
    nul = client.post("/v1/stores/S1/orders", json=order("O\x001"), headers=ORDER_SYSTEM)
    assert nul.status_code == 422 and _fields(nul) == ["id"]
    surrogate = _post_raw(client, "post", "/v1/stores/S1/orders", json.dumps(order("O1")).replace('"O1"', '"O\\ud8001"', 1), ORDER_SYSTEM)
    assert surrogate.status_code == 422 and _fields(surrogate) == ["id"]
    path = client.put("/v1/stores/S%001", json=store("S\x001"), headers=ORDER_SYSTEM)
    assert path.status_code == 422 and "store_id" in _fields(path)
    assert client.get("/v1/stores/S%001/orders", headers=ORDER_SYSTEM).status_code == 422
    assert client.get("/v1/stores/S1/orders", headers=ORDER_SYSTEM).json() == []


def test_a_malformed_plan_to_validate_is_a_422(client):
    """Finding 6: `late_s: Infinity` and an object as `order_id` made /v1/plans/validate a 500."""
    made = client.post("/v1/plans", json=problem(), headers=ORDER_SYSTEM).json()
    stop = next(s for r in made["routes"] for s in r["stops"] if s["kind"] == "dropoff")
    stop["late_s"] = "X"
    response = _post_raw(client, "post", "/v1/plans/validate", _raw({"problem": problem(), "plan": made}, "X", "Infinity"), ORDER_SYSTEM)
    assert response.status_code == 422, response.text
    stop["late_s"], stop["order_id"] = 0, {"id": "O1"}
    response = client.post("/v1/plans/validate", json={"problem": problem(), "plan": made}, headers=ORDER_SYSTEM)
    assert response.status_code == 422 and _strict(response.text)["detail"][0]["type"] == "invalid_plan"
    assert _fields(response)[0].endswith("order_id")


def test_a_ragged_matrix_and_a_deep_geofence_are_a_422(client):
    """Findings 7 and 8: rows of different lengths, and a geofence nested 900 deep."""
    doc = problem()
    points = [doc["stores"][0]["location"]] + [r["location"] for r in doc["riders"]] + [o["dropoff"] for o in doc["orders"]]
    doc["options"]["travel"] = {"model": "matrix", "locations": points, "durations_s": [[0] * len(points)] * (len(points) - 1) + [[0]]}
    ragged = client.post("/v1/plans", json=doc, headers=ORDER_SYSTEM)
    assert ragged.status_code == 422 and _fields(ragged) == ["options.travel.durations_s"]
    deep: list = [121.47, 31.23]
    for _ in range(900):
        deep = [deep]
    fenced = client.put("/v1/stores/S1", json=store(geofence={"type": "Polygon", "coordinates": deep}), headers=ORDER_SYSTEM)
    assert fenced.status_code == 422 and _strict(fenced.text)["detail"][0]["type"] == "geofence_depth"
    assert client.get("/v1/stores/S1", headers=ORDER_SYSTEM).status_code == 404


def test_a_body_nested_too_deep_or_with_a_huge_integer_is_a_422(client):
    """JSON the reader cannot take (nesting past Python's recursion limit, an integer of 5,000
    digits) is a 422 too, not a 400 or a 500."""
    for body in ["[" * 100_000 + "]" * 100_000, '{"id": "S1", "location": {"lat": ' + "1" * 5000 + ', "lon": 1}}']:
        response = _post_raw(client, "put", "/v1/stores/S1", body, ORDER_SYSTEM)
        assert response.status_code == 422, response.text[:300]


def test_a_rider_key_learns_nothing_about_other_stores_orders(client):
    """Finding 13: authorisation comes before anything that reveals data. An event with an early
    `at` on another store's order is a 403, not a 422 quoting its created_at; an unknown order
    and a known one the key may not touch answer alike."""
    seed_store(client, riders=("R1",), orders=("O1",))
    client.put("/v1/stores/S2", json=store("S2"), headers=ORDER_SYSTEM)
    client.put("/v1/riders/R2", json=rider("R2", store_id="S2"), headers=ORDER_SYSTEM)
    early = {"type": "picked_up", "at": at(-600)}
    known = client.post("/v1/orders/O1/events", json=early, headers=RIDER2)
    unknown = client.post("/v1/orders/O404/events", json=early, headers=RIDER2)
    assert known.status_code == unknown.status_code == 403
    assert known.json()["detail"].replace("O1", "X") == unknown.json()["detail"].replace("O404", "X")
    assert "created_at" not in known.text
    read_known, read_unknown = (client.get(f"/v1/orders/{o}", headers=RIDER2) for o in ("O1", "O404"))
    assert read_known.status_code == read_unknown.status_code == 403
    assert read_known.json()["detail"].replace("O1", "X") == read_unknown.json()["detail"].replace("O404", "X")
    # A rider key moving itself to a store that does not exist learns nothing about stores.
    moved = client.put("/v1/riders/R1", json=rider("R1", store_id="S404"), headers=RIDER1)
    assert moved.status_code == 403
    # Its own store's order, with an early time: now the 422 is the rider's to see.
    own = client.post("/v1/orders/O1/events", json=early, headers=RIDER1)
    assert own.status_code == 422 and _fields(own) == ["at"]
    assert client.post("/v1/orders/O404/events", json={"type": "cancelled"}, headers=ADMIN).status_code == 404


def test_405_lists_every_method_of_the_path(client):
    """Finding 14: the Allow header names every method the path answers, not the first route's."""
    response = client.delete("/v1/stores/S1", headers=ORDER_SYSTEM)
    assert response.status_code == 405 and response.headers["allow"] == "GET, PUT"
    assert client.delete("/v1/plans/validate", headers=ORDER_SYSTEM).headers["allow"] == "POST"
    assert response.json()["code"] == "method_not_allowed"


def test_openapi_declares_every_status_a_route_can_answer(settings_for):
    """Finding 14: 401, 403, 404, 413, 422, 503 and 504 are declared where they can happen, each
    503 with its Retry-After header, and options.time_limit_s has the service's own maximum."""
    from api.main import create_app

    spec = create_app(settings_for(max_time_limit_s=7.5)).openapi()
    for path, operations in spec["paths"].items():
        for method, op in operations.items():
            codes = set(op["responses"])
            if path.startswith("/v1/"):
                assert {"401", "403", "503"} <= codes, (method, path)
                assert "Retry-After" in op["responses"]["503"]["headers"]
            if "{" in path or path.endswith("/orders"):
                assert "404" in codes or method == "put", (method, path)
            if "requestBody" in op:
                assert {"413", "422"} <= codes, (method, path)
            if path in ("/v1/plans", "/v1/stores/{store_id}/dispatch") and method == "post":
                assert "504" in codes
    for name, schema in spec["components"]["schemas"].items():
        if name.startswith("OptionsDoc"):
            assert schema["properties"]["time_limit_s"]["maximum"] == 7.5
    assert "ErrorBody" in spec["components"]["schemas"]


def test_a_default_time_limit_above_the_service_maximum_is_lowered_not_refused(settings_for):
    """With DISPATCH_MAX_TIME_LIMIT_S below the contract's 1 s default, a request that leaves the
    limit out is planned with the service's maximum; one that asks for more is still a 422."""
    from fastapi.testclient import TestClient

    from api.main import create_app

    with TestClient(create_app(settings_for(max_time_limit_s=0.5))) as client:
        seed_store(client, riders=("R1",), orders=("O1",))
        assert client.post("/v1/stores/S1/dispatch", json={"plan_time": at(0)}, headers=ORDER_SYSTEM).status_code == 200
        too_long = client.post("/v1/stores/S1/dispatch", json={"plan_time": at(0), "options": {"time_limit_s": 0.6}}, headers=ORDER_SYSTEM)
        assert too_long.status_code == 422 and _strict(too_long.text)["detail"][0]["type"] == "time_limit_too_long"
