"""The opaque page cursor of ``GET /v1/runs``: base64url of ``[start_ns, run_id]`` in JSON,
and ``[start_ns, run_id, cost_key]`` in the most-expensive-first order (``sort=cost``)."""

from __future__ import annotations

import base64
import binascii
import math
import re

import orjson

from api.times import MAX_NS
from storage.query_records import RunKey

_RUN_ID = re.compile(r"[0-9a-f]{1,64}", re.ASCII)
_MAX_CURSOR_CHARS = 256


class InvalidCursor(ValueError):
    """A cursor this API did not issue."""


def encode_cursor(key: RunKey) -> str:
    value: list[object] = [key.start_ns, key.id]
    if key.cost_key is not None:
        value.append(key.cost_key)
    return base64.urlsafe_b64encode(orjson.dumps(value)).decode().rstrip("=")


def _cost_key(value: object) -> float | None:
    """A cost key as encode_cursor writes it: a finite float, -1 or more."""
    if type(value) not in (int, float):
        return None
    key = float(value)  # type: ignore[arg-type]
    return key if math.isfinite(key) and key >= -1 else None


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
        or len(value) not in (2, 3)
        or (len(value) == 3 and _cost_key(value[2]) is None)
        or type(value[0]) is not int
        or not 0 <= value[0] <= MAX_NS
        or not isinstance(value[1], str)
        or not _RUN_ID.fullmatch(value[1])
    ):
        raise InvalidCursor("is not a cursor from this API (use next_cursor as given)")
    return RunKey(
        start_ns=value[0], id=value[1], cost_key=_cost_key(value[2]) if len(value) == 3 else None
    )
