"""Riders: registration, self-reported location and duty, and the route a rider's app reads."""

from __future__ import annotations

from tests.api.conftest import ADMIN, ORDER_SYSTEM, RIDER1, RIDER2
from tests.api.helpers import STORE_LAT, STORE_LON, at, rider, seed_store


def test_order_system_registers_and_edits_riders(client):
    """PUT creates a rider (201) and then updates it (200); GET returns the document with `carrying`."""
    seed_store(client, riders=(), orders=())
    assert client.put("/v1/riders/R1", json=rider(), headers=ORDER_SYSTEM).status_code == 201
    response = client.put("/v1/riders/R1", json=rider(capacity_items=12), headers=ADMIN)
    assert response.status_code == 200
    body = response.json()
    assert body["rider"]["capacity_items"] == 12 and body["rider"]["carrying"] == [] and body["on_duty"] is True


def test_a_rider_reports_its_location_and_duty_but_nothing_else(client):
    """A rider key may move itself and go off duty; changing its capacity is a 403; another rider is a 403."""
    seed_store(client, riders=("R1",), orders=())
    moved = rider(location={"lat": STORE_LAT + 0.01, "lon": STORE_LON}, on_duty=False)
    response = client.put("/v1/riders/R1", json=moved, headers=RIDER1)
    assert response.status_code == 200 and response.json()["on_duty"] is False
    assert response.json()["rider"]["location"]["lat"] == STORE_LAT + 0.01
    forbidden = client.put("/v1/riders/R1", json=rider(capacity_items=99), headers=RIDER1)
    assert forbidden.status_code == 403 and "capacity_items" in forbidden.json()["detail"]
    assert client.put("/v1/riders/R1", json=rider(), headers=RIDER2).status_code == 403
    assert client.put("/v1/riders/R2", json=rider("R2"), headers=RIDER2).status_code == 403  # cannot self-register


def test_carrying_must_agree_with_order_events(client):
    """A rider document whose `carrying` contradicts the order events is a 409."""
    seed_store(client, riders=("R1",), orders=("O1",))
    response = client.put("/v1/riders/R1", json=rider(carrying=["O1"]), headers=ORDER_SYSTEM)
    assert response.status_code == 409
    client.post("/v1/orders/O1/events", json={"type": "picked_up", "at": at(3)}, headers=RIDER1)
    assert client.put("/v1/riders/R1", json=rider(carrying=["O1"]), headers=RIDER1).status_code == 200


def test_route_before_any_dispatch_is_empty(client):
    """A rider with no plan yet gets an empty stop list, not an error."""
    seed_store(client, riders=("R1",), orders=())
    route = client.get("/v1/riders/R1/route", headers=RIDER1).json()
    assert route == {"rider_id": "R1", "store_id": "S1", "plan_id": None, "as_of": None, "stops": []}


def test_route_shows_remaining_stops_with_etas_and_drops_done_ones(client):
    """The route lists the plan's stops with ETAs; after a pickup the pickup stop drops out."""
    seed_store(client, riders=("R1",), orders=("O1", "O2"))
    plan = client.post("/v1/stores/S1/dispatch", json={"plan_time": at(0), "options": {"max_iterations": 10}}, headers=ORDER_SYSTEM).json()
    route = client.get("/v1/riders/R1/route", headers=RIDER1).json()
    assert route["plan_id"] == plan["plan_id"] and route["as_of"] is not None
    planned = next(r for r in plan["routes"] if r["rider_id"] == "R1")["stops"]
    assert route["stops"] == planned
    assert all("arrive_at" in s and "depart_at" in s for s in route["stops"])
    first_pickup = next(s for s in planned if s["kind"] == "pickup")
    for oid in first_pickup["order_ids"]:
        client.post(f"/v1/orders/{oid}/events", json={"type": "picked_up", "at": at(5)}, headers=RIDER1)
    after = client.get("/v1/riders/R1/route", headers=RIDER1).json()["stops"]
    assert first_pickup not in after and len(after) == len(planned) - 1


def test_route_as_geojson_is_a_feature_collection_in_lon_lat_order(client):
    """?format=geojson: a FeatureCollection with the route LineString and stop Points, [lon, lat]."""
    seed_store(client, riders=("R1",), orders=("O1",))
    client.post("/v1/stores/S1/dispatch", json={"plan_time": at(0), "options": {"max_iterations": 10}}, headers=ORDER_SYSTEM)
    response = client.get("/v1/riders/R1/route?format=geojson", headers=RIDER1)
    assert response.status_code == 200 and response.headers["content-type"].startswith("application/geo+json")
    geo = response.json()
    assert geo["type"] == "FeatureCollection"
    line = next(f for f in geo["features"] if f["geometry"]["type"] == "LineString")
    assert line["geometry"]["coordinates"][0] == [STORE_LON, STORE_LAT]
    points = [f for f in geo["features"] if f["geometry"]["type"] == "Point" and f["properties"]["kind"] != "rider"]
    assert [p["properties"]["sequence"] for p in points] == [1, 2]
    lon, lat = points[-1]["geometry"]["coordinates"]
    assert abs(lat - STORE_LAT) < 0.05 and abs(lon - STORE_LON) < 0.05 and lon > 100


def test_a_rider_cannot_read_another_riders_route(client):
    """Rider R2's key asking for R1's route gets 403; the order system may read it."""
    seed_store(client, orders=())
    assert client.get("/v1/riders/R1/route", headers=RIDER2).status_code == 403
    assert client.get("/v1/riders/R1/route", headers=ORDER_SYSTEM).status_code == 200
    assert client.get("/v1/riders/R1", headers=RIDER2).status_code == 403
