"""Server-sent events: a store's events (order systems, the console) and a rider's route (its app).

A stream reads the events table, which is the truth, whenever the broker says its store has
news, and at every keep-alive in case a notification was lost; so it works across replicas with
PostgreSQL LISTEN/NOTIFY or Redis, and in one process without either. Each SSE `id` is an event
id: a client that reconnects with `Last-Event-ID` (browsers' EventSource do it by themselves)
misses nothing. Streams do not take one of the request places (DISPATCH_MAX_REQUESTS): they have
their own limit (DISPATCH_MAX_STREAMS, then 503), and each ends after DISPATCH_STREAM_MAX_S.
"""

from __future__ import annotations

import asyncio
import json
import re
import threading
import time
from collections.abc import AsyncIterator, Callable
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import StreamingResponse
from sqlalchemy import select

from api import events, repository
from api.auth import AnyCaller, OrderSystem
from api.deps import PathId
from api.errors import Forbidden, ServiceBusy
from api.json_body import StrictJsonRoute
from api.local_time import store_zone
from api.openapi import errors
from api.routes.riders import route_document
from api.schemas import EventPage, EventPublic
from api.tables import EventRow
from dispatch.errors import InvalidProblem

router = APIRouter(tags=["events"], route_class=StrictJsonRoute, responses=errors(401, 403, 503))
BATCH = 500
SSE = "text/event-stream"
_EVENT_ID = re.compile(r"^[0-9]{1,18}$")


def last_event_id(request: Request) -> int | None:
    """The `Last-Event-ID` a reconnecting client sends (422 when it is not an event id).

    Read here rather than declared as a header parameter: the OpenAPI document then holds only
    the key as a header, which the Schemathesis run's authentication checks rely on."""
    value = request.headers.get("last-event-id")
    if value is None or value == "":
        return None
    if not _EVENT_ID.match(value):
        raise InvalidProblem.one("Last-Event-ID", f"is {value[:40]!r}; an event id is a whole number")
    return int(value)


def is_stream(scope: dict) -> bool:
    """Whether a request opens a stream (it then does not take one of the request places)."""
    path: str = scope.get("path", "")
    if scope.get("method") != "GET":
        return False
    if path.startswith("/v1/riders/") and path.endswith("/route/stream"):
        return True
    accept = dict(scope.get("headers") or []).get(b"accept", b"")
    return path.startswith("/v1/stores/") and path.endswith("/events") and SSE.encode() in accept


class StreamGate:
    """At most `limit` streams open at once."""

    def __init__(self, limit: int):
        self._slots = threading.BoundedSemaphore(limit)
        self.limit = limit

    def enter(self, retry_after_s: int) -> Callable[[], None]:
        """A place for one more stream (503 when none is free); call what it returns to give it back."""
        if not self._slots.acquire(blocking=False):
            raise ServiceBusy(
                f"{self.limit} streams are open (DISPATCH_MAX_STREAMS); retry after {retry_after_s} s",
                headers={"Retry-After": str(retry_after_s)},
            )
        released = False

        def release() -> None:
            nonlocal released
            if not released:
                released = True
                self._slots.release()

        return release


class EventStream(StreamingResponse):
    """An SSE response that gives its stream place back however it ends."""

    def __init__(self, content: AsyncIterator[bytes], release: Callable[[], None]):
        super().__init__(content, media_type=SSE, headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
        self._release = release

    async def __call__(self, scope, receive, send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            self._release()


def sse(event_id: int | None, kind: str, data: dict[str, Any]) -> bytes:
    """One server-sent event."""
    head = f"id: {event_id}\n" if event_id is not None else ""
    return f"{head}event: {kind}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()


def _read(request: Request, work: Callable[[Any], Any]) -> Any:
    with request.app.state.reads() as db, db.begin():
        return work(db)


async def _watch(request: Request, store_id: str, start_id: int, on_rows) -> AsyncIterator[bytes]:
    """Call `on_rows` with each batch of the store's events after `start_id` as they commit,
    yielding what it yields, with keep-alives, until the stream's time is up."""
    cfg = request.app.state.settings
    deadline = time.monotonic() + cfg.stream_max_s
    last = start_id
    with request.app.state.hub.subscribe(store_id) as woken:
        yield b"retry: 2000\n\n"
        while True:
            woken.clear()  # before reading: a commit meanwhile sets it again, nothing is missed
            rows = await run_in_threadpool(_read, request, lambda db: events.after(db, store_id, last, BATCH))
            if rows:
                last = rows[-1].id
                for chunk in await run_in_threadpool(on_rows, rows):
                    yield chunk
                if len(rows) == BATCH:
                    continue
            left = deadline - time.monotonic()
            if left <= 0:
                return
            try:
                await asyncio.wait_for(woken.wait(), timeout=min(cfg.stream_keepalive_s, left))
            except asyncio.TimeoutError:
                yield b": keep-alive\n\n"


@router.get(
    "/v1/stores/{store_id}/events",
    response_model=EventPage,
    summary="The store's events: a page of them, or a live stream (Accept: text/event-stream)",
    responses={
        200: {
            "content": {SSE: {"schema": {"type": "string"}, "example": 'id: 42\nevent: order.accepted\ndata: {"id":42,"type":"order.accepted",...}\n\n'}},
            "description": "events after `after`",
        },
        **errors(404),
    },
)
async def store_events(
    store_id: PathId,
    request: Request,
    _caller: OrderSystem,
    after: Annotated[int | None, Query(ge=0, le=10**18, description="events after this id; a stream without it or Last-Event-ID starts now")] = None,
    limit: Annotated[int, Query(ge=1, le=BATCH, description="most events in a page (not a stream)")] = 100,
):
    """With `Accept: text/event-stream`, a live stream: each event as `id`, `event` (its type) and
    `data` (the event), resumed after `Last-Event-ID` or `after`, else from now. Otherwise a page
    of the events after `after` (default: from the first), oldest first."""
    resumed = last_event_id(request)
    default_zone = request.app.state.settings.time_zone
    zone = await run_in_threadpool(_read, request, lambda db: store_zone(repository.get_store(db, store_id), default_zone))
    resume = resumed if resumed is not None else after
    if SSE not in request.headers.get("accept", ""):
        rows = await run_in_threadpool(_read, request, lambda db: events.after(db, store_id, resume or 0, limit))
        items = [EventPublic.model_validate(events.public(r, zone)) for r in rows]
        return EventPage(events=items, last_id=rows[-1].id if rows else (resume or 0))
    if resume is None:
        resume = await run_in_threadpool(_read, request, lambda db: events.last_id(db, store_id))
    release = request.app.state.streams.enter(request.app.state.settings.retry_after_s)

    def frames(rows: list[EventRow]) -> list[bytes]:
        return [sse(r.id, r.type, events.public(r, zone)) for r in rows]

    return EventStream(_watch(request, store_id, resume, frames), release)


@router.get(
    "/v1/riders/{rider_id}/route/stream",
    summary="The rider's route now, then each time it changes (server-sent events)",
    responses={
        200: {
            "content": {SSE: {"schema": {"type": "string"}, "example": 'id: 42\nevent: route\ndata: {"rider_id":"R1","store_id":"S1","plan_id":"3f2a","as_of":"2026-11-23T10:00:00+08:00","stops":[]}\n\n'}},
            "description": "`route` events",
        },
        **errors(404),
    },
)
async def rider_route_stream(rider_id: PathId, request: Request, caller: AnyCaller):
    """`event: route` with the route document (as GET /v1/riders/{id}/route) now, then again each
    time the rider's remaining stops change. A rider key streams only its own route. With
    `Last-Event-ID`, the route is sent at once only if something of the rider's happened since."""
    if caller.role == "rider" and caller.rider_id != rider_id:
        raise Forbidden(f"this key speaks for rider {caller.rider_id!r}, not {rider_id!r}")
    resumed = last_event_id(request)

    def start(db) -> tuple[str, int, bool]:
        store_id = repository.get_rider(db, rider_id).store_id
        newest = events.last_id(db, store_id)
        if resumed is None or resumed > newest:
            return store_id, newest, True
        since = db.scalar(
            select(EventRow.id).where(EventRow.store_id == store_id, EventRow.rider_id == rider_id, EventRow.id > resumed).limit(1)
        )
        return store_id, newest, since is not None

    store_id, newest, send_now = await run_in_threadpool(_read, request, start)
    release = request.app.state.streams.enter(request.app.state.settings.retry_after_s)
    sent: dict[str, Any] = {}

    def route_frame(event_id: int) -> list[bytes]:
        route = _read(request, lambda db: route_document(db, rider_id, request.app.state.settings.time_zone)).model_dump(mode="json")
        if sent.get("stops") == route["stops"] and sent.get("plan_id") == route["plan_id"]:
            return []
        sent.update(route)
        return [sse(event_id, "route", route)]

    def frames(rows: list[EventRow]) -> list[bytes]:
        if any(r.rider_id == rider_id for r in rows):
            return route_frame(rows[-1].id)
        return []

    async def body() -> AsyncIterator[bytes]:
        if send_now:
            for chunk in await run_in_threadpool(route_frame, newest):
                yield chunk
        else:
            sent.update(await run_in_threadpool(_read, request, lambda db: route_document(db, rider_id, request.app.state.settings.time_zone).model_dump(mode="json")))
        async for chunk in _watch(request, store_id, newest, frames):
            yield chunk

    return EventStream(body(), release)
