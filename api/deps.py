"""Typed dependencies: the database session, the solver pool, the settings, the clock."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timezone
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.orm import Session

from api.dispatching import Redispatcher
from api.settings import Settings
from api.solving import SolverPool
from dispatch.errors import FieldError, InvalidProblem


def _session(request: Request) -> Iterator[Session]:
    with request.app.state.sessions() as session:
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
Solver = Annotated[SolverPool, Depends(_solver)]
AppSettings = Annotated[Settings, Depends(_settings)]
Redispatch = Annotated[Redispatcher, Depends(_redispatcher)]



def check_time_limit(time_limit_s: float, settings: Settings, field: str = "options.time_limit_s") -> None:
    """422 if a solve asks for more time than this service grants."""
    if time_limit_s > settings.max_time_limit_s:
        raise InvalidProblem(
            [
                FieldError(
                    field,
                    f"is {time_limit_s:g} s; this service allows at most {settings.max_time_limit_s:g} s "
                    "(DISPATCH_MAX_TIME_LIMIT_S)",
                    code="time_limit_too_long",
                )
            ]
        )


def same_id(path_id: str, body_id: str, field: str = "id") -> None:
    """422 on `field` when a body names another entity than its path."""
    if path_id != body_id:
        raise InvalidProblem.one(field, f"is {body_id!r} but the path names {path_id!r}", body_id)
