"""Rider location reports: a small POST a rider app sends every few seconds, with its limits."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from fastapi.testclient import TestClient

from api.main import create_app
from tests.api.conftest import ADMIN, ORDER_SYSTEM, RIDER1, RIDER2
from tests.api.helpers import STORE_LAT, STORE_LON, rider, seed_store


def _now(seconds: float = 0) -> str:
    return (datetime.now(timezone.utc) + timedelta(seconds=seconds)).isoformat()


def _ping(client, headers=RIDER1, rider_id="R1", **fields):
    body = {"lat": STORE_LAT + 0.002, "lon": STORE_LON + 0.001, **fields}
    return client.post(f"/v1/riders/{rider_id}/location", json=body, headers=headers)


def test_a_rider_key_reports_its_position_and_the_rider_document_shows_it(client):
    """A rider key's report moves its rider (location, heading, speed, when) and nothing else."""
    seed_store(client, riders=("R1",), orders=())
    answer = _ping(client, at=_now(-1), heading_deg=90.0, speed_mps=4.2)
    assert answer.status_code == 200, answer.text
    ack = answer.json()
    assert ack["applied"] is True and ack["location"] == {"lat": STORE_LAT + 0.002, "lon": STORE_LON + 0.001}
    assert ack["heading_deg"] == 90.0 and ack["speed_mps"] == 4.2
    shown = client.get("/v1/riders/R1", headers=RIDER1).json()
    assert shown["rider"]["location"]["lat"] == STORE_LAT + 0.002 and shown["heading_deg"] == 90.0
    assert shown["location_at"] == ack["location_at"] and shown["rider"]["capacity_items"] == 30


def test_a_rider_key_reports_only_for_itself_and_others_may_relay(client):
    """Another rider's key: 403; the order system and admins may report for any rider; unknown rider: 404."""
    seed_store(client, riders=("R1", "R2"), orders=())
    assert _ping(client, headers=RIDER2, rider_id="R1").status_code == 403
    assert _ping(client, headers=ORDER_SYSTEM, rider_id="R2").status_code == 200
    assert _ping(client, headers=ADMIN, rider_id="R9").status_code == 404


def test_a_report_older_than_the_recorded_one_is_acknowledged_and_ignored(client):
    """Out-of-order delivery: the later position stays; the late report answers applied false."""
    seed_store(client, riders=("R1",), orders=())
    assert _ping(client, at=_now(-5), lat=STORE_LAT + 0.003).json()["applied"] is True
    stale = _ping(client, at=_now(-30), lat=STORE_LAT + 0.009).json()
    assert stale["applied"] is False and stale["location"]["lat"] == STORE_LAT + 0.003


def test_bad_reports_are_422_naming_the_field(client):
    """Out of range, non-finite, unknown fields, and a clock far ahead are refused with the field named."""
    seed_store(client, riders=("R1",), orders=())
    cases = {
        "lat": {"lat": 91, "lon": STORE_LON},
        "heading_deg": {"lat": STORE_LAT, "lon": STORE_LON, "heading_deg": 360},
        "speed_mps": {"lat": STORE_LAT, "lon": STORE_LON, "speed_mps": -1},
        "accuracy": {"lat": STORE_LAT, "lon": STORE_LON, "accuracy": 5},
    }
    for field, body in cases.items():
        answer = client.post("/v1/riders/R1/location", json=body, headers=RIDER1)
        assert answer.status_code == 422 and answer.json()["detail"][0]["field"] == field, answer.text
    ahead = _ping(client, at=_now(3600))
    assert ahead.status_code == 422 and ahead.json()["detail"][0]["field"] == "at"


def test_a_burst_then_one_report_per_interval_beyond_it_429_with_retry_after(settings_for):
    """Three at once pass, the fourth is 429 with Retry-After; another rider has its own budget."""
    with TestClient(create_app(settings_for(location_burst=3, location_min_interval_s=30))) as client:
        seed_store(client, riders=("R1", "R2"), orders=())
        assert [_ping(client).status_code for _ in range(3)] == [200, 200, 200]
        refused = _ping(client)
        assert refused.status_code == 429 and refused.json()["code"] == "rate_limited"
        assert 1 <= int(refused.headers["Retry-After"]) <= 30
        assert _ping(client, headers=RIDER2, rider_id="R2").status_code == 200


def test_a_rider_key_may_send_a_partial_self_update_without_a_403_for_fields_it_never_sent(client):
    """PUT with only id, store_id and location from a rider key keeps the stored capacity (not a 403)."""
    seed_store(client, riders=(), orders=())
    client.put("/v1/riders/R1", json=rider(capacity_items=12, max_orders=3), headers=ORDER_SYSTEM)
    body = {"id": "R1", "store_id": "S1", "location": {"lat": STORE_LAT + 0.004, "lon": STORE_LON}}
    answer = client.put("/v1/riders/R1", json=body, headers=RIDER1)
    assert answer.status_code == 200, answer.text
    doc = answer.json()["rider"]
    assert doc["capacity_items"] == 12 and doc["max_orders"] == 3 and doc["location"]["lat"] == STORE_LAT + 0.004
