"""The core's error taxonomy: one error for bad input, naming the field and the offending id."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class FieldError:
    """One rule broken by the input: where (`field`), about what (`entity_id`), and why."""

    field: str
    reason: str
    entity_id: str | None = None
    # Machine-readable kind of the rule: pydantic's error type, a plan reason code such as
    # `outside_service_area`, or "invalid" for the core's own cross-field rules.
    code: str = "invalid"

    def __str__(self) -> str:
        who = f" (id {self.entity_id})" if self.entity_id else ""
        return f"{self.field}{who}: {self.reason}"


class DispatchError(Exception):
    """Base class of every error the dispatch core raises on purpose."""


class InvalidProblem(DispatchError):
    """The problem document breaks a rule; nothing was solved.

    `errors` lists every broken rule found; the first one is the message.
    """

    def __init__(self, errors: list[FieldError]):
        if not errors:
            raise ValueError("InvalidProblem needs at least one FieldError")
        self.errors = list(errors)
        first = self.errors[0]
        self.field = first.field
        self.entity_id = first.entity_id
        self.reason = first.reason
        more = f" (and {len(self.errors) - 1} more)" if len(self.errors) > 1 else ""
        super().__init__(f"{first}{more}")

    def __reduce__(self):
        # Rebuilt from its errors, so it crosses a process boundary (a worker pool) intact.
        return (type(self), (self.errors,))

    @classmethod
    def one(
        cls, field: str, reason: str, entity_id: str | None = None, code: str = "invalid"
    ) -> "InvalidProblem":
        """Build the error for a single broken rule."""
        return cls([FieldError(field, reason, entity_id, code)])


class InvalidPlan(DispatchError):
    """A plan document cannot be read at all (as opposed to a readable plan with violations);
    `field` names where, as `routes[0].stops[2].late_s`, when one field is to blame."""

    def __init__(self, message: str, field: str | None = None):
        super().__init__(message)
        self.field = field

    def __reduce__(self):
        return (type(self), (str(self), self.field))
