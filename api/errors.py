"""The service's error taxonomy and the one place where every error becomes an HTTP answer."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

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


class ServiceBusy(ApiError):
    """Every solver worker is busy and the queue is full (503 with Retry-After)."""

    status = 503
    code = "busy"


class SolveTimeout(ApiError):
    """A solve that did not come back long after its time limit (504)."""

    status = 504
    code = "solve_timeout"


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
        detail = [{"loc": ["body", "plan"], "msg": str(exc), "type": "invalid_plan", "field": "plan"}]
        return JSONResponse({"detail": detail}, 422)

    @app.exception_handler(DispatchError)
    async def _dispatch_error(_request: Request, exc: DispatchError) -> JSONResponse:
        log.error("dispatch core error: %s", exc)
        return JSONResponse(error_body(500, "dispatch_error", str(exc)), 500)
