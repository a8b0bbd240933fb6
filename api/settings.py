"""Service settings from the environment (prefix `DISPATCH_`); read here only, passed on as values."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from api.events import EventRules

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

    # Events, streams and webhooks (docs/API.md "Events").
    events_broker: Literal["auto", "local", "postgres", "redis"] = Field(
        default="auto", description="how replicas hear of each other's events; auto: PostgreSQL's own on PostgreSQL, else local"
    )
    redis_url: str = Field(default="redis://127.0.0.1:6379/0", description="Redis for events_broker=redis")
    eta_moved_s: int = Field(default=300, ge=1, le=24 * 3600, description="an ETA moving this much is an order.eta_moved event")
    at_risk_slack_s: int = Field(default=300, ge=0, le=24 * 3600, description="an ETA this close to its promise is order.at_risk")
    # Streams: open at once (beyond them 503), a comment line this often, and a longest life
    # (the client resumes with Last-Event-ID), so a shutdown never waits on a stream for long.
    max_streams: int = Field(default=100, ge=1, le=10000)
    stream_keepalive_s: float = Field(default=15.0, gt=0, le=300)
    stream_max_s: float = Field(default=600.0, gt=0, le=24 * 3600)

    def event_rules(self) -> EventRules:
        """The thresholds of the re-plan events."""
        return EventRules(eta_moved_s=self.eta_moved_s, at_risk_slack_s=self.at_risk_slack_s)
    # Webhooks: attempts per delivery, the first back-off (doubled after each failure, at most an
    # hour), a receiver's time to answer, and how often the worker looks for due deliveries.
    webhook_max_attempts: int = Field(default=8, ge=1, le=100)
    webhook_backoff_s: float = Field(default=10.0, gt=0, le=3600)
    webhook_timeout_s: float = Field(default=5.0, gt=0, le=60)
    webhook_poll_s: float = Field(default=1.0, gt=0, le=60)
    # The console (/console): a rider's position older than this is marked stale; an optional
    # basemap (an XYZ tile URL template such as https://tiles.example/{z}/{x}/{y}.png, served by
    # the site itself: the console never reaches the internet on its own).
    console_stale_s: int = Field(default=120, ge=1, le=24 * 3600)
    console_tiles_url: str | None = Field(default=None, max_length=2000)
    console_tiles_attribution: str = Field(default="", max_length=500)
