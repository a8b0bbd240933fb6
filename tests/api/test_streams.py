"""Server-sent events over a real uvicorn: a store's events live and resumed with Last-Event-ID,
a rider's route now and on each change, the roles' boundaries, and events crossing replicas
(PostgreSQL LISTEN/NOTIFY, Redis)."""

from __future__ import annotations

import json
import os
import queue
import socket
import threading
import time
from contextlib import contextmanager

import httpx2 as httpx
import pytest

from tests.api.conftest import ADMIN, ORDER_SYSTEM, RIDER1
from tests.api.helpers import FAST, at, order, rider, store
from tests.api.test_service import running, served_env

REDIS = ("127.0.0.1", 6379)
REQUIRE_REDIS = os.environ.get("DISPATCH_TEST_REQUIRE_REDIS") == "1"


@contextmanager
def serve(database_url: str, log, **settings):
    """A uvicorn process on `database_url`; yields its base URL."""
    with running(served_env(database_url, solver_pool="thread", redispatch_tick_s=0, **settings), log=log) as base:
        yield base


class Listener:
    """Reads an SSE stream on a thread; `next()` returns parsed events (id, event, data)."""

    def __init__(self, url: str, headers: dict):
        self.events: queue.Queue = queue.Queue()
        self.status: queue.Queue = queue.Queue()
        self._client = httpx.Client(timeout=httpx.Timeout(30, read=None))
        self._thread = threading.Thread(target=self._run, args=(url, headers), daemon=True)
        self._thread.start()
        self.code = self.status.get(timeout=30)

    def _run(self, url: str, headers: dict) -> None:
        try:
            with self._client.stream("GET", url, headers={"Accept": "text/event-stream", **headers}) as response:
                self.status.put(response.status_code)
                if response.status_code != 200:
                    response.read()
                    self.body = response.text
                    return
                current: dict = {}
                for line in response.iter_lines():
                    if line == "":
                        if "event" in current:
                            self.events.put(current)
                        current = {}
                    elif not line.startswith(":"):
                        name, _, value = line.partition(": ")
                        current[name] = json.loads(value) if name == "data" else value
        except Exception as exc:  # closed by the test
            self.status.put(exc)

    def next(self, timeout_s: float = 15.0) -> dict:
        return self.events.get(timeout=timeout_s)

    def nothing_within(self, seconds: float) -> bool:
        try:
            self.events.get(timeout=seconds)
            return False
        except queue.Empty:
            return True

    def close(self) -> None:
        self._client.close()


def _seed(http: httpx.Client, orders=("O1",)) -> None:
    http.put("/v1/stores/S1", json=store(), headers=ADMIN).raise_for_status()
    for r in ("R1", "R2"):
        http.put(f"/v1/riders/{r}", json=rider(r), headers=ADMIN).raise_for_status()
    for i, oid in enumerate(orders):
        http.post("/v1/stores/S1/orders", json=order(oid, 1200 - 700 * i, 300), headers=ADMIN).raise_for_status()


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """One SQLite service for the stream tests (the embedded publisher), seeded with S1, R1, R2."""
    folder = tmp_path_factory.mktemp("streams")
    with serve(f"sqlite:///{folder / 'd.db'}", folder / "server.log", stream_keepalive_s=60) as base:
        with httpx.Client(base_url=base, timeout=60) as http:
            _seed(http)
        yield base


def test_store_events_arrive_live_and_a_reconnect_resumes_after_last_event_id(served):
    """An order accepted while the stream is open arrives at once (the keep-alive is 60 s, so it
    came by the publisher); after a disconnect, Last-Event-ID replays exactly what was missed."""
    with httpx.Client(base_url=served, timeout=60) as http:
        stream = Listener(f"{served}/v1/stores/S1/events", ORDER_SYSTEM)
        assert stream.code == 200
        started = time.monotonic()
        http.post("/v1/stores/S1/orders", json=order("L1", 800, 0), headers=ORDER_SYSTEM).raise_for_status()
        got = stream.next()
        assert time.monotonic() - started < 5
        assert got["event"] == "order.accepted" and got["data"]["order_id"] == "L1" and got["id"] == str(got["data"]["id"])
        stream.close()
        # Missed while away: two orders and a dispatch.
        http.post("/v1/stores/S1/orders", json=order("L2", 900, 0), headers=ORDER_SYSTEM).raise_for_status()
        http.post("/v1/stores/S1/orders", json=order("L3", 1000, 0), headers=ORDER_SYSTEM).raise_for_status()
        http.post("/v1/stores/S1/dispatch", json={"plan_time": at(0), "options": FAST}, headers=ORDER_SYSTEM).raise_for_status()
        missed = http.get("/v1/stores/S1/events", params={"after": got["id"]}, headers=ORDER_SYSTEM).json()["events"]
        resumed = Listener(f"{served}/v1/stores/S1/events", {**ORDER_SYSTEM, "Last-Event-ID": got["id"]})
        replay = [resumed.next() for _ in missed]
        assert [e["data"]["id"] for e in replay] == [e["id"] for e in missed]
        assert [e["event"] for e in replay][:3] == ["order.accepted", "order.accepted", "plan.current"]
        assert resumed.nothing_within(0.5)
        resumed.close()
        # `after` in the query does the same for a first connection.
        from_query = Listener(f"{served}/v1/stores/S1/events?after={missed[-2]['id']}", ADMIN)
        assert from_query.next()["data"]["id"] == missed[-1]["id"]
        from_query.close()


def test_a_riders_stream_sends_its_route_now_then_each_change(served):
    """R1's own key: the current route first, then a new one when a dispatch gives R1 new stops;
    resuming with the last id and nothing new for R1 sends nothing at once."""
    with httpx.Client(base_url=served, timeout=60) as http:
        http.post("/v1/stores/S1/dispatch", json={"plan_time": at(1), "options": FAST}, headers=ADMIN).raise_for_status()
        stream = Listener(f"{served}/v1/riders/R1/route/stream", RIDER1)
        assert stream.code == 200
        first = stream.next()
        assert first["event"] == "route" and first["data"]["rider_id"] == "R1"
        assert first["data"] == http.get("/v1/riders/R1/route", headers=RIDER1).json()
        # More orders than R2 alone can deliver in time: a dispatch gives R1 a different route.
        for i in range(6):
            http.post("/v1/stores/S1/orders", json=order(f"N{i}", -2000 + 700 * i, -1500 + 500 * i), headers=ADMIN).raise_for_status()
        http.post("/v1/stores/S1/dispatch", json={"plan_time": at(2), "options": FAST}, headers=ADMIN).raise_for_status()
        assert http.get("/v1/riders/R1/route", headers=RIDER1).json()["stops"] != first["data"]["stops"]
        changed = stream.next()
        assert changed["data"]["plan_id"] != first["data"]["plan_id"]
        assert changed["data"] == http.get("/v1/riders/R1/route", headers=RIDER1).json()
        stream.close()
        quiet = Listener(f"{served}/v1/riders/R1/route/stream", {**RIDER1, "Last-Event-ID": changed["id"]})
        assert quiet.code == 200 and quiet.nothing_within(1.0)
        quiet.close()


def test_stream_role_boundaries(served):
    """A rider streams only its own route; a rider key never gets a store's events; no key is a
    401; an unknown rider a 404."""
    checks = [
        ("/v1/riders/R2/route/stream", RIDER1, 403),
        ("/v1/stores/S1/events", RIDER1, 403),
        ("/v1/riders/R1/route/stream", {}, 401),
        ("/v1/stores/S1/events", {}, 401),
        ("/v1/riders/NOPE/route/stream", ADMIN, 404),
        ("/v1/stores/NOPE/events", ADMIN, 404),
    ]
    for path, headers, status in checks:
        listener = Listener(f"{served}{path}", headers)
        assert listener.code == status, (path, listener.code)
        listener.close()
    admin_view = Listener(f"{served}/v1/riders/R2/route/stream", ORDER_SYSTEM)
    assert admin_view.code == 200 and admin_view.next()["data"]["rider_id"] == "R2"
    admin_view.close()


def test_streams_have_their_own_limit_and_leave_request_places_free(tmp_path):
    """With one stream place, a second stream is a 503 with Retry-After while ordinary requests
    (one request place) still answer; the place comes back when the stream closes."""
    with serve(f"sqlite:///{tmp_path / 'd.db'}", tmp_path / "log", max_streams=1, max_requests=1) as base:
        with httpx.Client(base_url=base, timeout=60) as http:
            _seed(http, orders=())
            one = Listener(f"{base}/v1/stores/S1/events", ADMIN)
            assert one.code == 200
            two = Listener(f"{base}/v1/stores/S1/events", ADMIN)
            assert two.code == 503
            assert http.get("/v1/stores/S1", headers=ADMIN).status_code == 200
            one.close()
            deadline = time.monotonic() + 20
            while True:  # the server sees the disconnect at its next write at the latest
                three = Listener(f"{base}/v1/stores/S1/events", ADMIN)
                if three.code == 200 or time.monotonic() > deadline:
                    break
                three.close()
                http.post("/v1/stores/S1/orders", json=order(f"W{int(time.monotonic() * 1000)}", 500, 0), headers=ADMIN)
                time.sleep(0.3)
            assert three.code == 200
            three.close()


def _replicas_see_each_other(database_url: str, tmp_path, **settings) -> None:
    """Two replicas on one database: an order accepted by B arrives on A's stream within a few
    seconds, although A's keep-alive (its fallback read) is a minute away."""
    with serve(database_url, tmp_path / "a.log", stream_keepalive_s=60, **settings) as a, serve(
        database_url, tmp_path / "b.log", stream_keepalive_s=60, migrate_on_start=False, **settings
    ) as b:
        with httpx.Client(base_url=b, timeout=60) as http:
            _seed(http, orders=())
            stream = Listener(f"{a}/v1/stores/S1/events", ORDER_SYSTEM)
            assert stream.code == 200
            time.sleep(0.5)
            started = time.monotonic()
            http.post("/v1/stores/S1/orders", json=order("X1", 800, 0), headers=ORDER_SYSTEM).raise_for_status()
            got = stream.next(timeout_s=10)
            assert got["data"]["order_id"] == "X1" and time.monotonic() - started < 5
            stream.close()


def test_events_cross_replicas_through_postgres_listen_notify(database_url, tmp_path):
    """PostgreSQL's own LISTEN/NOTIFY (the default there)."""
    if not database_url.startswith("postgresql"):
        pytest.skip("replicas share a PostgreSQL database; SQLite serves one process")
    _replicas_see_each_other(database_url, tmp_path)


def test_events_cross_replicas_through_redis(database_url, tmp_path):
    """Redis pub/sub (DISPATCH_EVENTS_BROKER=redis)."""
    if not database_url.startswith("postgresql"):
        pytest.skip("replicas share a PostgreSQL database; SQLite serves one process")
    try:
        socket.create_connection(REDIS, 2).close()
    except OSError:
        message = f"Redis not reachable at {REDIS[0]}:{REDIS[1]}"
        if REQUIRE_REDIS:
            pytest.fail(message + " but DISPATCH_TEST_REQUIRE_REDIS=1")
        pytest.skip(message + "; its case is skipped")
    _replicas_see_each_other(database_url, tmp_path, events_broker="redis", redis_url="redis://127.0.0.1:6379/0")
