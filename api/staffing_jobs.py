"""Staffing runs as a background job: it simulates whole days, which can take minutes.

A request starts the job (or finds the one already running for the same store and query),
waits a few seconds for it, and answers the result if it is there, else 202 with Retry-After:
the caller asks the same URL again. The job runs in its own one-worker pool, so it never holds a
solver worker; in the process pool (the default) a job past its limit is cut off and its worker
replaced. Finished jobs are kept a while so that every poll of the same question gets the same
answer; a failure that a retry may not repeat (a worker that died, an error) is told once.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections import OrderedDict
from concurrent.futures import Future
from concurrent.futures import TimeoutError as FutureTimeout  # not the builtin one before Python 3.11
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from api.errors import ServiceBusy
from api.solving import SolverPool
from dispatch.live.staffing import StaffingOptions, staff


def staff_document(scenarios: list[dict], options: StaffingOptions) -> dict:
    """The staffing of the day scenarios as a document (what a job computes, in its worker)."""
    return staff(scenarios, options).to_document()


def job_key(store_id: str, question: dict[str, Any]) -> str:
    """The question a job answers: the store and the query (not the history: on a live store it
    changes with every order, and each poll would start another job)."""
    text = json.dumps([store_id, question], sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass
class StaffingJob:
    """One staffing computation: when it started, and its outcome once there."""

    key: str
    future: Future
    orders: int  # the history's orders and days, for what an answer says
    days: int
    started_at: datetime = field(default_factory=lambda: datetime.now(timezone.utc))
    started_s: float = field(default_factory=time.monotonic)
    finished_s: float | None = None

    def wait(self, seconds: float) -> bool:
        """Wait up to `seconds` for the outcome; whether it is there."""
        try:
            self.future.exception(timeout=max(0.0, seconds))
        except FutureTimeout:
            return False
        return True

    def result(self) -> dict:
        """The staffing document, or the job's error raised."""
        return self.future.result(timeout=0)

    @property
    def running_s(self) -> float:
        """Seconds since the job started."""
        return time.monotonic() - self.started_s


class StaffingJobs:
    """The service's staffing jobs: at most `1 + queue` running, finished ones kept `keep_s`."""

    def __init__(self, pool_kind: str, queue: int, retry_after_s: int, time_limit_s: float, margin_s: float,
                 keep_s: float = 600.0, max_kept: int = 32):
        self.retry_after_s = retry_after_s
        self.time_limit_s = time_limit_s
        self.keep_s = keep_s
        self.max_kept = max_kept
        self._capacity = 1 + queue
        self._pool_kind, self._queue, self._margin_s = pool_kind, queue, margin_s
        self._pool: SolverPool | None = None  # started with the first job: most services never staff
        self._jobs: OrderedDict[str, StaffingJob] = OrderedDict()
        self._lock = threading.Lock()

    def _solver(self) -> SolverPool:
        if self._pool is None:
            self._pool = SolverPool(self._pool_kind, 1, self._queue, self.retry_after_s, self._margin_s,
                                    max_wait_s=self._queue * (self.time_limit_s + self._margin_s))
        return self._pool

    def find(self, key: str) -> StaffingJob | None:
        """The job running or kept for `key`, if any."""
        with self._lock:
            self._forget_old()
            return self._jobs.get(key)

    def start(self, key: str, scenarios: list[dict], options: StaffingOptions) -> StaffingJob:
        """A new job for `key` (or the one another request started meanwhile); 503 when full."""
        with self._lock:
            self._forget_old()
            if key in self._jobs:
                return self._jobs[key]
            running = sum(1 for j in self._jobs.values() if not j.future.done())
            if running >= self._capacity:
                raise ServiceBusy(f"{running} staffing jobs are running; retry shortly",
                                  headers={"Retry-After": str(self.retry_after_s)})
            job = StaffingJob(key, Future(), orders=sum(len(s["orders"]) for s in scenarios), days=len(scenarios))
            self._jobs[key] = job
            pool = self._solver()  # under the lock: two first jobs at once make one pool
        # A daemon thread waits for the worker: a service that stops is not held by a running job.
        threading.Thread(target=self._run, args=(pool, job, scenarios, options), name="staffing", daemon=True).start()
        return job

    def _run(self, pool: SolverPool, job: StaffingJob, scenarios: list[dict], options: StaffingOptions) -> None:
        try:
            value = pool.run(staff_document, scenarios, options, time_limit_s=self.time_limit_s, kind="staffing")
        except BaseException as exc:  # noqa: BLE001 - every failure is the job's answer
            job.finished_s = time.monotonic()
            job.future.set_exception(exc)
        else:
            job.finished_s = time.monotonic()
            job.future.set_result(value)

    def forget(self, key: str) -> None:
        """Drop a job (one whose failure a later ask should not see again)."""
        with self._lock:
            self._jobs.pop(key, None)

    def _forget_old(self) -> None:
        """Drop finished jobs kept longer than keep_s, and the oldest finished past max_kept."""
        now = time.monotonic()
        for key, job in list(self._jobs.items()):
            if job.finished_s is not None and now - job.finished_s > self.keep_s:
                del self._jobs[key]
        finished = [key for key, job in self._jobs.items() if job.finished_s is not None]
        for key in finished[: max(0, len(self._jobs) - self.max_kept)]:
            del self._jobs[key]

    def close(self, wait_s: float = 5.0) -> None:
        """Stop the workers; a running job is cut off (its worker process ends with the service)."""
        if self._pool is not None:
            self._pool.close(wait_s=wait_s)

    def describe(self, job: StaffingJob) -> dict[str, Any]:
        """What a 202 answer says of a running job."""
        return {"status": "running", "job": job.key[:16], "started_at": job.started_at.isoformat(),
                "running_s": round(job.running_s, 1), "retry_after_s": self.retry_after_s,
                "time_limit_s": self.time_limit_s}
