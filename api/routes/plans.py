"""Stateless planning: solve a problem document, fetch a stored plan, check a plan."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body

from api import examples, repository
from api.auth import OrderSystem
from api.deps import AppSettings, Db, PathId, ReadDb, Solver, service_options, utc_now
from api.json_body import StrictJsonRoute
from api.local_time import localize, store_zone
from api.tables import StoreRow
from api.openapi import errors
from api.schemas import ValidateRequest, ValidationReport, ViolationPublic
from api.solving import solve_document
from dispatch.documents import problem_from_document
from dispatch.errors import FieldError, InvalidProblem
from dispatch.schema import ProblemDoc
from dispatch.validate import validate_plan, violations_by_cause

router = APIRouter(prefix="/v1/plans", tags=["plans"], route_class=StrictJsonRoute, responses=errors(401, 403, 503))


@router.post(
    "",
    status_code=201,
    summary="Solve a problem document",
    responses={201: examples.plan_response("the plan, stored under its plan_id"), **errors(413, 504)},
)
def create_plan(
    problem: Annotated[ProblemDoc, Body(openapi_examples={"small": {"summary": "Two orders, one rider", "value": examples.PROBLEM}})],
    _caller: OrderSystem,
    db: Db,
    solver: Solver,
    settings: AppSettings,
) -> dict[str, Any]:
    """Solve the contract's problem document and return (and store) the contract's plan document."""
    problem = problem.model_copy(update={"options": service_options(problem.options, settings)})
    problem_from_document(problem)  # cross-field rules: a 422 here, before a worker is taken
    document = problem.model_dump(mode="json")
    plan = solver.run(solve_document, document, time_limit_s=problem.options.time_limit_s, kind="plan")
    with db.begin():
        repository.save_plan(db, plan, document, kind="adhoc", store_id=None, now=utc_now())
    return plan


@router.get("/{plan_id}", summary="A stored plan", responses={200: examples.plan_response("the plan document"), **errors(404)})
def read_plan(plan_id: PathId, _caller: OrderSystem, db: ReadDb, settings: AppSettings) -> dict[str, Any]:
    """The plan document as it was returned when it was made; a store's plan with its times in the store's zone."""
    row = repository.get_plan(db, plan_id)
    if row.store_id is None:
        return row.plan
    return localize(row.plan, store_zone(db.get(StoreRow, row.store_id), settings.time_zone))


@router.post("/validate", response_model=ValidationReport, summary="Check a plan against a problem", responses=errors(413))
def validate(
    body: Annotated[
        ValidateRequest,
        Body(openapi_examples={"plan": {"summary": "A problem and a plan made for it", "value": {"problem": examples.PROBLEM, "plan": {"routes": [], "unassigned": []}}}}),
    ],
    _caller: OrderSystem,
) -> ValidationReport:
    """Recompute every ETA, load and window of the plan from the problem alone; list what it breaks."""
    try:
        problem = problem_from_document(body.problem)
    except InvalidProblem as exc:
        raise InvalidProblem([FieldError(f"problem.{e.field}", e.reason, e.entity_id, e.code) for e in exc.errors]) from None
    violations = validate_plan(problem, body.plan)
    return ValidationReport(
        valid=not violations,
        violations=[ViolationPublic(cause=v.cause, detail=v.detail, rider_id=v.rider_id, order_id=v.order_id) for v in violations],
        by_cause={cause: len(items) for cause, items in violations_by_cause(violations).items()},
    )
