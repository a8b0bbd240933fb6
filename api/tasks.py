"""The cluster's worker: `celery -A api.tasks worker` (or `o2o-dispatch worker`) runs these tasks.

Settings come from the environment (DISPATCH_*) when this module is imported, as they must for
the `celery` command; the API never imports it (it sends tasks by name, api/queueing.py).

Fork safety (the prefork pool forks its child processes from the worker's main process): the
main process loads the compiled search and imports OR-Tools before it forks (`worker_init`),
while it has no thread of ours, so every child starts with the search loaded and no lock held
by a thread that the fork left behind; a child opens its own database and Redis connections
after the fork (`worker_process_init`), never sharing a socket with its parent. Warming in the
child would also work with numba's cache, but the parent kills a child that is not up within
`worker_proc_alive_timeout` (4 s), longer than a first compile.
"""

from __future__ import annotations

import json
import logging
import sys
from dataclasses import asdict
from datetime import datetime, timezone
from typing import Any

from celery.exceptions import SoftTimeLimitExceeded
from celery.signals import task_revoked, worker_init, worker_process_init, worker_process_shutdown, worker_ready

from api.broker import Hub, make_publisher
from api.coordination import Coordination
from api.db import make_engine, session_factory
from api.dispatching import replan_store
from api.events import publish_on_commit
from api.queueing import REPLAN_TASK, SOLVE_TASK, WORKER_READY, make_celery, replan_lease_s
from api.settings import Settings
from api.solving import solve_document
from dispatch.errors import DispatchError, InvalidProblem
from dispatch.solver import warm_up

log = logging.getLogger("api.tasks")
settings = Settings()
app = make_celery(settings)


class _Process:
    """What one worker process holds: its database engine and its Redis connections."""

    engine = None
    sessions = None
    reads = None
    coordination: Coordination | None = None
    publisher = None


def _open() -> None:
    _Process.engine = make_engine(settings.database_url, pool_size=2, timeout_s=settings.db_timeout_s)
    _Process.sessions = session_factory(_Process.engine)
    _Process.reads = session_factory(_Process.engine, read_only=True)
    _Process.coordination = Coordination(settings.broker_url, settings.cluster_name)
    # Events a re-plan writes here reach the replicas' streams and webhooks through the broker
    # (PostgreSQL's NOTIFY or Redis); with the local one, streams read them at their keep-alive.
    # A worker serves no stream: it publishes without holding a listening connection.
    _Process.publisher = make_publisher(settings.events_broker, Hub(), settings.database_url, settings.redis_url, listen=False)
    publish_on_commit(_Process.sessions, _Process.publisher)


def _coordination() -> Coordination:
    if _Process.coordination is None:  # the solo pool, or a task run in a test's process
        _open()
    return _Process.coordination


@worker_init.connect
def _load_search(**_: Any) -> None:
    """In the worker's main process, before it forks: load the compiled search once."""
    warm_up()
    log.info("compiled search loaded; the pool's processes fork with it")


@worker_process_init.connect
def _connect(**_: Any) -> None:
    """In each pool process, after the fork: connections of its own."""
    _open()


@worker_ready.connect
def _announce(sender=None, **_: Any) -> None:
    """Say on stderr, whatever the log level, that the worker consumes (scripts wait for this line)."""
    print(f"{WORKER_READY}: {getattr(sender, 'hostname', '?')} on {settings.cluster_name}", file=sys.stderr, flush=True)


@worker_process_shutdown.connect
def _disconnect(**_: Any) -> None:
    if _Process.engine is not None:
        _Process.engine.dispose()
    if _Process.coordination is not None:
        _Process.coordination.close()
    if _Process.publisher is not None:
        _Process.publisher.close()


@task_revoked.connect
def _count_expired(request=None, expired: bool = False, **_: Any) -> None:
    """A re-plan dropped because it waited past its expiry (a newer one covers the store)."""
    if expired and request is not None and request.task == REPLAN_TASK:
        try:
            _coordination().count("expired")
        except Exception:  # noqa: BLE001 - counting never stops the worker
            log.warning("could not count an expired re-plan", exc_info=True)


class _InProcess:
    """The worker's own process is the solver pool: a re-plan solves here, under the task's limits."""

    @staticmethod
    def run(fn, *args, time_limit_s: float, kind: str = "replan"):
        """Run `fn(*args)` here."""
        return fn(*args)


def _utc_now() -> datetime:
    return datetime.now(timezone.utc)


@app.task(name=SOLVE_TASK, bind=True)
def solve(self, problem: dict, reply_key: str) -> None:
    """Solve a problem document and put the answer on `reply_key` for the waiting API replica."""
    coordination = _coordination()
    try:
        answer: dict[str, Any] = {"plan": solve_document(problem)}
    except InvalidProblem as exc:
        answer = {"invalid": [asdict(e) for e in exc.errors]}
    except SoftTimeLimitExceeded:
        answer = {"timeout": "the solve ran past its time limit on the worker"}
    except DispatchError as exc:
        answer = {"error": str(exc)}
    except Exception as exc:  # noqa: BLE001 - the caller gets a 500 naming it, the worker goes on
        log.exception("solve task %s failed", self.request.id)
        answer = {"error": f"{type(exc).__name__}: {exc}", "internal": True}
    coordination.count("solves" if "plan" in answer else "solve_errors")
    pipe = coordination.redis.pipeline()
    pipe.rpush(reply_key, json.dumps(answer))
    pipe.expire(reply_key, 300)  # nobody waits longer than this
    pipe.execute()


@app.task(name=REPLAN_TASK, bind=True)
def replan(self, store_id: str, trigger: str) -> str:
    """Re-plan the store unless another worker is at it (then one more run follows it) or an
    earlier run already covered every trigger (superseded); what it did."""
    coordination = _coordination()
    coordination.free_queue_slot(store_id)
    lease_s = replan_lease_s(settings)
    token = coordination.acquire(store_id, lease_s)
    if token is None:
        # Another worker re-plans the store now. It runs once more if a trigger came during its
        # solve; this one only makes sure a run follows should that worker die mid-way.
        if coordination.defer_once(store_id, lease_s):
            self.apply_async((store_id, trigger), countdown=coordination.lease_left_s(store_id) + 0.5, expires=settings.replan_expires_s + lease_s)
        coordination.count("coalesced")
        return "coalesced"
    seen = coordination.dirty(store_id)
    try:
        if seen is None:
            coordination.count("superseded")
            return "superseded"
        outcome = replan_store(
            _Process.sessions, _Process.reads, _InProcess(), store_id, trigger, _utc_now, rules=settings.event_rules()
        )
        result = "no_policy" if outcome is None else outcome["outcome"]
        coordination.count(result if result in ("planned", "failed", "skipped") else "skipped")
        return result
    finally:
        # A trigger that came during the solve: one more run, behind the other stores' queued ones.
        if coordination.release(store_id, token, seen) and coordination.claim_queue_slot(store_id, settings.replan_expires_s):
            self.apply_async((store_id, trigger), expires=settings.replan_expires_s)
