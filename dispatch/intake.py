"""Admission checks for one store, rider or order arriving on its own (not inside a problem).

A service that keeps a store's state refuses a bad order when it is submitted, so the order
system learns at once; these checks apply exactly the rules `problem_from_document` applies
to a whole problem, plus the store's service area, and name fields relative to the entity
(`dropoff`, `ready_at`), not to a problem document.
"""

from __future__ import annotations

import re
from datetime import datetime

from dispatch.documents import problem_from_document
from dispatch.errors import FieldError, InvalidProblem
from dispatch.geofence import store_area
from dispatch.schema import OptionsDoc, OrderDoc, RiderDoc, StoreDoc

OUTSIDE_SERVICE_AREA = "outside_service_area"

# `orders[O1].ready_at`, `orders[0].items`, `stores[S1].geofence` -> `ready_at`, `items`, `geofence`
_ENTITY_PREFIX = re.compile(r"^(stores|riders|orders)\[[^\]]*\]\.?")


def _relative(errors: list[FieldError], kind: str) -> list[FieldError]:
    out = []
    for err in errors:
        match = _ENTITY_PREFIX.match(err.field)
        if match and match.group(1) == kind:
            field = err.field[match.end():] or "(document)"
        else:
            field = err.field
        out.append(FieldError(field, err.reason, err.entity_id, err.code))
    return out


# A store's third party is priced with the solve's rider cost per hour, not the store's: an
# entity checked on its own gets a stand-in so only its own fields are judged.
_STAND_IN_OPTIONS = {"rider_cost_per_hour": 1.0}


def _check(document: dict, kind: str) -> None:
    if kind != "options":
        document = {**document, "options": {**_STAND_IN_OPTIONS, **document.get("options", {})}}
    try:
        problem_from_document(document)
    except InvalidProblem as exc:
        raise InvalidProblem(_relative(exc.errors, kind)) from None


def check_store(store: StoreDoc) -> None:
    """Raise InvalidProblem if the store's own fields break a rule (e.g. a bad geofence)."""
    _check({"plan_time": datetime.now().astimezone().isoformat(), "stores": [store.model_dump(mode="json")]}, "stores")


def check_options(options: OptionsDoc) -> None:
    """Raise InvalidProblem if solve options break a rule on their own (e.g. a ragged matrix)."""
    _check({"plan_time": datetime.now().astimezone().isoformat(), "options": options.model_dump(mode="json")}, "options")


def check_rider(store: StoreDoc, rider: RiderDoc) -> None:
    """Raise InvalidProblem if the rider, as a rider of `store` with nothing on board, breaks a rule."""
    # Only the contract's fields: a service may pass a subclass carrying its own (duty status).
    doc = rider.model_dump(mode="json", include=set(RiderDoc.model_fields))
    doc["carrying"] = []
    doc["heading_to"] = None  # checked against what it carries by whoever knows that
    doc["store_id"] = store.id
    at = rider.available_at or datetime.now().astimezone()
    _check(
        {"plan_time": at.isoformat(), "stores": [store.model_dump(mode="json")], "riders": [doc]},
        "riders",
    )


def check_order(store: StoreDoc, order: OrderDoc) -> None:
    """Raise InvalidProblem if `store` cannot accept the order: a broken rule or a drop-off outside its area.

    An order outside the area fails with the field `dropoff` and the code `outside_service_area`.
    """
    if order.store_id != store.id:
        raise InvalidProblem.one("store_id", f"is {order.store_id!r}, but the order is sent to store {store.id!r}", order.id)
    problem_doc = {
        "plan_time": order.created_at.isoformat(),
        "stores": [store.model_dump(mode="json")],
        "orders": [order.model_dump(mode="json")],
    }
    _check(problem_doc, "orders")
    problem = problem_from_document({**problem_doc, "options": _STAND_IN_OPTIONS})
    detail = store_area(problem.stores[0]).outside_details([problem.orders[0].dropoff])[0]
    if detail is not None:
        raise InvalidProblem.one("dropoff", detail, order.id, code=OUTSIDE_SERVICE_AREA)
