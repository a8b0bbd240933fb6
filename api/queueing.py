"""The Celery app of a cluster, configured from the service's settings (API replicas send with it,
workers run its tasks; see api/tasks.py and docs/DEPLOY.md).

Plans are perishable, so the semantics are chosen for them:
- at least once: a task is acknowledged after it ran (`acks_late`), and a task whose worker
  process died is given back to the queue (`reject_on_worker_lost`); a task of a worker that
  vanished whole goes to another worker after `redelivery_s` (Redis' visibility timeout);
- a re-plan run twice is harmless: its plan is applied only if the store's dispatch version is
  still the one it planned from (compare-and-set), and the store's lease runs one at a time;
- each task has a soft time limit just above its solve's limit and a hard one at limit + margin;
- a worker takes one task per process at a time (prefetch 1), so a long solve never holds
  others back that an idle worker could run.
No result backend: a synchronous solve's answer comes back on a list of its own (BLPOP works
from any number of request threads at once), and a re-plan's result is the store's plan.
"""

from __future__ import annotations

from celery import Celery

from api.coordination import queues_of
from api.settings import Settings

SOLVE_TASK = "o2o.solve"
REPLAN_TASK = "o2o.replan"
WORKER_READY = "o2o-dispatch worker ready"  # the line a worker prints once it consumes (any log level)


def hard_limit_s(settings: Settings, time_limit_s: float) -> float:
    """When a task's worker process is killed: the solve's limit plus the service's margin."""
    return time_limit_s + settings.solve_margin_s


def soft_limit_s(time_limit_s: float) -> float:
    """When a task is asked to stop (SoftTimeLimitExceeded): just after its solve's own limit."""
    return time_limit_s + 1.0


def replan_lease_s(settings: Settings) -> float:
    """How long a store's lease lasts: a re-plan's hard limit plus its database work."""
    return hard_limit_s(settings, settings.max_time_limit_s) + 5.0


def make_celery(settings: Settings) -> Celery:
    """The cluster's Celery app on `settings.broker_url`."""
    if not settings.broker_url:
        raise ValueError("DISPATCH_BROKER_URL is not set: there is no cluster to send tasks to")
    queues = queues_of(settings.cluster_name)
    app = Celery(settings.cluster_name, broker=settings.broker_url, set_as_current=False)
    app.conf.update(
        task_serializer="json",
        accept_content=["json"],
        task_ignore_result=True,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_default_queue=queues.replans,
        task_routes={SOLVE_TASK: {"queue": queues.solves}, REPLAN_TASK: {"queue": queues.replans}},
        task_soft_time_limit=soft_limit_s(settings.max_time_limit_s),
        task_time_limit=hard_limit_s(settings, settings.max_time_limit_s),
        broker_connection_retry_on_startup=True,
        broker_transport_options={
            "visibility_timeout": settings.redelivery_s,
            # Look for a vanished worker's tasks every few seconds rather than every 100 s.
            "unacked_restore_interval": max(1, min(10, int(settings.redelivery_s / 4))),
            "unacked_restore_throttle": 1,
            "socket_timeout": 30,
        },
        # Tasks are not sent to a worker that is not consuming; no remote control traffic needed.
        worker_enable_remote_control=False,
        worker_send_task_events=False,
    )
    return app
