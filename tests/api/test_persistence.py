"""State survives a restart; the migrations build the schema; readiness follows the database."""

from __future__ import annotations

from fastapi.testclient import TestClient
from sqlalchemy import inspect

from api.db import make_engine, migrate
from api.main import create_app
from tests.api.conftest import ORDER_SYSTEM, RIDER1
from tests.api.helpers import at, seed_store


def test_restart_on_the_same_database_keeps_orders_riders_and_the_current_plan(settings_for):
    """Stop the app and start a new one on the same database: everything accepted is still there."""
    with TestClient(create_app(settings_for())) as first:
        seed_store(first, orders=("O1", "O2", "O3"))
        first.post("/v1/orders/O1/events", json={"type": "picked_up", "at": at(3)}, headers=RIDER1)
        plan = first.post("/v1/stores/S1/dispatch", json={"plan_time": at(4), "options": {"max_iterations": 10}}, headers=ORDER_SYSTEM).json()
        route_before = first.get("/v1/riders/R1/route", headers=RIDER1).json()

    with TestClient(create_app(settings_for())) as second:
        orders = second.get("/v1/stores/S1/orders", headers=ORDER_SYSTEM).json()
        assert {o["order"]["id"]: o["status"] for o in orders} == {"O1": "picked_up", "O2": "open", "O3": "open"}
        assert second.get("/v1/riders/R1", headers=RIDER1).json()["rider"]["carrying"] == ["O1"]
        assert second.get("/v1/stores/S1/plan", headers=ORDER_SYSTEM).json() == plan
        assert second.get("/v1/riders/R1/route", headers=RIDER1).json() == route_before
        # The restarted service goes on where the first stopped.
        assert second.post("/v1/orders/O1/events", json={"type": "delivered", "at": at(20)}, headers=RIDER1).status_code == 200


def test_migrations_create_every_table_and_are_idempotent(database_url):
    """`migrate` builds the schema from nothing and is a no-op the second time."""
    engine = make_engine(database_url)
    try:
        migrate(engine)
        migrate(engine)
        tables = set(inspect(engine).get_table_names())
        assert {"stores", "riders", "orders", "order_events", "plans", "quotes", "alembic_version"} <= tables
    finally:
        engine.dispose()


def test_a_failed_write_keeps_the_state_as_it_was(client):
    """A refused event (409) leaves the order and its event log untouched."""
    seed_store(client, orders=("O1",))
    before = client.get("/v1/orders/O1", headers=ORDER_SYSTEM).json()
    assert client.post("/v1/orders/O1/events", json={"type": "delivered"}, headers=RIDER1).status_code == 409
    assert client.get("/v1/orders/O1", headers=ORDER_SYSTEM).json() == before
    from api.repository import order_events

    with client.app.state.sessions() as session:
        assert order_events(session, "O1") == []
