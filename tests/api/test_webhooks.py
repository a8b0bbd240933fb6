"""Webhooks: signed deliveries of the subscribed events, retries with back-off, a receiver that is
down or hangs (dispatching goes on), the delivery log and who may read it."""

from __future__ import annotations

import hmac
import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from api.webhooks import sign, verify
from tests.api.conftest import ADMIN, ORDER_SYSTEM
from tests.api.helpers import FAST, at, order, seed_store

SECRET = "s3cret-for-the-tests-0123456789"


class Receiver:
    """A local HTTP receiver: answers each POST with the next status of `statuses` (then 200)."""

    def __init__(self, statuses=()):
        self.statuses = list(statuses)
        self.received: list[tuple[dict, bytes]] = []
        self.times: list[float] = []
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                outer.received.append(({k.lower(): v for k, v in self.headers.items()}, body))
                outer.times.append(time.monotonic())
                code = outer.statuses.pop(0) if outer.statuses else 200
                self.send_response(code)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def hooks_client(settings_for):
    """A client whose webhook worker polls every 0.1 s, retries after 0.2 s (doubling), 3 attempts."""
    cfg = settings_for(webhook_poll_s=0.1, webhook_backoff_s=0.2, webhook_max_attempts=3, webhook_timeout_s=0.5)
    with TestClient(create_app(cfg)) as c:
        yield c


def _wait(predicate, timeout_s: float = 15.0):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError("timed out")


def _log(client, hook_id: str) -> list[dict]:
    answer = client.get(f"/v1/webhooks/{hook_id}/deliveries", headers=ADMIN)
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_signature_is_hmac_of_timestamp_and_body_and_refuses_replays_and_tampering():
    """A known vector; a changed body, another secret or a timestamp 10 minutes old fail."""
    body = b'{"id":1}'
    assert sign("k" * 16, 1700000000, body) == "v1=" + hmac.new(b"k" * 16, b"1700000000." + body, "sha256").hexdigest()
    good = sign(SECRET, 1700000000, body)
    assert verify(SECRET, "1700000000", good, body, now=1700000100)
    assert not verify(SECRET, "1700000000", good, b'{"id":2}', now=1700000100)
    assert not verify("another-secret-0123456", "1700000000", good, body, now=1700000100)
    assert not verify(SECRET, "1700000000", good, body, now=1700000000 + 600)
    assert not verify(SECRET, "17e8", good, body, now=1700000000)


def test_subscribed_events_are_delivered_signed_and_logged(hooks_client):
    """Only the subscribed types arrive, each signed over its timestamp and body with the
    subscription's secret, carrying the event; the log shows each delivered at the first attempt."""
    client = hooks_client
    receiver = Receiver()
    try:
        seed_store(client, orders=())
        made = client.post(
            "/v1/stores/S1/webhooks", json={"url": receiver.url, "event_types": ["order.accepted", "order.cancelled"], "secret": SECRET},
            headers=ORDER_SYSTEM,
        )
        assert made.status_code == 201, made.text
        hook = made.json()
        assert hook["secret"] == SECRET and hook["active"]
        assert client.get("/v1/stores/S1/webhooks", headers=ORDER_SYSTEM).json()[0]["secret"] is None  # told once
        client.post("/v1/stores/S1/orders", json=order("O1"), headers=ORDER_SYSTEM).raise_for_status()
        client.post("/v1/stores/S1/dispatch", json={"plan_time": at(0), "options": FAST}, headers=ORDER_SYSTEM).raise_for_status()
        client.post("/v1/orders/O1/events", json={"type": "cancelled"}, headers=ORDER_SYSTEM).raise_for_status()
        _wait(lambda: len(receiver.received) >= 2)
        time.sleep(0.3)
        assert len(receiver.received) == 2  # plan.current and rider.route_changed were not asked for
        for (headers, body), kind in zip(receiver.received, ["order.accepted", "order.cancelled"]):
            assert verify(SECRET, headers["x-dispatch-timestamp"], headers["x-dispatch-signature"], body)
            event = json.loads(body)
            assert headers["x-dispatch-event"] == event["type"] == kind and event["order_id"] == "O1"
            assert headers["x-dispatch-event-id"] == str(event["id"])
        log = _wait(lambda: [d for d in _log(client, hook["id"]) if d["status"] == "delivered"] if len(_log(client, hook["id"])) == 2 else None)
        assert sorted(d["event_type"] for d in log) == ["order.accepted", "order.cancelled"]
        assert all(d["attempts"] == 1 and d["last_status_code"] == 200 for d in log)
        # The log is the admin's; an order system's key may not read it.
        assert client.get(f"/v1/webhooks/{hook['id']}/deliveries", headers=ORDER_SYSTEM).status_code == 403
        # Deleted: nothing more is sent.
        assert client.delete(f"/v1/webhooks/{hook['id']}", headers=ORDER_SYSTEM).json()["active"] is False
        client.post("/v1/stores/S1/orders", json=order("O2", 500, 0), headers=ORDER_SYSTEM).raise_for_status()
        time.sleep(0.5)
        assert len(receiver.received) == 2
    finally:
        receiver.close()


def test_a_failing_receiver_is_retried_with_growing_back_off(hooks_client):
    """503, 500, then 200: delivered at the third attempt, the waits growing (0.2 s, then 0.4 s)."""
    client = hooks_client
    receiver = Receiver(statuses=[503, 500])
    try:
        seed_store(client, orders=())
        hook = client.post("/v1/stores/S1/webhooks", json={"url": receiver.url, "event_types": ["order.accepted"]}, headers=ADMIN).json()
        client.post("/v1/stores/S1/orders", json=order("O1"), headers=ORDER_SYSTEM).raise_for_status()
        done = _wait(lambda: [d for d in _log(client, hook["id"]) if d["status"] == "delivered"])
        assert done[0]["attempts"] == 3 and done[0]["last_status_code"] == 200
        bodies = {body for _, body in receiver.received}
        assert len(receiver.received) == 3 and len(bodies) == 1  # the same event each time
        first_wait, second_wait = receiver.times[1] - receiver.times[0], receiver.times[2] - receiver.times[1]
        assert first_wait >= 0.19 and second_wait >= 0.39
    finally:
        receiver.close()


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_a_receiver_that_is_down_or_hangs_never_blocks_dispatching(hooks_client):
    """One subscription refuses connections, one accepts them and never answers: orders, events
    and dispatches answer as usual meanwhile; both deliveries end failed after 3 attempts, each
    attempt and its error in the log."""
    client = hooks_client
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(64)  # the kernel accepts connections; nobody ever answers
    try:
        seed_store(client, orders=())
        down = client.post("/v1/stores/S1/webhooks", json={"url": f"http://127.0.0.1:{_closed_port()}/x"}, headers=ADMIN).json()
        hung = client.post("/v1/stores/S1/webhooks", json={"url": f"http://127.0.0.1:{silent.getsockname()[1]}/x"}, headers=ADMIN).json()
        started = time.monotonic()
        for i in range(3):
            client.post("/v1/stores/S1/orders", json=order(f"O{i}", 600 + 300 * i, 0), headers=ORDER_SYSTEM).raise_for_status()
        plan = client.post("/v1/stores/S1/dispatch", json={"plan_time": at(0), "options": FAST}, headers=ORDER_SYSTEM)
        assert plan.status_code == 200 and len(plan.json()["routes"]) >= 1
        assert time.monotonic() - started < 10
        for hook, error in ((down, "refused"), (hung, "timed out")):
            log = _wait(lambda h=hook: (lambda rows: rows if rows and all(r["status"] == "failed" for r in rows) else None)(_log(client, h["id"])), 30)
            assert all(r["attempts"] == 3 and r["last_status_code"] is None for r in log)
            assert error in log[0]["last_error"].lower(), log[0]["last_error"]
    finally:
        silent.close()


def test_a_subscription_names_what_is_wrong(hooks_client):
    """A URL that is not http(s), an unknown event type, a short secret: 422 naming the field;
    an unknown store 404; a rider key 403."""
    client = hooks_client
    seed_store(client, orders=())
    for body, field in (
        ({"url": "ftp://example.com/x"}, "url"),
        ({"url": "http://127.0.0.1:9/x", "event_types": ["order.lost"]}, "event_types"),
        ({"url": "http://127.0.0.1:9/x", "event_types": []}, "event_types"),
        ({"url": "http://127.0.0.1:9/x", "secret": "short"}, "secret"),
    ):
        answer = client.post("/v1/stores/S1/webhooks", json=body, headers=ORDER_SYSTEM)
        assert answer.status_code == 422 and field in answer.text, answer.text
    assert client.post("/v1/stores/NOPE/webhooks", json={"url": "http://127.0.0.1:9/x"}, headers=ORDER_SYSTEM).status_code == 404
    assert client.post("/v1/stores/S1/webhooks", json={"url": "http://127.0.0.1:9/x"}, headers={"Authorization": "Bearer r1-key"}).status_code == 403
    assert client.get("/v1/webhooks/nope/deliveries", headers=ADMIN).status_code == 404
