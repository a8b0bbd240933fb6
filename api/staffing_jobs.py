"""Staffing runs as a background job: it simulates whole days, which can take minutes.

A request starts the job (or finds the one already running for the same history and options),
waits a few seconds for it, and answers the result if it is there, else 202 with Retry-After:
the caller asks the same URL again. The job runs in its own one-worker pool, so it never holds a
solver worker, and the pool's backstop ends a job that runs past its limit. Finished jobs are
kept a while so that every poll of the same question gets the same answer.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections import OrderedDict
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from api.errors import ServiceBusy
from api.solving import SolverPool
from dispatch.live.staffing import StaffingOptions, staff


def staff_document(scenarios: list[dict], options: StaffingOptions) -> dict:
    """The staffing of the day scenarios as a document (what a job computes, in its worker)."""
    return staff(scenarios, options).to_document()


def job_key(store_id: str, scenarios: list[dict], options: StaffingOptions) -> str:
    """The question a job answers: the store, its history and the options, as one digest."""
    text = json.dumps([store_id, scenarios, repr(options)], sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


@dataclass
class StaffingJob:
    """One staffing computation: when it started, and its outcome once there."""

    key: str
    future: Future
    started_at: datetime = field(default_factory=lambda: datetime.now(timezone.utc))
    started_s: float = field(default_factory=time.monotonic)
    finished_s: float | None = None

    def wait(self, seconds: float) -> bool:
        """Wait up to `seconds` for the outcome; whether it is there."""
        try:
            self.future.exception(timeout=max(0.0, seconds))
        except TimeoutError:
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
    """The service's staffing jobs: at most `workers + queue` running, finished ones kept `keep_s`."""

    def __init__(self, pool_kind: str, queue: int, retry_after_s: int, time_limit_s: float, margin_s: float,
                 keep_s: float = 600.0, max_kept: int = 32):
        self.retry_after_s = retry_after_s
        self.time_limit_s = time_limit_s
        self.keep_s = keep_s
        self.max_kept = max_kept
        self._capacity = 1 + queue
        self._pool_kind, self._queue, self._margin_s = pool_kind, queue, margin_s
        self._pool: SolverPool | None = None  # started with the first job: most services never staff
        self._waiters = ThreadPoolExecutor(self._capacity, thread_name_prefix="staffing")
        self._jobs: OrderedDict[str, StaffingJob] = OrderedDict()
        self._lock = threading.Lock()

    def _solver(self) -> SolverPool:
        if self._pool is None:
            self._pool = SolverPool(self._pool_kind, 1, self._queue, self.retry_after_s, self._margin_s,
                                    max_wait_s=self._queue * (self.time_limit_s + self._margin_s))
        return self._pool

    def start(self, key: str, scenarios: list[dict], options: StaffingOptions) -> StaffingJob:
        """The job answering `key`: the one running or kept, else a new one (503 when full)."""
        with self._lock:
            self._forget_old()
            job = self._jobs.get(key)
            if job is not None:
                return job
            running = sum(1 for j in self._jobs.values() if not j.future.done())
            if running >= self._capacity:
                raise ServiceBusy(f"{running} staffing jobs are running; retry shortly",
                                  headers={"Retry-After": str(self.retry_after_s)})
            pool = self._solver()
            future = self._waiters.submit(pool.run, staff_document, scenarios, options,
                                          time_limit_s=self.time_limit_s, kind="staffing")
            job = StaffingJob(key, future)
            future.add_done_callback(lambda _: setattr(job, "finished_s", time.monotonic()))
            self._jobs[key] = job
            return job

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
        """Stop the workers; a running job is cut off (its caller may ask again later)."""
        self._waiters.shutdown(wait=False, cancel_futures=True)
        if self._pool is not None:
            self._pool.close(wait_s=wait_s)

    def describe(self, job: StaffingJob) -> dict[str, Any]:
        """What a 202 answer says of a running job."""
        return {"status": "running", "job": job.key[:16], "started_at": job.started_at.isoformat(),
                "running_s": round(job.running_s, 1), "retry_after_s": self.retry_after_s,
                "time_limit_s": self.time_limit_s}
