"""What the cluster's processes agree on through Redis: one re-plan of a store at a time, bursts
coalesced, one ticker per cluster, the queues' depth and the counters that show what happened.

Per store, three keys:
- `dirty`: a counter bumped by every trigger. A re-plan reads it before its snapshot and clears
  it after applying only if no trigger came since (compare-and-delete), so a trigger that lands
  during a solve is never lost, and a re-plan whose trigger an earlier run already covered finds
  it clear and drops without solving (superseded).
- `queued`: set while a re-plan task of the store waits in the queue; a trigger then only bumps
  `dirty` (a burst of orders costs one queued task, not one per order).
- `lease`: held by the worker that re-plans the store, with a time to live just above the task's
  hard time limit, so a worker that dies frees the store by itself.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

import redis

# Release the store's lease and clear its dirty counter if no trigger came since `seen`; answer
# whether the store is dirty still (then one more re-plan must follow). One atomic step, so a
# trigger is either seen here or finds the lease free.
_RELEASE = """
if ARGV[2] ~= '' and redis.call('get', KEYS[2]) == ARGV[2] then redis.call('del', KEYS[2]) end
if redis.call('get', KEYS[1]) == ARGV[1] then redis.call('del', KEYS[1]) end
return redis.call('exists', KEYS[2])
"""
# Take the ticker's lease or keep it when this replica holds it: 1 if this replica ticks.
_LEAD = """
local holder = redis.call('get', KEYS[1])
if holder == false then redis.call('set', KEYS[1], ARGV[1], 'PX', ARGV[2]) return 1 end
if holder == ARGV[1] then redis.call('pexpire', KEYS[1], ARGV[2]) return 1 end
return 0
"""
COUNTERS = ("planned", "failed", "skipped", "superseded", "coalesced", "expired", "solves", "solve_errors", "busy")


@dataclass(frozen=True, slots=True)
class Queues:
    """The names of the cluster's two queues: synchronous solves, and re-plans."""

    solves: str
    replans: str


def queues_of(cluster_name: str) -> Queues:
    """The queue names of a cluster."""
    return Queues(solves=f"{cluster_name}.solves", replans=f"{cluster_name}.replans")


class Coordination:
    """The cluster's shared state in Redis (keys prefixed with the cluster's name)."""

    def __init__(self, url: str, cluster_name: str, socket_timeout_s: float | None = 30.0):
        self.prefix = cluster_name
        self.queues = queues_of(cluster_name)
        self.redis = redis.Redis.from_url(url, socket_timeout=socket_timeout_s, socket_connect_timeout=5, decode_responses=True)
        self._release = self.redis.register_script(_RELEASE)
        self._lead = self.redis.register_script(_LEAD)

    def _key(self, kind: str, store_id: str = "") -> str:
        return f"{self.prefix}:{kind}:{store_id}" if store_id else f"{self.prefix}:{kind}"

    # Triggers (the API side)
    def mark(self, store_id: str) -> None:
        """Record that something happened at the store since its last re-plan."""
        pipe = self.redis.pipeline()
        pipe.incr(self._key("dirty", store_id))
        pipe.expire(self._key("dirty", store_id), 86_400)  # a store that leaves leaves no key behind
        pipe.execute()

    def claim_queue_slot(self, store_id: str, ttl_s: float) -> bool:
        """True if no re-plan task of the store is queued (the caller then enqueues one)."""
        return bool(self.redis.set(self._key("queued", store_id), "1", nx=True, px=max(1, int(ttl_s * 1000))))

    def free_queue_slot(self, store_id: str) -> None:
        """The store's queued re-plan has started (or could not be sent): the next trigger enqueues."""
        self.redis.delete(self._key("queued", store_id))

    # Re-plans (the worker side)
    def acquire(self, store_id: str, ttl_s: float) -> str | None:
        """Take the store's lease for `ttl_s`: a token to release it with, or None if another holds it."""
        token = uuid.uuid4().hex
        taken = self.redis.set(self._key("lease", store_id), token, nx=True, px=max(1, int(ttl_s * 1000)))
        return token if taken else None

    def lease_left_s(self, store_id: str) -> float:
        """Seconds until the store's lease lapses (0 when free)."""
        left = self.redis.pttl(self._key("lease", store_id))
        return max(0.0, left / 1000.0)

    def defer_once(self, store_id: str, ttl_s: float) -> bool:
        """True for the first re-plan of the store deferred behind a running one (it is sent
        again when the lease lapses); the others are coalesced into it."""
        return bool(self.redis.set(self._key("deferred", store_id), "1", nx=True, px=max(1, int(ttl_s * 1000))))

    def dirty(self, store_id: str) -> str | None:
        """The store's trigger counter, or None when every trigger has been planned."""
        return self.redis.get(self._key("dirty", store_id))

    def release(self, store_id: str, token: str, seen: str | None) -> bool:
        """Free the store; clear its triggers up to `seen`. True if a trigger came meanwhile."""
        keys = [self._key("lease", store_id), self._key("dirty", store_id)]
        return bool(self._release(keys=keys, args=[token, seen or ""]))

    # The ticker
    def lead_ticker(self, replica_id: str, ttl_s: float) -> bool:
        """True if this replica runs the cluster's periodic re-dispatch now (it keeps the lead
        while it renews within `ttl_s`; when it stops, another takes over)."""
        return bool(self._lead(keys=[self._key("ticker")], args=[replica_id, max(1, int(ttl_s * 1000))]))

    def ticker(self) -> str | None:
        """The replica that holds the ticker's lease."""
        return self.redis.get(self._key("ticker"))

    # Replies of synchronous solves
    def reply_key(self, task_id: str) -> str:
        """Where the worker puts a synchronous solve's answer."""
        return self._key("reply", task_id)

    # Monitoring
    def count(self, counter: str, by: int = 1) -> None:
        """Add to one of the cluster's counters (COUNTERS)."""
        self.redis.hincrby(self._key("counters"), counter, by)

    def counters(self) -> dict[str, int]:
        """Every counter, zero for those never counted."""
        stored = self.redis.hgetall(self._key("counters"))
        return {name: int(stored.get(name, 0)) for name in COUNTERS}

    def queue_depth(self) -> dict[str, int]:
        """Tasks waiting in each queue (taken ones are not counted)."""
        pipe = self.redis.pipeline()
        pipe.llen(self.queues.solves)
        pipe.llen(self.queues.replans)
        solves, replans = pipe.execute()
        return {"solves": int(solves), "replans": int(replans)}

    def close(self) -> None:
        """Close the connections."""
        self.redis.close()
