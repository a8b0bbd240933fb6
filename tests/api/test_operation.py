"""What an operator runs the service with: /metrics, request ids and structured logs, offline docs."""

from __future__ import annotations

import io
import json
import logging
import re
from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import update

from api.main import create_app
from api.observability import JsonFormatter, RequestIdFilter
from api.tables import StoreRow
from tests.api.conftest import ADMIN, ORDER_SYSTEM, RIDER1
from tests.api.helpers import FAST, T0, at, order, seed_store


def _metric(text: str, name: str, **labels) -> float:
    """The value of one sample of the exposition (0 if absent)."""
    for line in text.splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            found = dict(re.findall(r'(\w+)="([^"]*)"', line.rsplit(" ", 1)[0]))
            if all(found.get(k) == v for k, v in labels.items()):
                return float(line.rsplit(" ", 1)[1])
    return 0.0


def test_metrics_name_requests_solves_replans_queue_and_each_stores_orders_and_plan_age(client):
    """After requests, a dispatch and a re-plan, /metrics (Prometheus text) has each family with
    its labels: requests by route template and status, solve and re-plan durations, the solver
    queue, and per store open and late orders and the plan's age."""
    seed_store(client, riders=("R1",), orders=("O1", "O2"))
    client.get("/v1/stores/S9", headers=ORDER_SYSTEM)  # a 404
    client.post("/v1/stores/S1/dispatch", json={"plan_time": at(0), "options": FAST}, headers=ORDER_SYSTEM)
    client.app.state.redispatcher.now = lambda: T0 + timedelta(minutes=1)
    client.put("/v1/stores/S1/redispatch", json={"on_new_order": True, "options": FAST}, headers=ORDER_SYSTEM)
    client.post("/v1/stores/S1/orders", json=order("O3", 300, -1500), headers=ORDER_SYSTEM)
    assert client.app.state.redispatcher.wait_idle(60)
    answer = client.get("/metrics")
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/plain")
    text = answer.text
    assert _metric(text, "dispatch_http_requests_total", route="/v1/stores/{store_id}/orders", method="POST", status="201") == 3
    assert _metric(text, "dispatch_http_requests_total", route="/v1/stores/{store_id}", method="GET", status="404") == 1
    assert _metric(text, "dispatch_http_request_duration_seconds_count", route="/v1/stores/{store_id}/dispatch") == 1
    assert _metric(text, "dispatch_solve_duration_seconds_count", kind="dispatch", outcome="ok") == 1
    assert _metric(text, "dispatch_solve_duration_seconds_count", kind="replan", outcome="ok") >= 1
    assert _metric(text, "dispatch_replan_duration_seconds_count", trigger="new_order", outcome="planned") >= 1
    assert "dispatch_solver_queue_depth 0.0" in text and "dispatch_solver_busy_workers 0.0" in text
    assert _metric(text, "dispatch_open_orders", store_id="S1", status="open") == 3
    # The helpers' orders were promised long before the service's clock: all three are late.
    assert _metric(text, "dispatch_late_orders", store_id="S1") == 3
    assert _metric(text, "dispatch_plan_age_seconds", store_id="S1") >= 0 and 'dispatch_plan_age_seconds{store_id="S1"}' in text
    assert "dispatch_store_state_readable 1.0" in text and "dispatch_requests_in_progress" in text


def test_metrics_need_an_admin_key_when_not_public(settings_for):
    """DISPATCH_METRICS_PUBLIC=false: 401 without a key, 403 for an order system, 200 for an admin."""
    with TestClient(create_app(settings_for(metrics_public=False))) as client:
        assert client.get("/metrics").status_code == 401
        assert client.get("/metrics", headers=ORDER_SYSTEM).status_code == 403
        assert client.get("/metrics", headers=ADMIN).status_code == 200


def test_every_answer_has_a_request_id_and_a_sane_one_sent_is_kept(client):
    """X-Request-ID on 200, 401, 404 and 422 answers; the caller's id is echoed, a hostile one replaced."""
    for answer in (client.get("/healthz"), client.get("/v1/stores/S1"), client.get("/v1/stores/S1", headers=ORDER_SYSTEM),
                   client.put("/v1/stores/S1", json={}, headers=ORDER_SYSTEM)):
        assert re.fullmatch(r"[0-9a-f]{32}", answer.headers["X-Request-ID"]), answer.headers
    assert client.get("/healthz", headers={"X-Request-ID": "app-42.retry:1"}).headers["X-Request-ID"] == "app-42.retry:1"
    assert client.get("/healthz", headers={"X-Request-ID": "x" * 65}).headers["X-Request-ID"] != "x" * 65


def _json_lines(logger: str):
    """A handler writing the service's JSON lines for `logger` into a buffer."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RequestIdFilter())
    logging.getLogger(logger).addHandler(handler)
    return stream, handler


def test_a_replan_writes_one_json_line_with_its_fields_and_the_triggering_requests_id(client):
    """The re-plan a new order triggers logs one line: store, trigger, orders, duration, objective,
    reassignments, outcome, and the id of the request that caused it; each request an access line."""
    seed_store(client, riders=("R1",), orders=("O1",))
    client.app.state.redispatcher.now = lambda: T0 + timedelta(minutes=1)
    client.put("/v1/stores/S1/redispatch", json={"on_new_order": True, "options": FAST}, headers=ORDER_SYSTEM)
    stream, handler = _json_lines("api")
    try:
        answer = client.post("/v1/stores/S1/orders", json=order("O2", -900, 400), headers={**ORDER_SYSTEM, "X-Request-ID": "order-O2"})
        assert client.app.state.redispatcher.wait_idle(60)
    finally:
        logging.getLogger("api").removeHandler(handler)
    assert answer.headers["X-Request-ID"] == "order-O2"
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    replans = [line for line in lines if line.get("event") == "replan"]
    assert len(replans) == 1, lines
    replan = replans[0]
    assert replan["request_id"] == "order-O2" and replan["store_id"] == "S1" and replan["trigger"] == "new_order"
    assert replan["outcome"] == "planned" and replan["orders"] == 2 and replan["duration_ms"] > 0
    assert isinstance(replan["objective"], int) and replan["reassigned"] == 0 and replan["level"] == "INFO"
    access = [line for line in lines if line.get("event") == "request"]
    assert access and access[0]["request_id"] == "order-O2" and access[0]["status"] == 201
    assert access[0]["route"] == "/v1/stores/{store_id}/orders"


def test_a_failed_replan_writes_an_error_line_saying_why(client):
    """A stored policy that today's rules refuse fails its re-plan: one ERROR line with the reason."""
    seed_store(client, riders=("R1",), orders=("O1",))
    client.put("/v1/stores/S1/redispatch", json={"on_new_order": True, "options": FAST}, headers=ORDER_SYSTEM)
    # The policy's own re-plan first (on a busy machine it could otherwise run after the change below).
    assert client.app.state.redispatcher.wait_idle(60)
    with client.app.state.sessions() as db, db.begin():
        db.execute(update(StoreRow).values(redispatch={"on_new_order": True, "options": {"time_limit_s": -1}}))
    stream, handler = _json_lines("api")
    try:
        client.post("/v1/stores/S1/orders", json=order("O2", -900, 400), headers=ORDER_SYSTEM)
        assert client.app.state.redispatcher.wait_idle(60)
    finally:
        logging.getLogger("api").removeHandler(handler)
    failed = [json.loads(line) for line in stream.getvalue().splitlines() if '"replan"' in line]
    assert len(failed) == 1 and failed[0]["outcome"] == "failed" and failed[0]["level"] == "ERROR"
    assert "time_limit_s" in failed[0]["detail"] or "greater than 0" in failed[0]["detail"]


def test_docs_and_redoc_load_every_asset_from_the_service(client):
    """/docs and /redoc reference only paths of this service (no CDN, no web fonts), and each answers."""
    for page in ("/docs", "/redoc"):
        html = client.get(page)
        assert html.status_code == 200 and "text/html" in html.headers["content-type"]
        urls = re.findall(r'(?:src|href)=["\']([^"\']+)["\']', html.text) + re.findall(r"url: ?'([^']+)'", html.text)
        assert urls and "http" not in html.text.split("<body>")[0].replace("http-equiv", ""), html.text[:500]
        assert "fonts.googleapis" not in html.text and "cdn.jsdelivr" not in html.text
        for url in urls:
            assert url.startswith("/"), url
            assert client.get(url).status_code == 200, url
    assert "swagger-ui-bundle.js" in client.get("/docs").text and "redoc.standalone.js" in client.get("/redoc").text


def test_a_coalesced_replan_carries_the_id_of_the_request_that_asked_for_it(client):
    """A trigger that arrives while the store re-plans makes it run once more; that run's line
    carries the later request's id, not the first's."""
    import threading

    seed_store(client, riders=("R1",), orders=("O1",))
    redispatcher = client.app.state.redispatcher
    redispatcher.now = lambda: T0 + timedelta(minutes=1)
    client.put("/v1/stores/S1/redispatch", json={"on_new_order": True, "options": FAST}, headers=ORDER_SYSTEM)
    inside, release = threading.Event(), threading.Event()
    replan = redispatcher._replan

    def slow_first(store_id, trigger):
        if not inside.is_set():
            inside.set()
            release.wait(30)
        replan(store_id, trigger)

    redispatcher._replan = slow_first
    stream, handler = _json_lines("api")
    try:
        client.post("/v1/stores/S1/orders", json=order("O2", -900, 400), headers={**ORDER_SYSTEM, "X-Request-ID": "first"})
        assert inside.wait(30)
        client.post("/v1/stores/S1/orders", json=order("O3", 300, -1500), headers={**ORDER_SYSTEM, "X-Request-ID": "second"})
        release.set()
        assert redispatcher.wait_idle(60)
    finally:
        logging.getLogger("api").removeHandler(handler)
    ids = [json.loads(line)["request_id"] for line in stream.getvalue().splitlines() if '"replan"' in line]
    assert ids == ["first", "second"], ids
