"""Liveness and readiness probes (no key needed)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from sqlalchemy.exc import SQLAlchemyError

from api.db import ping
from api.json_body import StrictJsonRoute
from api.schemas import Health

router = APIRouter(tags=["health"], route_class=StrictJsonRoute)


@router.get("/healthz", response_model=Health, summary="The process is up")
async def healthz() -> Health:
    """Liveness: answers as long as the process serves requests."""
    return Health(status="ok")


@router.get(
    "/readyz",
    response_model=Health,
    summary="The database answers",
    responses={503: {"model": Health, "description": "the database does not answer"}},
)
def readyz(request: Request):
    """Readiness: 200 when the database answers, 503 otherwise."""
    try:
        ping(request.app.state.engine)
    except SQLAlchemyError as exc:
        body = Health(status="unavailable", detail=f"database: {type(exc).__name__}")
        return JSONResponse(body.model_dump(), status_code=503)
    return Health(status="ok")
