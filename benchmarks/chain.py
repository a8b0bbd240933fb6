"""A whole chain through the HTTP API of a running cluster (`python -m benchmarks chain`).

A city's stores, each with its own riders and an order stream with lunch and dinner peaks, time
compressed (`compression` simulated seconds per real second). The driver is the chain's order
system and its riders' apps: it submits orders (retrying 503s after Retry-After, and another
replica when one does not answer, as a load balancer would), reports riders' locations
(`POST /v1/riders/{id}/location`), and
moves orders through pickup and delivery on the compressed clock by following each store's
current plan. Every store re-plans by itself on each new order and every `period_s`.

Measured, from the driver's acknowledgements and the database afterwards:
- freshness: from an order's acceptance (its `submitted_at`) to the commit of the first plan whose
  problem holds it; from a rider report's acknowledgement to the commit of the store's first plan
  whose snapshot began after it (`plan_time` at or after the acknowledgement: a conservative bound,
  a plan that began between the write and its acknowledgement also holds it), counted for reports
  at stores that had an order to plan then (an idle store needs no re-plan);
- solves per second (plans applied), queue depth over time, the re-plans' counters (superseded
  share), errors by status (503 apart), orders lost (acknowledged, not in the database).
"""

from __future__ import annotations

import asyncio
import json
import math
import random
import statistics
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable

import httpx2 as httpx
from sqlalchemy import create_engine, text

from api.local_cluster import LocalCluster, ensure_database

CITY_LAT, CITY_LON = 31.2304, 121.4737
M_PER_DEG_LAT, M_PER_DEG_LON = 111_195.0, 95_200.0


@dataclass(frozen=True)
class ChainConfig:
    """What one run drives."""

    stores: int = 200
    riders_per_store: int = 3
    duration_s: float = 180.0  # real seconds of load
    compression: float = 20.0  # simulated seconds per real second
    sim_start_h: float = 11.25  # the simulated clock starts here (lunch peak 11:30-13:30, dinner 18-20)
    orders_per_store_hour: float = 12.0  # at the peaks; a third of it off-peak
    report_every_sim_s: float = 300.0  # each rider reports its location this often (simulated)
    period_s: int = 30  # every_s of the stores' re-dispatch
    budget_s: float = 1.0  # time_limit_s of a re-plan
    max_iterations: int = 200  # the search's work limit: a small store's re-plan stops well before the budget
    workers: int = 2
    replicas: int = 2
    kill: bool = False  # kill -9 a worker at 1/3 of the run and an API replica at 1/2; restart each 10 s later
    seed: int = 1


@dataclass
class Tally:
    """What the driver saw."""

    statuses: dict[str, int] = field(default_factory=dict)  # of the load phase
    other_phases: dict[str, dict[str, int]] = field(default_factory=dict)  # setup, burst
    samples: list[str] = field(default_factory=list)  # the first answers that were neither 2xx, 404 nor 503
    order_acks: dict[str, tuple[str, datetime]] = field(default_factory=dict)  # order id -> (store, ack time)
    report_acks: list[tuple[str, datetime]] = field(default_factory=list)  # (store, ack time)
    events: int = 0
    depth: list[tuple[float, int, int]] = field(default_factory=list)  # (s since start, solves, replans)
    counters_start: dict[str, int] = field(default_factory=dict)
    counters_end: dict[str, int] = field(default_factory=dict)

    def count(self, status: str, phase: str = "load") -> None:
        bucket = self.statuses if phase == "load" else self.other_phases.setdefault(phase, {})
        bucket[status] = bucket.get(status, 0) + 1


def _peak_factor(sim_hour: float) -> float:
    """Order intensity over a day: a third off-peak, full at lunch and dinner."""
    lunch = 11.5 <= sim_hour % 24 < 13.5
    dinner = 18.0 <= sim_hour % 24 < 20.0
    return 1.0 if lunch or dinner else 1 / 3


class Driver:
    """The chain's order system and riders' apps against the cluster's replicas."""

    def __init__(self, config: ChainConfig, addresses: list[str], key: str, run_id: str):
        self.config = config
        self.addresses = addresses
        self.key = key
        self.run = run_id
        self.rng = random.Random(config.seed)
        self.tally = Tally()
        self.client = httpx.AsyncClient(
            headers={"Authorization": f"Bearer {key}"}, timeout=httpx.Timeout(60.0, connect=3.0), limits=httpx.Limits(max_connections=64)
        )
        self.stores = [self._store(i) for i in range(config.stores)]
        self.picked: dict[str, tuple[str, float]] = {}  # order -> (rider, real time to deliver)
        self.pickup_due: dict[str, tuple[str, float]] = {}  # order -> (rider, real time to pick up)
        self.done: set[str] = set()
        self.started = time.monotonic()
        self.stop_at = self.started + config.duration_s
        self.phase = "setup"

    def _store(self, i: int) -> dict:
        # Stores on a grid about 1.5 km apart: a 200-store chain covers a city of ~20 x 20 km.
        side = math.ceil(math.sqrt(self.config.stores))
        north, east = (i // side - side / 2) * 1500.0, (i % side - side / 2) * 1500.0
        return {
            "id": f"{self.run}-S{i:04d}",
            "location": {"lat": CITY_LAT + north / M_PER_DEG_LAT, "lon": CITY_LON + east / M_PER_DEG_LON},
            "service_radius_m": 3000,
            "rate": self.rng.lognormvariate(0, 0.4),  # some stores busier than others
        }

    async def call(self, method: str, path: str, store_index: int, body: dict | None = None) -> httpx.Response | None:
        """One request to the store's replica; 503 retried after Retry-After, a replica that does
        not answer replaced by the next one; None if nothing answered before the run ended."""
        replica = store_index % len(self.addresses)
        for attempt in range(50):
            url = self.addresses[(replica + attempt) % len(self.addresses)] + path
            try:
                answer = await self.client.request(method, url, json=body)
            except httpx.TransportError:
                self.tally.count("connection", self.phase)
                await asyncio.sleep(0.2)
                continue
            self.tally.count(str(answer.status_code), self.phase)
            if answer.status_code not in (200, 201, 404, 503) and self.phase == "load" and len(self.tally.samples) < 10:
                self.tally.samples.append(f"{method} {path} {answer.status_code} {answer.text[:200]}")
            if answer.status_code == 503:
                await asyncio.sleep(float(answer.headers.get("Retry-After", "1")))
                continue
            return answer
        return None

    def sim_hour(self) -> float:
        """The simulated clock, in hours."""
        return self.config.sim_start_h + (time.monotonic() - self.started) * self.config.compression / 3600.0

    async def setup(self) -> None:
        """Register the stores, their riders and their re-dispatch policies."""
        policy = {
            "on_new_order": True,
            "every_s": self.config.period_s,
            "options": {"time_limit_s": self.config.budget_s, "max_iterations": self.config.max_iterations},
        }
        now = datetime.now(timezone.utc)

        async def one(i: int, store: dict) -> None:
            doc = {k: v for k, v in store.items() if k != "rate"}
            await self.call("PUT", f"/v1/stores/{store['id']}", i, doc)
            for j in range(self.config.riders_per_store):
                await self.call("PUT", f"/v1/riders/{store['id']}-R{j}", i, self._rider(store, j, now))
            await self.call("PUT", f"/v1/stores/{store['id']}/redispatch", i, policy)

        sem = asyncio.Semaphore(16)

        async def bounded(i: int, store: dict) -> None:
            async with sem:
                await one(i, store)

        await asyncio.gather(*(bounded(i, s) for i, s in enumerate(self.stores)))

    def _rider(self, store: dict, j: int, now: datetime, location: dict | None = None) -> dict:
        return {
            "id": f"{store['id']}-R{j}",
            "store_id": store["id"],
            "location": location or store["location"],
            "available_at": (now - timedelta(minutes=5)).isoformat(),
            "shift_end": (now + timedelta(hours=12)).isoformat(),
        }

    def _order(self, store: dict, n: int, now: datetime) -> dict:
        # A drop-off within 2.5 km of the store, packed in 5 minutes, promised in 45.
        distance, bearing = 2500 * math.sqrt(self.rng.random()), self.rng.uniform(0, 2 * math.pi)
        return {
            "id": f"{store['id']}-O{n}",
            "store_id": store["id"],
            "dropoff": {
                "lat": store["location"]["lat"] + distance * math.cos(bearing) / M_PER_DEG_LAT,
                "lon": store["location"]["lon"] + distance * math.sin(bearing) / M_PER_DEG_LON,
            },
            "created_at": now.isoformat(),
            "ready_at": (now + timedelta(minutes=5)).isoformat(),
            "promised_at": (now + timedelta(minutes=45)).isoformat(),
            "items": self.rng.randint(1, 4),
        }

    async def orders(self, i: int) -> None:
        """The store's order stream: Poisson arrivals at the hour's intensity, on the compressed clock."""
        store, n = self.stores[i], 0
        per_real_s = self.config.orders_per_store_hour * store["rate"] * self.config.compression / 3600.0
        await asyncio.sleep(self.rng.uniform(0, 2))
        while time.monotonic() < self.stop_at:
            # Arrivals come at the hour's rate; re-drawn each second, so a peak starts on time.
            rate = per_real_s * _peak_factor(self.sim_hour())
            if self.rng.random() >= -math.expm1(-rate):  # no order in this second
                await asyncio.sleep(min(1.0, max(0.0, self.stop_at - time.monotonic())))
                continue
            await asyncio.sleep(self.rng.uniform(0, min(1.0, max(0.0, self.stop_at - time.monotonic()))))
            if time.monotonic() >= self.stop_at:
                return
            n += 1
            order = self._order(store, n, datetime.now(timezone.utc))
            answer = await self.call("POST", f"/v1/stores/{store['id']}/orders", i, order)
            if answer is not None and answer.status_code in (200, 201):
                self.tally.order_acks[order["id"]] = (store["id"], datetime.now(timezone.utc))

    async def riders(self, i: int) -> None:
        """The store's riders report where they are; and they follow the store's plan, on the
        compressed clock: pick up when the plan says they leave the store, deliver when it says
        they arrive."""
        store = self.stores[i]
        report_real_s = self.config.report_every_sim_s / self.config.compression
        next_report = time.monotonic() + self.rng.uniform(0, report_real_s)
        where: dict[str, dict] = {}
        while time.monotonic() < self.stop_at:
            await asyncio.sleep(self.rng.uniform(2.0, 4.0))
            now_real = time.monotonic()
            if now_real >= next_report:
                next_report = now_real + report_real_s
                for j in range(self.config.riders_per_store):
                    rider_id = f"{store['id']}-R{j}"
                    here = where.get(rider_id, store["location"])
                    report = {"lat": here["lat"], "lon": here["lon"], "at": datetime.now(timezone.utc).isoformat()}
                    answer = await self.call("POST", f"/v1/riders/{rider_id}/location", i, report)
                    if answer is not None and answer.status_code == 200:
                        self.tally.report_acks.append((store["id"], datetime.now(timezone.utc)))
            await self._follow_plan(i, where)

    async def _follow_plan(self, i: int, where: dict[str, dict]) -> None:
        store = self.stores[i]
        answer = await self.call("GET", f"/v1/stores/{store['id']}/plan", i)
        if answer is None or answer.status_code != 200:
            return
        plan = answer.json()
        plan_time = datetime.fromisoformat(plan["plan_time"])
        seen = time.monotonic()
        for route in plan["routes"]:
            for stop in route["stops"]:
                ids = stop["order_ids"] if stop["kind"] == "pickup" else [stop["order_id"]]
                at = datetime.fromisoformat(stop["depart_at"] if stop["kind"] == "pickup" else stop["arrive_at"])
                due = seen + max(0.0, (at - plan_time).total_seconds()) / self.config.compression
                for oid in ids:
                    if stop["kind"] == "pickup" and oid not in self.picked and oid not in self.done:
                        # The first plan that sends a rider for it sets the pickup time.
                        if oid not in self.pickup_due or self.pickup_due[oid][0] != route["rider_id"]:
                            self.pickup_due[oid] = (route["rider_id"], due)
                    elif stop["kind"] == "dropoff" and oid in self.picked and self.picked[oid][1] is None:
                        self.picked[oid] = (self.picked[oid][0], due)
        now = time.monotonic()
        for oid, (rider_id, due) in list(self.pickup_due.items()):
            if due <= now and oid.startswith(store["id"] + "-"):
                event = {"type": "picked_up", "rider_id": rider_id, "at": datetime.now(timezone.utc).isoformat()}
                result = await self.call("POST", f"/v1/orders/{oid}/events", i, event)
                self.pickup_due.pop(oid, None)
                if result is not None and result.status_code == 200:
                    self.picked[oid] = (rider_id, None)
                    self.tally.events += 1
        for oid, (rider_id, due) in list(self.picked.items()):
            if due is not None and due <= now and oid.startswith(store["id"] + "-"):
                event = {"type": "delivered", "rider_id": rider_id, "at": datetime.now(timezone.utc).isoformat()}
                result = await self.call("POST", f"/v1/orders/{oid}/events", i, event)
                self.picked.pop(oid, None)
                if result is not None and result.status_code == 200:
                    self.done.add(oid)
                    self.tally.events += 1
                    stop = next((s for r in plan["routes"] for s in r["stops"] if s.get("order_id") == oid), None)
                    if stop:
                        where[rider_id] = stop["location"]

    async def watch(self) -> None:
        """The cluster's queue depth every 2 s."""
        while time.monotonic() < self.stop_at:
            try:
                answer = await self.client.get(self.addresses[0] + "/v1/cluster")
                if answer.status_code == 200:
                    depth = answer.json()["queue_depth"]
                    self.tally.depth.append((round(time.monotonic() - self.started, 1), depth["solves"], depth["replans"]))
            except httpx.TransportError:
                try:
                    answer = await self.client.get(self.addresses[-1] + "/v1/cluster")
                    depth = answer.json()["queue_depth"]
                    self.tally.depth.append((round(time.monotonic() - self.started, 1), depth["solves"], depth["replans"]))
                except (httpx.HTTPError, KeyError, ValueError):
                    pass
            await asyncio.sleep(2.0)

    async def counters(self) -> dict[str, int]:
        """The cluster's counters now."""
        for address in self.addresses:
            try:
                return (await self.client.get(address + "/v1/cluster")).json()["counters"]
            except (httpx.HTTPError, KeyError, ValueError):
                continue
        return {}

    async def drive(self, faults: Callable[[float], Any] | None = None) -> None:
        """Run the load for the configured duration (with `faults(elapsed)` polled every second)."""
        self.started = time.monotonic()
        self.stop_at = self.started + self.config.duration_s
        self.phase = "load"
        self.tally.counters_start = await self.counters()
        tasks = [asyncio.create_task(self.orders(i)) for i in range(len(self.stores))]
        tasks += [asyncio.create_task(self.riders(i)) for i in range(len(self.stores))]
        tasks.append(asyncio.create_task(self.watch()))
        if faults is not None:
            async def inject() -> None:
                while time.monotonic() < self.stop_at:
                    await asyncio.to_thread(faults, time.monotonic() - self.started)
                    await asyncio.sleep(1.0)

            tasks.append(asyncio.create_task(inject()))
        await asyncio.gather(*tasks)

    async def burst(self, parallel: int = 32) -> dict[str, float]:
        """Capacity: a synchronous dispatch of every store, `parallel` at a time; dispatches per second."""
        options = {"options": {"time_limit_s": self.config.budget_s, "max_iterations": self.config.max_iterations}}
        sem = asyncio.Semaphore(parallel)
        ok = 0

        async def one(i: int) -> None:
            nonlocal ok
            async with sem:
                answer = await self.call("POST", f"/v1/stores/{self.stores[i]['id']}/dispatch", i, options)
                ok += answer is not None and answer.status_code == 200

        started = time.monotonic()
        await asyncio.gather(*(one(i) for i in range(len(self.stores))))
        elapsed = time.monotonic() - started
        return {"dispatches": ok, "seconds": round(elapsed, 1), "per_s": round(ok / elapsed, 2)}

    async def settle(self, wait_s: float) -> None:
        """After the load: give the last triggers time to be planned; read the counters."""
        await asyncio.sleep(wait_s)
        self.tally.counters_end = await self.counters()
        self.phase = "burst"


def _percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


def analyse(database_url: str, tally: Tally, config: ChainConfig, window: tuple[datetime, datetime]) -> dict[str, Any]:
    """The run's figures from the driver's tally and the database."""
    engine = create_engine(database_url)
    try:
        with engine.connect() as conn:
            plans = conn.execute(
                text("SELECT store_id, plan_time, created_at FROM plans WHERE kind = 'dispatch' ORDER BY store_id, plan_time")
            ).all()
            orders = conn.execute(text("SELECT id, store_id, submitted_at, coalesce(delivered_at, cancelled_at) FROM orders")).all()
            # Each order's first plan: the earliest commit of a plan whose problem holds it.
            first_plan = dict(
                conn.execute(
                    text(
                        "SELECT o->>'id', min(p.created_at) FROM plans p, json_array_elements(p.problem->'orders') o "
                        "WHERE p.kind = 'dispatch' GROUP BY o->>'id'"
                    )
                ).all()
            )
    finally:
        engine.dispose()
    stored = {row[0] for row in orders}
    # When each store had an order to plan: a rider's report there needs a re-plan only then.
    busy: dict[str, list[tuple[datetime, datetime | None]]] = {}
    for _, store_id, submitted, closed in orders:
        busy.setdefault(store_id, []).append((_aware(submitted), _aware(closed) if closed else None))
    by_store: dict[str, list[tuple[datetime, datetime]]] = {}
    for store_id, plan_time, created_at in plans:
        by_store.setdefault(store_id, []).append((_aware(plan_time), _aware(created_at)))

    def freshness(store_id: str, acked: datetime) -> float | None:
        for plan_time, created_at in by_store.get(store_id, []):
            if plan_time >= acked:
                return (created_at - acked).total_seconds()
        return None

    accepted = {oid: _aware(submitted) for oid, _, submitted, _ in orders}
    order_fresh = [
        (_aware(first_plan[oid]) - accepted[oid]).total_seconds() if oid in first_plan else None
        for oid in tally.order_acks
        if oid in accepted
    ]
    report_fresh = [
        freshness(s, t) for s, t in tally.report_acks if any(a <= t and (b is None or b > t) for a, b in busy.get(s, []))
    ]
    fresh = [f for f in order_fresh + report_fresh if f is not None]
    start, end = window
    in_window = sum(1 for rows in by_store.values() for _, created in rows if start <= created <= end)
    lost = [oid for oid in tally.order_acks if oid not in stored]
    c0, c1 = tally.counters_start, tally.counters_end
    delta = {k: c1.get(k, 0) - c0.get(k, 0) for k in c1}
    replan_tasks = sum(delta.get(k, 0) for k in ("planned", "failed", "skipped", "superseded", "coalesced", "expired"))
    depths = [s + r for _, s, r in tally.depth]
    return {
        "config": config.__dict__,
        "orders_acknowledged": len(tally.order_acks),
        "rider_reports_acknowledged": len(tally.report_acks),
        "order_events": tally.events,
        "orders_lost": len(lost),
        "lost_ids": lost[:20],
        # An order always needs a plan; a report from an idle store (no order to plan) does not.
        "never_planned": sum(1 for f in order_fresh if f is None),
        "reports_at_busy_stores": len(report_fresh),
        "reports_without_later_plan": sum(1 for f in report_fresh if f is None),
        "freshness_s": {
            "p50": _percentile(fresh, 0.50),
            "p95": _percentile(fresh, 0.95),
            "p99": _percentile(fresh, 0.99),
            "orders_p95": _percentile([f for f in order_fresh if f is not None], 0.95),
            "reports_p95": _percentile([f for f in report_fresh if f is not None], 0.95),
        },
        "target_p95_s": 2 * (config.period_s + config.budget_s),
        "plans_applied": in_window,
        "solves_per_s": round(in_window / max(1e-9, (end - start).total_seconds()), 2),
        "counters": delta,
        "superseded_share": round((delta.get("superseded", 0) + delta.get("expired", 0)) / replan_tasks, 3) if replan_tasks else None,
        "queue_depth": {"max": max(depths, default=0), "mean": round(statistics.fmean(depths), 1) if depths else 0, "series": tally.depth},
        "statuses": dict(sorted(tally.statuses.items())),
        "other_phases": tally.other_phases,
        "error_samples": tally.samples,
        "errors_other_than_503": sum(n for s, n in tally.statuses.items() if s not in ("200", "201", "404", "503", "connection")),
    }


def _aware(at: datetime) -> datetime:
    return at if at.tzinfo else at.replace(tzinfo=timezone.utc)


def run_chain(config: ChainConfig, say: Callable[[str], None], broker_url: str, pg_url: str) -> dict[str, Any]:
    """Start a cluster, drive the chain through it, stop it; the run's figures."""
    run_id = f"c{uuid.uuid4().hex[:6]}"
    database_url = f"{pg_url.rsplit('/', 1)[0]}/dispatch_chain_{run_id}"
    ensure_database(database_url)
    cluster = LocalCluster(
        database_url=database_url,
        broker_url=broker_url,
        cluster_name=f"o2o-chain-{run_id}",
        base_port=8201,
        run_dir=Path(".cluster") / run_id,
        extra_env={"DISPATCH_REDISPATCH_TICK_S": "2", "DISPATCH_MAX_REQUESTS": "24", "DISPATCH_DB_TIMEOUT_S": "10"},
    )
    killed: dict[str, Any] = {}

    def faults(elapsed: float) -> None:
        third, half = config.duration_s / 3, config.duration_s / 2
        if "worker" not in killed and elapsed >= third:
            victim = cluster.workers()[0]
            victim.signal(9)
            killed["worker"] = (round(elapsed, 1), victim.pid)
            say(f"kill -9 worker {victim.pid} at {elapsed:.0f} s")
        if "worker_back" not in killed and "worker" in killed and elapsed >= third + 10:
            killed["worker_back"] = (round(elapsed, 1), cluster.start_worker().pid)
        if "api" not in killed and elapsed >= half:
            victim = cluster.apis()[0]
            victim.signal(9)
            killed["api"] = (round(elapsed, 1), victim.pid)
            say(f"kill -9 API replica {victim.pid} at {elapsed:.0f} s")
        if "api_back" not in killed and "api" in killed and elapsed >= half + 10:
            port = int(cluster.apis()[0].address.rsplit(":", 1)[1])
            killed["api_back"] = (round(elapsed, 1), cluster.start_api(port).pid)

    try:
        say(f"{run_id}: preparing the database and starting {config.replicas} replicas, {config.workers} workers")
        cluster.prepare()
        for _ in range(config.replicas):
            cluster.start_api()
        for _ in range(config.workers):
            cluster.start_worker()
        cluster.wait_ready()
        driver = Driver(config, [m.address for m in cluster.apis()], cluster.key, run_id)

        async def main() -> tuple[datetime, datetime]:
            say(f"{run_id}: registering {config.stores} stores and {config.stores * config.riders_per_store} riders")
            await driver.setup()
            say(f"{run_id}: driving for {config.duration_s:g} s")
            start = datetime.now(timezone.utc)
            await driver.drive(faults if config.kill else None)
            end = datetime.now(timezone.utc)
            say(f"{run_id}: settling")
            await driver.settle(min(60.0, 2 * (config.period_s + config.budget_s)))
            if not config.kill:
                say(f"{run_id}: capacity burst (a synchronous dispatch of every store)")
                driver.burst_result = await driver.burst()
            await driver.client.aclose()
            return start, end

        window = asyncio.run(main())
        result = analyse(database_url, driver.tally, config, window)
        result["faults"] = killed
        result["burst"] = getattr(driver, "burst_result", None)
        result["run_id"] = run_id
        return result
    finally:
        cluster.stop()
        drop_database(database_url)


def drop_database(url: str) -> None:
    """Remove a run's database (its figures are in the result file)."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    admin = create_engine(parsed.set(database="postgres"), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{parsed.database}" WITH (FORCE)'))
    finally:
        admin.dispose()


def markdown(results: list[dict[str, Any]], command: str) -> str:
    """The results table."""
    lines = [
        "# Chain load benchmark",
        "",
        f"`{command}`",
        "",
        "Measured on the shared 2-core development machine while four other engineers ran their own",
        "work: absolute figures are lower bounds of what the code does on dedicated cores.",
        "",
        "| run | workers | stores | orders acked | reports acked | plans/s | burst dispatches/s | freshness p50 / p95 / p99 (s) | target p95 (s) | queue max / mean | superseded share | 503s | other errors | conn. errors | orders lost | never planned |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        c, f = r["config"], r["freshness_s"]
        fmt = lambda v: "-" if v is None else f"{v:.1f}"  # noqa: E731
        lines.append(
            f"| {r['label']} | {c['workers']} | {c['stores']} | {r['orders_acknowledged']} | {r['rider_reports_acknowledged']} | "
            f"{r['solves_per_s']} | {r['burst']['per_s'] if r.get('burst') else '-'} | {fmt(f['p50'])} / {fmt(f['p95'])} / {fmt(f['p99'])} | {r['target_p95_s']:g} | "
            f"{r['queue_depth']['max']} / {r['queue_depth']['mean']} | {r['superseded_share']} | {r['statuses'].get('503', 0)} | "
            f"{r['errors_other_than_503']} | {r['statuses'].get('connection', 0)} | {r['orders_lost']} | {r['never_planned']} |"
        )
    lines += ["", "Counters of the re-plan tasks per run (GET /v1/cluster, over the run):", ""]
    for r in results:
        lines.append(f"- {r['label']}: {json.dumps(r['counters'])}; faults: {json.dumps(r.get('faults', {}))}")
    return "\n".join(lines) + "\n"
