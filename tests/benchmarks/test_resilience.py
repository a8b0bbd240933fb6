"""The resilience suite's parts that need no server: its bad inputs, its tally and its report."""

from __future__ import annotations

import json

from api.settings import Settings
from benchmarks.resilience import Tally, _tiny_orders, markdown, poison_cases


def test_the_big_problem_fits_under_the_body_limit_and_every_case_is_named_once():
    """15,000 orders must reach the solver (under 2 MiB), not stop at the 413; case names are unique."""
    body = json.dumps(_tiny_orders(15_000)).encode()
    assert len(body) <= Settings().max_body_bytes
    names = [c.name for c in poison_cases()]
    assert len(names) == len(set(names))


def test_the_tally_counts_what_breaks_a_promise():
    """A 503 without Retry-After and a request slower than its own limit are counted apart."""
    tally = Tally()
    tally.add("get store", 200, 0.010, None, 7.0)
    tally.add("get store", 503, 0.001, "2", 7.0)
    tally.add("get store", 503, 0.001, None, 7.0)
    tally.add("submit order", 201, 8.0, None, 7.0)
    summary = tally.summary(elapsed_s=2.0)
    assert summary["requests"] == 4 and summary["throughput_rps"] == 2.0
    assert summary["busy_without_retry_after"] == 1 and summary["over_own_limit"] == 1
    assert summary["statuses"] == {"200": 1, "201": 1, "503": 2} and summary["max_ms"] == 8000.0


def test_the_report_has_a_row_per_level_and_names_a_skipped_database():
    """One ramp row per concurrency level, the poison table, and a database that was not there."""
    level = {"clients": 10, "requests": 5, "throughput_rps": 1.0, "p50_ms": 1, "p95_ms": 2, "p99_ms": 3, "max_ms": 4,
             "statuses": {"200": 5}, "busy_without_retry_after": 0, "over_own_limit": 0}
    doc = {
        "measured_at": "now", "command": "python -m benchmarks resilience", "machine": {"cpus": 2, "platform": "x", "python": "3.11"},
        "settings": {"max_requests": 32, "queue_wait_s": 2, "db_timeout_s": 5, "solver_workers": 2, "solver_queue": 2, "retry_after_s": 2},
        "own_limit_s": 7, "duration_s": 10,
        "databases": [{"database": "sqlite", "ramp": [level, {**level, "clients": 200}],
                       "burst": {"plans": 50, "time_limit_s": 1, "first_answers": {"201": 4}, "final_answers": {"201": 50},
                                 "attempts_total": 60, "all_made_s": 20, "p50_s": 10, "max_s": 20},
                       "kill9": {"killed_after_s": 5, "writers": 20, "acknowledged_orders": 10, "acknowledged_pickups": 5,
                                 "restart_to_ready_s": 3, "missing_after_restart": 0, "pickup_lost_after_restart": 0},
                       "poison": [{"case": "NaN", "expected": [422], "status": 422, "seconds": 0.01, "ok": True}],
                       "server_tracebacks": []}],
        "skipped": {"postgresql": "not reachable"},
    }
    text = markdown(doc)
    assert "| 10 | 5 |" in text and "| 200 | 5 |" in text and "| NaN | 422 | 422 |" in text
    assert "**postgresql: skipped** (not reachable)" in text
