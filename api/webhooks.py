"""Webhooks: each event a subscription asks for, POSTed signed to its URL by a background worker,
retried with back-off, every attempt kept in the delivery log.

Deliveries are rows written with their event (api.events.record), so none is lost to a crash
or a receiver that is down. The worker runs on threads of its own with its own connections: a
slow or dead receiver delays only its own deliveries, never a request or a dispatch. A delivery
is claimed by moving its `next_attempt_at` past a lease (on PostgreSQL with SKIP LOCKED), so
replicas never send the same attempt twice at once.

Signature (`X-Dispatch-Signature: v1=<hex>`): HMAC-SHA256 with the subscription's secret over
`<X-Dispatch-Timestamp>.<body>`; receivers check it and refuse timestamps older than a few
minutes (a replayed request).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Callable

import urllib.error
import urllib.request
from sqlalchemy import select
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from api import events
from api.local_time import store_zone
from api.tables import DeliveryRow, EventRow, StoreRow, WebhookRow

log = logging.getLogger("api.webhooks")
SIGNATURE_TOLERANCE_S = 300
USER_AGENT = "o2o-dispatch-webhooks/1"


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The signature header's value for `body` sent at `timestamp` (Unix seconds)."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"v1={digest}"


def verify(secret: str, timestamp: str, signature: str, body: bytes, now: float | None = None,
           tolerance_s: int = SIGNATURE_TOLERANCE_S) -> bool:
    """What a receiver checks: the signature matches, and the timestamp is recent (no replay)."""
    if not timestamp.isdigit():
        return False
    now = time.time() if now is None else now
    if abs(now - int(timestamp)) > tolerance_s:
        return False
    return hmac.compare_digest(sign(secret, int(timestamp), body), signature)


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None  # urllib then raises HTTPError with the 3xx status


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often and how far apart a delivery is tried."""

    max_attempts: int = 8
    backoff_s: float = 10.0  # before the 2nd attempt; doubled each time after
    max_backoff_s: float = 3600.0
    timeout_s: float = 5.0  # a receiver's answer, per attempt
    lease_s: float = 60.0  # a claimed attempt is not claimed again before this

    def delay_s(self, attempts: int) -> float:
        """The wait after the `attempts`-th failed attempt."""
        return min(self.backoff_s * 2 ** (attempts - 1), self.max_backoff_s)


@dataclass(frozen=True, slots=True)
class _Attempt:
    delivery_id: int
    attempts: int
    url: str
    secret: str
    event_type: str
    event_id: int
    body: bytes


class WebhookWorker:
    """Sends due deliveries on its own threads until closed; woken early when events commit."""

    def __init__(self, sessions: Callable[[], Session], policy: RetryPolicy, poll_s: float = 1.0, senders: int = 4,
                 now: Callable[[], datetime] = lambda: datetime.now(timezone.utc), reads: Callable[[], Session] | None = None,
                 default_zone: str | None = None):
        self.sessions = sessions
        self.default_zone = default_zone  # stores that name no zone: their times as the service's setting says
        # Whether anything is due is read without SQLite's write lock: a service with no
        # webhooks, or none due, never competes with the requests' writes.
        self.reads = reads or sessions
        self.policy = policy
        self.poll_s = poll_s
        self.now = now
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._senders = ThreadPoolExecutor(senders, thread_name_prefix="webhook-send")
        # The standard library's client, redirects not followed (a redirect is a failed attempt).
        self._http = urllib.request.build_opener(_NoRedirect)
        self._thread = threading.Thread(target=self._run, name="webhook-worker", daemon=True)
        self._senders_count = senders
        self._thread.start()

    def wake(self) -> None:
        """Look for due deliveries now (called when events commit)."""
        self._wake.set()

    def close(self, wait_s: float = 10.0) -> None:
        """Stop claiming; attempts under way finish (each within its timeout)."""
        self._stop.set()
        self._wake.set()
        self._thread.join(wait_s)
        self._senders.shutdown(wait=True, cancel_futures=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.poll_s)
            self._wake.clear()
            try:
                while not self._stop.is_set() and self.due():
                    batch = self.claim(self._senders_count * 4)
                    if not batch:
                        break
                    list(self._senders.map(self.attempt, batch))
            except OperationalError as exc:  # the database is busy or away: the next poll tries again
                log.warning("webhook worker could not claim deliveries now: %s", exc.orig)
            except Exception:
                log.exception("webhook worker could not claim deliveries")

    def due(self) -> bool:
        """Whether a delivery is due now (a read only)."""
        with self.reads() as db:
            query = select(DeliveryRow.id).where(DeliveryRow.status == "pending", DeliveryRow.next_attempt_at <= self.now()).limit(1)
            return db.scalar(query) is not None

    def claim(self, limit: int) -> list[_Attempt]:
        """Take up to `limit` due deliveries for one attempt each (their lease starts now)."""
        now = self.now()
        with self.sessions() as db, db.begin():
            query = (
                select(DeliveryRow)
                .where(DeliveryRow.status == "pending", DeliveryRow.next_attempt_at <= now)
                .order_by(DeliveryRow.next_attempt_at, DeliveryRow.id)
                .limit(limit)
                .with_for_update(skip_locked=True)
            )
            rows = list(db.scalars(query))
            out = []
            for row in rows:
                hook = db.get(WebhookRow, row.webhook_id)
                event = db.get(EventRow, row.event_id)
                if hook is None or not hook.active or event is None:
                    row.status, row.next_attempt_at = "failed", None
                    row.last_error = "the subscription was deleted" if hook is None or not hook.active else "the event is gone"
                    continue
                row.attempts += 1
                row.next_attempt_at = now + timedelta(seconds=self.policy.lease_s)
                zone = store_zone(db.get(StoreRow, event.store_id), self.default_zone)
                body = json.dumps(events.public(event, zone), separators=(",", ":")).encode()
                out.append(_Attempt(row.id, row.attempts, hook.url, hook.secret, event.type, event.id, body))
            return out

    def attempt(self, item: _Attempt) -> None:
        """POST one delivery and record how it went (never raises)."""
        timestamp = int(time.time())
        headers = {
            "User-Agent": USER_AGENT,
            "Content-Type": "application/json",
            "X-Dispatch-Event": item.event_type,
            "X-Dispatch-Event-Id": str(item.event_id),
            "X-Dispatch-Delivery": str(item.delivery_id),
            "X-Dispatch-Attempt": str(item.attempts),
            "X-Dispatch-Timestamp": str(timestamp),
            "X-Dispatch-Signature": sign(item.secret, timestamp, item.body),
        }
        status, error = None, None
        request = urllib.request.Request(item.url, data=item.body, headers=headers, method="POST")
        try:
            with self._http.open(request, timeout=self.policy.timeout_s) as response:
                status = response.status
                response.read(64 * 1024)
        except urllib.error.HTTPError as exc:  # an answer outside 2xx (redirects included)
            status = exc.code
            exc.close()
        except (OSError, ValueError) as exc:  # refused, unreachable, timed out, a bad URL
            error = f"{type(exc).__name__}: {exc}"[:500]
        if status is not None and not 200 <= status < 300:
            error = f"the receiver answered {status}"
        try:
            self._record(item, status, error)
        except OperationalError as exc:  # busy: the lease runs out and the delivery is tried again
            log.warning("could not record webhook delivery %s now: %s", item.delivery_id, exc.orig)
        except Exception:
            log.exception("could not record webhook delivery %s", item.delivery_id)

    def _record(self, item: _Attempt, status: int | None, error: str | None) -> None:
        now = self.now()
        with self.sessions() as db, db.begin():
            row = db.get(DeliveryRow, item.delivery_id, with_for_update=True)
            if row is None:
                return
            row.last_attempt_at, row.last_status_code, row.last_error = now, status, error
            if error is None:
                row.status, row.next_attempt_at = "delivered", None
            elif item.attempts >= self.policy.max_attempts:
                row.status, row.next_attempt_at = "failed", None
                log.warning("webhook delivery %s of event %s to %s failed for good: %s", row.id, item.event_id, item.url, error)
            else:
                row.next_attempt_at = now + timedelta(seconds=self.policy.delay_s(item.attempts))
