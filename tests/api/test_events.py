"""Events: written with the change they record, read back in pages, resumed after an id; the
thresholds of the re-plan events."""

from __future__ import annotations

from datetime import datetime, timezone

from sqlalchemy.orm import Session

from api import events
from api.db import make_engine, migrate
from api.tables import EventRow, StoreRow
from tests.api.conftest import ADMIN, ORDER_SYSTEM, RIDER1
from tests.api.helpers import FAST, at, order, seed_store, store

NOW = datetime(2026, 11, 23, 2, 0, tzinfo=timezone.utc)


def _types(client, after: int = 0) -> list[tuple[str, str | None, str | None]]:
    page = client.get("/v1/stores/S1/events", params={"after": after, "limit": 500}, headers=ORDER_SYSTEM)
    assert page.status_code == 200, page.text
    return [(e["type"], e["rider_id"], e["order_id"]) for e in page.json()["events"]]


def test_each_change_is_an_event_in_order_and_a_client_resumes_after_the_last_id_it_saw(client):
    """Orders accepted, a dispatch (plan.current, each rider's new route), a pickup, a
    cancellation (its rider's route changes): stored in order with growing ids; `after` resumes."""
    seed_store(client, orders=("O1", "O2"))
    assert _types(client) == [("order.accepted", None, "O1"), ("order.accepted", None, "O2")]
    first = client.get("/v1/stores/S1/events", headers=ORDER_SYSTEM).json()
    seen = first["last_id"]
    plan = client.post("/v1/stores/S1/dispatch", json={"plan_time": at(0), "options": FAST}, headers=ORDER_SYSTEM).json()
    riders = sorted(r["rider_id"] for r in plan["routes"] if r["stops"])
    after_dispatch = _types(client, seen)
    assert after_dispatch[0] == ("plan.current", None, None)
    assert sorted(r for t, r, _ in after_dispatch if t == "rider.route_changed") == riders
    carrier = next(r["rider_id"] for r in plan["routes"] for s in r["stops"] if s.get("order_id") == "O1")
    key = RIDER1 if carrier == "R1" else {"Authorization": "Bearer r2-key"}
    assert client.post("/v1/orders/O1/events", json={"type": "picked_up", "at": at(3)}, headers=key).status_code == 200
    other = next(r["rider_id"] for r in plan["routes"] for s in r["stops"] if s.get("order_id") == "O2")
    mark = client.get("/v1/stores/S1/events", params={"after": seen, "limit": 500}, headers=ORDER_SYSTEM).json()["last_id"]
    assert client.post("/v1/orders/O2/events", json={"type": "cancelled"}, headers=ORDER_SYSTEM).status_code == 200
    assert _types(client, mark) == [("order.cancelled", None, "O2"), ("rider.route_changed", other, "O2")]
    page = client.get("/v1/stores/S1/events", params={"after": 0, "limit": 500}, headers=ORDER_SYSTEM).json()["events"]
    ids = [e["id"] for e in page]
    assert ids == sorted(ids) and len(set(ids)) == len(ids)
    picked = next(e for e in page if e["type"] == "order.picked_up")
    assert picked["rider_id"] == carrier and picked["body"]["status"] == "picked_up"
    # A page is bounded, and `last_id` is where the next one starts.
    two = client.get("/v1/stores/S1/events", params={"after": 0, "limit": 2}, headers=ORDER_SYSTEM).json()
    assert [e["id"] for e in two["events"]] == ids[:2] and two["last_id"] == ids[1]


def test_a_refused_change_leaves_no_event(client):
    """A conflicting resend (409) and an identical one (200) record nothing; nor does a 422."""
    seed_store(client, orders=("O1",))
    before = _types(client)
    assert client.post("/v1/stores/S1/orders", json=order("O1", 500, 0), headers=ORDER_SYSTEM).status_code == 409
    assert client.post("/v1/stores/S1/orders", json=order("O1", 1200, 300), headers=ORDER_SYSTEM).status_code == 200
    assert client.post("/v1/stores/S1/orders", json=order("O9", 90_000, 0), headers=ORDER_SYSTEM).status_code == 422
    assert client.post("/v1/orders/O1/events", json={"type": "delivered"}, headers=ADMIN).status_code == 409
    assert _types(client) == before


def test_store_events_are_for_order_systems_and_admins(client):
    """A rider key may not read a store's events; an unknown store is a 404; a bad resume id a 422."""
    seed_store(client, orders=())
    assert client.get("/v1/stores/S1/events", headers=RIDER1).status_code == 403
    assert client.get("/v1/stores/S1/events").status_code == 401
    assert client.get("/v1/stores/NOPE/events", headers=ADMIN).status_code == 404
    assert client.get("/v1/stores/S1/events", headers={**ADMIN, "Last-Event-ID": "x1"}).status_code == 422
    assert client.get("/v1/stores/S1/events", params={"after": -1}, headers=ADMIN).status_code == 422


def _plan(routes: dict[str, list[tuple[str, str]]], unassigned=()) -> dict:
    """A plan document: rider -> [(order id, drop-off arrive_at)], each after a pickup of all."""
    out = []
    for rider_id, drops in routes.items():
        stops = [{"kind": "pickup", "store_id": "S1", "order_ids": [o for o, _ in drops], "arrive_at": at(0), "depart_at": at(1)}]
        stops += [{"kind": "dropoff", "order_id": o, "arrive_at": eta, "depart_at": eta, "late_s": 0} for o, eta in drops]
        out.append({"rider_id": rider_id, "stops": stops})
    return {"plan_id": f"p{len(str(routes))}", "plan_time": at(0), "routes": out, "metrics": {},
            "unassigned": [{"order_id": o, "reason": "no_rider_available", "detail": "x"} for o in unassigned]}


def _remaining(plan: dict) -> dict[str, list[dict]]:
    return {r["rider_id"]: r["stops"] for r in plan["routes"]}


def test_eta_moved_and_at_risk_follow_their_thresholds(tmp_path):
    """An ETA moving 5 min or more is order.eta_moved, less is not; an order coming within the
    slack of its promise is order.at_risk once (not again while it stays at risk); a newly
    unassigned order is at risk with its reason; an unchanged route is no route event."""
    engine = make_engine(f"sqlite:///{tmp_path / 'e.db'}")
    migrate(engine)
    promises = {"A": at(40), "B": at(40), "C": at(40), "D": at(40)}
    before = _plan({"R1": [("A", at(10)), ("B", at(20))], "R2": [("C", at(30))]})
    after = _plan({"R1": [("A", at(14)), ("B", at(26))], "R2": [("C", at(37)), ("D", at(39))]}, unassigned=["E"])
    rules = events.EventRules(eta_moved_s=300, at_risk_slack_s=300)
    with Session(engine) as db, db.begin():
        db.add(StoreRow(id="S1", document={}, dispatch_version=0, created_at=NOW, updated_at=NOW))
        db.flush()
        events.plan_committed(db, "S1", before, _remaining(before), after, promises, NOW, rules)
    with Session(engine) as db:
        got = [(r.type, r.order_id or r.rider_id, r.body.get("moved_s", r.body.get("slack_s"))) for r in db.query(EventRow).order_by(EventRow.id)]
    assert got == [
        ("plan.current", None, None),
        ("rider.route_changed", "R2", None),  # R1 kept its sequence: its ETAs moved, its stops did not
        ("order.eta_moved", "B", 360),  # A moved 4 min: under the threshold
        ("order.eta_moved", "C", 420),
        ("order.at_risk", "C", 180),
        ("order.at_risk", "D", 60),
        ("order.at_risk", "E", None),
    ]
    again = _plan({"R1": [("A", at(14)), ("B", at(26))], "R2": [("C", at(38)), ("D", at(39))]}, unassigned=["E"])
    with Session(engine) as db, db.begin():
        events.plan_committed(db, "S1", after, _remaining(after), again, promises, NOW, rules)
    with Session(engine) as db:
        latest = [r.type for r in db.query(EventRow).order_by(EventRow.id)][len(got):]
    assert latest == ["plan.current"]  # C and D were at risk already, E unassigned already
    engine.dispose()


def test_event_times_are_in_the_stores_zone_to_the_second(client):
    """Events speak the store's time as every other answer about it: its zone, whole seconds."""
    seed_store(client, orders=("O1",))
    assert client.put("/v1/stores/S1", json={**store(), "time_zone": "Asia/Tokyo"}, headers=ORDER_SYSTEM).status_code == 200
    assert client.post("/v1/orders/O1/events", json={"type": "cancelled", "at": at(1)}, headers=ORDER_SYSTEM).status_code == 200
    page = client.get("/v1/stores/S1/events", params={"after": 0}, headers=ORDER_SYSTEM).json()["events"]
    cancelled = next(e for e in page if e["type"] == "order.cancelled")
    for stamp in [e["at"] for e in page] + [cancelled["body"]["at"]]:
        parsed = datetime.fromisoformat(stamp)
        assert stamp.endswith("+09:00") and parsed.microsecond == 0, stamp
    assert datetime.fromisoformat(cancelled["body"]["at"]) == datetime.fromisoformat(at(1))
