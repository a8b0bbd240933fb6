"""The ASGI app: `uvicorn api.main:app`. Settings are read when the app starts, not on import."""

from __future__ import annotations

import asyncio
import logging
from contextlib import asynccontextmanager, suppress

import anyio.to_thread
from fastapi import FastAPI
from fastapi.concurrency import run_in_threadpool

from api.db import make_engine, migrate, session_factory
from api.deps import utc_now
from api.dispatching import Redispatcher
from api.errors import install_error_handlers
from api.docs_pages import install_docs
from api.limits import Admission, BodySizeLimit
from api.metrics import ServiceMetrics, StateReader
from api.observability import RequestContext, configure_logging
from api.openapi import install_openapi
from api.broker import Hub, make_publisher
from api.events import EventRules, publish_on_commit
from api.routes import (
    cluster, console, dispatcher, health, lists, metrics, operations, orders, plans, riders, stores, streams, webhooks,
)
from api.routes.streams import StreamGate
from api.settings import Settings
from api.solving import SolverPool
from api.staffing_jobs import StaffingJobs
from api.webhooks import RetryPolicy, WebhookWorker
from dispatch.solver import warm_up

DESCRIPTION = """\
Dispatch plans for store-based instant delivery. Order systems send orders and ask for plans;
riders' apps fetch their routes and report pickups and deliveries. Documents follow the
dispatch contract (times ISO 8601 with an offset, durations in seconds, distances in metres).
Send `Authorization: Bearer <key>`; see docs/API.md for roles and error codes.
"""


log = logging.getLogger("api.redispatch")
# Connections and threads beyond the requests': the re-plan threads (2) and the ticker, plus one;
# the webhook worker (one claiming, four sending); four for the streams' short reads.
_BACKGROUND_CONNECTIONS = 4 + 5 + 4


async def _every_tick(redispatcher: Redispatcher, tick_s: float) -> None:
    """Re-plan stores whose `every_s` has come round, forever; one failure never stops it."""
    while True:
        await asyncio.sleep(tick_s)
        try:
            await run_in_threadpool(redispatcher.tick)
        except Exception:
            log.exception("re-dispatch tick failed")


def _engine(cfg: Settings, sessions, reads, metrics: ServiceMetrics, rules: EventRules):
    """Where solves and re-plans run: this process's pool, or the cluster's workers (DISPATCH_BROKER_URL)."""
    if cfg.broker_url:
        # Imported here: an embedded service never needs Celery or Redis.
        from api.cluster import ClusterRedispatcher, ClusterSolver
        from api.coordination import Coordination

        longest_wait_s = cfg.cluster_queue_wait_s + cfg.max_time_limit_s + cfg.solve_margin_s
        coordination = Coordination(cfg.broker_url, cfg.cluster_name, socket_timeout_s=longest_wait_s + 10)
        solver = ClusterSolver(cfg, coordination)
        solver.observe = metrics.observe_solve
        return solver, ClusterRedispatcher(sessions, solver, utc_now, reads=reads, metrics=metrics, rules=rules)
    solver = SolverPool(
        cfg.solver_pool, cfg.solver_workers, cfg.solver_queue, cfg.retry_after_s, cfg.solve_margin_s,
        max_wait_s=cfg.max_time_limit_s + cfg.solve_margin_s,
    )
    solver.observe = metrics.observe_solve
    return solver, Redispatcher(sessions, solver, utc_now, reads=reads, metrics=metrics, rules=rules)


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the service; `settings` default to the environment (prefix DISPATCH_) at start-up."""

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        app.state.settings = settings or Settings()
        cfg = app.state.settings
        configure_logging(cfg.log_format, cfg.log_level)
        # Every request inside the app, each re-plan thread and the ticker may hold a connection
        # at once: the pool has room for all of them, so none waits for another.
        engine = make_engine(cfg.database_url, pool_size=cfg.max_requests + _BACKGROUND_CONNECTIONS, timeout_s=cfg.db_timeout_s)
        if cfg.migrate_on_start:
            migrate(engine)
        app.state.engine = engine
        app.state.sessions = session_factory(engine)
        # Events reach this process's streams, and other replicas', when their transaction commits.
        app.state.hub = Hub()
        app.state.hub.bind(asyncio.get_running_loop())
        app.state.publisher = make_publisher(cfg.events_broker, app.state.hub, cfg.database_url, cfg.redis_url)
        publish_on_commit(app.state.sessions, app.state.publisher)
        app.state.streams = StreamGate(cfg.max_streams)
        retry = RetryPolicy(max_attempts=cfg.webhook_max_attempts, backoff_s=cfg.webhook_backoff_s, timeout_s=cfg.webhook_timeout_s)
        app.state.reads = session_factory(engine, read_only=True)
        app.state.webhooks = WebhookWorker(
            app.state.sessions, retry, poll_s=cfg.webhook_poll_s, reads=app.state.reads, default_zone=cfg.time_zone
        )
        app.state.hub.on_wake(app.state.webhooks.wake)
        app.state.admission = asyncio.Semaphore(cfg.max_requests)
        # Sync routes and dependencies run on AnyIO's threads: one each per admitted request.
        limiter = anyio.to_thread.current_default_thread_limiter()
        limiter.total_tokens = max(limiter.total_tokens, cfg.max_requests + _BACKGROUND_CONNECTIONS)
        app.state.solver, app.state.redispatcher = _engine(cfg, app.state.sessions, app.state.reads, app.state.metrics, cfg.event_rules())
        app.state.state_reader = StateReader(app.state.reads, app.state.solver, utc_now)
        app.state.staffing = StaffingJobs(cfg.solver_pool, cfg.staffing_queue, cfg.retry_after_s, cfg.staffing_time_limit_s,
                                          cfg.solve_margin_s, keep_s=cfg.staffing_keep_s)
        # Quotes run in the request's thread: load the compiled insertion here once.
        await run_in_threadpool(warm_up)
        ticker = asyncio.create_task(_every_tick(app.state.redispatcher, cfg.redispatch_tick_s)) if cfg.redispatch_tick_s > 0 else None
        try:
            yield
        finally:
            if ticker is not None:
                ticker.cancel()
                with suppress(asyncio.CancelledError):
                    await ticker
            app.state.redispatcher.close()
            app.state.publisher.close()
            app.state.webhooks.close(wait_s=cfg.webhook_timeout_s + 5)
            app.state.staffing.close()
            app.state.solver.close(wait_s=cfg.max_time_limit_s + cfg.solve_margin_s)
            if cfg.broker_url:
                app.state.solver.coordination.close()
            engine.dispose()

    # /docs and /redoc are served with their assets from here (install_docs), not from a CDN.
    app = FastAPI(
        title="o2o-dispatch", version="0.1.0", description=DESCRIPTION, lifespan=lifespan, docs_url=None, redoc_url=None
    )
    app.state.metrics = ServiceMetrics()
    app.state.state_reader = None
    app.state.metrics.install_state(lambda: app.state.state_reader)
    install_error_handlers(app)
    install_openapi(app, settings)
    install_docs(app)
    # The body is read (and its size checked) before a request takes one of the places.
    app.add_middleware(Admission)
    app.add_middleware(BodySizeLimit)
    # Outermost: every answer, a refusal of the two guards too, has its request id and is counted.
    app.add_middleware(RequestContext)
    for module in (health, metrics, plans, dispatcher, stores, lists, orders, riders, streams, webhooks, console, operations, cluster):
        app.include_router(module.router)
    console.mount_static(app)
    return app


app = create_app()
