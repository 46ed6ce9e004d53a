"""OTLP ``AnyValue`` to Python values, and Python values to display strings.

Display strings: strings as they are; booleans as ``true``/``false``; numbers via ``str``;
arrays and key/value lists as compact JSON; bytes as standard base64 (the same encoding
OTLP/JSON uses for bytes), also inside arrays and key/value lists.
"""

from __future__ import annotations

import base64
from collections.abc import Iterable
from typing import Any

import orjson
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue


def python_value(value: AnyValue) -> Any:
    """The Python value of an ``AnyValue``: str, bool, int, float, bytes, list, dict or None."""
    kind = value.WhichOneof("value")
    if kind is None:
        return None
    if kind == "array_value":
        return [python_value(item) for item in value.array_value.values]
    if kind == "kvlist_value":
        return {kv.key: python_value(kv.value) for kv in value.kvlist_value.values}
    return getattr(value, kind)


def read_prefixed(attributes: Iterable[KeyValue], prefixes: tuple[str, ...]) -> dict[str, Any]:
    """The attributes whose keys start with one of ``prefixes``."""
    return {kv.key: python_value(kv.value) for kv in attributes if kv.key.startswith(prefixes)}


def _json_default(value: Any) -> Any:
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    raise TypeError


def display_text(value: Any) -> str | None:
    """A display string for a Python attribute value (see the module doc), None for None."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    return orjson.dumps(value, default=_json_default).decode()


def as_int(value: Any) -> int | None:
    """An integer count from a numeric attribute value (ints and integral floats)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


def as_text(value: Any) -> str | None:
    """A short identifier-like string (names, ids) from an attribute value."""
    if value is None or value == "":
        return None
    return display_text(value)
