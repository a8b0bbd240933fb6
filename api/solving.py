"""Solves run in a bounded pool of worker processes so they never block the event loop, and
no solve can hold a worker past its limit.

When every worker is busy and the queue is full, the service answers 503 with Retry-After
instead of queueing without bound. A worker whose solve has not come back `margin_s` after its
time limit is killed and replaced (the caller gets a 504): the solver keeps its own limits, and
this is the backstop that makes them hold whatever happens inside it.
"""

from __future__ import annotations

import logging
import multiprocessing
import queue
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from multiprocessing.connection import Connection
from typing import Any, Callable

from api.errors import ServiceBusy, SolveTimeout
from dispatch.documents import problem_from_document
from dispatch.errors import DispatchError
from dispatch.solver import solve, warm_up
from dispatch.validate import validate_plan

log = logging.getLogger("api.solving")


def solve_document(problem_doc: dict) -> dict:
    """Solve a contract problem document and return the plan document, checked by the validator."""
    problem = problem_from_document(problem_doc)
    plan = solve(problem)
    violations = validate_plan(problem, plan)
    if violations:
        # A plan that breaks a rule never leaves the service.
        raise DispatchError(f"the solver made an invalid plan: {violations[0].cause}: {violations[0].detail}")
    return plan.to_document()


def _serve(conn: Connection) -> None:
    """A worker process: load the compiled search, then run each (fn, args) sent until told to stop."""
    warm_up()
    while True:
        try:
            job = conn.recv()
        except (EOFError, OSError):
            return
        if job is None:
            return
        fn, args = job
        try:
            outcome = (True, fn(*args))
        except BaseException as exc:  # noqa: BLE001 - every failure goes back to the caller
            outcome = (False, exc)
        try:
            conn.send(outcome)
        except Exception as exc:  # noqa: BLE001 - e.g. an exception that does not pickle
            conn.send((False, DispatchError(f"a solve failed and its error could not be sent back: {exc!r}")))


class _Worker:
    """One solver process and the pipe to it; used by one request at a time."""

    def __init__(self, ctx) -> None:
        self.conn, child = ctx.Pipe()
        self.process = ctx.Process(target=_serve, args=(child,), name="solver", daemon=True)
        self.process.start()
        child.close()

    def call(self, fn: Callable[..., Any], args: tuple, timeout_s: float) -> tuple[bool, Any] | None:
        """(ok, value) of fn(*args) run in the worker, or None if it did not answer in time."""
        self.conn.send((fn, args))
        if not self.conn.poll(max(0.0, timeout_s)):
            return None
        return self.conn.recv()

    def stop(self, wait_s: float) -> None:
        """Ask the process to leave; kill it if it has not within `wait_s`."""
        try:
            self.conn.send(None)
        except (OSError, ValueError):
            pass
        self.process.join(wait_s)
        self.kill()

    def kill(self) -> None:
        """End the process now."""
        if self.process.is_alive():
            self.process.kill()
        self.process.join(5)
        self.conn.close()


class SolverPool:
    """A fixed number of solver workers plus a bounded queue in front of them."""

    def __init__(
        self, kind: str, workers: int, queue_size: int, retry_after_s: int, margin_s: float = 5.0, max_wait_s: float = 15.0
    ):
        self.kind = kind
        self.workers = workers
        self.retry_after_s = retry_after_s
        self.margin_s = margin_s
        # A queued solve waits for a worker at most as long as the longest solve may run.
        self.max_wait_s = max_wait_s
        self._slots = threading.BoundedSemaphore(workers + queue_size)
        self._count_lock = threading.Lock()
        self._in_flight = 0  # solves holding a slot: running or waiting for a worker
        # Called with (kind, outcome, seconds) after each solve (the service's metrics).
        self.observe: Callable[[str, str, float], None] | None = None
        self._closing = threading.Event()
        self._threads: ThreadPoolExecutor | None = None
        self._idle: queue.Queue[_Worker] = queue.Queue()
        if kind == "thread":
            self._threads = ThreadPoolExecutor(workers, thread_name_prefix="solver", initializer=warm_up)
        else:
            # spawn, not fork: the server process has threads, and a fork would copy their locks.
            self._ctx = multiprocessing.get_context("spawn")
            for _ in range(workers):
                self._idle.put(_Worker(self._ctx))

    @property
    def busy(self) -> int:
        """Solves running on a worker now."""
        return min(self._in_flight, self.workers)

    @property
    def queued(self) -> int:
        """Solves accepted and waiting for a worker."""
        return max(0, self._in_flight - self.workers)

    def _busy(self, why: str) -> ServiceBusy:
        return ServiceBusy(why, headers={"Retry-After": str(self.retry_after_s)})

    def run(self, fn: Callable[..., Any], *args: Any, time_limit_s: float, kind: str = "plan") -> Any:
        """Run `fn(*args)` on a worker and wait for it: 503 if no slot is free, 504 (and the
        worker replaced) if it has not answered `margin_s` after `time_limit_s` (counted from
        when a worker took it: a queued solve first waits for one, at most `max_wait_s`)."""
        if self._closing.is_set():
            raise self._busy("the service is shutting down; retry on another replica or shortly")
        if not self._slots.acquire(blocking=False):
            raise self._busy(f"all {self.workers} solver workers are busy and the queue is full; retry shortly")
        with self._count_lock:
            self._in_flight += 1
        started, outcome = time.perf_counter(), "error"
        try:
            if self._threads is not None:
                try:
                    value = self._threads.submit(fn, *args).result(timeout=self.max_wait_s + time_limit_s + self.margin_s)
                except FutureTimeout:
                    raise SolveTimeout("the solve did not finish in time") from None
            else:
                value = self._run_in_process(fn, args, time_limit_s + self.margin_s)
            outcome = "ok"
            return value
        finally:
            with self._count_lock:
                self._in_flight -= 1
            self._slots.release()
            if self.observe is not None:
                self.observe(kind, outcome, time.perf_counter() - started)

    def _run_in_process(self, fn: Callable[..., Any], args: tuple, allowed_s: float) -> Any:
        try:
            worker = self._idle.get(timeout=self.max_wait_s)
        except queue.Empty:
            raise SolveTimeout(f"no solver worker became free within {self.max_wait_s:g} s") from None
        try:
            outcome = worker.call(fn, args, allowed_s)
        except (EOFError, OSError, BrokenPipeError):
            # The process died under the solve (out of memory, a crash): a fresh one replaces it.
            log.error("a solver worker died (exit code %s); replacing it", worker.process.exitcode)
            worker.kill()
            self._idle.put(_Worker(self._ctx))
            raise self._busy("a solver worker died during the solve and was replaced; retry") from None
        if outcome is None:
            log.error("a solve ran past its limit and margin; killing its worker")
            worker.kill()
            self._idle.put(_Worker(self._ctx))
            raise SolveTimeout("the solve did not finish in time; its worker was replaced")
        self._idle.put(worker)
        ok, value = outcome
        if ok:
            return value
        raise value

    def close(self, wait_s: float = 30.0) -> None:
        """Refuse new solves, let the running ones finish (each within its limit and margin, and
        `wait_s` in all), then stop the workers."""
        self._closing.set()
        if self._threads is not None:
            self._threads.shutdown(wait=True, cancel_futures=True)
            return
        end = time.monotonic() + wait_s
        stopped = 0
        while stopped < self.workers:
            try:
                worker = self._idle.get(timeout=max(0.0, end - time.monotonic()))
            except queue.Empty:
                log.warning("%d solver workers still busy at shutdown; leaving them to be killed", self.workers - stopped)
                break
            worker.stop(wait_s=2.0)
            stopped += 1
