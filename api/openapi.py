"""What the OpenAPI document says beyond the routes: the errors each one can answer, and the
limits this service enforces where they are stricter than the contract's."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from api.errors import ErrorBody
from api.settings import Settings

_WHEN = {
    401: "no key, a malformed Authorization header, or an unknown key",
    403: "the key's role (or rider) may not do this",
    404: "no such store, rider, order or plan",
    409: "the request contradicts the stored state (a conflicting resend, an impossible transition, a lost race)",
    413: "the body is over DISPATCH_MAX_BODY_BYTES",
    429: "this rider's location reports come faster than DISPATCH_LOCATION_BURST, then one per "
    "DISPATCH_LOCATION_MIN_INTERVAL_S: retry after Retry-After seconds",
    503: "busy (every solver worker, request place or database connection in use) or the database does not answer: "
    "retry after Retry-After seconds",
    504: "the solve did not come back within its time limit and margin (DISPATCH_SOLVE_MARGIN_S)",
}
RETRY_AFTER = {
    "Retry-After": {"description": "seconds to wait before retrying", "required": True, "schema": {"type": "integer"}}
}


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` entries for these error statuses, each with the error body."""
    out: dict[int | str, dict[str, Any]] = {}
    for status in statuses:
        entry: dict[str, Any] = {"model": ErrorBody, "description": _WHEN[status]}
        if status in (429, 503):
            entry["headers"] = RETRY_AFTER
        out[status] = entry
    return out


def install_openapi(app: FastAPI, settings: Settings | None) -> None:
    """Generate the document once, with `options.time_limit_s` bounded by DISPATCH_MAX_TIME_LIMIT_S."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            cfg = getattr(app.state, "settings", None) or settings or Settings()
            spec = get_openapi(
                title=app.title, version=app.version, description=app.description, routes=app.routes
            )
            for name, schema in spec.get("components", {}).get("schemas", {}).items():
                if name.startswith("OptionsDoc"):
                    schema["properties"]["time_limit_s"]["maximum"] = cfg.max_time_limit_s
            app.openapi_schema = spec
        return app.openapi_schema

    app.openapi = openapi
