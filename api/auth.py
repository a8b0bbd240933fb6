"""API keys: `Authorization: Bearer <key>` -> a principal with a role (and a rider for rider keys)."""

from __future__ import annotations

import hmac
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from api.errors import Forbidden, Unauthorized
from api.settings import KeySpec, Role

_bearer = HTTPBearer(auto_error=False, description="An API key from DISPATCH_API_KEYS")
_CHALLENGE = {"WWW-Authenticate": "Bearer"}


@dataclass(frozen=True, slots=True)
class Principal:
    """Who is calling: a role, and the rider a rider key speaks for."""

    role: Role
    rider_id: str | None = None

    def may_act_for_rider(self, rider_id: str) -> bool:
        """Whether this caller may speak for `rider_id` (admins and that rider's own key)."""
        return self.role == "admin" or (self.role == "rider" and self.rider_id == rider_id)


def _find_key(keys: dict[str, KeySpec], presented: str) -> KeySpec | None:
    found = None
    for key, spec in keys.items():
        # Compare every key in constant time so timing does not reveal a prefix.
        if hmac.compare_digest(key.encode(), presented.encode()):
            found = spec
    return found


def principal(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """The caller behind the request's bearer key; 401 when it is missing or unknown."""
    if credentials is None or credentials.scheme.lower() != "bearer" or not credentials.credentials:
        raise Unauthorized("missing API key: send 'Authorization: Bearer <key>'", headers=_CHALLENGE)
    spec = _find_key(request.app.state.settings.api_keys, credentials.credentials)
    if spec is None:
        raise Unauthorized("unknown API key", headers=_CHALLENGE)
    return Principal(role=spec.role, rider_id=spec.rider_id)


def require(*roles: Role):
    """A dependency that admits only callers with one of `roles` (403 otherwise)."""

    def _check(caller: Annotated[Principal, Depends(principal)]) -> Principal:
        if caller.role not in roles:
            raise Forbidden(f"role {caller.role!r} may not do this; allowed: {', '.join(roles)}")
        return caller

    return _check


AnyCaller = Annotated[Principal, Depends(principal)]
OrderSystem = Annotated[Principal, Depends(require("order_system", "admin"))]
