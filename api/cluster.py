"""The API replica's side of a cluster: synchronous solves sent to the workers and waited for,
re-plans enqueued once per store, and the periodic re-dispatch ticked by one replica only.

Used when DISPATCH_BROKER_URL is set (api/main.py); otherwise api/solving.py's process pool and
api/dispatching.py's threads do the same work in this process.
"""

from __future__ import annotations

import json
import logging
import threading
import time
import uuid
from datetime import datetime
from typing import Any, Callable

from sqlalchemy.orm import Session

from api.coordination import Coordination
from api.dispatching import Redispatcher, Trigger
from api.errors import ServiceBusy, SolveTimeout
from api.events import EventRules
from api.queueing import REPLAN_TASK, SOLVE_TASK, hard_limit_s, make_celery, soft_limit_s
from api.settings import Settings
from api.solving import solve_document
from dispatch.errors import DispatchError, FieldError, InvalidProblem

log = logging.getLogger("api.cluster")


class ClusterSolver:
    """Runs solves on the cluster's workers; the same `run` as the in-process SolverPool."""

    def __init__(self, settings: Settings, coordination: Coordination):
        self.settings = settings
        self.coordination = coordination
        self.celery = make_celery(settings)
        self.retry_after_s = settings.retry_after_s
        self.observe: Callable[[str, str, float], None] | None = None  # (kind, outcome, seconds), for /metrics
        self._waiting = 0  # this replica's synchronous solves waiting for their answer
        self._count_lock = threading.Lock()

    @property
    def busy(self) -> int:
        """This replica's synchronous solves under way on the cluster."""
        return self._waiting

    @property
    def queued(self) -> int:
        """Tasks waiting in the cluster's queues (0 when Redis does not answer)."""
        try:
            return sum(self.coordination.queue_depth().values())
        except Exception:  # a scrape never fails for Redis
            return 0

    def _busy(self, why: str) -> ServiceBusy:
        return ServiceBusy(why, headers={"Retry-After": str(self.retry_after_s)})

    def check_depth(self) -> None:
        """503 when the cluster's queues hold more than `cluster_queue_max` tasks."""
        depth = self.coordination.queue_depth()
        if sum(depth.values()) >= self.settings.cluster_queue_max:
            self.coordination.count("busy")
            raise self._busy(
                f"the cluster's queues hold {sum(depth.values())} tasks (limit {self.settings.cluster_queue_max}); retry shortly"
            )

    def run(self, fn: Callable[..., Any], *args: Any, time_limit_s: float, kind: str = "plan") -> Any:
        """Solve on a worker and wait: 503 when the queues are too deep, 504 when no answer comes
        within the queue wait, the time limit and the margin (the task then expires unrun)."""
        if fn is not solve_document:
            raise TypeError(f"the cluster runs solve_document only, not {fn!r}")
        (problem,) = args
        self.check_depth()
        with self._count_lock:
            self._waiting += 1
        started, outcome = time.perf_counter(), "error"
        try:
            plan = self._solve_remote(problem, time_limit_s)
            outcome = "ok"
            return plan
        finally:
            with self._count_lock:
                self._waiting -= 1
            if self.observe is not None:
                self.observe(kind, outcome, time.perf_counter() - started)

    def _solve_remote(self, problem: dict, time_limit_s: float) -> dict:
        task_id = uuid.uuid4().hex
        reply_key = self.coordination.reply_key(task_id)
        wait_s = self.settings.cluster_queue_wait_s + hard_limit_s(self.settings, time_limit_s)
        try:
            self.celery.send_task(
                SOLVE_TASK,
                args=(problem, reply_key),
                task_id=task_id,
                expires=self.settings.cluster_queue_wait_s,
                soft_time_limit=soft_limit_s(time_limit_s),
                time_limit=hard_limit_s(self.settings, time_limit_s),
            )
            reply = self.coordination.redis.blpop([reply_key], timeout=wait_s)
        except Exception as exc:  # the broker does not answer: as busy as it gets
            log.error("could not reach the cluster's broker: %s", exc)
            raise self._busy("the cluster's broker does not answer; retry shortly") from None
        if reply is None:
            raise SolveTimeout(f"no worker answered within {wait_s:g} s")
        answer = json.loads(reply[1])
        if "plan" in answer:
            return answer["plan"]
        if "invalid" in answer:
            raise InvalidProblem([FieldError(**e) for e in answer["invalid"]])
        if "timeout" in answer:
            raise SolveTimeout(answer["timeout"])
        if answer.get("internal"):
            raise RuntimeError(f"a worker failed the solve: {answer['error']}")
        raise DispatchError(answer["error"])

    def close(self, wait_s: float = 0.0) -> None:
        """Nothing runs here; let go of the broker connections."""
        self.celery.close()


class ClusterRedispatcher(Redispatcher):
    """Re-plans enqueued as tasks (one queued per store, bursts coalesced); ticks once per cluster."""

    def __init__(
        self,
        sessions: Callable[[], Session],
        solver: ClusterSolver,
        now: Callable[[], datetime],
        reads: Callable[[], Session] | None = None,
        metrics=None,
        rules: EventRules = EventRules(),
    ):
        super().__init__(sessions, solver, now, reads=reads, metrics=metrics, rules=rules)
        self.cluster = solver
        self.coordination = solver.coordination
        self.replica_id = uuid.uuid4().hex[:12]
        self.ticks = 0  # ticks this replica ran (it leads the ticker)

    def request(self, store_id: str, trigger: Trigger) -> None:
        """Mark the store and enqueue its re-plan unless one is queued already."""
        settings = self.cluster.settings
        self.coordination.mark(store_id)
        if not self.coordination.claim_queue_slot(store_id, settings.replan_expires_s):
            return
        try:
            self.cluster.celery.send_task(REPLAN_TASK, args=(store_id, trigger), expires=settings.replan_expires_s)
        except Exception:
            self.coordination.free_queue_slot(store_id)
            raise

    def tick(self) -> list[str]:
        """When this replica leads the cluster's ticker: enqueue every store due now."""
        tick_s = self.cluster.settings.redispatch_tick_s or 5.0
        if not self.coordination.lead_ticker(self.replica_id, 3 * tick_s):
            return []
        self.ticks += 1
        return super().tick()

    def close(self) -> None:
        """Finish the triggers under way (each only enqueues)."""
        super().close()


def cluster_status(coordination: Coordination) -> dict[str, Any]:
    """What GET /v1/cluster shows: queue depth, the ticker's replica, the counters."""
    return {
        "mode": "cluster",
        "queue_depth": coordination.queue_depth(),
        "ticker": coordination.ticker(),
        "counters": coordination.counters(),
    }
