"""A store's time zone, and every time the service returns for the store written in it, to the second.

A store's zone is its document's `time_zone`; else the service's `DISPATCH_TIME_ZONE`; else the
UTC offset of the first order it accepted (kept on the store row); else UTC.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone, tzinfo
from typing import Any

from pydantic import BaseModel

from api.tables import StoreRow
from dispatch.schema import parse_time_zone

# Keys of a plan document (or any stored document) whose string values are times, besides `*_at`.
_TIME_KEYS = frozenset({
    "at", "plan_time", "as_of", "eta", "eta_before", "shift_end", "deliver_after", "eta_p10", "eta_p50", "eta_p90",
})


def offset_name(at: datetime) -> str:
    """The fixed zone of an aware time: `+08:00`, `-03:30`, or `UTC`."""
    offset = at.utcoffset() or timedelta(0)
    if offset == timedelta(0):
        return "UTC"
    sign = "-" if offset < timedelta(0) else "+"
    minutes = abs(int(offset.total_seconds())) // 60
    return f"{sign}{minutes // 60:02d}:{minutes % 60:02d}"


def store_zone_name(row: StoreRow | None, default: str | None) -> str:
    """The name of the zone the store's times are written in (see the module's docstring)."""
    if row is None:
        return default or "UTC"
    named = (row.document or {}).get("time_zone")
    if isinstance(named, str) and named:
        return named
    return default or row.time_zone or "UTC"


def store_zone(row: StoreRow | None, default: str | None) -> tzinfo:
    """The store's zone; a stored name that no longer parses reads as UTC rather than failing."""
    try:
        return parse_time_zone(store_zone_name(row, default))
    except ValueError:
        return timezone.utc


def to_second(at: datetime, zone: tzinfo) -> datetime:
    """`at` in `zone`, its fraction of a second dropped."""
    return at.astimezone(zone).replace(microsecond=0)


def round_up_to_minute(at: datetime) -> datetime:
    """The first whole minute at or after `at` (a promise is never earlier than what was planned)."""
    whole = at.replace(second=0, microsecond=0)
    return whole if whole == at else whole + timedelta(minutes=1)


def _is_time_key(key: str) -> bool:
    return key.endswith("_at") or key in _TIME_KEYS


def localize(value: Any, zone: tzinfo) -> Any:
    """`value` with every time in it written in `zone`, to the second: datetimes anywhere, and
    ISO strings under time keys (`at`, `*_at`, `plan_time`, `as_of`, `eta`, `eta_before`, `shift_end`, `deliver_after`) of dicts. Models are copied
    without validation, so a stored record shown as stored stays shown."""
    if isinstance(value, datetime):
        return to_second(value, zone) if value.tzinfo is not None else value
    if isinstance(value, BaseModel):
        return value.model_copy(update={name: localize(v, zone) for name, v in value.__dict__.items()})
    if isinstance(value, dict):
        return {k: _localize_item(k, v, zone) for k, v in value.items()}
    if isinstance(value, list):
        return [localize(v, zone) for v in value]
    return value


def _localize_item(key: Any, value: Any, zone: tzinfo) -> Any:
    if isinstance(value, str) and isinstance(key, str) and _is_time_key(key):
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError:
            return value
        return to_second(parsed, zone).isoformat() if parsed.tzinfo is not None else value
    return localize(value, zone)


def seconds_between(later: datetime, earlier: datetime) -> int:
    """Whole seconds from `earlier` to `later`, rounded up (never 0 for a positive gap)."""
    return int(math.ceil((later - earlier).total_seconds()))
