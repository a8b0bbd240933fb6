"""Every time the service returns for a store is in the store's zone, to the second; promises
the service makes are rounded up to the minute unless asked otherwise."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone

from fastapi.testclient import TestClient

from api.main import create_app
from tests.api.conftest import ORDER_SYSTEM, RIDER1
from tests.api.helpers import FAST, STORE_LAT, STORE_LON, at, order, rider, store

# An ISO time with an offset and no fraction of a second.
_TO_THE_SECOND = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d([+-]\d\d:\d\d)$")
_TIME_KEY = re.compile(r"(_at|^plan_time|^as_of|^eta)$")


def _times(value, key=""):
    """Every (key, time string) in a JSON answer."""
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _times(v, k)
    elif isinstance(value, list):
        for v in value:
            yield from _times(v, key)
    elif isinstance(value, str) and _TIME_KEY.search(key):
        yield key, value


def _assert_in_zone(answer: dict, offset: str) -> int:
    found = list(_times(answer))
    for key, text in found:
        match = _TO_THE_SECOND.match(text)
        assert match and match.group(1) == offset, f"{key}: {text}"
    return len(found)


def test_a_store_named_asia_shanghai_gets_every_time_in_it_to_the_second(client):
    """Store, order, rider, plan, route and quote answers: every time +08:00, no microseconds, even
    for orders sent in UTC and for the service's own clock stamps."""
    client.put("/v1/stores/S1", json=store(time_zone="Asia/Shanghai"), headers=ORDER_SYSTEM)
    client.put("/v1/riders/R1", json=rider(), headers=ORDER_SYSTEM)
    utc_order = order("O1")
    utc_order["created_at"] = datetime.fromisoformat(at(-5)).astimezone(timezone.utc).isoformat()
    submitted = client.post("/v1/stores/S1/orders", json=utc_order, headers=ORDER_SYSTEM).json()
    assert submitted["order"]["created_at"] == at(-5)
    # A dispatch at the service's clock (microseconds in plan_time) is shown to the second.
    plan_time = (datetime.fromisoformat(at(0)) + timedelta(microseconds=123456)).astimezone(timezone.utc).isoformat()
    plan = client.post("/v1/stores/S1/dispatch", json={"plan_time": plan_time, "options": FAST}, headers=ORDER_SYSTEM)
    assert plan.status_code == 200, plan.text
    answers = [
        client.get("/v1/stores/S1", headers=ORDER_SYSTEM).json(),
        submitted,
        client.get("/v1/orders/O1", headers=ORDER_SYSTEM).json(),
        client.get("/v1/riders/R1", headers=RIDER1).json(),
        plan.json(),
        client.get("/v1/stores/S1/plan", headers=ORDER_SYSTEM).json(),
        client.get(f"/v1/plans/{plan.json()['plan_id']}", headers=ORDER_SYSTEM).json(),
        client.get("/v1/riders/R1/route", headers=RIDER1).json(),
        client.post("/v1/stores/S1/quote", json={"dropoff": {"lat": STORE_LAT + 0.01, "lon": STORE_LON}, "at": at(1)}, headers=ORDER_SYSTEM).json(),
    ]
    assert sum(_assert_in_zone(a, "+08:00") for a in answers) > 20


def test_without_a_named_zone_the_first_orders_offset_is_the_stores(client):
    """A store with no time_zone takes its first order's offset (-03:00); later answers use it."""
    client.put("/v1/stores/S1", json=store(), headers=ORDER_SYSTEM)
    assert client.get("/v1/stores/S1", headers=ORDER_SYSTEM).json()["time_zone"] == "UTC"
    first = order("O1")
    first["created_at"] = datetime.fromisoformat(at(-5)).astimezone(timezone(timedelta(hours=-3))).isoformat()
    answer = client.post("/v1/stores/S1/orders", json=first, headers=ORDER_SYSTEM).json()
    assert client.get("/v1/stores/S1", headers=ORDER_SYSTEM).json()["time_zone"] == "-03:00"
    assert _assert_in_zone(answer, "-03:00") >= 4
    second = client.post("/v1/stores/S1/orders", json=order("O2"), headers=ORDER_SYSTEM).json()  # sent in +08:00
    assert _assert_in_zone(second, "-03:00") >= 4


def test_the_services_setting_names_the_zone_of_stores_that_name_none(settings_for):
    """DISPATCH_TIME_ZONE applies to stores without their own time_zone; a store's own wins."""
    with TestClient(create_app(settings_for(time_zone="Europe/Paris"))) as client:
        client.put("/v1/stores/S1", json=store(), headers=ORDER_SYSTEM)
        client.put("/v1/stores/S2", json=store("S2", time_zone="+05:30"), headers=ORDER_SYSTEM)
        paris = client.get("/v1/stores/S1", headers=ORDER_SYSTEM).json()
        assert paris["time_zone"] == "Europe/Paris" and _assert_in_zone(paris, "+01:00") >= 1  # November: CET
        assert _assert_in_zone(client.get("/v1/stores/S2", headers=ORDER_SYSTEM).json(), "+05:30") >= 1


def test_an_unknown_zone_is_a_422_naming_time_zone(client):
    """A zone that is neither an IANA name nor an offset is refused, with the field named."""
    answer = client.put("/v1/stores/S1", json=store(time_zone="Mars/Olympus_Mons"), headers=ORDER_SYSTEM)
    assert answer.status_code == 422 and answer.json()["detail"][0]["field"] == "time_zone"


def test_quotes_promise_a_whole_minute_unless_asked_to_the_second(client):
    """promise_at is rounded up to the minute and never before the ETA; `second` keeps the second."""
    client.put("/v1/stores/S1", json=store(time_zone="Asia/Shanghai"), headers=ORDER_SYSTEM)
    client.put("/v1/riders/R1", json=rider(), headers=ORDER_SYSTEM)
    body = {"dropoff": {"lat": STORE_LAT + 0.0123, "lon": STORE_LON + 0.0041}, "at": at(0.517), "buffer_s": 0}
    minute = client.post("/v1/stores/S1/quote", json=body, headers=ORDER_SYSTEM).json()
    second = client.post("/v1/stores/S1/quote", json={**body, "promise_rounding": "second"}, headers=ORDER_SYSTEM).json()
    eta = datetime.fromisoformat(minute["eta"])
    promise = datetime.fromisoformat(minute["promise_at"])
    assert promise.second == 0 and eta <= promise < eta + timedelta(minutes=1)
    exact = datetime.fromisoformat(second["promise_at"])
    assert eta <= exact <= eta + timedelta(seconds=1) and exact <= promise


def test_a_default_promise_is_rounded_up_to_the_minute(client):
    """An order without promised_at is promised created_at + 60 min, rounded up to the minute."""
    client.put("/v1/stores/S1", json=store(), headers=ORDER_SYSTEM)
    body = order("O1")
    del body["promised_at"]
    body["created_at"] = (datetime.fromisoformat(at(-5)) + timedelta(seconds=31, microseconds=791870)).isoformat()
    answer = client.post("/v1/stores/S1/orders", json=body, headers=ORDER_SYSTEM).json()
    assert answer["promised_at"] == at(56) and answer["order"]["promised_at"] == at(56)


def test_the_staffing_answer_is_in_the_stores_zone(client):
    """The staffing endpoint's shifts (riders' available_at and shift_end) are written in the store's zone."""
    client.put("/v1/stores/S1", json=store(time_zone="Asia/Kolkata"), headers=ORDER_SYSTEM)
    client.put("/v1/riders/R1", json=rider(), headers=ORDER_SYSTEM)
    for oid, north in (("O1", 1200), ("O2", -900)):
        client.post("/v1/stores/S1/orders", json=order(oid, north, 300), headers=ORDER_SYSTEM)
    answer = client.get("/v1/stores/S1/staffing", params={"target": 0.9, "min_shift_h": 1, "max_shift_h": 3}, headers=ORDER_SYSTEM)
    assert answer.status_code == 200, answer.text
    shifts = [(r.get("available_at"), r.get("shift_end")) for r in answer.json()["riders"]]
    assert shifts and all(t.endswith("+05:30") for pair in shifts for t in pair if t), shifts


def test_a_speed_profile_counts_periods_from_the_stores_midnight(client):
    """A dispatch asked at a UTC time rides the store's local periods: with the store's local hour
    of the dispatch at half speed (and every other hour at full speed), the ride to the door
    takes twice as long as without the profile."""
    client.put("/v1/stores/S1", json=store(time_zone="Asia/Shanghai"), headers=ORDER_SYSTEM)
    client.put("/v1/riders/R1", json=rider(), headers=ORDER_SYSTEM)
    client.post("/v1/stores/S1/orders", json=order("O1"), headers=ORDER_SYSTEM)
    local = datetime.fromisoformat(at(0)).astimezone(timezone(timedelta(hours=8)))
    factors = [1.0] * 24
    factors[local.hour] = factors[(local.hour + 1) % 24] = 0.5
    plan_time = datetime.fromisoformat(at(0)).astimezone(timezone.utc).isoformat()

    def ride_s(travel: dict) -> float:
        options = {**FAST, "travel": {"model": "haversine", **travel}}
        plan = client.post("/v1/stores/S1/dispatch", json={"plan_time": plan_time, "options": options}, headers=ORDER_SYSTEM)
        assert plan.status_code == 200, plan.text
        stops = plan.json()["routes"][0]["stops"]
        pickup, drop = stops[0], stops[-1]
        return (datetime.fromisoformat(drop["arrive_at"]) - datetime.fromisoformat(pickup["depart_at"])).total_seconds()

    plain = ride_s({})
    peak = ride_s({"speed_profile": {"period_min": 60, "factors": factors}})
    assert abs(peak - 2 * plain) <= 2, (plain, peak)
