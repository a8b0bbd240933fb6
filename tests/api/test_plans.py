"""Stateless planning: POST /v1/plans, GET /v1/plans/{id}, POST /v1/plans/validate."""

from __future__ import annotations

import copy

from dispatch.documents import problem_from_document
from dispatch.validate import validate_plan
from tests.api.conftest import ORDER_SYSTEM, RIDER1
from tests.api.helpers import problem


def test_post_plan_returns_a_valid_contract_plan_and_stores_it(client):
    """A solved problem comes back as the contract's plan, passes the validator and can be fetched again."""
    doc = problem()
    response = client.post("/v1/plans", json=doc, headers=ORDER_SYSTEM)
    assert response.status_code == 201, response.text
    plan = response.json()
    assert plan["status"] == "feasible" and plan["metrics"]["assigned"] == 3
    assert validate_plan(problem_from_document(doc), plan) == []
    again = client.get(f"/v1/plans/{plan['plan_id']}", headers=ORDER_SYSTEM)
    assert again.status_code == 200 and again.json() == plan


def test_unknown_plan_is_404(client):
    """A plan id the service never made is a 404 with a code."""
    response = client.get("/v1/plans/nope", headers=ORDER_SYSTEM)
    assert response.status_code == 404 and response.json()["code"] == "not_found"


def test_validate_accepts_a_good_plan_and_lists_violations_of_a_tampered_one(client):
    """The validate endpoint says valid for the service's own plan and names the causes of a broken one."""
    doc = problem()
    plan = client.post("/v1/plans", json=doc, headers=ORDER_SYSTEM).json()
    good = client.post("/v1/plans/validate", json={"problem": doc, "plan": plan}, headers=ORDER_SYSTEM).json()
    assert good == {"valid": True, "violations": [], "by_cause": {}}

    broken = copy.deepcopy(plan)
    route = next(r for r in broken["routes"] if any(s["kind"] == "dropoff" for s in r["stops"]))
    dropped = next(s for s in route["stops"] if s["kind"] == "dropoff")
    route["stops"].remove(dropped)
    report = client.post("/v1/plans/validate", json={"problem": doc, "plan": broken}, headers=ORDER_SYSTEM).json()
    assert report["valid"] is False
    assert report["by_cause"] and all(v["cause"] in report["by_cause"] for v in report["violations"])
    assert any(v["order_id"] == dropped["order_id"] for v in report["violations"])


def test_validate_names_the_problem_field_it_cannot_read(client):
    """A bad problem inside a validate request is a 422 whose location starts with `problem`."""
    doc = problem()
    doc["orders"][0]["items"] = -1
    response = client.post("/v1/plans/validate", json={"problem": doc, "plan": {"routes": []}}, headers=ORDER_SYSTEM)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"][:2] == ["body", "problem"]


def test_time_limit_over_the_service_cap_is_refused(settings_for):
    """options.time_limit_s above DISPATCH_MAX_TIME_LIMIT_S is a 422 naming that field."""
    from fastapi.testclient import TestClient

    from api.main import create_app

    with TestClient(create_app(settings_for(max_time_limit_s=3))) as c:
        response = c.post("/v1/plans", json=problem(time_limit_s=5), headers=ORDER_SYSTEM)
    assert response.status_code == 422
    err = response.json()["detail"][0]
    assert err["loc"] == ["body", "options", "time_limit_s"] and err["type"] == "time_limit_too_long"


def test_a_rider_key_cannot_plan(client):
    """Planning belongs to order systems: a rider key gets 403."""
    assert client.post("/v1/plans", json=problem(), headers=RIDER1).status_code == 403
