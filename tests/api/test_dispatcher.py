"""The dispatcher's board and actions: the store list, a board of a dispatched store, a move
checked by the validator and then applied exactly as checked, a pin kept by later re-plans."""

from __future__ import annotations

from api.tables import PlanRow
from dispatch.documents import problem_from_document
from dispatch.validate import validate_plan
from tests.api.conftest import ADMIN, ORDER_SYSTEM, RIDER1
from tests.api.helpers import FAST, at, order, seed_store


def _rider_of(plan: dict, order_id: str) -> str | None:
    return next((r["rider_id"] for r in plan["routes"] for s in r["stops"] if s.get("order_id") == order_id), None)


def test_the_board_shows_riders_routes_orders_and_kpis(client):
    """After a dispatch: every rider with a state, each used rider's numbered stops and a
    timeline, the open orders with their planned rider and ETA; a new order is unassigned
    (`not_planned_yet`) until the next dispatch; a rider key may not read it."""
    seed_store(client, orders=("O1", "O2", "O3"))
    plan = client.post("/v1/stores/S1/dispatch", json={"plan_time": at(0), "options": FAST}, headers=ORDER_SYSTEM).json()
    assert client.post("/v1/stores/S1/orders", json=order("O4", 1500, 1500), headers=ORDER_SYSTEM).status_code == 201
    answer = client.get("/v1/stores/S1/board", headers=ORDER_SYSTEM)
    assert answer.status_code == 200, answer.text
    board = answer.json()
    assert board["plan_id"] == plan["plan_id"]
    assert {r["id"] for r in board["riders"]} == {"R1", "R2"}
    states = {r["id"]: r["state"] for r in board["riders"]}
    used = {r["rider_id"] for r in plan["routes"] if r["stops"]}
    assert all(states[r] == "to_store" for r in used) and not any(r["stale"] for r in board["riders"])
    for route in board["routes"]:
        assert [s["sequence"] for s in route["stops"]] == list(range(1, len(route["stops"]) + 1))
        assert {seg["kind"] for seg in route["timeline"]} >= {"service"}
    planned = {o["id"]: o for o in board["orders"]}
    for oid in ("O1", "O2", "O3"):
        assert planned[oid]["rider_id"] == _rider_of(plan, oid) and planned[oid]["eta"] is not None
    assert [u["order_id"] for u in board["unassigned"]] == ["O4"] and board["unassigned"][0]["reason"] == "not_planned_yet"
    assert board["at_risk"][0]["order_id"] == "O4"  # unassigned first, then by slack
    assert board["kpis"]["open"] == 4 and board["kpis"]["riders_on_duty"] == 2
    assert board["last_event_id"] > 0
    assert client.get("/v1/stores/S1/board", headers=RIDER1).status_code == 403
    assert [s["store"]["id"] for s in client.get("/v1/stores", headers=ORDER_SYSTEM).json()] == ["S1"]


def test_a_move_is_checked_by_the_validator_then_applied_exactly_as_checked(client):
    """Check O1 -> the other rider: valid, on that rider, with ETA and slack; the current plan is
    unchanged until applied; applied, the store's plan is the checked one with O1 there, O1 is
    pinned, and the next dispatch keeps it there."""
    seed_store(client, orders=("O1", "O2"))
    plan = client.post("/v1/stores/S1/dispatch", json={"plan_time": at(0), "options": FAST}, headers=ORDER_SYSTEM).json()
    target = "R2" if _rider_of(plan, "O1") == "R1" else "R1"
    check = client.post("/v1/stores/S1/moves/check", json={"order_id": "O1", "rider_id": target, "plan_time": at(0), "options": FAST}, headers=ORDER_SYSTEM)
    assert check.status_code == 200, check.text
    verdict = check.json()
    assert verdict["valid"] and verdict["placed_on"] == target and verdict["violations"] == []
    assert verdict["eta"] is not None and isinstance(verdict["slack_s"], int)
    assert client.get("/v1/stores/S1/plan", headers=ORDER_SYSTEM).json()["plan_id"] == plan["plan_id"]
    applied = client.post("/v1/stores/S1/moves", json={"plan_id": verdict["plan_id"]}, headers=ORDER_SYSTEM)
    assert applied.status_code == 200, applied.text
    current = client.get("/v1/stores/S1/plan", headers=ORDER_SYSTEM).json()
    assert current["plan_id"] == verdict["plan_id"] and _rider_of(current, "O1") == target
    assert client.get("/v1/orders/O1", headers=ORDER_SYSTEM).json()["pinned_rider_id"] == target
    # The checked plan holds up under the independent validator against the problem it solved.
    with client.app.state.reads() as db:
        stored = db.get(PlanRow, verdict["plan_id"])
    assert validate_plan(problem_from_document(stored.problem), stored.plan) == []
    # Applying twice: the store moved on since the check.
    assert client.post("/v1/stores/S1/moves", json={"plan_id": verdict["plan_id"]}, headers=ORDER_SYSTEM).status_code == 409
    again = client.post("/v1/stores/S1/dispatch", json={"plan_time": at(1), "options": FAST}, headers=ORDER_SYSTEM).json()
    assert _rider_of(again, "O1") == target
    types = [e["type"] for e in client.get("/v1/stores/S1/events", params={"after": 0, "limit": 500}, headers=ORDER_SYSTEM).json()["events"]]
    assert types.count("plan.current") == 3


def test_a_move_that_cannot_hold_is_refused_or_reported(client):
    """A picked-up order cannot move (409); an unknown rider is a 404; a plan id that is not a
    checked move is a 422; a rider key may not move orders."""
    seed_store(client, orders=("O1", "O2"))
    plan = client.post("/v1/stores/S1/dispatch", json={"plan_time": at(0), "options": FAST}, headers=ORDER_SYSTEM).json()
    carrier = _rider_of(plan, "O1")
    client.post("/v1/orders/O1/events", json={"type": "picked_up", "rider_id": carrier, "at": at(3)}, headers=ADMIN).raise_for_status()
    other = "R2" if carrier == "R1" else "R1"
    assert client.post("/v1/stores/S1/moves/check", json={"order_id": "O1", "rider_id": other, "plan_time": at(4)}, headers=ORDER_SYSTEM).status_code == 409
    assert client.post("/v1/stores/S1/moves/check", json={"order_id": "O2", "rider_id": "R9"}, headers=ORDER_SYSTEM).status_code == 404
    assert client.post("/v1/stores/S1/moves", json={"plan_id": plan["plan_id"]}, headers=ORDER_SYSTEM).status_code == 422
    assert client.post("/v1/stores/S1/moves/check", json={"order_id": "O2", "rider_id": "R1"}, headers=RIDER1).status_code == 403


def test_a_pinned_order_stays_with_its_rider(client):
    """Pin O1 and O2 to one rider: dispatches put both there; unpinned, the solver is free again;
    a delivered order cannot be pinned."""
    seed_store(client, orders=("O1", "O2"))
    for oid in ("O1", "O2"):
        pinned = client.put(f"/v1/orders/{oid}/pin", json={"rider_id": "R2"}, headers=ORDER_SYSTEM)
        assert pinned.status_code == 200 and pinned.json()["pinned_rider_id"] == "R2"
    plan = client.post("/v1/stores/S1/dispatch", json={"plan_time": at(0), "options": FAST}, headers=ORDER_SYSTEM).json()
    assert _rider_of(plan, "O1") == "R2" and _rider_of(plan, "O2") == "R2"
    assert client.delete("/v1/orders/O1/pin", headers=ORDER_SYSTEM).json()["pinned_rider_id"] is None
    assert client.put("/v1/orders/O1/pin", json={"rider_id": "R9"}, headers=ORDER_SYSTEM).status_code == 404
    assert client.put("/v1/orders/NOPE/pin", json={"rider_id": "R1"}, headers=ORDER_SYSTEM).status_code == 404
