"""Real cluster pieces for the tests: a Redis that answers, a PostgreSQL schema, worker processes."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

import pytest

from api.queueing import WORKER_READY

REDIS_URL = os.environ.get("DISPATCH_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
# .ci/run sets this when a Redis server answers, so the cluster's cases cannot be skipped there.
REQUIRE_REDIS = os.environ.get("DISPATCH_TEST_REQUIRE_REDIS") == "1"
ROOT = Path(__file__).resolve().parents[2]
# Seeds that make tests/api/stalling_worker.py's solves stall: interruptible, and deaf to the soft limit.
STALL, STALL_HARD = 900_001, 900_002


def require_redis() -> str:
    """The test Redis' URL, or a skip (a failure under DISPATCH_TEST_REQUIRE_REDIS=1) naming why."""
    where = urlparse(REDIS_URL)
    try:
        socket.create_connection((where.hostname or "127.0.0.1", where.port or 6379), 2).close()
    except OSError as exc:
        message = f"Redis not reachable at {REDIS_URL} ({exc}); the cluster's cases are skipped"
        if REQUIRE_REDIS:
            pytest.fail(message.replace("are skipped", "must run (DISPATCH_TEST_REQUIRE_REDIS=1)"))
        pytest.skip(message)
    return REDIS_URL


@dataclass
class Worker:
    """A worker process (`o2o-dispatch worker`) of the test's cluster, in a process group of its own."""

    process: subprocess.Popen
    log: Path

    def text(self) -> str:
        """What the worker logged so far."""
        return self.log.read_text(errors="replace")

    def wait_ready(self, timeout_s: float = 120.0) -> None:
        """Wait until the worker consumes (its search loaded, its pool forked)."""
        end = time.monotonic() + timeout_s
        while time.monotonic() < end:
            if WORKER_READY in self.text():
                return
            if self.process.poll() is not None:
                raise AssertionError(f"the worker exited with {self.process.returncode}:\n{self.text()[-3000:]}")
            time.sleep(0.2)
        raise AssertionError(f"the worker was not ready within {timeout_s:g} s:\n{self.text()[-3000:]}")

    def kill(self) -> None:
        """SIGKILL the worker and its pool processes at once, as a machine that dies would."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(10)

    def stop(self) -> None:
        """Ask the worker to stop (warm shutdown); kill what is left after 20 s."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.kill()


@dataclass
class Cluster:
    """One test's cluster: its environment (database, Redis, a name of its own) and its workers."""

    env: dict[str, str]
    tmp: Path
    workers: list[Worker] = field(default_factory=list)

    def start_worker(self, concurrency: int = 1, celery_app: str | None = None) -> Worker:
        """Start a worker process on the cluster's queues and database: `o2o-dispatch worker`, or
        with `celery_app`, the plain `celery -A <celery_app> worker` command DEPLOY.md gives."""
        log = self.tmp / f"worker-{len(self.workers)}.log"
        name = f"w{len(self.workers)}-{uuid.uuid4().hex[:6]}@test"
        if celery_app is None:
            argv = [sys.executable, "-m", "api.cli", "worker", f"--concurrency={concurrency}", f"--name={name}"]
        else:
            prefix = self.env["DISPATCH_CLUSTER_NAME"]
            argv = [
                sys.executable, "-m", "celery", "-A", celery_app, "worker", "--pool=prefork", f"--concurrency={concurrency}",
                f"--queues={prefix}.solves,{prefix}.replans", f"--hostname={name}", "--without-mingle", "--without-gossip", "--without-heartbeat",
            ]
        with log.open("wb") as out:
            process = subprocess.Popen(
                argv,
                env={**os.environ, **self.env},
                cwd=ROOT,
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        worker = Worker(process, log)
        self.workers.append(worker)
        return worker

    def close(self) -> None:
        """Stop every worker still running."""
        for worker in self.workers:
            worker.stop()


def cluster_settings(database_url: str, redis_url: str, name: str) -> dict:
    """Settings of a small test cluster: short limits, and a vanished worker's task redelivered in 12 s."""
    return {
        "database_url": database_url,
        "broker_url": redis_url,
        "cluster_name": name,
        "max_time_limit_s": 4.0,
        "solve_margin_s": 2.0,
        "redelivery_s": 12.0,
        "cluster_queue_wait_s": 10.0,
        "replan_expires_s": 30.0,
    }


def environment(values: dict) -> dict[str, str]:
    """The settings as DISPATCH_* environment variables (for the worker processes)."""
    return {f"DISPATCH_{k.upper()}": str(v) for k, v in values.items()}
