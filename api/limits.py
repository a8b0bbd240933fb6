"""Guards in front of the app: the body size limit, and the number of requests served at once."""

from __future__ import annotations

import asyncio
import json

from api.errors import error_body
from api.routes.streams import is_stream


class BodySizeLimit:
    """ASGI middleware: 413 when Content-Length, or the bytes actually sent, exceed max_body_bytes.

    The body is read here, at most `max_body_bytes` of it, and handed on whole: the limit holds
    for chunked uploads too, and the app never sees a partial body.
    """

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = scope["app"].state.settings.max_body_bytes
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            await self._refuse(send, limit)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client went away
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                await self._refuse(send, limit)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        delivered = False

        async def replay():
            nonlocal delivered
            if not delivered:
                delivered = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    @staticmethod
    async def _refuse(send, limit: int) -> None:
        body = json.dumps(error_body(413, "payload_too_large", f"request body over {limit} bytes (DISPATCH_MAX_BODY_BYTES)")).encode()
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": 413, "headers": headers})
        await send({"type": "http.response.body", "body": body})


class Admission:
    """ASGI middleware: at most `max_requests` requests inside the app at once; a request that
    finds no place within `queue_wait_s` is answered 503 with Retry-After at once.

    Without it, 40 or more concurrent requests queued for threads and database connections
    with no bound and ended in 500s after 30-60 s. The probes are let through: they must answer
    while the service is loaded. Streams, which stay open, have their own limit (api.routes.streams).
    """

    EXEMPT = frozenset({"/healthz", "/readyz", "/metrics"})

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["path"] in self.EXEMPT or is_stream(scope):
            await self.app(scope, receive, send)
            return
        state = scope["app"].state
        gate = state.admission
        if gate.locked():  # every place taken: wait for one, a bounded time
            try:
                await asyncio.wait_for(gate.acquire(), state.settings.queue_wait_s)
            except asyncio.TimeoutError:
                await self._refuse(send, state.settings)
                return
        else:
            await gate.acquire()
        try:
            await self.app(scope, receive, send)
        finally:
            state.admission.release()

    @staticmethod
    async def _refuse(send, settings) -> None:
        message = f"{settings.max_requests} requests are being served; retry after {settings.retry_after_s} s"
        body = json.dumps(error_body(503, "busy", message)).encode()
        headers = [
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"retry-after", str(settings.retry_after_s).encode()),
        ]
        await send({"type": "http.response.start", "status": 503, "headers": headers})
        await send({"type": "http.response.body", "body": body})
