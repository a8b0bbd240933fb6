"""/metrics: the service's counters and the stores' state in Prometheus' text format."""

from __future__ import annotations

from fastapi import APIRouter, Depends, Request
from fastapi.responses import Response
from fastapi.security import HTTPAuthorizationCredentials
from fastapi.security.utils import get_authorization_scheme_param
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from api.auth import principal
from api.errors import Forbidden
from api.json_body import StrictJsonRoute
from api.openapi import errors

_EXAMPLE = """\
# HELP dispatch_http_requests_total HTTP requests answered, by method, route template and status
# TYPE dispatch_http_requests_total counter
dispatch_http_requests_total{method="POST",route="/v1/stores/{store_id}/orders",status="201"} 42.0
# HELP dispatch_open_orders Orders not yet delivered or cancelled, by store and status
# TYPE dispatch_open_orders gauge
dispatch_open_orders{status="open",store_id="S1"} 7.0
"""
router = APIRouter(tags=["operation"], route_class=StrictJsonRoute)


def _scraper(request: Request) -> None:
    """No key needed unless DISPATCH_METRICS_PUBLIC is false; then an admin key. (The header is
    read here, not declared: the OpenAPI document of a public /metrics asks for no key.)"""
    if request.app.state.settings.metrics_public:
        return
    scheme, key = get_authorization_scheme_param(request.headers.get("Authorization"))
    credentials = HTTPAuthorizationCredentials(scheme=scheme, credentials=key) if scheme and key else None
    caller = principal(request, credentials)
    if caller.role != "admin":
        raise Forbidden(f"role {caller.role!r} may not read /metrics; allowed: admin")


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    response_class=Response,
    responses={
        200: {
            "content": {"text/plain": {"schema": {"type": "string"}, "example": _EXAMPLE}},
            "description": "Prometheus' text format 0.0.4",
        },
        **errors(401, 403),
    },
    dependencies=[Depends(_scraper)],
)
def read_metrics(request: Request) -> Response:
    """Requests by route and status, solve and re-plan durations, the solver queue, requests in
    progress, location reports, and per store: open and late orders and the current plan's age."""
    body = generate_latest(request.app.state.metrics.registry)
    return Response(body, media_type=CONTENT_TYPE_LATEST)
