"""Waking the streams when events are committed: in this process, and across replicas.

The events table is the truth; a notification only says "store S has new events", and every
woken stream reads what it has not sent yet from the table. So a notification lost (a broker
restarting, a listener reconnecting) delays a stream until its next keep-alive read, never loses
an event. Three kinds:

- `local`: the process's own commits wake its own streams (one process, SQLite, no broker);
- `postgres`: `pg_notify` inside the committing transaction (PostgreSQL delivers it only if the
  transaction commits), and a LISTEN connection per replica;
- `redis`: a PUBLISH after the commit, and a subscriber thread per replica.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import Protocol

from sqlalchemy import text
from sqlalchemy.orm import Session

log = logging.getLogger("api.events")
CHANNEL = "dispatch_events"
ALL_STORES = "*"  # a subscription to every store (the webhook worker)


class Hub:
    """In-process fan-out: asyncio streams wait on it; any thread may wake them."""

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._waiters: dict[str, set[asyncio.Event]] = {}
        self._callbacks: list[Callable[[], None]] = []
        self._lock = threading.Lock()

    def on_wake(self, callback: Callable[[], None]) -> None:
        """Also call `callback` (in the waking thread; it must be quick) whenever any store has news."""
        self._callbacks.append(callback)

    def bind(self, loop: asyncio.AbstractEventLoop) -> None:
        """The event loop the streams run on."""
        self._loop = loop

    @contextmanager
    def subscribe(self, store_id: str) -> Iterator[asyncio.Event]:
        """An event set whenever `store_id` (or any store, for ALL_STORES) may have new events."""
        waiter = asyncio.Event()
        with self._lock:
            self._waiters.setdefault(store_id, set()).add(waiter)
        try:
            yield waiter
        finally:
            with self._lock:
                waiters = self._waiters.get(store_id, set())
                waiters.discard(waiter)
                if not waiters:
                    self._waiters.pop(store_id, None)

    def wake(self, store_ids: Iterable[str] | None) -> None:
        """Wake the streams of these stores (None: every stream); safe from any thread."""
        for callback in self._callbacks:
            callback()
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        ids = None if store_ids is None else set(store_ids)
        try:
            loop.call_soon_threadsafe(self._wake, ids)
        except RuntimeError:  # the loop closed meanwhile (shutdown)
            pass

    def _wake(self, ids: set[str] | None) -> None:
        with self._lock:
            targets = [w for sid, ws in self._waiters.items() if ids is None or sid in ids or sid == ALL_STORES for w in ws]
        for waiter in targets:
            waiter.set()


class Publisher(Protocol):
    """How committed events reach the streams of every replica."""

    kind: str

    def in_transaction(self, session: Session, store_id: str) -> None:
        """Called where an event is written, inside its transaction."""

    def committed(self, store_ids: set[str]) -> None:
        """Called after a transaction that wrote events of `store_ids` committed."""

    def close(self) -> None:
        """Stop listening."""


class LocalPublisher:
    """One process: its commits wake its streams directly."""

    kind = "local"

    def __init__(self, hub: Hub):
        self.hub = hub

    def in_transaction(self, session: Session, store_id: str) -> None:
        """Nothing to do before the commit."""

    def committed(self, store_ids: set[str]) -> None:
        """Wake this process's streams of these stores."""
        self.hub.wake(store_ids)

    def close(self) -> None:
        """Nothing to stop."""


class _Listener:
    """A daemon thread that runs `listen_once` again (after a pause) whenever it fails."""

    def __init__(self, name: str, hub: Hub):
        self.hub = hub
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _run(self) -> None:
        pause_s = 0.5
        while not self._stop.is_set():
            try:
                self.listen_once()
                pause_s = 0.5
            except Exception as exc:  # the broker went away: streams fall back on their keep-alive reads
                log.warning("event listener %s lost its connection (%s); reconnecting in %.1f s", self._thread.name, exc, pause_s)
                self._stop.wait(pause_s)
                pause_s = min(pause_s * 2, 10.0)
            # Whatever was published while it was not listening: every stream reads the table again.
            self.hub.wake(None)

    def listen_once(self) -> None:
        raise NotImplementedError

    def stop(self, wait_s: float = 3.0) -> None:
        self._stop.set()
        self._thread.join(wait_s)


class PostgresPublisher(_Listener):
    """PostgreSQL: NOTIFY in the event's transaction, LISTEN on a connection of this replica."""

    kind = "postgres"

    def __init__(self, hub: Hub, database_url: str, listen: bool = True):
        super().__init__("events-listen-pg", hub)
        # psycopg takes the libpq URL: the SQLAlchemy driver suffix goes.
        self.dsn = database_url.replace("postgresql+psycopg://", "postgresql://", 1)
        self.listening = listen
        if listen:
            self.start()

    def in_transaction(self, session: Session, store_id: str) -> None:
        """pg_notify: sent to every listener if, and when, the transaction commits."""
        session.execute(text("SELECT pg_notify(:channel, :store)"), {"channel": CHANNEL, "store": store_id})

    def committed(self, store_ids: set[str]) -> None:
        """Nothing: this replica's own listener hears the notification too."""

    def listen_once(self) -> None:
        import psycopg

        with psycopg.connect(self.dsn, autocommit=True, connect_timeout=5) as conn:
            conn.execute(f"LISTEN {CHANNEL}")
            self.hub.wake(None)
            while not self._stop.is_set():
                for note in conn.notifies(timeout=1.0):
                    self.hub.wake([note.payload])

    def close(self) -> None:
        """Stop listening."""
        if self.listening:
            self.stop()


class RedisPublisher(_Listener):
    """Redis: PUBLISH after the commit, a subscriber thread per replica."""

    kind = "redis"

    def __init__(self, hub: Hub, redis_url: str, listen: bool = True):
        import redis

        super().__init__("events-listen-redis", hub)
        self.client = redis.Redis.from_url(redis_url, socket_timeout=5, socket_connect_timeout=5)
        self.redis_url = redis_url
        self.listening = listen
        if listen:
            self.start()

    def in_transaction(self, session: Session, store_id: str) -> None:
        """Nothing before the commit: Redis hears of committed events only."""

    def committed(self, store_ids: set[str]) -> None:
        """PUBLISH each store; a Redis that does not answer delays streams to their next keep-alive."""
        try:
            for store_id in sorted(store_ids):
                self.client.publish(CHANNEL, store_id)
        except Exception as exc:
            log.warning("could not publish events of %s to Redis (%s); streams read them at their next keep-alive", sorted(store_ids), exc)
            self.hub.wake(store_ids)

    def listen_once(self) -> None:
        import redis

        client = redis.Redis.from_url(self.redis_url, socket_timeout=None, socket_connect_timeout=5)
        pubsub = client.pubsub(ignore_subscribe_messages=True)
        try:
            pubsub.subscribe(CHANNEL)
            self.hub.wake(None)
            while not self._stop.is_set():
                message = pubsub.get_message(timeout=1.0)
                if message and message.get("type") == "message":
                    self.hub.wake([message["data"].decode()])
        finally:
            pubsub.close()
            client.close()

    def close(self) -> None:
        """Stop listening."""
        if self.listening:
            self.stop()
        self.client.close()


def make_publisher(kind: str, hub: Hub, database_url: str, redis_url: str, listen: bool = True) -> Publisher:
    """The publisher the settings ask for; `auto` is PostgreSQL's own on PostgreSQL, else local.
    `listen=False`: a process that only writes events (a cluster worker) and serves no stream."""
    if kind == "auto":
        kind = "postgres" if database_url.startswith("postgresql") else "local"
    if kind == "postgres":
        if not database_url.startswith("postgresql"):
            raise ValueError("DISPATCH_EVENTS_BROKER=postgres needs a PostgreSQL DISPATCH_DATABASE_URL")
        return PostgresPublisher(hub, database_url, listen)
    if kind == "redis":
        return RedisPublisher(hub, redis_url, listen)
    return LocalPublisher(hub)
