"""Service settings from the environment (prefix `DISPATCH_`); read here only, passed on as values."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

Role = Literal["order_system", "rider", "admin"]


class KeySpec(BaseModel):
    """What one API key may do: its role and, for a rider key, the rider it speaks for."""

    role: Role
    rider_id: str | None = None

    @model_validator(mode="after")
    def _rider_needs_id(self) -> "KeySpec":
        if self.role == "rider" and not self.rider_id:
            raise ValueError("a key with role 'rider' needs a rider_id")
        return self


class Settings(BaseSettings):
    """Everything an operator can set; see docs/API.md for each one."""

    model_config = SettingsConfigDict(env_prefix="DISPATCH_", extra="ignore")

    database_url: str = Field(
        default="sqlite:///./dispatch.db",
        description="SQLAlchemy URL; a SQLite file by default, postgresql+psycopg://... for replicas",
    )
    api_keys: dict[str, KeySpec] = Field(
        default_factory=dict, description='JSON: {"<key>": {"role": "...", "rider_id": "..."}}'
    )
    max_body_bytes: int = Field(default=2 * 1024 * 1024, ge=1024)
    max_time_limit_s: float = Field(default=10.0, gt=0)
    solver_workers: int = Field(default=2, ge=1, le=64)
    # Solves accepted beyond the busy workers before the service answers 503.
    solver_queue: int = Field(default=2, ge=0, le=1000)
    solver_pool: Literal["process", "thread"] = "process"
    retry_after_s: int = Field(default=2, ge=1)
    # A solve not back this long after its time limit is cut off (504) and its worker replaced.
    solve_margin_s: float = Field(default=5.0, gt=0, le=600)
    # Requests inside the app at once; more wait up to queue_wait_s for a place, then 503.
    max_requests: int = Field(default=32, ge=1, le=1000)
    queue_wait_s: float = Field(default=2.0, ge=0, le=60)
    # Longest wait for a database connection or, on SQLite, for the write lock; then 503.
    db_timeout_s: float = Field(default=5.0, gt=0, le=300)
    migrate_on_start: bool = True
    # How often the service looks for stores whose `redispatch.every_s` has come round (0: never).
    redispatch_tick_s: float = Field(default=5.0, ge=0)

    # The cluster (docs/DEPLOY.md). Unset: solves and re-plans run in this process's pool. Set
    # (redis://host:6379/0): they are Celery tasks that workers (`o2o-dispatch worker`) run.
    broker_url: str | None = Field(default=None, description="Redis URL of the cluster's broker and coordination")
    # Prefix of the cluster's queues and Redis keys: clusters that share one Redis stay apart.
    cluster_name: str = Field(default="o2o-dispatch", min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.-]+$")
    # Synchronous solves answer 503 (with Retry-After) while this many tasks wait in the queues.
    cluster_queue_max: int = Field(default=100, ge=1, le=100_000)
    # How long a synchronous solve may wait in the queue for a worker, on top of its limit and margin.
    cluster_queue_wait_s: float = Field(default=15.0, gt=0, le=600)
    # A re-plan still queued this long after it was asked for is dropped (a newer one covers it).
    replan_expires_s: float = Field(default=60.0, gt=0, le=3600)
    # A task its worker has not acknowledged this long (the worker died) goes to another worker.
    # It must exceed the longest task (the time limit, margin and queue wait) or tasks run twice.
    redelivery_s: float = Field(default=60.0, gt=0, le=86_400)

    @model_validator(mode="after")
    def _redelivery_after_longest_task(self) -> "Settings":
        longest = self.max_time_limit_s + self.solve_margin_s
        if self.broker_url and self.redelivery_s <= longest:
            raise ValueError(
                f"redelivery_s ({self.redelivery_s:g}) must exceed max_time_limit_s + solve_margin_s ({longest:g}): "
                "a task still running would be given to a second worker"
            )
        return self
