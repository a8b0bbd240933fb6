"""Lists with paging and filters: stores, a store's riders with state, orders by status and time, plans."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from tests.api.conftest import ORDER_SYSTEM, RIDER1
from tests.api.helpers import FAST, at, rider, seed_store, store


def _all_pages(client, url: str, limit: int) -> tuple[list[dict], int]:
    """Every item of a list, following X-Next-Cursor; and how many pages it took."""
    items, pages, cursor = [], 0, None
    while True:
        params = {"limit": limit, **({"cursor": cursor} if cursor else {})}
        answer = client.get(url, params=params, headers=ORDER_SYSTEM)
        assert answer.status_code == 200, answer.text
        items += answer.json()
        pages += 1
        cursor = answer.headers.get("X-Next-Cursor")
        if cursor is None:
            assert "Link" not in answer.headers
            return items, pages
        assert answer.headers["Link"].endswith('rel="next"') and f"cursor={cursor}" in answer.headers["Link"]


def test_stores_come_a_page_at_a_time_by_id(client):
    """Five stores at two a page: three pages, every store once, by id."""
    for sid in ("S3", "S1", "S5", "S2", "S4"):
        client.put(f"/v1/stores/{sid}", json=store(sid), headers=ORDER_SYSTEM)
    items, pages = _all_pages(client, "/v1/stores", 2)
    assert [s["store"]["id"] for s in items] == ["S1", "S2", "S3", "S4", "S5"] and pages == 3


def test_orders_filter_by_status_and_submission_time_and_page(client):
    """Status and time filters combine with paging; a forged cursor is a 422 naming `cursor`."""
    seed_store(client, riders=("R1",), orders=("O1", "O2", "O3", "O4"))
    client.post("/v1/orders/O2/events", json={"type": "picked_up", "at": at(3)}, headers=RIDER1)
    client.post("/v1/orders/O3/events", json={"type": "cancelled"}, headers=ORDER_SYSTEM)
    everything, pages = _all_pages(client, "/v1/stores/S1/orders", 3)
    assert [o["order"]["id"] for o in everything] == ["O1", "O2", "O3", "O4"] and pages == 2
    open_ones = client.get("/v1/stores/S1/orders", params={"status": "open"}, headers=ORDER_SYSTEM).json()
    assert [o["order"]["id"] for o in open_ones] == ["O1", "O4"]
    later = datetime.now(timezone.utc) + timedelta(minutes=1)
    assert client.get("/v1/stores/S1/orders", params={"submitted_from": later.isoformat()}, headers=ORDER_SYSTEM).json() == []
    earlier = (later - timedelta(hours=1)).isoformat()
    assert len(client.get("/v1/stores/S1/orders", params={"submitted_from": earlier, "submitted_to": later.isoformat()}, headers=ORDER_SYSTEM).json()) == 4
    forged = client.get("/v1/stores/S1/orders", params={"cursor": "bm90LWEtY3Vyc29y"}, headers=ORDER_SYSTEM)
    assert forged.status_code == 422 and forged.json()["detail"][0]["field"] == "cursor"
    assert client.get("/v1/stores/S1/orders", params={"limit": 0}, headers=ORDER_SYSTEM).status_code == 422


def test_a_stores_riders_show_their_state(client):
    """carrying, assigned, idle and off_duty, filterable by state and duty."""
    seed_store(client, riders=("R1", "R2", "R3", "R4"), orders=("O1", "O2"))
    client.put("/v1/riders/R4", json=rider("R4", on_duty=False), headers=ORDER_SYSTEM)
    client.post("/v1/orders/O1/events", json={"type": "picked_up", "at": at(3)}, headers=RIDER1)
    plan = client.post("/v1/stores/S1/dispatch", json={"plan_time": at(4), "options": FAST}, headers=ORDER_SYSTEM).json()
    with_o2 = next(r["rider_id"] for r in plan["routes"] for s in r["stops"] if s.get("order_id") == "O2")
    riders = {r["rider"]["id"]: r for r in client.get("/v1/stores/S1/riders", headers=ORDER_SYSTEM).json()}
    assert riders["R1"]["state"] == "carrying" and riders["R4"]["state"] == "off_duty"
    if with_o2 != "R1":
        assert riders[with_o2]["state"] == "assigned" and riders[with_o2]["stops"] == 2
    idle = [r for r in ("R2", "R3") if r != with_o2]
    assert all(riders[r]["state"] == "idle" and riders[r]["stops"] == 0 for r in idle)
    only_idle = client.get("/v1/stores/S1/riders", params={"state": "idle"}, headers=ORDER_SYSTEM).json()
    assert sorted(r["rider"]["id"] for r in only_idle) == sorted(idle)
    off = client.get("/v1/stores/S1/riders", params={"on_duty": "false"}, headers=ORDER_SYSTEM).json()
    assert [r["rider"]["id"] for r in off] == ["R4"]
    assert [r["rider"]["id"] for r in _all_pages(client, "/v1/stores/S1/riders", 3)[0]] == ["R1", "R2", "R3", "R4"]


def test_a_stores_plans_newest_first_with_the_current_one_marked(client):
    """Three dispatches: listed newest first, the latest is current, pages of two."""
    seed_store(client, riders=("R1",), orders=("O1",))
    ids = [client.post("/v1/stores/S1/dispatch", json={"plan_time": at(i), "options": FAST}, headers=ORDER_SYSTEM).json()["plan_id"] for i in range(3)]
    plans, pages = _all_pages(client, "/v1/stores/S1/plans", 2)
    assert [p["plan_id"] for p in plans] == ids[::-1] and pages == 2
    assert [p["current"] for p in plans] == [True, False, False]
    assert plans[0]["metrics"]["orders"] == 1 and plans[0]["plan_time"] == at(2)
    assert client.get("/v1/stores/S9/plans", headers=ORDER_SYSTEM).status_code == 404
    assert client.get("/v1/stores/S1/plans", headers=RIDER1).status_code == 403
