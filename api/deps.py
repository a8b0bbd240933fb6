"""Typed dependencies: the database session, the solver pool, the settings, the clock."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timezone
from typing import Annotated

from fastapi import Depends, Path, Request
from sqlalchemy.orm import Session

from api.dispatching import Redispatcher
from api.settings import Settings
from api.solving import SolverPool
from dispatch.errors import FieldError, InvalidProblem
from dispatch.schema import OptionsDoc


def _session(request: Request) -> Iterator[Session]:
    with request.app.state.sessions() as session:
        yield session


def _read_session(request: Request) -> Iterator[Session]:
    with request.app.state.reads() as session:
        yield session


def _solver(request: Request) -> SolverPool:
    return request.app.state.solver


def _settings(request: Request) -> Settings:
    return request.app.state.settings


def _redispatcher(request: Request) -> Redispatcher:
    return request.app.state.redispatcher


def utc_now() -> datetime:
    """The service's clock."""
    return datetime.now(timezone.utc)


Db = Annotated[Session, Depends(_session)]
ReadDb = Annotated[Session, Depends(_read_session)]  # a session that only reads (no SQLite write lock)
# An id in a path: what an id in a body may be (no control characters: PostgreSQL refuses NUL).
PathId = Annotated[str, Path(min_length=1, max_length=200, pattern=r"^[^\u0000-\u001F\u007F]+$")]
Solver = Annotated[SolverPool, Depends(_solver)]
AppSettings = Annotated[Settings, Depends(_settings)]
Redispatch = Annotated[Redispatcher, Depends(_redispatcher)]


def service_options(options: OptionsDoc, settings: Settings, field: str = "options.time_limit_s") -> OptionsDoc:
    """The options a solve runs with here: 422 if they ask for more time than this service grants;
    left to its default, the time limit is that default or the service's maximum, if lower; the
    riders' cost per hour is the service's (DISPATCH_RIDER_COST_PER_HOUR) unless it is given."""
    if options.rider_cost_per_hour is None and settings.rider_cost_per_hour is not None:
        options = options.model_copy(update={"rider_cost_per_hour": settings.rider_cost_per_hour})
    if "time_limit_s" not in options.model_fields_set:
        return options.model_copy(update={"time_limit_s": min(options.time_limit_s, settings.max_time_limit_s)})
    if options.time_limit_s > settings.max_time_limit_s:
        raise InvalidProblem(
            [
                FieldError(
                    field,
                    f"is {options.time_limit_s:g} s; this service allows at most {settings.max_time_limit_s:g} s "
                    "(DISPATCH_MAX_TIME_LIMIT_S)",
                    code="time_limit_too_long",
                )
            ]
        )
    return options


def same_id(path_id: str, body_id: str, field: str = "id") -> None:
    """422 on `field` when a body names another entity than its path."""
    if path_id != body_id:
        raise InvalidProblem.one(field, f"is {body_id!r} but the path names {path_id!r}", body_id)
