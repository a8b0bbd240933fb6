"""o2o-dispatch: the routing core for instant retail delivery from stores."""

from dispatch.documents import problem_from_document
from dispatch.errors import DispatchError, FieldError, InvalidPlan, InvalidProblem
from dispatch.model import Location, Options, Order, Problem, Rider, Store
from dispatch.plan import Plan, plan_from_document
from dispatch.solver import solve, warm_up

__all__ = [
    "DispatchError",
    "FieldError",
    "InvalidPlan",
    "InvalidProblem",
    "Location",
    "Options",
    "Order",
    "Plan",
    "Problem",
    "Rider",
    "Store",
    "plan_from_document",
    "problem_from_document",
    "solve",
    "warm_up",
]
