"""The attributes of a span that attribute filters search: flattened, scalar and bounded.

A span's own attributes, its resource's and its instrumentation scope's (the scope's name and
version as ``otel.scope.name`` / ``otel.scope.version``, the keys OpenTelemetry uses for them
outside OTLP) share one namespace, as OpenTelemetry keys are namespaced already; a span's own
attribute comes first. Nested values are flattened: a key/value list ``k`` with an entry ``a``
becomes ``k.a``; each string, number or boolean of an array is a value of its key. Bytes and
empty values are left out.

Bounds (the raw span keeps everything): keys of at most ``MAX_KEY_CHARS`` characters, string
values of at most ``MAX_VALUE_CHARS`` (a longer value keeps its key, so "exists" finds it,
without the value: payloads are searched by full text), ``MAX_PAIRS`` pairs of the span's own
and ``MAX_PAIRS`` of its resource's and scope's, NUL replaced, numbers finite. The facts keep
the two apart (``own_attributes``, ``shared_attributes``): the spans of one resource share
its pairs rather than each holding a copy.
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


def add_pairs(
    out: list[AttributePair],
    key: str,
    value: AnyValue,
    kind: str | None,
    text: str | None = None,
    depth: int = 0,
) -> None:
    """Append the pairs of one attribute (flattened) to ``out``. ``kind`` is the value's
    ``WhichOneof("value")`` and ``text`` its string value, when the caller has read them."""
    if not key or len(key) > MAX_KEY_CHARS:
        return
    if "\x00" in key or not key.isascii():
        key = valid_text(key)
    if kind == "string_value":
        if text is None:
            text = value.string_value
        if text:
            out.append((key, valid_text(text)) if len(text) <= MAX_VALUE_CHARS else (key, None))
    elif kind == "int_value":
        out.append((key, value.int_value))
    elif kind == "bool_value":
        out.append((key, value.bool_value))
    elif kind == "double_value":
        number = value.double_value
        out.append((key, number) if isfinite(number) else (key, None))
    elif depth >= _MAX_DEPTH:
        return
    elif kind == "array_value":
        for item in value.array_value.values:
            item_kind = item.WhichOneof("value")
            if item_kind not in ("array_value", "kvlist_value"):
                add_pairs(out, key, item, item_kind, None, depth + 1)
    elif kind == "kvlist_value":
        for entry in value.kvlist_value.values:
            entry_value = entry.value
            add_pairs(
                out, f"{key}.{entry.key}", entry_value, entry_value.WhichOneof("value"), None,
                depth + 1,
            )  # fmt: skip


def _scope_text(out: list[AttributePair], key: str, text: str) -> None:
    if text:
        out.append((key, valid_text(text)) if len(text) <= MAX_VALUE_CHARS else (key, None))


# The pairs of the resources and scopes seen last: the spans of a batch share a few of them.
# Each entry holds its objects, so that their ids stay theirs while the entry lives.
_SHARED_CACHE_SIZE = 256
_shared_pairs: dict[
    tuple[int, int], tuple[Resource, InstrumentationScope, tuple[AttributePair, ...]]
] = {}


def distinct_pairs(pairs: list[AttributePair]) -> tuple[AttributePair, ...]:
    """Pairs without repeats, in order, at most ``MAX_PAIRS``."""
    if len(pairs) <= 1:
        return tuple(pairs)
    if len(pairs) <= MAX_PAIRS and len({key for key, _ in pairs}) == len(pairs):
        return tuple(pairs)  # no key twice (the common case): no pair repeats
    seen: set[tuple[str, type, Scalar | None]] = set()
    kept: list[AttributePair] = []
    for key, value in pairs:
        marker = (key, type(value), value)
        if marker in seen:
            continue
        seen.add(marker)
        kept.append((key, value))
        if len(kept) >= MAX_PAIRS:
            break
    return tuple(kept)


def shared_attributes(resource: Resource, scope: InstrumentationScope) -> tuple[AttributePair, ...]:
    """The bounded, flattened pairs of a resource and an instrumentation scope, without
    repeats. The spans of one resource and scope get the same tuple, made once."""
    key = (id(resource), id(scope))
    cached = _shared_pairs.get(key)
    if cached is not None and cached[0] is resource and cached[1] is scope:
        return cached[2]
    found: list[AttributePair] = []
    groups: tuple[Iterable[KeyValue], ...] = (resource.attributes, scope.attributes)
    for group in groups:
        for kv in group:
            value = kv.value
            add_pairs(found, kv.key, value, value.WhichOneof("value"))
    _scope_text(found, "otel.scope.name", scope.name)
    _scope_text(found, "otel.scope.version", scope.version)
    pairs = distinct_pairs(found)
    if len(_shared_pairs) >= _SHARED_CACHE_SIZE:
        _shared_pairs.clear()
    _shared_pairs[key] = (resource, scope, pairs)
    return pairs


def own_attributes(span: Span) -> tuple[AttributePair, ...]:
    """The bounded, flattened pairs of a span's own attributes, without repeats, in order."""
    found: list[AttributePair] = []
    for kv in span.attributes:
        value = kv.value
        add_pairs(found, kv.key, value, value.WhichOneof("value"))
    return distinct_pairs(found)


def span_attributes(
    span: Span, resource: Resource, scope: InstrumentationScope
) -> tuple[AttributePair, ...]:
    """The pairs attribute filters find a span by: its own, then its resource's and scope's,
    without repeats, at most ``MAX_PAIRS``."""
    return distinct_pairs([*own_attributes(span), *shared_attributes(resource, scope)])
