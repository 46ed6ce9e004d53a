"""The opaque page cursor of ``GET /v1/runs``: base64url of ``[start_ns, run_id]`` in JSON."""

from __future__ import annotations

import base64
import binascii
import re

import orjson

from api.times import MAX_NS
from storage.query_records import RunKey

_RUN_ID = re.compile(r"[0-9a-f]{1,64}", re.ASCII)
_MAX_CURSOR_CHARS = 256


class InvalidCursor(ValueError):
    """A cursor this API did not issue."""


def encode_cursor(key: RunKey) -> str:
    return base64.urlsafe_b64encode(orjson.dumps([key.start_ns, key.id])).decode().rstrip("=")


def decode_cursor(cursor: str) -> RunKey:
    if len(cursor) > _MAX_CURSOR_CHARS:
        raise InvalidCursor("is too long to be a cursor from this API")
    try:
        raw = base64.b64decode(cursor + "=" * (-len(cursor) % 4), altchars=b"-_", validate=True)
        value = orjson.loads(raw)
    except (binascii.Error, ValueError, orjson.JSONDecodeError):
        raise InvalidCursor("is not a cursor from this API (use next_cursor as given)") from None
    if (
        not isinstance(value, list)
        or len(value) != 2
        or type(value[0]) is not int
        or not 0 <= value[0] <= MAX_NS
        or not isinstance(value[1], str)
        or not _RUN_ID.fullmatch(value[1])
    ):
        raise InvalidCursor("is not a cursor from this API (use next_cursor as given)")
    return RunKey(start_ns=value[0], id=value[1])
