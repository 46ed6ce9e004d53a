"""The opaque page cursors of the sessions and users routes: base64url of ``[ns, id]`` in JSON.

Lists ordered newest activity first use ``[last activity ns, session or user id]``; a
session's runs, oldest first, use ``[start_ns, run id]``. Ids are bounded identifiers
(512 UTF-8 bytes at most), so a cursor is a few hundred characters at most.
"""

from __future__ import annotations

import base64
import binascii
import re

import orjson

from api.times import MAX_NS

_MAX_CURSOR_CHARS = 2048
_MAX_ID_BYTES = 1024
_RUN_ID = re.compile(r"[0-9a-f]{48}", re.ASCII)
_NOT_OURS = "is not a cursor from this API (use next_cursor as given)"


class InvalidCursor(ValueError):
    """A cursor this API did not issue."""


def encode_cursor(ns: int, key: str) -> str:
    return base64.urlsafe_b64encode(orjson.dumps([ns, key])).decode().rstrip("=")


def decode_cursor(cursor: str, *, run_id: bool = False) -> tuple[int, str]:
    """``(ns, id)`` of a cursor ``encode_cursor`` wrote; with ``run_id``, the id must be a
    run id (48 hex characters)."""
    if len(cursor) > _MAX_CURSOR_CHARS:
        raise InvalidCursor("is too long to be a cursor from this API")
    try:
        raw = base64.b64decode(cursor + "=" * (-len(cursor) % 4), altchars=b"-_", validate=True)
        value = orjson.loads(raw)
    except (binascii.Error, ValueError, orjson.JSONDecodeError):
        raise InvalidCursor(_NOT_OURS) from None
    if (
        not isinstance(value, list)
        or len(value) != 2
        or type(value[0]) is not int
        or not 0 <= value[0] <= MAX_NS
        or not isinstance(value[1], str)
        or not value[1]
        or "\x00" in value[1]
        or len(value[1].encode("utf-8", "surrogatepass")) > _MAX_ID_BYTES
        or (run_id and not _RUN_ID.fullmatch(value[1]))
    ):
        raise InvalidCursor(_NOT_OURS)
    return value[0], value[1]
