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
    # Staffing (GET /v1/stores/{id}/staffing): each simulated re-plan stops after this many
    # search iterations (a work limit keeps the answer reproducible and its time bounded), and the
    # workload's scale gets this many simulations of the history.
    staffing_replan_iterations: int = Field(default=100, ge=1, le=100_000)
    staffing_simulations: int = Field(default=4, ge=1, le=20)
    # What a rider-hour costs in the money of third-party fees, for solves and quotes that do not
    # say (options.rider_cost_per_hour); stores with a third_party need one or the other.
    rider_cost_per_hour: float | None = Field(default=None, gt=0, le=1e6)
