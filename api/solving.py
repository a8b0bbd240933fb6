"""Solves run in a bounded worker pool (processes by default) so they never block the event loop.

When every worker is busy and the queue is full, the service answers 503 with Retry-After
instead of queueing without bound.
"""

from __future__ import annotations

import multiprocessing
import threading
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from concurrent.futures.process import BrokenProcessPool
from typing import Any, Callable

from api.errors import ApiError, ServiceBusy, SolveTimeout
from dispatch.documents import problem_from_document
from dispatch.errors import DispatchError
from dispatch.solver import solve, warm_up
from dispatch.validate import validate_plan

# Beyond its own time limit a solve gets this long (model building, the result's trip back).
_WAIT_MARGIN_S = 30.0


def solve_document(problem_doc: dict) -> dict:
    """Solve a contract problem document and return the plan document, checked by the validator."""
    problem = problem_from_document(problem_doc)
    plan = solve(problem)
    violations = validate_plan(problem, plan)
    if violations:
        # A plan that breaks a rule never leaves the service.
        raise DispatchError(f"the solver made an invalid plan: {violations[0].cause}: {violations[0].detail}")
    return plan.to_document()


def _worker_start() -> None:
    warm_up()


class SolverPool:
    """A fixed number of solver workers plus a bounded queue in front of them."""

    def __init__(self, kind: str, workers: int, queue: int, retry_after_s: int):
        self.kind = kind
        self.workers = workers
        self.retry_after_s = retry_after_s
        self._slots = threading.BoundedSemaphore(workers + queue)
        self._lock = threading.Lock()
        self._executor = self._new_executor()

    def _new_executor(self) -> Executor:
        if self.kind == "thread":
            return ThreadPoolExecutor(self.workers, thread_name_prefix="solver", initializer=_worker_start)
        # spawn, not fork: the server process has threads, and a fork would copy their locks.
        ctx = multiprocessing.get_context("spawn")
        return ProcessPoolExecutor(self.workers, mp_context=ctx, initializer=_worker_start)

    def run(self, fn: Callable[..., Any], *args: Any, time_limit_s: float) -> Any:
        """Run `fn(*args)` on a worker and wait for it; 503 if no slot is free."""
        if not self._slots.acquire(blocking=False):
            raise ServiceBusy(
                f"all {self.workers} solver workers are busy and the queue is full; retry shortly",
                headers={"Retry-After": str(self.retry_after_s)},
            )
        try:
            with self._lock:
                executor = self._executor
            future = executor.submit(fn, *args)
        except BaseException:
            self._slots.release()
            raise
        future.add_done_callback(lambda _f: self._slots.release())
        try:
            return future.result(timeout=time_limit_s + _WAIT_MARGIN_S)
        except FutureTimeout:
            raise SolveTimeout("the solve did not finish in time") from None
        except BrokenProcessPool:
            with self._lock:
                if self._executor is executor:
                    self._executor = self._new_executor()
            raise ApiError("a solver worker died; the pool was restarted", code="worker_died") from None

    def close(self) -> None:
        """Stop the workers; solves still queued are cancelled."""
        self._executor.shutdown(wait=True, cancel_futures=True)
