"""Service settings from the environment (prefix `DISPATCH_`) and a TOML file; read here only,
passed on as values.

Precedence, highest first: values given in code, `DISPATCH_*` environment variables, the TOML file
(`DISPATCH_CONFIG`, else `./dispatch.toml` when it exists), the defaults below.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict, TomlConfigSettingsSource

from dispatch.schema import parse_time_zone

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


DEFAULT_CONFIG_FILE = Path("dispatch.toml")


def config_file() -> Path | None:
    """The TOML file settings are read from: DISPATCH_CONFIG (which must exist), else ./dispatch.toml if present."""
    named = os.environ.get("DISPATCH_CONFIG")
    if named:
        path = Path(named)
        if not path.is_file():
            raise FileNotFoundError(f"DISPATCH_CONFIG names {named!r}, which is not a file")
        return path
    return DEFAULT_CONFIG_FILE if DEFAULT_CONFIG_FILE.is_file() else None


class Settings(BaseSettings):
    """Everything an operator can set; see docs/API.md for each one."""

    # Unknown keys are an error in the file (a misspelt setting must not pass silently); the
    # environment holds much else, so unknown DISPATCH_* variables are not looked at.
    model_config = SettingsConfigDict(env_prefix="DISPATCH_", extra="forbid")

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        path = config_file()
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        if path is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=path))
        return tuple(sources)

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

    # Staffing (GET /v1/stores/{id}/staffing): each simulated re-plan stops after this many
    # search iterations (a work limit keeps the answer reproducible and its time bounded), and the
    # workload's scale gets this many simulations of the history.
    staffing_replan_iterations: int = Field(default=100, ge=1, le=100_000)
    staffing_simulations: int = Field(default=4, ge=1, le=20)
    # A staffing job runs in the background (it simulates whole days): a request waits this long
    # for it, then answers 202 and the caller asks again; a job is cut off past its limit; its
    # answer is kept for repeated asks; at most 1 + staffing_queue run at once.
    staffing_wait_s: float = Field(default=10.0, ge=0, le=60)
    staffing_time_limit_s: float = Field(default=600.0, gt=0, le=24 * 3600)
    staffing_keep_s: float = Field(default=600.0, ge=0, le=7 * 24 * 3600)
    staffing_queue: int = Field(default=1, ge=0, le=100)
    # Histories with more orders are refused (422 naming `days`): a job's time grows with them.
    staffing_max_orders: int = Field(default=20_000, ge=1, le=10**7)
    # What a rider-hour costs in the money of third-party fees, for solves and quotes that do not
    # say (options.rider_cost_per_hour); stores with a third_party need one or the other.
    rider_cost_per_hour: float | None = Field(default=None, gt=0, le=1e6)
    # Quotes at a confidence are calibrated on the store's last `quote_calibration_window` quoted
    # and delivered orders once it has `quote_calibration_min_samples` (dispatch.live.quote_calibration).
    quote_calibration_window: int = Field(default=100, ge=1, le=10_000)
    quote_calibration_min_samples: int = Field(default=20, ge=1, le=10_000)

    @model_validator(mode="after")
    def _calibration_window_holds_its_minimum(self) -> "Settings":
        if self.quote_calibration_min_samples > self.quote_calibration_window:
            raise ValueError(
                f"quote_calibration_min_samples ({self.quote_calibration_min_samples}) must not exceed "
                f"quote_calibration_window ({self.quote_calibration_window}): quotes would never be calibrated"
            )
        return self

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
    # Integration and operation: time zones, logs, metrics, location reports, lists.
    # The zone of stores whose document names none (IANA name or UTC offset); unset: the first
    # order's offset, else UTC.
    time_zone: str | None = Field(default=None, max_length=64)
    # Location reports of one rider: a burst of `location_burst`, then one per this many seconds (429 beyond).
    location_min_interval_s: float = Field(default=2.0, ge=0, le=3600)
    location_burst: int = Field(default=3, ge=1, le=100)
    log_format: Literal["text", "json"] = "text"
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    # /metrics without a key (for a scraper on a private network); false: an admin key is needed.
    metrics_public: bool = True

    @field_validator("time_zone")
    @classmethod
    def _known_zone(cls, value: str | None) -> str | None:
        if value is not None:
            parse_time_zone(value)
        return value


SECRET_FIELDS = frozenset({"api_keys", "database_url", "broker_url"})


def _mask_key(key: str) -> str:
    # Four characters tell keys apart; a short key shows none of itself.
    return (key[:4] + "..." if len(key) >= 16 else "...") + f" ({len(key)} characters)"


def masked(settings: Settings) -> dict[str, Any]:
    """The settings as JSON values with secrets masked: API keys show 4 characters and their
    length, a database URL its password as ***."""
    values = settings.model_dump(mode="json")
    values["api_keys"] = {_mask_key(key): spec for key, spec in values["api_keys"].items()}
    from sqlalchemy.engine import make_url  # only here: masking needs the URL parser

    try:
        values["database_url"] = make_url(settings.database_url).render_as_string(hide_password=True)
    except Exception:  # not a URL SQLAlchemy can read: show nothing of it
        values["database_url"] = "*** (not a URL SQLAlchemy can read)"
    if values.get("broker_url"):
        # A Redis URL may carry a password (redis://:secret@host:6379/0).
        broker = urlsplit(values["broker_url"])
        if broker.password:
            values["broker_url"] = broker._replace(netloc=broker.netloc.replace(f":{broker.password}@", ":***@")).geturl()
    return values


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        import tomllib
    except ImportError:  # Python 3.10
        import tomli as tomllib
    return tomllib.loads(path.read_text())


def sources_of(settings: Settings) -> dict[str, str]:
    """Where each setting's value came from: `env`, `file` or `default`."""
    path = config_file()
    in_file: set[str] = set()
    if path is not None:
        in_file = set(_read_toml(path))
    out = {}
    for name in Settings.model_fields:
        if f"DISPATCH_{name.upper()}" in {k.upper() for k in os.environ}:
            out[name] = "env"
        elif name in in_file:
            out[name] = "file"
        else:
            out[name] = "default"
    return out
