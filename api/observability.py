"""Request ids, structured logs and the per-request metrics.

Every request gets an id (the caller's `X-Request-ID` when it is a sane token, else a new one),
sent back in the `X-Request-ID` header and written on every log line made while it is served,
including the lines of the re-plans it triggers. `DISPATCH_LOG_FORMAT=json` writes one JSON
object a line; the default is text with the same fields.
"""

from __future__ import annotations

import json
import logging
import re
import sys
import time
import uuid
from contextvars import ContextVar
from datetime import datetime, timezone

request_id_var: ContextVar[str | None] = ContextVar("request_id", default=None)
_SANE_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")
_HEADER = b"x-request-id"
access_log = logging.getLogger("api.access")
# Attributes every LogRecord has; whatever else a record carries came from `extra=` and is a field.
# uvicorn's `color_message` repeats the message with terminal colours.
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime", "request_id", "taskName", "color_message"}


def new_request_id() -> str:
    """A fresh id (32 hex digits)."""
    return uuid.uuid4().hex


def fields_of(record: logging.LogRecord) -> dict:
    """The structured fields a record carries (from `extra=`)."""
    return {k: v for k, v in vars(record).items() if k not in _STANDARD and not k.startswith("_")}


class RequestIdFilter(logging.Filter):
    """Puts the current request id on every record (None outside a request)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not hasattr(record, "request_id"):
            record.request_id = request_id_var.get()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object a line: time, level, logger, message, request_id and the record's fields."""

    def format(self, record: logging.LogRecord) -> str:
        line = {
            "ts": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", None),
            **fields_of(record),
        }
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    """`time level logger [request id] message key=value ...`."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        extra = fields_of(record)
        return text + ("  " + " ".join(f"{k}={v}" for k, v in extra.items()) if extra else "")


class _ServiceHandler(logging.StreamHandler):
    """The handler this module installs (told apart so that installing again replaces it)."""


def configure_logging(log_format: str, level: str) -> None:
    """Send the service's and uvicorn's lines to stderr in `log_format`, each with its request id.

    Other handlers on the root logger (pytest's, an embedding application's) are left alone.
    """
    root = logging.getLogger()
    for handler in [h for h in root.handlers if isinstance(h, _ServiceHandler)]:
        root.removeHandler(handler)
    handler = _ServiceHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if log_format == "json" else TextFormatter())
    handler.addFilter(RequestIdFilter())
    root.addHandler(handler)
    logging.getLogger("api").setLevel(level)
    logging.getLogger("dispatch").setLevel(level)
    if root.level > logging.getLevelName(level) or root.level == logging.NOTSET:
        root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error"):
        uv = logging.getLogger(name)
        uv.handlers = []
        uv.propagate = True
    # The service writes its own access line (with route, status, duration and request id).
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)


class RequestContext:
    """ASGI middleware: the request id, the access line and the request metrics."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        sent = dict(scope.get("headers") or []).get(_HEADER, b"").decode("latin-1")
        request_id = sent if _SANE_ID.match(sent) else new_request_id()
        # Not reset afterwards: each request runs in a task of its own, and a fault's line, written
        # by the outermost handler after this returns, still carries the id.
        request_id_var.set(request_id)
        metrics = getattr(scope["app"].state, "metrics", None)
        status = 500
        started = time.perf_counter()

        async def send_with_id(message):
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message = {**message, "headers": [*message.get("headers", []), (_HEADER, request_id.encode())]}
            await send(message)

        if metrics is not None:
            metrics.in_progress.inc()
        try:
            await self.app(scope, receive, send_with_id)
        finally:
            seconds = time.perf_counter() - started
            route = scope.get("route")
            template = getattr(route, "path", None) or "unmatched"
            if metrics is not None:
                metrics.in_progress.dec()
                metrics.observe_request(scope["method"], template, status, seconds)
            access_log.info(
                "%s %s %s %.1f ms", scope["method"], scope["path"], status, seconds * 1000,
                extra={"event": "request", "method": scope["method"], "path": scope["path"], "route": template,
                       "status": status, "duration_ms": round(seconds * 1000, 1)},
            )
