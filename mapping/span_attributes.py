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

from collections.abc import Iterable, Iterator
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


def _pairs(key: str, value: AnyValue, depth: int) -> Iterator[AttributePair]:
    kind = value.WhichOneof("value")
    if kind == "string_value":
        text = value.string_value
        if text:
            yield (key, valid_text(text)) if len(text) <= MAX_VALUE_CHARS else (key, None)
    elif kind == "bool_value":
        yield key, value.bool_value
    elif kind == "int_value":
        yield key, value.int_value
    elif kind == "double_value":
        number = value.double_value
        yield (key, number) if isfinite(number) else (key, None)
    elif kind == "array_value":
        if depth < _MAX_DEPTH:
            for item in value.array_value.values:
                if item.WhichOneof("value") not in ("array_value", "kvlist_value"):
                    yield from _pairs(key, item, depth + 1)
    elif kind == "kvlist_value" and depth < _MAX_DEPTH:
        for entry in value.kvlist_value.values:
            yield from _keyed(f"{key}.{entry.key}", entry.value, depth + 1)


def _keyed(key: str, value: AnyValue, depth: int) -> Iterator[AttributePair]:
    if not key or len(key) > MAX_KEY_CHARS:
        return
    yield from _pairs(valid_text(key), value, depth)


def _all_pairs(
    span: Span, resource: Resource, scope: InstrumentationScope
) -> Iterator[AttributePair]:
    groups: Iterable[Iterable[KeyValue]] = (span.attributes, resource.attributes, scope.attributes)
    for group in groups:
        for kv in group:
            yield from _keyed(kv.key, kv.value, 0)
    if scope.name:
        yield from _keyed("otel.scope.name", AnyValue(string_value=scope.name), 0)
    if scope.version:
        yield from _keyed("otel.scope.version", AnyValue(string_value=scope.version), 0)


def span_attributes(
    span: Span, resource: Resource, scope: InstrumentationScope
) -> tuple[AttributePair, ...]:
    """The bounded, flattened attribute pairs of a span, without repeats, in order."""
    seen: set[tuple[str, type, Scalar | None]] = set()
    kept: list[AttributePair] = []
    for key, value in _all_pairs(span, resource, scope):
        marker = (key, type(value), value)
        if marker in seen:
            continue
        seen.add(marker)
        kept.append((key, value))
        if len(kept) >= MAX_PAIRS:
            break
    return tuple(kept)
