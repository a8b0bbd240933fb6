"""A worker whose solves stall, for the time-limit tests: `celery -A tests.api.stalling_worker worker`.

It is the cluster's own worker (api.tasks) with one change: a problem whose `options.seed` is
STALL sleeps in Python before solving (the soft limit interrupts it), and one whose seed is
STALL_HARD also ignores the soft limit (only the hard limit, a kill, ends it).
"""

from __future__ import annotations

import time

from celery.exceptions import SoftTimeLimitExceeded

import api.tasks as tasks
from api.tasks import app  # noqa: F401 - the Celery app this module's worker runs

from tests.api.cluster_fixtures import STALL, STALL_HARD

_solve = tasks.solve_document


def _stalling(problem: dict) -> dict:
    seed = problem.get("options", {}).get("seed")
    if seed == STALL:
        time.sleep(60)
    elif seed == STALL_HARD:
        end = time.monotonic() + 60
        while time.monotonic() < end:
            try:
                time.sleep(end - time.monotonic())
            except SoftTimeLimitExceeded:
                continue
    return _solve(problem)


tasks.solve_document = _stalling
