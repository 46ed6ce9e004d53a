"""The attributes of a span that attribute filters search: flattened, scalar and bounded.

A span's own attributes, its resource's and its instrumentation scope's (the scope's name and
version as ``otel.scope.name`` / ``otel.scope.version``, the keys OpenTelemetry uses for them
outside OTLP) share one namespace, as OpenTelemetry keys are namespaced already; a span's own
attribute comes first. Nested values are flattened: a key/value list ``k`` with an entry ``a``
becomes ``k.a``; each string, number or boolean of an array is a value of its key. Bytes and
empty values are left out.

Bounds (the raw span keeps everything): keys of at most ``MAX_KEY_CHARS`` characters, string
values of at most ``MAX_VALUE_CHARS`` (a longer value keeps its key, so "exists" finds it,
without the value: payloads are searched by full text), ``MAX_PAIRS`` pairs per span, NUL
replaced, numbers finite.
"""

from __future__ import annotations

from collections.abc import Iterable
from math import isfinite

from opentelemetry.proto.common.v1.common_pb2 import AnyValue, InstrumentationScope, KeyValue
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from mapping.text import valid_text

MAX_KEY_CHARS = 128
MAX_VALUE_CHARS = 256
MAX_PAIRS = 128
_MAX_DEPTH = 4

Scalar = str | int | float | bool
AttributePair = tuple[str, Scalar | None]
"""A key with one of its values; None: the key is there, its value is not kept."""


def _add(out: list[AttributePair], key: str, value: AnyValue, depth: int) -> None:
    """Append the pairs of one attribute (flattened) to ``out``."""
    if not key or len(key) > MAX_KEY_CHARS:
        return
    if "\x00" in key or not key.isascii():
        key = valid_text(key)
    kind = value.WhichOneof("value")
    if kind == "string_value":
        text = value.string_value
        if text:
            out.append((key, valid_text(text)) if len(text) <= MAX_VALUE_CHARS else (key, None))
    elif kind == "bool_value":
        out.append((key, value.bool_value))
    elif kind == "int_value":
        out.append((key, value.int_value))
    elif kind == "double_value":
        number = value.double_value
        out.append((key, number) if isfinite(number) else (key, None))
    elif depth >= _MAX_DEPTH:
        return
    elif kind == "array_value":
        for item in value.array_value.values:
            if item.WhichOneof("value") not in ("array_value", "kvlist_value"):
                _add(out, key, item, depth + 1)
    elif kind == "kvlist_value":
        for entry in value.kvlist_value.values:
            _add(out, f"{key}.{entry.key}", entry.value, depth + 1)


def _scope_text(out: list[AttributePair], key: str, text: str) -> None:
    if text:
        out.append((key, valid_text(text)) if len(text) <= MAX_VALUE_CHARS else (key, None))


# The pairs of the resources and scopes seen last: the spans of a batch share a few of them.
# Each entry holds its objects, so that their ids stay theirs while the entry lives.
_SHARED_CACHE_SIZE = 256
_shared_pairs: dict[tuple[int, int], tuple[Resource, InstrumentationScope, list[AttributePair]]]
_shared_pairs = {}


def _resource_and_scope_pairs(
    resource: Resource, scope: InstrumentationScope
) -> list[AttributePair]:
    key = (id(resource), id(scope))
    cached = _shared_pairs.get(key)
    if cached is not None and cached[0] is resource and cached[1] is scope:
        return cached[2]
    found: list[AttributePair] = []
    groups: tuple[Iterable[KeyValue], ...] = (resource.attributes, scope.attributes)
    for group in groups:
        for kv in group:
            _add(found, kv.key, kv.value, 0)
    _scope_text(found, "otel.scope.name", scope.name)
    _scope_text(found, "otel.scope.version", scope.version)
    if len(_shared_pairs) >= _SHARED_CACHE_SIZE:
        _shared_pairs.clear()
    _shared_pairs[key] = (resource, scope, found)
    return found


def span_attributes(
    span: Span, resource: Resource, scope: InstrumentationScope
) -> tuple[AttributePair, ...]:
    """The bounded, flattened attribute pairs of a span, without repeats, in order."""
    found: list[AttributePair] = []
    for kv in span.attributes:
        _add(found, kv.key, kv.value, 0)
    found += _resource_and_scope_pairs(resource, scope)
    seen: set[tuple[str, type, Scalar | None]] = set()
    kept: list[AttributePair] = []
    for key, value in found:
        marker = (key, type(value), value)
        if marker in seen:
            continue
        seen.add(marker)
        kept.append((key, value))
        if len(kept) >= MAX_PAIRS:
            break
    return tuple(kept)
