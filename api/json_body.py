"""Request bodies read as strict JSON: NaN, Infinity and numbers beyond a float's range are a
422 naming where they are, and so are bodies nested too deep or with integers too long to read.

Python's JSON reader accepts `NaN`, `Infinity` and `1e400` (as inf), which then broke the
solver's arithmetic or the 422 that echoed them (JSON cannot encode them). Every route reads
its body through `StrictJsonRoute`, so this is the one place that refuses them.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from fastapi import HTTPException, Request
from fastapi.routing import APIRoute

# Only a body that may hold a non-finite number is read the slow way (with a hook per float):
# `NaN`, `Infinity`, an exponent of three digits or more, or a run of 300 digits (looked for
# only where a run starts, so a body of digits is scanned once).
_SUSPECT = re.compile(rb"NaN|Infinity|[eE][+-]?\d{3}|(?<!\d)\d{300}")
MAX_REPORTED = 20  # places listed in one answer


class _NonFinite:
    """Stands where the body has a number JSON cannot carry, so its place can be named."""

    __slots__ = ("text",)

    def __init__(self, text: str):
        self.text = text


def _read_float(text: str) -> float | _NonFinite:
    value = float(text)
    return value if math.isfinite(value) else _NonFinite(text)


def _non_finite_places(document: Any) -> list[tuple[list[str | int], str]]:
    """(path, text) of each non-finite number, depth first, without recursion."""
    found: list[tuple[list[str | int], str]] = []
    stack: list[tuple[Any, list[str | int]]] = [(document, [])]
    while stack and len(found) < MAX_REPORTED:
        node, path = stack.pop()
        if isinstance(node, _NonFinite):
            found.append((path, node.text))
        elif isinstance(node, dict):
            stack.extend((value, [*path, key]) for key, value in reversed(node.items()))
        elif isinstance(node, list):
            stack.extend((value, [*path, i]) for i, value in reversed(list(enumerate(node))))
    return found


class BodyRefused(HTTPException):
    """A body that cannot be read as strict JSON: a 422 in the shape of a validation error."""

    def __init__(self, errors: list[dict]):
        super().__init__(status_code=422, detail=errors)


def _short(text: str) -> str:
    return text if len(text) <= 40 else f"{text[:20]}...{text[-10:]} ({len(text)} characters)"


def _refusal(loc: list[str | int], msg: str, kind: str) -> dict:
    return {"loc": ["body", *loc], "msg": msg, "type": kind, "field": ".".join(str(p) for p in loc) or "body"}


def parse_strict_json(body: bytes) -> Any:
    """The JSON document in `body`; BodyRefused for non-finite numbers, deep nesting or huge integers.

    A body that is not JSON at all raises json.JSONDecodeError, as FastAPI expects.
    """
    try:
        if not _SUSPECT.search(body):
            return json.loads(body)
        document = json.loads(body, parse_constant=_NonFinite, parse_float=_read_float)
    except RecursionError:
        raise BodyRefused([_refusal([], "the JSON nests too deep to read", "json_too_deep")]) from None
    except json.JSONDecodeError:
        raise
    except ValueError as exc:  # an integer of more than 4,300 digits
        raise BodyRefused([_refusal([], f"a number is too long to read ({exc})", "json_number_too_long")]) from None
    places = _non_finite_places(document)
    if places:
        raise BodyRefused(
            [
                _refusal(path, f"{_short(text)} is not a finite number: NaN, Infinity and numbers beyond ±1.8e308 are refused", "finite_number")
                for path, text in places
            ]
        )
    return document


class StrictJsonRequest(Request):
    """A request whose `json()` is `parse_strict_json` of its body."""

    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            self._json = parse_strict_json(await self.body())
        return self._json


class StrictJsonRoute(APIRoute):
    """A route that reads its body with `StrictJsonRequest` (FastAPI's custom route class recipe)."""

    def get_route_handler(self):
        handler = super().get_route_handler()

        async def strict_handler(request: Request):
            return await handler(StrictJsonRequest(request.scope, request.receive))

        return strict_handler
