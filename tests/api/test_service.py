"""The running service: readiness, the bounded solver pool, and a real uvicorn process over HTTP."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx2 as httpx
import pytest
from fastapi.testclient import TestClient

from api.main import create_app
from api.settings import Settings
from dispatch.documents import problem_from_document
from dispatch.validate import validate_plan
from tests.api.conftest import KEYS, ORDER_SYSTEM, RIDER1
from tests.api.helpers import at, problem

ROOT = Path(__file__).resolve().parents[2]


def test_readyz_is_503_when_the_database_does_not_answer(tmp_path):
    """With a database that cannot be opened, /readyz says 503 while /healthz stays 200."""
    url = f"sqlite:///{tmp_path / 'missing-dir' / 'x.db'}"
    settings = Settings(database_url=url, api_keys=KEYS, solver_pool="thread", migrate_on_start=False)
    with TestClient(create_app(settings)) as c:
        assert c.get("/healthz").status_code == 200
        ready = c.get("/readyz")
        assert ready.status_code == 503 and ready.json()["status"] == "unavailable"


def test_full_pool_answers_503_with_retry_after(settings_for):
    """With one worker and no queue, a solve while another runs is refused at once with Retry-After."""
    with TestClient(create_app(settings_for(solver_workers=1, solver_queue=0, retry_after_s=7))) as c:
        release = threading.Event()
        started = threading.Event()

        def hold() -> None:
            started.set()
            release.wait(30)

        holder = threading.Thread(target=lambda: c.app.state.solver.run(hold, time_limit_s=1))
        holder.start()
        try:
            assert started.wait(10)
            busy = c.post("/v1/plans", json=problem(), headers=ORDER_SYSTEM)
            assert busy.status_code == 503 and busy.headers["retry-after"] == "7"
            assert busy.json()["code"] == "busy"
        finally:
            release.set()
            holder.join()
        assert c.post("/v1/plans", json=problem(), headers=ORDER_SYSTEM).status_code == 201


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def served_env(database_url: str, **settings) -> dict:
    """The environment of a served app: the test database and keys, and `settings` as DISPATCH_*."""
    extra = {f"DISPATCH_{name.upper()}": str(value) for name, value in settings.items()}
    return {**os.environ, "DISPATCH_DATABASE_URL": database_url, "DISPATCH_API_KEYS": json.dumps(KEYS), **extra}


def _start(env: dict, port: int, log: Path | None = None) -> subprocess.Popen:
    """`uvicorn api.main:app` on a loopback port, its output to `log` (or a pipe)."""
    out = open(log, "wb") if log is not None else subprocess.PIPE  # noqa: SIM115 - the process owns it
    return subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "api.main:app", "--host", "127.0.0.1", "--port", str(port)],
        cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT,
    )


def _wait_ready(proc: subprocess.Popen, base: str, timeout_s: float = 60) -> None:
    """Wait until /readyz answers 200; fail the test if the process exits or takes too long."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                return
        except httpx.TransportError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            out = proc.stdout.read().decode() if proc.stdout is not None and proc.poll() is not None else ""
            pytest.fail(f"uvicorn did not become ready: {out[-2000:]}")
        time.sleep(0.2)


@contextmanager
def running(env: dict, log: Path | None = None) -> Iterator[str]:
    """`uvicorn api.main:app` with `env` on a free loopback port until the block ends; yields its base URL."""
    port = _free_port()
    proc = _start(env, port, log=log)
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(proc, base)
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture
def server(tmp_path):
    """`uvicorn api.main:app` in its own process on a free loopback port, default (process) pool."""
    with running(served_env(f"sqlite:///{tmp_path / 'served.db'}", solver_workers=1)) as base:
        yield base


def test_a_real_uvicorn_process_serves_plans_over_http(server):
    """Over a real socket: health, a plan solved in a worker process, and the rider route."""
    with httpx.Client(base_url=server, timeout=60) as http:
        assert http.get("/healthz").json()["status"] == "ok"
        assert http.get("/v1/plans/x").status_code == 401
        doc = problem()
        made = http.post("/v1/plans", json=doc, headers=ORDER_SYSTEM)
        assert made.status_code == 201, made.text
        assert validate_plan(problem_from_document(doc), made.json()) == []
        assert http.get(f"/v1/plans/{made.json()['plan_id']}", headers=ORDER_SYSTEM).json() == made.json()
        assert http.get("/openapi.json").json()["info"]["title"] == "o2o-dispatch"
        http.put("/v1/stores/S1", json=doc["stores"][0], headers=ORDER_SYSTEM).raise_for_status()
        http.put("/v1/riders/R1", json={**doc["riders"][0], "store_id": "S1"}, headers=ORDER_SYSTEM).raise_for_status()
        http.post("/v1/stores/S1/orders", json=doc["orders"][0], headers=ORDER_SYSTEM).raise_for_status()
        plan = http.post("/v1/stores/S1/dispatch", json={"plan_time": at(0), "options": {"max_iterations": 10}}, headers=ORDER_SYSTEM)
        assert plan.status_code == 200, plan.text
        route = http.get("/v1/riders/R1/route", headers=RIDER1).json()
        assert route["plan_id"] == plan.json()["plan_id"] and [s["kind"] for s in route["stops"]] == ["pickup", "dropoff"]


def test_openapi_documents_every_endpoint_with_an_example():
    """Each operation has a summary, an example request body when it takes one, and a documented 2xx answer."""
    spec = create_app().openapi()
    operations = [(path, method, op) for path, ops in spec["paths"].items() for method, op in ops.items()]
    assert len(operations) >= 16
    for path, method, op in operations:
        where = f"{method.upper()} {path}"
        assert op.get("summary"), where
        body = op.get("requestBody", {}).get("content", {}).get("application/json")
        if body is not None:
            assert body.get("examples"), f"{where}: request without an example"
        answers = {code: r for code, r in op["responses"].items() if code.startswith("2")}
        assert answers, where
        text = json.dumps(answers)
        assert "example" in text or "$ref" in text, f"{where}: response without an example or schema"
    for name in ("StorePublic", "RiderPublic", "OrderPublic", "RouteDocument", "ValidationReport", "Health"):
        assert spec["components"]["schemas"][name].get("examples"), name


def test_a_solve_past_its_limit_is_cut_off_and_its_worker_replaced():
    """The process pool's backstop: a call still running `margin_s` after its time limit is a
    504, its worker is killed and replaced, and the next solve runs on the fresh one."""
    from api.errors import SolveTimeout
    from api.solving import SolverPool

    pool = SolverPool("process", workers=1, queue_size=0, retry_after_s=1, margin_s=0.5)
    try:
        assert pool.run(pow, 2, 10, time_limit_s=60) == 1024  # waits for the worker's warm-up
        began = time.monotonic()
        with pytest.raises(SolveTimeout):
            pool.run(time.sleep, 3600, time_limit_s=0.5)
        assert time.monotonic() - began < 30
        assert pool.run(pow, 3, 3, time_limit_s=60) == 27
    finally:
        pool.close(wait_s=10)


def test_sigterm_stops_accepting_lets_the_running_solve_finish_and_exits(tmp_path):
    """Graceful shutdown of a real uvicorn: after SIGTERM new connections are refused, the solve
    under way answers its plan (within its 3 s limit), the app shuts down (workers stopped) and
    the process exits."""
    import signal

    port = _free_port()
    proc = _start(served_env(f"sqlite:///{tmp_path / 'served.db'}", solver_workers=1), port)
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(proc, base)
        with httpx.Client(base_url=base, timeout=60) as http:  # the worker is warm before the test solve
            assert http.post("/v1/plans", json=problem(), headers=ORDER_SYSTEM).status_code == 201
        answer: dict = {}
        doc = problem(time_limit_s=3.0, max_iterations=None)
        solving = threading.Thread(
            target=lambda: answer.update(r=httpx.post(f"{base}/v1/plans", json=doc, headers=ORDER_SYSTEM, timeout=60))
        )
        solving.start()
        time.sleep(1.0)
        signalled = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        refused = False
        while time.monotonic() - signalled < 2.5 and not refused:
            try:
                httpx.get(f"{base}/healthz", timeout=0.5)
                time.sleep(0.1)
            except httpx.TransportError:
                refused = True
        assert refused, "the server still accepted connections after SIGTERM"
        solving.join(30)
        assert answer["r"].status_code == 201, answer["r"].text
        assert validate_plan(problem_from_document(doc), answer["r"].json()) == []
        # uvicorn re-raises the signal once it has shut down, so the status is SIGTERM's (or 0).
        assert proc.wait(30) in (0, -signal.SIGTERM)
        assert time.monotonic() - signalled < 3.0 + 10
        assert "Application shutdown complete" in proc.stdout.read().decode()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
