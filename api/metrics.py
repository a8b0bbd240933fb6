"""What the service exposes at /metrics (Prometheus text format, prometheus-client).

Counters and histograms are kept as requests, solves and re-plans happen; the state of the
stores (open and late orders, plan age), the solver queue and the requests inside the app are
read when Prometheus scrapes. Each app has its own registry; with several uvicorn workers each
process answers for itself (scrape each, or run one worker per replica).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from datetime import datetime

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import select
from sqlalchemy.orm import Session

from api.tables import OrderRow, StoreRow

log = logging.getLogger("api.metrics")
# A request answers in milliseconds, a solve in up to DISPATCH_MAX_TIME_LIMIT_S and margin.
_REQUEST_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
_SOLVE_BUCKETS = (0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 20, 60, 120)


class ServiceMetrics:
    """The service's instruments, in a registry of their own."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter(
            "dispatch_http_requests", "HTTP requests answered, by method, route template and status",
            ["method", "route", "status"], registry=r,
        )
        self.request_seconds = Histogram(
            "dispatch_http_request_duration_seconds", "Time to answer a request, by method and route template",
            ["method", "route"], buckets=_REQUEST_BUCKETS, registry=r,
        )
        self.solve_seconds = Histogram(
            "dispatch_solve_duration_seconds",
            "Solves in the solver pool, from submission to answer (kind: plan, dispatch, replan, move_check; outcome: ok, error)",
            ["kind", "outcome"], buckets=_SOLVE_BUCKETS, registry=r,
        )
        self.replan_seconds = Histogram(
            "dispatch_replan_duration_seconds",
            "The service's own re-plans, from the trigger's read to the commit, by trigger and outcome",
            ["trigger", "outcome"], buckets=_SOLVE_BUCKETS, registry=r,
        )
        self.in_progress = Gauge("dispatch_requests_in_progress", "Requests being served or waiting for a place", registry=r)
        self.location_reports = Counter(
            "dispatch_location_reports", "Rider location reports, by outcome (applied, stale, refused)",
            ["outcome"], registry=r,
        )

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        """Count one answered request."""
        self.requests.labels(method, route, str(status)).inc()
        self.request_seconds.labels(method, route).observe(seconds)

    def observe_solve(self, kind: str, outcome: str, seconds: float) -> None:
        """Record one solve's duration."""
        self.solve_seconds.labels(kind, outcome).observe(seconds)

    def install_state(self, state: Callable[[], "StateReader | None"]) -> None:
        """Read the stores, the queue and the admission gate when scraped (`state()` None: not started)."""
        self.registry.register(_StateCollector(state))


class StateReader:
    """What the scrape-time gauges read: a session factory, the solver pool and the clock."""

    def __init__(self, reads: Callable[[], Session], solver, now: Callable[[], datetime]):
        self.reads = reads
        self.solver = solver
        self.now = now


class _StateCollector(Collector):
    def __init__(self, state: Callable[[], StateReader | None]):
        self.state = state

    def describe(self):
        return []  # gauges read at scrape time: nothing to describe before one

    def collect(self) -> Iterator[GaugeMetricFamily]:
        state = self.state()
        if state is None:
            return
        pool = state.solver
        queued = GaugeMetricFamily("dispatch_solver_queue_depth", "Solves waiting for a solver worker")
        queued.add_metric([], pool.queued)
        yield queued
        busy = GaugeMetricFamily("dispatch_solver_busy_workers", "Solver workers running a solve")
        busy.add_metric([], pool.busy)
        yield busy
        try:
            yield from _store_gauges(state)
        except Exception as exc:  # a database that does not answer must not fail the scrape
            log.warning("metrics: the stores' state could not be read (%s)", type(exc).__name__)
            up = GaugeMetricFamily("dispatch_store_state_readable", "1 when the stores' state was read for this scrape")
            up.add_metric([], 0)
            yield up
            return
        up = GaugeMetricFamily("dispatch_store_state_readable", "1 when the stores' state was read for this scrape")
        up.add_metric([], 1)
        yield up


def _store_gauges(state: StateReader) -> Iterator[GaugeMetricFamily]:
    now = state.now()
    open_orders = GaugeMetricFamily("dispatch_open_orders", "Orders not yet delivered or cancelled, by store and status", labels=["store_id", "status"])
    late = GaugeMetricFamily("dispatch_late_orders", "Orders not delivered or cancelled whose promise has passed, by store", labels=["store_id"])
    age = GaugeMetricFamily("dispatch_plan_age_seconds", "Seconds since the store's current plan was committed", labels=["store_id"])
    with state.reads() as db:
        stores = db.execute(select(StoreRow.id, StoreRow.dispatched_at)).all()
        counts: dict[tuple[str, str], int] = {}
        late_counts: dict[str, int] = {}
        rows = db.execute(
            select(OrderRow.store_id, OrderRow.status, OrderRow.document).where(OrderRow.status.in_(("open", "picked_up")))
        )
        for store_id, status, document in rows:
            counts[(store_id, status)] = counts.get((store_id, status), 0) + 1
            if _past_promise(document, now):
                late_counts[store_id] = late_counts.get(store_id, 0) + 1
    for store_id, dispatched_at in stores:
        for status in ("open", "picked_up"):
            open_orders.add_metric([store_id, status], counts.get((store_id, status), 0))
        late.add_metric([store_id], late_counts.get(store_id, 0))
        if dispatched_at is not None:
            age.add_metric([store_id], max(0.0, (now - dispatched_at).total_seconds()))
    yield open_orders
    yield late
    yield age


def _past_promise(document: dict, now: datetime) -> bool:
    try:
        return datetime.fromisoformat(document["promised_at"]) < now
    except (KeyError, TypeError, ValueError):
        return False  # a record stored before promises were kept: not counted


class Timer:
    """Seconds since it was made (perf_counter)."""

    def __init__(self) -> None:
        self.t0 = time.perf_counter()

    def __call__(self) -> float:
        return time.perf_counter() - self.t0
