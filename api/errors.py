"""The service's error taxonomy and the one place where every error becomes an HTTP answer."""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Sequence
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.json_body import BodyRefused
from api.observability import request_id_var
from dispatch.errors import DispatchError, FieldError, InvalidPlan, InvalidProblem

log = logging.getLogger("api")


class ApiError(Exception):
    """An error with an HTTP status, a machine-readable code and a sentence."""

    status = 500
    code = "internal"

    def __init__(self, message: str, code: str | None = None, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.message = message
        self.code = code or self.code
        self.headers = headers or {}


class Unauthorized(ApiError):
    """No key, or a key the service does not know (401)."""

    status = 401
    code = "unauthorized"


class Forbidden(ApiError):
    """A known key whose role or rider may not do this (403)."""

    status = 403
    code = "forbidden"


class NotFound(ApiError):
    """No such store, rider, order or plan (404)."""

    status = 404
    code = "not_found"


class Conflict(ApiError):
    """The request contradicts the state: a conflicting resend, an impossible transition (409)."""

    status = 409
    code = "conflict"


class PayloadTooLarge(ApiError):
    """A request body over the configured limit (413)."""

    status = 413
    code = "payload_too_large"


class TooManyRequests(ApiError):
    """A caller over its rate (429 with Retry-After)."""

    status = 429
    code = "rate_limited"


class ServiceBusy(ApiError):
    """Every solver worker is busy and the queue is full (503 with Retry-After)."""

    status = 503
    code = "busy"


class SolveTimeout(ApiError):
    """A solve that did not come back long after its time limit (504)."""

    status = 504
    code = "solve_timeout"


class ErrorBody(BaseModel):
    """The body of every error other than a validation error."""

    detail: str = Field(description="a sentence saying what went wrong")
    code: str = Field(description="machine-readable: unauthorized, forbidden, not_found, conflict, ...")
    status: int = Field(description="the HTTP status, repeated")


_CODES = {
    400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found", 405: "method_not_allowed",
    409: "conflict", 413: "payload_too_large", 415: "unsupported_media_type", 429: "rate_limited", 503: "busy", 504: "solve_timeout",
}


def _echo(value: Any) -> Any:
    """A validation error's `input`, when it is a scalar JSON can carry (else left out)."""
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        return value if abs(value) < 10**300 else None
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, str):
        text = value if len(value) <= 200 else value[:200] + "..."
        return text.encode("utf-8", "replace").decode("utf-8")  # a lone surrogate becomes '?'
    return None


def validation_detail(errors: Sequence[Any]) -> list[dict]:
    """Validation errors as JSON can always carry them: loc, msg, type, field, and the input
    when it is a scalar (a NaN, a nested structure or a huge number is not echoed)."""
    out = []
    for err in errors:
        loc = [part if isinstance(part, (str, int)) else str(part) for part in err.get("loc", ())]
        item: dict[str, Any] = {"loc": loc, "msg": _echo(str(err.get("msg", ""))), "type": str(err.get("type", ""))}
        item["field"] = ".".join(str(part) for part in loc[1:]) or (loc[0] if loc else "body")
        echoed = _echo(err.get("input"))
        if echoed is not None:
            item["input"] = echoed
        out.append(item)
    return out


def _allowed_methods(request: Request, named: str) -> str:
    """Every method some operation answers on this path: Starlette names only the first route
    it matched (`named`); the OpenAPI document knows them all."""
    paths = request.app.openapi().get("paths", {})
    if request.url.path in paths:  # a literal path (`/v1/plans/validate`) is its own resource
        return ", ".join(sorted(m.upper() for m in paths[request.url.path]))
    methods = {m.strip().upper() for m in named.split(",") if m.strip()}
    for template, operations in paths.items():
        pattern = "^" + re.sub(r"\\\{[^/]+?\\\}", "[^/]+", re.escape(template)) + "$"
        if re.match(pattern, request.url.path):
            methods |= {m.upper() for m in operations}
    return ", ".join(sorted(methods))


def _retry_after(request: Request) -> dict[str, str]:
    return {"Retry-After": str(request.app.state.settings.retry_after_s)}


def field_errors_detail(errors: list[FieldError], where: str = "body") -> list[dict]:
    """FieldErrors in the shape of FastAPI's validation errors: loc, msg, type (plus id and field)."""
    out = []
    for err in errors:
        loc: list[str] = [where] if where else []
        loc += [part for part in err.field.split(".") if part]
        item = {"loc": loc, "msg": err.reason, "type": err.code, "field": err.field}
        if err.entity_id is not None:
            item["id"] = err.entity_id
        out.append(item)
    return out


def error_body(status: int, code: str, message: str) -> dict:
    """The body of every non-validation error."""
    return {"detail": message, "code": code, "status": status}


def install_error_handlers(app: FastAPI) -> None:
    """Map the core's errors and the service's own to status codes, in one place."""

    @app.exception_handler(ApiError)
    async def _api_error(_request: Request, exc: ApiError) -> JSONResponse:
        return JSONResponse(error_body(exc.status, exc.code, exc.message), exc.status, headers=exc.headers)

    @app.exception_handler(InvalidProblem)
    async def _invalid_problem(_request: Request, exc: InvalidProblem) -> JSONResponse:
        return JSONResponse({"detail": field_errors_detail(exc.errors)}, 422)

    @app.exception_handler(InvalidPlan)
    async def _invalid_plan(_request: Request, exc: InvalidPlan) -> JSONResponse:
        parts = [p for p in re.split(r"[.\[\]]", exc.field or "") if p]
        loc = ["body", "plan", *(int(p) if p.isdigit() else p for p in parts)]
        field = "plan" + (f".{exc.field}" if exc.field else "")
        return JSONResponse({"detail": [{"loc": loc, "msg": str(exc), "type": "invalid_plan", "field": field}]}, 422)

    @app.exception_handler(DispatchError)
    async def _dispatch_error(_request: Request, exc: DispatchError) -> JSONResponse:
        log.error("dispatch core error: %s", exc)
        return JSONResponse(error_body(500, "dispatch_error", str(exc)), 500)

    @app.exception_handler(RequestValidationError)
    async def _request_invalid(_request: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse({"detail": validation_detail(exc.errors())}, 422)

    @app.exception_handler(BodyRefused)
    async def _body_refused(_request: Request, exc: BodyRefused) -> JSONResponse:
        return JSONResponse({"detail": exc.detail}, 422)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            headers["Allow"] = _allowed_methods(request, headers.get("Allow", ""))
        message = exc.detail if isinstance(exc.detail, str) else HTTPStatus(exc.status_code).phrase
        code = _CODES.get(exc.status_code, HTTPStatus(exc.status_code).phrase.lower().replace(" ", "_"))
        return JSONResponse(error_body(exc.status_code, code, message), exc.status_code, headers=headers)

    @app.exception_handler(Exception)
    async def _fault(_request: Request, exc: Exception) -> JSONResponse:
        # A fault of the service (never meant to happen): logged with its traceback, answered in
        # the error shape rather than as plain text.
        log.error("unhandled error", exc_info=exc)
        body = error_body(500, "internal", f"a fault in the service ({type(exc).__name__}); it was logged")
        # This answer is sent outside the request's middleware: it names the request itself.
        request_id = request_id_var.get()
        return JSONResponse(body, 500, headers={"X-Request-ID": request_id} if request_id else None)

    @app.exception_handler(PoolTimeout)
    async def _no_connection(request: Request, _exc: PoolTimeout) -> JSONResponse:
        # Every database connection is in use: a moment's overload, not a fault.
        body = error_body(503, "busy", "every database connection is in use; retry shortly")
        return JSONResponse(body, 503, headers=_retry_after(request))

    @app.exception_handler(OperationalError)
    async def _database_unavailable(request: Request, exc: OperationalError) -> JSONResponse:
        # SQLite's "database is locked" after its busy timeout, or a server that does not answer.
        log.warning("database unavailable: %s", exc.orig)
        body = error_body(503, "database_unavailable", f"the database did not answer in time ({type(exc.orig).__name__}); retry shortly")
        return JSONResponse(body, 503, headers=_retry_after(request))
