"""Finding 10 and 11: load gives answers or 503 with Retry-After, never a stall or a 500; SQLite
reads never wait for a writer; concurrent creation of one store or rider is one create and
updates, on both databases. (Throughput and latency under load: `python -m benchmarks resilience`.)"""

from __future__ import annotations

import sqlite3
import threading
from concurrent.futures import ThreadPoolExecutor

from fastapi.testclient import TestClient

from api import repository
from api.main import create_app
from api.schemas import RiderPut
from api.settings import Settings
from dispatch.schema import StoreDoc
from tests.api.conftest import KEYS, ORDER_SYSTEM
from tests.api.helpers import T0, rider, seed_store, store


def test_a_hundred_concurrent_reads_are_all_answered(settings_for):
    """100 concurrent GET /v1/stores/S1 gave 65-66 answers of 500 after 30-60 s. With 4 places
    and a short wait for one, every request is a 200 or a 503 carrying Retry-After."""
    with TestClient(create_app(settings_for(max_requests=4, queue_wait_s=0.2))) as client:
        seed_store(client, riders=("R1",), orders=("O1",))
        with ThreadPoolExecutor(100) as pool:
            answers = list(pool.map(lambda _: client.get("/v1/stores/S1", headers=ORDER_SYSTEM), range(100)))
        statuses = {a.status_code for a in answers}
        assert statuses <= {200, 503} and 200 in statuses, statuses
        assert all(a.headers.get("retry-after") == "2" for a in answers if a.status_code == 503)


def test_reads_do_not_wait_for_a_writer_and_a_locked_write_is_a_503(tmp_path):
    """On SQLite a read begins DEFERRED (no write lock): with another process holding the write
    lock, a GET answers at once, and a write that cannot get the lock within db_timeout_s is a
    503 with Retry-After, not a 500."""
    path = tmp_path / "dispatch.db"
    settings = Settings(database_url=f"sqlite:///{path}", api_keys=KEYS, solver_pool="thread", db_timeout_s=0.5)
    with TestClient(create_app(settings)) as client:
        seed_store(client, riders=(), orders=())
        holder = sqlite3.connect(path, isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")
        try:
            assert client.get("/v1/stores/S1", headers=ORDER_SYSTEM).status_code == 200
            assert client.get("/v1/stores/S1/orders", headers=ORDER_SYSTEM).status_code == 200
            blocked = client.put("/v1/stores/S1", json=store(), headers=ORDER_SYSTEM)
            assert blocked.status_code == 503 and blocked.headers["retry-after"] == "2", blocked.text
            assert blocked.json()["code"] == "database_unavailable"
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        assert client.put("/v1/stores/S1", json=store(), headers=ORDER_SYSTEM).status_code == 200


def test_a_full_connection_pool_is_a_503_not_a_stall(settings_for):
    """With every pooled connection taken, a request waits db_timeout_s for one and is answered
    503 with Retry-After; once connections are free again it is served."""
    with TestClient(create_app(settings_for(max_requests=2, db_timeout_s=0.3))) as client:
        seed_store(client, riders=(), orders=())
        engine = client.app.state.engine
        held = [engine.connect() for _ in range(engine.pool.size())]
        try:
            busy = client.get("/v1/stores/S1", headers=ORDER_SYSTEM)
            assert busy.status_code == 503 and busy.headers["retry-after"] == "2" and busy.json()["code"] == "busy"
        finally:
            for conn in held:
                conn.close()
        assert client.get("/v1/stores/S1", headers=ORDER_SYSTEM).status_code == 200


def test_two_requests_creating_one_store_and_one_rider_race_to_one_create(client):
    """Each request sees no row and inserts; on PostgreSQL the second insert waits for the first
    and then hit the primary key (a 500). Now the loser goes on as an update: one create, one
    update, the last document stored."""
    sessions = client.app.state.sessions
    for make, put in (
        (lambda n: StoreDoc.model_validate(store(pickup_service_s=n)), lambda db, doc: repository.put_store(db, doc, T0)),
        (lambda n: RiderPut.model_validate(rider(capacity_items=n)), lambda db, doc: repository.put_rider(db, doc, T0)),
    ):
        first = sessions()
        first.begin()
        assert put(first, make(10)) is True
        first.flush()  # the row is written, not committed: the second request cannot see it
        outcome: dict = {}

        def second(put=put, make=make, outcome=outcome) -> None:
            with sessions() as db, db.begin():
                outcome["created"] = put(db, make(20))

        racer = threading.Thread(target=second)
        racer.start()
        racer.join(0.5)  # on PostgreSQL it now waits on the first insert; on SQLite, on the write lock
        first.commit()
        first.close()
        racer.join(10)
        assert outcome == {"created": False}
    stored = client.get("/v1/stores/S1", headers=ORDER_SYSTEM).json()["store"]
    assert stored["pickup_service_s"] == 20
    assert client.get("/v1/riders/R1", headers=ORDER_SYSTEM).json()["rider"]["capacity_items"] == 20


def test_contended_writes_on_sqlite_are_201_or_503_and_log_no_fault(tmp_path, caplog):
    """60 writers at once with a 20 ms wait for SQLite's write lock: each order is accepted or
    refused 503 with Retry-After, and nothing is logged as a fault (the re-plan trigger of each
    new order reads its store's policy without taking the write lock; it took it, and under
    load its timeouts were logged with tracebacks)."""
    from tests.api.helpers import order

    settings = Settings(database_url=f"sqlite:///{tmp_path / 'dispatch.db'}", api_keys=KEYS, solver_pool="thread",
                        db_timeout_s=0.02, max_requests=64)
    with TestClient(create_app(settings)) as client:
        seed_store(client, riders=("R1",), orders=())
        with ThreadPoolExecutor(60) as pool:
            answers = list(pool.map(lambda i: client.post("/v1/stores/S1/orders", json=order(f"X{i}"), headers=ORDER_SYSTEM), range(300)))
        assert client.app.state.redispatcher.wait_idle(60)
    statuses = {a.status_code for a in answers}
    assert statuses <= {201, 503} and 201 in statuses, statuses
    assert all(a.headers.get("retry-after") for a in answers if a.status_code == 503)
    assert not [r for r in caplog.records if r.exc_info], [r.getMessage() for r in caplog.records if r.exc_info]
