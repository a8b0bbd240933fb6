"""What the cluster is doing: queue depth, the ticking replica, what the re-plans did (for monitoring)."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import BaseModel, ConfigDict, Field

from api.auth import OrderSystem
from api.errors import ServiceBusy
from api.json_body import StrictJsonRoute
from api.openapi import errors

router = APIRouter(prefix="/v1/cluster", tags=["cluster"], route_class=StrictJsonRoute, responses=errors(401, 403, 503))


class ClusterStatus(BaseModel):
    """Where solves run and, in a cluster, its queues and counters since Redis was last emptied."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "mode": "cluster",
                    "queue_depth": {"solves": 0, "replans": 3},
                    "ticker": "5f1c0a9e2b7d",
                    "counters": {"planned": 1520, "superseded": 41, "coalesced": 12, "expired": 0, "failed": 0, "skipped": 2, "solves": 88, "solve_errors": 0, "busy": 0},
                }
            ]
        }
    )

    mode: Literal["embedded", "cluster"] = Field(description="embedded: this process solves; cluster: Celery workers do")
    queue_depth: dict[str, int] = Field(default_factory=dict, description="tasks waiting per queue (solves, replans)")
    ticker: str | None = Field(default=None, description="the replica that runs the periodic re-dispatch now")
    counters: dict[str, int] = Field(
        default_factory=dict,
        description="re-plans planned, failed, skipped (409/503/504), superseded (an earlier run covered them), "
        "coalesced (behind a running one), expired (queued too long); synchronous solves, their errors, 503s",
    )


@router.get("", response_model=ClusterStatus, summary="The cluster's queues and counters")
async def cluster_status(request: Request, _caller: OrderSystem) -> ClusterStatus:
    """In a cluster (DISPATCH_BROKER_URL set): the queues' depth, the ticking replica and the
    counters of what the workers did; embedded: only the mode."""
    settings = request.app.state.settings
    if not settings.broker_url:
        return ClusterStatus(mode="embedded")
    from api.cluster import cluster_status as read_status

    try:
        status = await run_in_threadpool(read_status, request.app.state.solver.coordination)
    except Exception as exc:  # Redis does not answer
        raise ServiceBusy(f"the cluster's Redis does not answer ({type(exc).__name__})", headers={"Retry-After": str(settings.retry_after_s)}) from None
    return ClusterStatus(**status)
