"""The cluster (DISPATCH_BROKER_URL): real worker processes against the real Redis and PostgreSQL.

At least once (a killed worker's re-plan runs again elsewhere), one re-plan of a store at a time
(duplicates superseded), expiry, compare-and-set on apply, one ticker per cluster, and 503 when
the queues are too deep. Skipped with a message where Redis or PostgreSQL does not answer.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from datetime import datetime, timedelta, timezone

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, func, select

from api.coordination import Coordination
from api.main import create_app
from api.queueing import REPLAN_TASK, make_celery
from api.settings import Settings
from api.tables import PlanRow, StoreRow
from tests.api import helpers
from tests.api.cluster_fixtures import STALL, STALL_HARD, Cluster, cluster_settings, environment, require_redis
from tests.api.conftest import KEYS, ORDER_SYSTEM, _postgres_schema_url
from tests.api.helpers import FAST, order, rider, store


@pytest.fixture
def cluster(tmp_path) -> Iterator[Cluster]:
    """A cluster of its own: a PostgreSQL schema, a cluster name (queues and keys) and, as the
    test starts them, workers; everything is removed afterwards."""
    redis_url = require_redis()
    schemas = _postgres_schema_url()
    database_url = next(schemas)
    name = f"test-{uuid.uuid4().hex[:10]}"
    values = cluster_settings(database_url, redis_url, name)
    running = Cluster(environment(values), tmp_path)
    running.values = values
    running.coordination = Coordination(redis_url, name)
    try:
        yield running
    finally:
        running.close()
        keys = list(running.coordination.redis.scan_iter(f"{name}*")) + list(running.coordination.redis.scan_iter(f"_kombu.binding.{name}*"))
        if keys:
            running.coordination.redis.delete(*keys)
        running.coordination.close()
        next(schemas, None)


def _app(cluster: Cluster, **overrides) -> TestClient:
    return TestClient(create_app(Settings(**{**cluster.values, "api_keys": KEYS, "redispatch_tick_s": 0, **overrides})))


@pytest.fixture(autouse=True)
def _documents_of_now(monkeypatch) -> None:
    """The documents' times around now: the workers' re-plans happen at the real clock."""
    monkeypatch.setattr(helpers, "T0", datetime.now(timezone.utc).replace(microsecond=0) - timedelta(minutes=1))


def _seed(client: TestClient, policy: dict, orders=("O1", "O2")) -> None:
    assert client.put("/v1/stores/S1", json=store(), headers=ORDER_SYSTEM).status_code == 201
    for r in ("R1", "R2"):
        assert client.put(f"/v1/riders/{r}", json=rider(r), headers=ORDER_SYSTEM).status_code == 201
    for i, o in enumerate(orders):
        assert client.post("/v1/stores/S1/orders", json=order(o, 600 + 200 * i, 300), headers=ORDER_SYSTEM).status_code == 201
    answer = client.put("/v1/stores/S1/redispatch", json=policy, headers=ORDER_SYSTEM)
    assert answer.status_code == 200, answer.text


def _plans(cluster: Cluster, store_id: str = "S1") -> list[PlanRow]:
    engine = create_engine(cluster.values["database_url"])
    try:
        with engine.connect() as conn:
            return list(conn.execute(select(PlanRow.plan_id, PlanRow.created_at).where(PlanRow.store_id == store_id).order_by(PlanRow.created_at)))
    finally:
        engine.dispose()


def _version(cluster: Cluster, store_id: str = "S1") -> int:
    engine = create_engine(cluster.values["database_url"])
    try:
        with engine.connect() as conn:
            return conn.scalar(select(StoreRow.dispatch_version).where(StoreRow.id == store_id))
    finally:
        engine.dispose()


def _wait(condition, timeout_s: float, what: str) -> None:
    end = time.monotonic() + timeout_s
    while time.monotonic() < end:
        if condition():
            return
        time.sleep(0.2)
    raise AssertionError(f"not within {timeout_s:g} s: {what}")


def _planned_ids(plan: dict) -> set[str]:
    routed = {s["order_id"] for r in plan["routes"] for s in r["stops"] if s["kind"] == "dropoff"}
    return routed | {u["order_id"] for u in plan.get("unassigned", [])}


def test_the_tasks_are_acknowledged_late_and_limited_just_above_their_budget():
    settings = Settings(broker_url="redis://127.0.0.1:6379/0", max_time_limit_s=10, solve_margin_s=5, redelivery_s=40)
    conf = make_celery(settings).conf
    assert conf.task_acks_late and conf.task_reject_on_worker_lost and conf.worker_prefetch_multiplier == 1
    assert conf.task_soft_time_limit == 11 and conf.task_time_limit == 15
    assert conf.broker_transport_options["visibility_timeout"] == 40
    with pytest.raises(ValueError, match="redelivery_s"):
        Settings(broker_url="redis://127.0.0.1:6379/0", max_time_limit_s=10, solve_margin_s=5, redelivery_s=15)


def test_a_synchronous_solve_gets_503_with_retry_after_when_the_queues_are_too_deep(cluster):
    # No worker: what waits in the queue stays there.
    cluster.coordination.redis.rpush(cluster.coordination.queues.solves, "waiting-1", "waiting-2")
    with _app(cluster, cluster_queue_max=2) as client:
        answer = client.post("/v1/plans", json=helpers.problem(), headers=ORDER_SYSTEM)
        assert answer.status_code == 503 and answer.headers["Retry-After"] == "2", answer.text
        status = client.get("/v1/cluster", headers=ORDER_SYSTEM).json()
        assert status["mode"] == "cluster" and status["queue_depth"] == {"solves": 2, "replans": 0}
        assert status["counters"]["busy"] == 1


def test_solves_run_on_workers_and_a_duplicate_or_expired_replan_changes_nothing(cluster):
    with _app(cluster) as client:
        _seed(client, {"options": FAST})  # a policy with every trigger off: re-plans only when sent
        celery = make_celery(Settings(**cluster.values))
        # A re-plan that waited past its expiry before any worker took it is dropped unrun.
        cluster.coordination.mark("S1")
        celery.send_task(REPLAN_TASK, args=("S1", "new_order"), expires=0.5)
        time.sleep(1.0)
        worker = cluster.start_worker(concurrency=2)
        worker.wait_ready()
        _wait(lambda: cluster.coordination.counters()["expired"] == 1, 30, "the expired re-plan counted")
        assert _plans(cluster) == []

        # The same re-plan delivered twice (a redelivery, or a straggler): one plan, the other
        # finds the trigger covered (superseded) or the store taken (coalesced, then superseded).
        celery.send_task(REPLAN_TASK, args=("S1", "new_order"))
        celery.send_task(REPLAN_TASK, args=("S1", "new_order"))
        _wait(lambda: cluster.coordination.counters()["superseded"] >= 1 and cluster.coordination.counters()["planned"] == 1, 40, "one planned, one superseded")
        time.sleep(1.0)
        assert len(_plans(cluster)) == 1 and _version(cluster) == 1
        assert cluster.coordination.dirty("S1") is None

        # Synchronous calls keep their contract: a stateless solve, a store dispatch.
        answer = client.post("/v1/plans", json=helpers.problem(), headers=ORDER_SYSTEM)
        assert answer.status_code == 201, answer.text
        assert client.post("/v1/plans/validate", json={"problem": helpers.problem(), "plan": answer.json()}, headers=ORDER_SYSTEM).json()["valid"]
        dispatched = client.post("/v1/stores/S1/dispatch", json={"options": FAST}, headers=ORDER_SYSTEM)
        assert dispatched.status_code == 200, dispatched.text
        assert client.get("/v1/stores/S1", headers=ORDER_SYSTEM).json()["current_plan_id"] == dispatched.json()["plan_id"]
        assert cluster.coordination.counters()["solves"] == 2
        assert "o2o.solve" in worker.text()


def test_a_burst_of_orders_costs_two_replans_across_the_cluster_not_one_per_order(cluster):
    with _app(cluster) as client:
        # Each re-plan runs its whole 2 s, so the burst lands while the first one solves.
        _seed(client, {"on_new_order": True, "options": {"time_limit_s": 2.0}}, orders=())
        worker = cluster.start_worker()
        worker.wait_ready()
        for i in range(5):
            assert client.post("/v1/stores/S1/orders", json=order(f"B{i}", 500 + 150 * i, 200), headers=ORDER_SYSTEM).status_code == 201
        client.app.state.redispatcher.wait_idle(30)
        _wait(lambda: cluster.coordination.dirty("S1") is None and sum(cluster.coordination.queue_depth().values()) == 0 and not cluster.coordination.redis.exists(f"{cluster.coordination.prefix}:lease:S1"), 60, "the burst planned")
        plans = _plans(cluster)
        # The first order's re-plan, then one for the orders that came during it (one, if the
        # worker took the first task only after the whole burst): never one per order.
        assert 1 <= len(plans) <= 2, plans
        assert _planned_ids(client.get("/v1/stores/S1/plan", headers=ORDER_SYSTEM).json()) == {f"B{i}" for i in range(5)}


def test_a_solve_past_its_limit_is_stopped_by_the_soft_limit_then_the_hard_one_and_the_worker_goes_on(cluster):
    worker = cluster.start_worker(celery_app="tests.api.stalling_worker")  # the plain celery command
    with _app(cluster, cluster_queue_wait_s=3.0) as client:
        worker.wait_ready()
        # Soft limit (budget + 1 s): the solve is interrupted and the caller told at once.
        started = time.monotonic()
        answer = client.post("/v1/plans", json=helpers.problem(time_limit_s=1.0, seed=STALL), headers=ORDER_SYSTEM)
        assert answer.status_code == 504 and "time limit" in answer.text, answer.text
        assert time.monotonic() - started < 6  # 2 s of soft limit, not the 60 s of the stall
        # Hard limit (budget + margin, 3 s): a solve that ignores the soft one is killed.
        answer = client.post("/v1/plans", json=helpers.problem(time_limit_s=1.0, seed=STALL_HARD), headers=ORDER_SYSTEM)
        assert answer.status_code == 504, answer.text
        _wait(lambda: "Hard time limit" in worker.text(), 10, "the worker logged the hard limit")
        # The pool replaced its killed process: the next solve runs.
        answer = client.post("/v1/plans", json=helpers.problem(), headers=ORDER_SYSTEM)
        assert answer.status_code == 201, answer.text
        assert worker.text().count("Hard time limit") == 1  # the killed solve was not run again


def test_a_replan_of_a_worker_killed_mid_solve_runs_again_and_the_store_ends_with_one_current_plan(cluster):
    with _app(cluster) as client:
        # A slow re-plan (it runs its whole 3 s), so the worker dies in the middle of it.
        _seed(client, {"on_new_order": True, "options": {"time_limit_s": 3.0}})
        first = cluster.start_worker()
        first.wait_ready()
        assert client.post("/v1/stores/S1/orders", json=order("O3", -700, 200), headers=ORDER_SYSTEM).status_code == 201
        lease = f"{cluster.coordination.prefix}:lease:S1"
        _wait(lambda: cluster.coordination.redis.exists(lease), 30, "the first worker took the re-plan")
        time.sleep(0.5)
        first.kill()
        assert _version(cluster) == 0  # it died before applying anything

        second = cluster.start_worker()
        second.wait_ready()
        # Redelivered after `redelivery_s` (12 s here) to the other worker, and run there.
        _wait(lambda: _version(cluster) >= 1, 90, "the killed worker's re-plan ran again")
        time.sleep(1.0)
        assert "o2o.replan" in second.text() and "succeeded" in second.text()
        state = client.get("/v1/stores/S1", headers=ORDER_SYSTEM).json()
        assert state["last_redispatch"]["outcome"] == "planned"
        plan = client.get("/v1/stores/S1/plan", headers=ORDER_SYSTEM).json()
        assert _planned_ids(plan) == {"O1", "O2", "O3"}
        # Every plan the store has was applied by a version step: one current plan, no stray one.
        assert len(_plans(cluster)) == state["dispatch_version"] == 1
        assert cluster.coordination.dirty("S1") is None and not cluster.coordination.redis.exists(lease)


def test_two_replicas_tick_once_per_cluster_and_the_other_takes_over(cluster):
    worker = cluster.start_worker()
    with ExitStack() as stack:
        first = stack.enter_context(_app(cluster, redispatch_tick_s=0.5))
        second = stack.enter_context(_app(cluster, redispatch_tick_s=0.5))
        worker.wait_ready()
        _seed(first, {"every_s": 10, "options": FAST})
        _wait(lambda: len(_plans(cluster)) >= 1, 30, "the first periodic re-plan")
        started = _plans(cluster)[0].created_at
        # Two periods from the first plan: one more plan at ~10 s, not one per replica.
        time.sleep(max(0.0, (started + timedelta(seconds=15) - datetime.now(timezone.utc)).total_seconds()))
        plans = _plans(cluster)
        assert len(plans) == 2, [p.created_at for p in plans]
        assert (plans[1].created_at - plans[0].created_at).total_seconds() >= 10
        ticks = sorted([first.app.state.redispatcher.ticks, second.app.state.redispatcher.ticks])
        assert ticks[0] == 0 and ticks[1] >= 20, ticks

        # The replica that ticks stops: the other takes the ticker over within three ticks.
        leader, follower = (first, second) if first.app.state.redispatcher.ticks else (second, first)
        stack.pop_all()
        leader.__exit__(None, None, None)
        _wait(lambda: follower.app.state.redispatcher.ticks > 0, 10, "the other replica ticks")
        follower.__exit__(None, None, None)


def test_a_straggler_replan_does_not_replace_a_plan_made_since_its_snapshot(client):
    """Compare-and-set on apply: a re-plan whose store was dispatched while it solved is dropped."""
    from api.dispatching import replan_store

    _seed(client, {"options": FAST})
    newer: dict = {}

    class OvertakenSolver:
        """Solves, but another dispatch of the store commits first (a duplicate that ran faster)."""

        @staticmethod
        def run(fn, *args, time_limit_s, kind="replan"):
            newer.update(client.post("/v1/stores/S1/dispatch", json={"options": FAST}, headers=ORDER_SYSTEM).json())
            return fn(*args)

    state = client.app.state
    outcome = replan_store(state.sessions, state.reads, OvertakenSolver(), "S1", "new_order", lambda: datetime.now(timezone.utc))
    assert outcome["outcome"] == "skipped" and "another dispatch" in outcome["detail"]
    after = client.get("/v1/stores/S1", headers=ORDER_SYSTEM).json()
    assert after["current_plan_id"] == newer["plan_id"] and after["dispatch_version"] == 1
    assert after["last_redispatch"]["outcome"] == "skipped"
