"""Paging of the lists: `limit` and an opaque `cursor`; the next page's cursor comes back in the
`X-Next-Cursor` header and as a `Link: <...>; rel="next"` (RFC 8288), so the body stays a JSON array.

A cursor holds the sort key of the last item of a page (keyset paging): rows added meanwhile do
not shift the pages, and reading page 100 costs what reading page 1 does.
"""

from __future__ import annotations

import base64
import binascii
import json
from datetime import datetime
from typing import Annotated, Any

from fastapi import Query, Request, Response
from fastapi.exceptions import RequestValidationError

DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description=f"items per page (default {DEFAULT_LIMIT})")]
Cursor = Annotated[
    str | None,
    Query(min_length=1, max_length=600, description="the X-Next-Cursor of the previous page; leave out for the first"),
]
PAGE_HEADERS = {
    "X-Next-Cursor": {"description": "the cursor of the next page; absent on the last page", "schema": {"type": "string"}},
    "Link": {"description": 'RFC 8288: `<url of the next page>; rel="next"`; absent on the last page', "schema": {"type": "string"}},
}


def encode_cursor(key: list[str]) -> str:
    """An opaque cursor for a sort key."""
    return base64.urlsafe_b64encode(json.dumps(key, separators=(",", ":")).encode()).decode().rstrip("=")


def _aware_time(text: str) -> bool:
    try:
        return datetime.fromisoformat(text).tzinfo is not None
    except ValueError:
        return False


def decode_cursor(cursor: str | None, parts: int, times: tuple[int, ...] = ()) -> list[str] | None:
    """The sort key in a cursor (None for the first page), its parts at `times` ISO times with an
    offset; 422 on `cursor` if it is not one of ours."""
    if cursor is None:
        return None
    try:
        key = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    except (binascii.Error, ValueError, UnicodeDecodeError):
        key = None
    if not (
        isinstance(key, list) and len(key) == parts and all(isinstance(k, str) for k in key)
        and all(_aware_time(key[i]) for i in times)
    ):
        raise RequestValidationError(
            [{"loc": ("query", "cursor"), "msg": "is not a cursor this list gave (use X-Next-Cursor as it came)",
              "type": "cursor_invalid", "input": cursor}]
        )
    return key


def page(items: list[Any], limit: int, key_of, request: Request, response: Response) -> list[Any]:
    """The first `limit` of `items` (fetched `limit + 1`), with the next page's cursor in the headers."""
    if len(items) > limit:
        items = items[:limit]
        cursor = encode_cursor(key_of(items[-1]))
        response.headers["X-Next-Cursor"] = cursor
        response.headers["Link"] = f'<{request.url.include_query_params(cursor=cursor)}>; rel="next"'
    return items
