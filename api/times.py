"""Timestamps at the API boundary: RFC 3339 or epoch milliseconds in, RFC 3339 out.

Stored times are Unix nanoseconds; nothing here rounds them. Accepted instants run from the
Unix epoch to the largest nanosecond count PostgreSQL's bigint holds (in the year 2262).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

MAX_NS = (1 << 63) - 1
_NS_PER_S = 1_000_000_000
_NS_PER_MS = 1_000_000
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

_RFC3339 = re.compile(
    r"(?P<date>\d{4}-\d{2}-\d{2})[Tt ](?P<time>\d{2}:\d{2}:\d{2})"
    r"(?:\.(?P<fraction>\d{1,9}))?(?P<offset>[Zz]|[+ -]\d{2}:\d{2})?",
    re.ASCII,
)
_EPOCH_MS = re.compile(r"-?\d{1,20}", re.ASCII)


class InvalidTime(ValueError):
    """Not a timestamp the API accepts; the message says why."""


def _check_range(ns: int) -> int:
    if ns < 0 or ns > MAX_NS:
        raise InvalidTime("must lie between 1970-01-01T00:00:00Z and 2262-04-11T23:47:16Z")
    return ns


def parse_time(value: str | int) -> int:
    """Unix nanoseconds of an RFC 3339 timestamp (no offset means UTC) or of epoch ms."""
    if isinstance(value, int):
        return _check_range(value * _NS_PER_MS)
    text = value.strip()
    if _EPOCH_MS.fullmatch(text):
        return _check_range(int(text) * _NS_PER_MS)
    match = _RFC3339.fullmatch(text)
    if match is None:
        raise InvalidTime(
            "must be an RFC 3339 timestamp (e.g. 2025-01-31T12:00:00Z) or epoch milliseconds"
        )
    offset = match["offset"] or "Z"
    if offset in ("Z", "z"):
        offset = "+00:00"
    elif offset[0] == " ":  # a "+" left unescaped in a URL query arrives as a space
        offset = "+" + offset[1:]
    try:
        instant = datetime.fromisoformat(f"{match['date']}T{match['time']}{offset}")
    except ValueError as exc:
        raise InvalidTime(f"is not a valid date and time: {exc}") from None
    fraction_ns = int((match["fraction"] or "0").ljust(9, "0"))
    whole = instant - _EPOCH
    seconds = whole.days * 86_400 + whole.seconds
    return _check_range(seconds * _NS_PER_S + fraction_ns)


def format_time(ns: int) -> str:
    """RFC 3339 in UTC with as many fraction digits as the value needs (0, 3, 6 or 9)."""
    seconds, fraction = divmod(ns, _NS_PER_S)
    text = (_EPOCH + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%S")
    if fraction == 0:
        return text + "Z"
    if fraction % 1_000_000 == 0:
        return f"{text}.{fraction // 1_000_000:03d}Z"
    if fraction % 1_000 == 0:
        return f"{text}.{fraction // 1_000:06d}Z"
    return f"{text}.{fraction:09d}Z"


def format_optional_time(ns: int | None) -> str | None:
    return None if ns is None else format_time(ns)
