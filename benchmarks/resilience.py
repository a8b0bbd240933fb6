"""Load and fault suite of the HTTP service (`python -m benchmarks resilience`).

Against a real `uvicorn api.main:app` on loopback, with the service's default settings, on
SQLite and on PostgreSQL:

- **ramp**: 1 to 200 concurrent clients, each sending a mix of reads, order submissions, route
  reads and quotes for a fixed time and honouring `Retry-After`; throughput, p50/p95/p99,
  statuses, 503s without `Retry-After`, and requests slower than their own limit (a place in
  the app, `queue_wait_s`, plus a connection or SQLite's write lock, `db_timeout_s`);
- **burst**: 50 plans asked at once (30 orders, 5 riders, 1 s each): who got a worker, who a
  503, and how long until all 50 were made by clients retrying after `Retry-After`;
- **kill -9**: clients submit orders and report pickups; the server is killed mid-run and
  started again on the same database; every acknowledged write must be there;
- **poison**: issue 21's bad inputs, each with the statuses it must get (never a 500) and the
  time it took.

Results go to `benchmarks/results/resilience.json` and `resilience.md`. Traffic goes to
127.0.0.1 only, in loops bounded in count and time.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path

import httpx2 as httpx

from api.settings import Settings
from benchmarks.common import percentile
from dispatch.generate import generate_problem

ROOT = Path(__file__).resolve().parents[1]
POSTGRES_URL = os.environ.get("DISPATCH_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
KEYS = {
    "os-key": {"role": "order_system"},
    "admin-key": {"role": "admin"},
    **{f"rider-{s}-{r}": {"role": "rider", "rider_id": f"R{s}-{r}"} for s in range(1, 21) for r in (1, 2)},
}
ORDER_SYSTEM = {"Authorization": "Bearer os-key"}
ADMIN = {"Authorization": "Bearer admin-key"}
STORES = 20
STORE_LAT, STORE_LON = 31.2304, 121.4737
DEFAULTS = Settings()
# A request other than a solve waits at most this long for a place and then a connection.
OWN_LIMIT_S = DEFAULTS.queue_wait_s + DEFAULTS.db_timeout_s


class Unavailable(Exception):
    """A database this machine does not have."""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _now() -> datetime:
    return datetime.now(timezone.utc)


@contextmanager
def database(kind: str) -> Iterator[str]:
    """A fresh, empty database: a SQLite file in a temporary folder, or a PostgreSQL schema."""
    if kind == "sqlite":
        with tempfile.TemporaryDirectory() as folder:
            yield f"sqlite:///{folder}/resilience.db"
        return
    from sqlalchemy import create_engine, text
    from sqlalchemy.exc import OperationalError

    admin = create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    schema = f"resilience_{uuid.uuid4().hex[:10]}"
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    except (OperationalError, ImportError) as exc:
        raise Unavailable(f"PostgreSQL not reachable at {POSTGRES_URL} ({type(exc).__name__})") from None
    try:
        yield f"{POSTGRES_URL}?options=-csearch_path%3D{schema}"
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


class Server:
    """`uvicorn api.main:app` in its own process on a free loopback port, with default settings."""

    def __init__(self, database_url: str, log: Path):
        self.database_url = database_url
        self.log = log
        self.port = _free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen | None = None

    def start(self) -> Server:
        env = {**os.environ, "DISPATCH_DATABASE_URL": self.database_url, "DISPATCH_API_KEYS": json.dumps(KEYS)}
        out = open(self.log, "ab")  # noqa: SIM115 - the process writes to it until it ends
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "api.main:app", "--host", "127.0.0.1", "--port", str(self.port), "--log-level", "warning"],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
        )
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.base}/readyz", timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            if self.proc.poll() is not None:
                break
            time.sleep(0.2)
        raise RuntimeError(f"the server did not start; see {self.log}")

    def kill9(self) -> None:
        """SIGKILL: no shutdown, no flush, nothing."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(30)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(30)

    def tracebacks(self) -> list[str]:
        """Each traceback the server wrote to its log (a fault, whatever the client saw), as the
        message logged with it and the exception it ended in."""
        lines = self.log.read_text(errors="replace").splitlines() if self.log.exists() else []
        out = []
        for i, line in enumerate(lines):
            if line.startswith("Traceback"):
                end = next((j for j in range(i + 1, len(lines)) if lines[j] and not lines[j].startswith((" ", "Traceback"))), i)
                out.append(f"{lines[i - 1] if i else ''} -> {lines[end]}")
        return out


def _point(rng: random.Random) -> dict:
    north, east = rng.uniform(-2000, 2000), rng.uniform(-2000, 2000)
    return {"lat": STORE_LAT + north / 111_195, "lon": STORE_LON + east / 95_200}


def _order(order_id: str, store_id: str, rng: random.Random) -> dict:
    created = _now()
    return {
        "id": order_id, "store_id": store_id, "dropoff": _point(rng), "created_at": created.isoformat(),
        "ready_at": (created + timedelta(minutes=8)).isoformat(), "promised_at": (created + timedelta(minutes=45)).isoformat(),
        "items": rng.randint(1, 6),
    }


def seed(base: str) -> None:
    """STORES stores, two riders each on shift now, and a few orders each."""
    rng = random.Random(0)
    now = _now()
    with httpx.Client(base_url=base, timeout=60) as http:
        for s in range(1, STORES + 1):
            store_id = f"S{s}"
            http.put(f"/v1/stores/{store_id}", json={"id": store_id, "location": {"lat": STORE_LAT, "lon": STORE_LON}}, headers=ADMIN).raise_for_status()
            for r in (1, 2):
                rider = {"id": f"R{s}-{r}", "store_id": store_id, "location": {"lat": STORE_LAT, "lon": STORE_LON},
                         "available_at": now.isoformat(), "shift_end": (now + timedelta(hours=8)).isoformat()}
                http.put(f"/v1/riders/R{s}-{r}", json=rider, headers=ADMIN).raise_for_status()
            for i in range(3):
                http.post(f"/v1/stores/{store_id}/orders", json=_order(f"SEED-{s}-{i}", store_id, rng), headers=ADMIN).raise_for_status()


@dataclass
class Tally:
    """What one load step saw: latencies, statuses, and what broke a promise of the service."""

    latencies_s: list[float] = field(default_factory=list)
    statuses: Counter = field(default_factory=Counter)
    by_kind: Counter = field(default_factory=Counter)
    busy_without_retry_after: int = 0
    over_own_limit: int = 0

    def add(self, kind: str, status: int | str, seconds: float, retry_after: str | None, limit_s: float) -> None:
        self.latencies_s.append(seconds)
        self.statuses[str(status)] += 1
        self.by_kind[kind] += 1
        if status == 503 and not retry_after:
            self.busy_without_retry_after += 1
        if seconds > limit_s:
            self.over_own_limit += 1

    def summary(self, elapsed_s: float) -> dict:
        lat = self.latencies_s
        return {
            "requests": len(lat),
            "throughput_rps": round(len(lat) / elapsed_s, 1),
            "p50_ms": round(1000 * percentile(lat, 50), 1) if lat else None,
            "p95_ms": round(1000 * percentile(lat, 95), 1) if lat else None,
            "p99_ms": round(1000 * percentile(lat, 99), 1) if lat else None,
            "max_ms": round(1000 * max(lat), 1) if lat else None,
            "statuses": dict(sorted(self.statuses.items())),
            "mix": dict(sorted(self.by_kind.items())),
            "busy_without_retry_after": self.busy_without_retry_after,
            "over_own_limit": self.over_own_limit,
        }


def _next_request(rng: random.Random, client: int, n: int) -> tuple[str, str, dict | None, dict, str]:
    """One request of the ramp's mix: (method, path, body, headers, kind)."""
    s = rng.randint(1, STORES)
    pick = rng.random()
    if pick < 0.40:
        return "GET", f"/v1/stores/S{s}", None, ORDER_SYSTEM, "get store"
    if pick < 0.65:
        return "POST", f"/v1/stores/S{s}/orders", _order(f"L{client}-{n}-{uuid.uuid4().hex[:8]}", f"S{s}", rng), ORDER_SYSTEM, "submit order"
    if pick < 0.80:
        r = rng.randint(1, 2)
        return "GET", f"/v1/riders/R{s}-{r}/route", None, {"Authorization": f"Bearer rider-{s}-{r}"}, "rider route"
    if pick < 0.90:
        return "GET", f"/v1/stores/S{s}/orders?status=picked_up", None, ORDER_SYSTEM, "list orders"
    return "POST", f"/v1/stores/S{s}/quote", {"dropoff": _point(rng), "items": 2}, ORDER_SYSTEM, "quote"


async def _client(http: httpx.AsyncClient, client: int, until: float, tally: Tally) -> None:
    rng = random.Random(client)
    n = 0
    while time.monotonic() < until:
        method, path, body, headers, kind = _next_request(rng, client, n)
        n += 1
        began = time.perf_counter()
        retry_after = None
        try:
            answer = await http.request(method, path, json=body, headers=headers)
            status, retry_after = answer.status_code, answer.headers.get("retry-after")
        except httpx.TransportError as exc:
            status = f"error:{type(exc).__name__}"
        tally.add(kind, status, time.perf_counter() - began, retry_after, OWN_LIMIT_S)
        if status == 503 and retry_after:
            await asyncio.sleep(float(retry_after))  # a client that honours Retry-After


async def _level(base: str, clients: int, duration_s: float) -> dict:
    tally = Tally()
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=base, timeout=60, limits=limits) as http:
        began = time.monotonic()
        until = began + duration_s
        await asyncio.gather(*(_client(http, c, until, tally) for c in range(clients)))
        elapsed = time.monotonic() - began
    return {"clients": clients, "duration_s": round(elapsed, 2), **tally.summary(elapsed)}


def ramp(base: str, levels: list[int], duration_s: float, progress: Callable[[str], None]) -> list[dict]:
    """Each concurrency level for `duration_s`, one after the other."""
    out = []
    for clients in levels:
        progress(f"ramp: {clients} clients")
        out.append(asyncio.run(_level(base, clients, duration_s)))
    return out


async def _plan_with_retries(http: httpx.AsyncClient, doc: dict, until: float) -> dict:
    """Ask for a plan until it is made (honouring Retry-After) or the time is up."""
    began = time.perf_counter()
    attempts, first = 0, None
    while time.monotonic() < until:
        attempts += 1
        answer = await http.post("/v1/plans", json=doc, headers=ORDER_SYSTEM)
        first = first or answer.status_code
        if answer.status_code != 503:
            return {"first": first, "final": answer.status_code, "attempts": attempts, "seconds": time.perf_counter() - began,
                    "retry_after": None}
        await asyncio.sleep(float(answer.headers.get("retry-after", "1")))
    return {"first": first, "final": "gave up", "attempts": attempts, "seconds": time.perf_counter() - began, "retry_after": None}


async def _burst(base: str, plans: int) -> dict:
    doc = generate_problem(30, 5, seed=1, time_limit_s=1.0)
    limits = httpx.Limits(max_connections=plans)
    async with httpx.AsyncClient(base_url=base, timeout=120, limits=limits) as http:
        began = time.perf_counter()
        answers = await asyncio.gather(*(_plan_with_retries(http, doc, time.monotonic() + 300) for _ in range(plans)))
        all_made = time.perf_counter() - began
    latencies = [a["seconds"] for a in answers]
    return {
        "plans": plans,
        "time_limit_s": 1.0,
        "first_answers": dict(sorted(Counter(str(a["first"]) for a in answers).items())),
        "final_answers": dict(sorted(Counter(str(a["final"]) for a in answers).items())),
        "attempts_total": sum(a["attempts"] for a in answers),
        "all_made_s": round(all_made, 2),
        "p50_s": round(percentile(latencies, 50), 2),
        "max_s": round(max(latencies), 2),
    }


def burst(base: str, plans: int = 50) -> dict:
    """`plans` POST /v1/plans at once; the clients retry after Retry-After until each is made."""
    return asyncio.run(_burst(base, plans))


async def _writer(http: httpx.AsyncClient, client: int, acked: dict[str, str], stop: asyncio.Event) -> None:
    """Submit orders, and report half of them picked up, until stopped; record what was acknowledged."""
    rng = random.Random(1000 + client)
    n = 0
    while not stop.is_set():
        s = rng.randint(1, STORES)
        order_id = f"K{client}-{n}"
        n += 1
        try:
            made = await http.post(f"/v1/stores/S{s}/orders", json=_order(order_id, f"S{s}", rng), headers=ORDER_SYSTEM)
            if made.status_code not in (200, 201):
                continue
            acked[order_id] = "open"
            if n % 2 == 0:
                event = {"type": "picked_up", "rider_id": f"R{s}-1", "at": (_now() + timedelta(minutes=1)).isoformat()}
                picked = await http.post(f"/v1/orders/{order_id}/events", json=event, headers=ADMIN)
                if picked.status_code == 200:
                    acked[order_id] = "picked_up"
        except httpx.TransportError:
            await asyncio.sleep(0.05)  # the server is gone: nothing more is acknowledged


async def _write_until_killed(server: Server, clients: int, after_s: float) -> dict[str, str]:
    acked: dict[str, str] = {}
    stop = asyncio.Event()
    async with httpx.AsyncClient(base_url=server.base, timeout=10, limits=httpx.Limits(max_connections=clients)) as http:
        writers = [asyncio.create_task(_writer(http, c, acked, stop)) for c in range(clients)]
        await asyncio.sleep(after_s)
        await asyncio.to_thread(server.kill9)  # mid-run: requests are in flight
        await asyncio.sleep(0.5)
        stop.set()
        await asyncio.gather(*writers)
    return acked


def kill9(database_url: str, log: Path, clients: int = 20, after_s: float = 5.0) -> dict:
    """Write under load, kill -9 the server, start it again: every acknowledged write must be there."""
    server = Server(database_url, log).start()
    seed(server.base)
    acked = asyncio.run(_write_until_killed(server, clients, after_s))
    restarted = Server(database_url, log)
    began = time.perf_counter()
    restarted.start()
    back_s = time.perf_counter() - began
    missing, wrong = [], []
    try:
        with httpx.Client(base_url=restarted.base, timeout=30) as http:
            for order_id, status in acked.items():
                answer = http.get(f"/v1/orders/{order_id}", headers=ADMIN)
                if answer.status_code != 200:
                    missing.append(order_id)
                elif status == "picked_up" and answer.json()["status"] != "picked_up":
                    wrong.append(order_id)
    finally:
        restarted.stop()
    return {
        "writers": clients,
        "killed_after_s": after_s,
        "acknowledged_orders": len(acked),
        "acknowledged_pickups": sum(1 for s in acked.values() if s == "picked_up"),
        "missing_after_restart": len(missing),
        "pickup_lost_after_restart": len(wrong),
        "restart_to_ready_s": round(back_s, 2),
    }


@dataclass
class Case:
    """One bad input: what is sent, and the statuses (and time) it must be answered with."""

    name: str
    method: str
    path: str
    body: dict | list | None = None
    raw: str | None = None  # sent as it is (NaN, a lone surrogate: what json.dumps will not write)
    headers: dict = field(default_factory=lambda: ORDER_SYSTEM)
    expect: tuple[int, ...] = (422,)
    limit_s: float = OWN_LIMIT_S
    check: Callable[[httpx.Response], bool] | None = None


def _raw(doc: dict, marker: str, literal: str) -> str:
    return json.dumps(doc).replace(json.dumps(marker), literal)


def _problem(**options) -> dict:
    doc = generate_problem(30, 5, seed=2, time_limit_s=1.0)
    doc["options"].update(options)
    return doc


def _rider(rider_id: str, store_id: str, **extra) -> dict:
    now = _now()
    return {"id": rider_id, "store_id": store_id, "location": {"lat": STORE_LAT, "lon": STORE_LON},
            "available_at": now.isoformat(), "shift_end": (now + timedelta(hours=8)).isoformat(), **extra}


def _tiny_orders(n: int) -> dict:
    """`n` orders in as few bytes as the contract allows (15,000 of them fit the 2 MiB limit)."""
    doc = _problem()
    at = doc["plan_time"]
    rng = random.Random(3)
    doc["orders"] = [
        {"id": f"T{i}", "store_id": "S1", "dropoff": {k: round(v, 5) for k, v in _point(rng).items()}, "created_at": at}
        for i in range(n)
    ]
    doc["stores"][0]["location"] = {"lat": STORE_LAT, "lon": STORE_LON}
    doc["stores"][0]["id"] = "S1"
    for rider in doc["riders"]:
        rider["location"] = {"lat": STORE_LAT, "lon": STORE_LON}
    return doc


def _deep(levels: int) -> list:
    node: list = [STORE_LON, STORE_LAT]
    for _ in range(levels):
        node = [node]
    return node


def _excludes(kind: str, record_id: str) -> Callable[[httpx.Response], bool]:
    return lambda r: any(e["kind"] == kind and e["id"] == record_id for e in r.json().get("excluded", []))


def poison_cases() -> list[Case]:
    """Issue 21's bad inputs (against the seeded state: stores S1..S20, riders R<s>-1, R<s>-2)."""
    rng = random.Random(7)
    order = _order("P1", "S1", rng)
    rider = _rider("R1-1", "S1")
    problem = _problem()
    old = {**_order("OLD", "S2", rng), "created_at": (_now() - timedelta(days=8)).isoformat()}
    old["ready_at"], old["promised_at"] = old["created_at"], (_now() - timedelta(days=8) + timedelta(hours=1)).isoformat()
    points = [s["location"] for s in problem["stores"]] + [r["location"] for r in problem["riders"]] + [o["dropoff"] for o in problem["orders"]]
    n = len(points)
    open_ended = {k: v for k, v in _rider("R3-1", "S3").items() if k != "shift_end"}
    away = (_now() + timedelta(days=30)).isoformat()
    made = {"routes": [{"rider_id": "R1", "stops": [{"kind": "dropoff", "order_id": "X", "late_s": "LATE",
                                                      "arrive_at": problem["plan_time"], "depart_at": problem["plan_time"]}]}]}
    return [
        Case("NaN in an order's items", "POST", "/v1/stores/S1/orders", raw=_raw({**order, "items": "N"}, "N", "NaN")),
        Case("Infinity in a rider's speed", "PUT", "/v1/riders/R1-1", raw=_raw({**rider, "speed_mps": "N"}, "N", "Infinity")),
        Case("1e400 as a time limit", "POST", "/v1/plans", raw=_raw(_problem(time_limit_s="N"), "N", "1e400")),
        Case("items 10^12 (stored)", "POST", "/v1/stores/S1/orders", {**order, "items": 10**12}),
        Case("capacity_items 10^12 (stored)", "PUT", "/v1/riders/R1-1", {**rider, "capacity_items": 10**12}),
        Case("max_orders 10^12 (stored)", "PUT", "/v1/riders/R1-1", {**rider, "max_orders": 10**12}),
        Case("max_ride_s 10^12 (stored)", "POST", "/v1/stores/S1/orders", {**order, "max_ride_s": 10**12}),
        Case("seed 10^30", "POST", "/v1/plans", _problem(seed=10**30)),
        Case("speed_mps 1e-300 (stored)", "PUT", "/v1/riders/R1-1", {**rider, "speed_mps": 1e-300}),
        Case("matrix times 1e300", "POST", "/v1/plans", _problem(travel={"model": "matrix", "locations": points,
                                                                           "durations_s": [[1e300] * n] * n})),
        Case("max_iterations 10^12", "POST", "/v1/plans", _problem(max_iterations=10**12)),
        Case("max_iterations 10^9 with a 1 s limit", "POST", "/v1/plans", _problem(max_iterations=10**9), expect=(201,),
             limit_s=1.0 + DEFAULTS.solve_margin_s),
        Case("a solve right after it (the pool is not held)", "POST", "/v1/plans", _problem(max_iterations=20), expect=(201,),
             limit_s=1.0 + DEFAULTS.solve_margin_s),
        Case("time_limit_s over the service's 10 s", "POST", "/v1/plans", _problem(time_limit_s=11)),
        Case("year 9999", "POST", "/v1/stores/S1/orders", {**order, "created_at": "9999-12-31T23:59:59-23:59"}),
        Case("year 1", "POST", "/v1/stores/S1/dispatch", {"plan_time": "0001-01-01T00:00:00+00:00"}),
        Case("true as an integer", "POST", "/v1/stores/S1/orders", {**order, "items": True}),
        Case("12345 as a time", "POST", "/v1/stores/S1/orders", {**order, "created_at": 12345}),
        Case("lone surrogate in an id", "POST", "/v1/stores/S1/orders", raw=json.dumps(order).replace('"P1"', '"P\\ud8001"')),
        Case("NUL in an id", "POST", "/v1/stores/S1/orders", {**order, "id": "P\x001"}),
        Case("NUL in a path", "GET", "/v1/stores/S%001", headers=ORDER_SYSTEM),
        Case("validate: late_s Infinity", "POST", "/v1/plans/validate", raw=_raw({"problem": problem, "plan": made}, "LATE", "Infinity")),
        Case("validate: an object as order_id", "POST", "/v1/plans/validate",
             {"problem": problem, "plan": {**made, "routes": [{**made["routes"][0], "stops": [{**made["routes"][0]["stops"][0], "late_s": 0, "order_id": {"a": 1}}]}]}}),
        Case("ragged matrix", "POST", "/v1/plans", _problem(travel={"model": "matrix", "locations": points,
                                                                     "durations_s": [[0] * n] * (n - 1) + [[0]]})),
        Case("geofence 900 deep", "PUT", "/v1/stores/S21", {"id": "S21", "location": {"lat": STORE_LAT, "lon": STORE_LON},
                                                             "geofence": {"type": "Polygon", "coordinates": _deep(900)}}),
        Case("15,000 orders with a 1 s limit", "POST", "/v1/plans", _tiny_orders(15_000), expect=(201,),
             limit_s=1.0 + DEFAULTS.solve_margin_s),
        Case("an order open 8 days (stored) then a dispatch", "POST", "/v1/stores/S2/orders", old, expect=(201,)),
        Case("...the store still dispatches, leaving the order out", "POST", "/v1/stores/S2/dispatch", {"options": {"max_iterations": 20}},
             expect=(200,), limit_s=1.0 + DEFAULTS.solve_margin_s, check=_excludes("order", "OLD")),
        Case("a rider with no shift end (stored)", "PUT", "/v1/riders/R3-1", open_ended, expect=(200,)),
        Case("...sets its own available_at 30 days ahead", "PUT", "/v1/riders/R3-1", {**open_ended, "available_at": away},
             headers={"Authorization": "Bearer rider-3-1"}, expect=(200,)),
        Case("...the store still dispatches, leaving the rider out", "POST", "/v1/stores/S3/dispatch", {"options": {"max_iterations": 20}},
             expect=(200,), limit_s=1.0 + DEFAULTS.solve_margin_s, check=_excludes("rider", "R3-1")),
        Case("rider key: early event on another store's order", "POST", "/v1/orders/SEED-1-0/events",
             {"type": "picked_up", "at": "2000-01-01T00:00:00+00:00"}, headers={"Authorization": "Bearer rider-2-1"}, expect=(403,)),
        Case("rider key: the same on an unknown order", "POST", "/v1/orders/NOPE/events",
             {"type": "picked_up", "at": "2000-01-01T00:00:00+00:00"}, headers={"Authorization": "Bearer rider-2-1"}, expect=(403,)),
        Case("405 names every method", "DELETE", "/v1/stores/S1", expect=(405,), check=lambda r: r.headers.get("allow") == "GET, PUT"),
    ]


def _send(http: httpx.Client, case: Case) -> dict:
    began = time.perf_counter()
    content = case.raw.encode("utf-8", "surrogatepass") if case.raw is not None else None
    headers = {**case.headers, "content-type": "application/json"} if content is not None else case.headers
    answer = http.request(case.method, case.path, json=case.body if content is None else None, content=content, headers=headers)
    seconds = time.perf_counter() - began
    try:
        json.loads(answer.text, parse_constant=lambda name: (_ for _ in ()).throw(ValueError(name)))
        valid_json = True
    except ValueError:
        valid_json = False
    ok = answer.status_code in case.expect and seconds <= case.limit_s and valid_json and (case.check is None or case.check(answer))
    return {"case": case.name, "expected": list(case.expect), "status": answer.status_code, "seconds": round(seconds, 3),
            "limit_s": case.limit_s, "json": valid_json, "ok": ok}


async def _same_new_record(base: str, path: str, body: dict, clients: int) -> list[int]:
    async with httpx.AsyncClient(base_url=base, timeout=30, limits=httpx.Limits(max_connections=clients)) as http:
        answers = await asyncio.gather(*(http.put(path, json=body, headers=ORDER_SYSTEM) for _ in range(clients)))
    return [a.status_code for a in answers]


def poison(base: str) -> list[dict]:
    """Every bad input once, then 20 concurrent creations of one new store and of one new rider."""
    rows = []
    with httpx.Client(base_url=base, timeout=120) as http:
        for case in poison_cases():
            rows.append(_send(http, case))
    for label, path, body in (
        ("20 concurrent creations of one new store", "/v1/stores/S99", {"id": "S99", "location": {"lat": STORE_LAT, "lon": STORE_LON}}),
        ("20 concurrent creations of one new rider", "/v1/riders/R99", _rider("R99", "S99")),
    ):
        began = time.perf_counter()
        statuses = asyncio.run(_same_new_record(base, path, body, 20))
        seconds = time.perf_counter() - began
        ok = statuses.count(201) == 1 and all(s in (200, 201) for s in statuses) and seconds <= OWN_LIMIT_S
        rows.append({"case": label, "expected": [200, 201], "status": dict(sorted(Counter(statuses).items())),
                     "seconds": round(seconds, 3), "limit_s": OWN_LIMIT_S, "json": True, "ok": ok})
    return rows


def run_database(kind: str, levels: list[int], duration_s: float, folder: Path, progress: Callable[[str], None]) -> dict:
    """The whole suite on one database: ramp and burst on one server, poison on it too, then kill -9."""
    with database(kind) as url:
        server = Server(url, folder / f"server-{kind}.log").start()
        try:
            seed(server.base)
            levels_out = ramp(server.base, levels, duration_s, lambda m: progress(f"{kind} {m}"))
            progress(f"{kind}: burst of 50 plans")
            burst_out = burst(server.base)
            progress(f"{kind}: poison cases")
            poison_out = poison(server.base)
        finally:
            server.stop()
        tracebacks = server.tracebacks()
    with database(kind) as url:
        progress(f"{kind}: kill -9 mid-run")
        kill_out = kill9(url, folder / f"server-{kind}-kill.log")
    return {"database": kind, "ramp": levels_out, "burst": burst_out, "poison": poison_out, "kill9": kill_out,
            "server_tracebacks": tracebacks}


def run_resilience(databases: list[str], levels: list[int], duration_s: float, progress: Callable[[str], None]) -> dict:
    """The suite on each database; a database this machine lacks is recorded as skipped, with why."""
    results, skipped = [], {}
    with tempfile.TemporaryDirectory() as folder:
        for kind in databases:
            try:
                results.append(run_database(kind, levels, duration_s, Path(folder), progress))
            except Unavailable as exc:
                skipped[kind] = str(exc)
    return {
        "settings": {"max_requests": DEFAULTS.max_requests, "queue_wait_s": DEFAULTS.queue_wait_s, "db_timeout_s": DEFAULTS.db_timeout_s,
                     "solver_workers": DEFAULTS.solver_workers, "solver_queue": DEFAULTS.solver_queue,
                     "retry_after_s": DEFAULTS.retry_after_s, "solve_margin_s": DEFAULTS.solve_margin_s},
        "own_limit_s": OWN_LIMIT_S,
        "duration_s": duration_s,
        "databases": results,
        "skipped": skipped,
    }


def _table(header: list[str], rows: list[list]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return lines + [""]


def _statuses(counts: dict) -> str:
    return ", ".join(f"{k}: {v}" for k, v in counts.items())


def markdown(doc: dict) -> str:
    """The suite's results as Markdown tables."""
    cfg = doc["settings"]
    out = [
        "# Resilience: load and faults", "",
        f"Measured {doc['measured_at']} with `{doc['command']}` on {doc['machine']['cpus']} CPUs "
        f"({doc['machine']['platform']}, Python {doc['machine']['python']}); the load generator shares the machine.",
        f"Service defaults: {cfg['max_requests']} requests inside the app, {cfg['queue_wait_s']:g} s wait for a place, "
        f"{cfg['db_timeout_s']:g} s for a connection or SQLite's write lock, {cfg['solver_workers']} solver workers and "
        f"{cfg['solver_queue']} queued, Retry-After {cfg['retry_after_s']} s. A request's own limit (not a solve): "
        f"{doc['own_limit_s']:g} s. Clients honour Retry-After.", "",
    ]
    for kind, why in doc["skipped"].items():
        out += [f"**{kind}: skipped** ({why}).", ""]
    for db in doc["databases"]:
        out += [f"## {db['database']}", "", f"Concurrency ramp ({doc['duration_s']:g} s a level; mix: 40% store reads, 25% order "
                "submissions, 15% rider routes, 10% order lists, 10% quotes):", ""]
        out += _table(
            ["clients", "requests", "req/s", "p50 ms", "p95 ms", "p99 ms", "max ms", "statuses", "503 without Retry-After", "over own limit"],
            [[r["clients"], r["requests"], r["throughput_rps"], r["p50_ms"], r["p95_ms"], r["p99_ms"], r["max_ms"],
              _statuses(r["statuses"]), r["busy_without_retry_after"], r["over_own_limit"]] for r in db["ramp"]],
        )
        b = db["burst"]
        out += [f"Burst of {b['plans']} plans (30 orders, 5 riders, {b['time_limit_s']:g} s each): first answers "
                f"{_statuses(b['first_answers'])}; after retries {_statuses(b['final_answers'])} in {b['attempts_total']} attempts; "
                f"all made in {b['all_made_s']} s (median {b['p50_s']} s, slowest {b['max_s']} s).", ""]
        k = db["kill9"]
        out += [f"kill -9 after {k['killed_after_s']:g} s of {k['writers']} writers: {k['acknowledged_orders']} orders and "
                f"{k['acknowledged_pickups']} pickups acknowledged; after the restart ({k['restart_to_ready_s']} s to ready) "
                f"{k['missing_after_restart']} orders missing, {k['pickup_lost_after_restart']} pickups lost.", ""]
        passed = sum(1 for p in db["poison"] if p["ok"])
        out += [f"Poison cases: {passed} of {len(db['poison'])} answered as they must; server tracebacks in the log: "
                f"{len(db['server_tracebacks'])}.", ""]
        out += [f"- `{t}`" for t in db["server_tracebacks"][:5]] + ([""] if db["server_tracebacks"] else [])
        out += _table(["case", "expected", "got", "seconds", "ok"],
                      [[p["case"], "/".join(map(str, p["expected"])), p["status"] if not isinstance(p["status"], dict) else _statuses(p["status"]),
                        p["seconds"], "yes" if p["ok"] else "**NO**"] for p in db["poison"]])
    return "\n".join(out)
