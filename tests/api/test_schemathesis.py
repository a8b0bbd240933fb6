"""Schemathesis over every operation of a real uvicorn, with each role's key, on SQLite and on
PostgreSQL: no 500, no answer that breaks the declared schema, no undeclared status code.

Each operation is run with schema-valid data (positive) and with data the schema forbids
(negative: the service must refuse it with a 4xx), with a key of each role. Path ids are often
those of a seeded store, its riders, orders and plan, so requests reach past the 404s. The run
is bounded (`DISPATCH_FUZZ_EXAMPLES` examples per operation, role and mode; `make fuzz` runs a
deeper one) and derandomised, so `make test` runs the same requests every time.
"""

from __future__ import annotations

import os
import sys
from collections import Counter
from dataclasses import dataclass, field

import pytest

schemathesis = pytest.importorskip("schemathesis", reason="schemathesis (Python >= 3.11) is not installed")

import httpx2 as httpx  # noqa: E402
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from hypothesis.errors import Unsatisfiable  # noqa: E402
from schemathesis import GenerationMode  # noqa: E402
from schemathesis.checks import not_a_server_error  # noqa: E402
from schemathesis.core.failures import FailureGroup  # noqa: E402
from schemathesis.specs.openapi.checks import (  # noqa: E402
    content_type_conformance,
    ignored_auth,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
    unsupported_method,
)

from tests.api.helpers import at, order, problem, rider, store  # noqa: E402
from tests.api.test_service import _free_port, _start, _wait_ready, served_env  # noqa: E402

EXAMPLES = int(os.environ.get("DISPATCH_FUZZ_EXAMPLES", "15"))
ROLES = {"order_system": "os-key", "rider": "r1-key", "admin": "admin-key"}
CHECKS = [
    not_a_server_error,  # no 500
    status_code_conformance,  # no undeclared status code
    content_type_conformance,
    response_headers_conformance,  # e.g. Retry-After on every 503
    response_schema_conformance,  # every answer matches its declared schema
    negative_data_rejection,  # what the schema forbids is refused with a 4xx
    unsupported_method,  # 405 with the right Allow header for methods the path does not have
    ignored_auth,  # without a key: 401
]
# Ids of the seeded state, offered in place of generated path ids half the time.
KNOWN = {"store_id": ["S1"], "rider_id": ["R1", "R2"], "order_id": ["O1", "O2", "O3"], "plan_id": []}


@dataclass
class Tally:
    """What a run sent and found, for its summary line."""

    requests: int = 0
    statuses: Counter = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)


def _seed(base: str) -> None:
    """A store with two riders and three orders, one picked up, and a current plan."""
    admin = {"Authorization": f"Bearer {ROLES['admin']}"}
    with httpx.Client(base_url=base, timeout=60) as http:
        http.put("/v1/stores/S1", json=store(), headers=admin).raise_for_status()
        for rid in ("R1", "R2"):
            http.put(f"/v1/riders/{rid}", json=rider(rid), headers=admin).raise_for_status()
        for oid, north in (("O1", 1200), ("O2", -900), ("O3", 300)):
            http.post("/v1/stores/S1/orders", json=order(oid, north, 300), headers=admin).raise_for_status()
        http.post("/v1/orders/O1/events", json={"type": "picked_up", "rider_id": "R1", "at": at(3)}, headers=admin).raise_for_status()
        plan = http.post("/v1/stores/S1/dispatch", json={"plan_time": at(4), "options": {"max_iterations": 10}}, headers=admin)
        plan.raise_for_status()
        KNOWN["plan_id"] = [plan.json()["plan_id"]]
        http.post("/v1/plans", json=problem(time_limit_s=0.3), headers=admin).raise_for_status()


@pytest.fixture
def served(database_url, tmp_path):
    """A uvicorn process on the test database: two solver workers, solves of at most 0.3 s."""
    port = _free_port()
    env = served_env(database_url, solver_workers=2, max_time_limit_s=0.3, redispatch_tick_s=0)
    proc = _start(env, port, log=tmp_path / "server.log")
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(proc, base)
        _seed(base)
        yield base, proc, tmp_path / "server.log"
    finally:
        proc.terminate()
        proc.wait(30)


def _agree_with_path(case) -> None:
    """A body naming the entity of its path (a store's `id`, an order's `store_id`), so that
    creations get past the 422 for a body that names another entity."""
    body, path = case.body, case.path_parameters
    if not isinstance(body, dict):
        return
    if "id" in body and ("store_id" in path or "rider_id" in path) and "orders" not in case.path:
        body["id"] = path.get("rider_id", path.get("store_id"))
    if "store_id" in body and "store_id" in path:
        body["store_id"] = path["store_id"]


def _run_operation(operation, base: str, key: str, mode: GenerationMode, tally: Tally) -> None:
    """Generate EXAMPLES cases of one operation in one mode (the schema sends `key`), check the answers."""

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
        phases=["explicit", "generate"],
    )
    @given(case=operation.as_strategy(generation_mode=mode), known=st.randoms(use_true_random=False), use_known=st.booleans())
    def one(case, known, use_known) -> None:
        if use_known and mode == GenerationMode.POSITIVE and case.path_parameters:
            for name in case.path_parameters:
                if KNOWN.get(name):
                    case.path_parameters[name] = known.choice(KNOWN[name])
            _agree_with_path(case)
        response = case.call(base_url=base, timeout=60)
        tally.requests += 1
        tally.statuses[response.status_code] += 1
        try:
            case.validate_response(response, checks=CHECKS, transport_kwargs={"base_url": base})
        except FailureGroup as exc:  # kept, and the run goes on
            tally.failures.append(f"{operation.label} [{mode.value}, {key}] -> {response.status_code}\n{str(exc)[:2000]}")

    try:
        one()
    except Unsatisfiable:  # an operation with no parameters and no body has no negative data
        assert mode == GenerationMode.NEGATIVE, operation.label


def test_every_operation_with_every_role_breaks_no_rule(served):
    """The bounded run: for each operation, each role's key and positive and negative data,
    every answer passes not_a_server_error, status_code/content_type/headers/schema conformance,
    negative_data_rejection, unsupported_method and ignored_auth."""
    base, proc, log = served
    tally = Tally()
    for key in ROLES.values():
        schema = schemathesis.openapi.from_url(f"{base}/openapi.json")
        # The key as configuration, not request data: negative cases break the documents, not the key.
        schema.config.update(headers={"Authorization": f"Bearer {key}"})
        # A stream never ends, so a request to it never has an answer to check: the rider's route
        # stream is left out (tests/api/test_streams.py covers it and its roles). The store's
        # events are in: without `Accept: text/event-stream` they answer a page of JSON.
        operations = [op for op in (result.ok() for result in schema.get_all_operations()) if not op.path.endswith("/stream")]
        for operation in operations:
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
                _run_operation(operation, base, key, mode, tally)
    summary = (
        f"schemathesis: {len(operations)} operations x {len(ROLES)} roles x 2 modes, {tally.requests} requests, "
        f"statuses {dict(sorted(tally.statuses.items()))}, {len(tally.failures)} failures"
    )
    print(summary, file=sys.stderr)
    assert proc.poll() is None, "the server died during the run"
    assert len(operations) >= 16
    assert 500 not in tally.statuses and not tally.failures, summary + "\n\n" + "\n\n".join(tally.failures[:10])
    assert "Traceback" not in log.read_text(), log.read_text()[-3000:]
    # Whatever the run stored, the seeded store still plans (finding 12).
    admin = {"Authorization": f"Bearer {ROLES['admin']}"}
    after = httpx.post(f"{base}/v1/stores/S1/dispatch", json={"options": {"max_iterations": 10}}, headers=admin, timeout=60)
    assert after.status_code == 200, after.text
