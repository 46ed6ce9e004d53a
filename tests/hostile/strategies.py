"""Hypothesis strategies for hostile OTLP export requests: extreme and malformed values in
every field, next to one span that is valid, so that tests can check it is kept."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span

U32 = 2**32 - 1
U64 = 2**64 - 1

# Text with the characters that hurt: NUL, other controls, non-BMP, right-to-left marks.
hostile_text = st.one_of(
    st.just(""),
    st.text(max_size=40),
    st.text(alphabet=st.sampled_from("\x00\x01\ufffd\u202e😀é\n\\\"'"), max_size=20),
    st.builds(lambda n, c: c * n, st.integers(1000, 20_000), st.sampled_from("xé\x00")),
)
ids = st.one_of(
    st.binary(min_size=16, max_size=16),  # mostly valid trace ids (and 8-byte prefixes)
    st.just(b""),
    st.just(bytes(16)),
    st.just(bytes(8)),
    st.binary(max_size=40),
)
times = st.one_of(st.sampled_from([0, 1, 2**63 - 1, 2**63, U64]), st.integers(0, U64))
counts = st.one_of(st.sampled_from([0, 1, U32]), st.integers(0, U32))
int64s = st.one_of(st.sampled_from([-(2**63), -1, 0, 2**63 - 1]), st.integers(-(2**63), 2**63 - 1))
doubles = st.floats(allow_nan=True, allow_infinity=True)


def any_values(max_depth: int = 8) -> st.SearchStrategy[AnyValue]:
    scalar = st.one_of(
        st.builds(lambda v: AnyValue(string_value=v), hostile_text),
        st.builds(lambda v: AnyValue(int_value=v), int64s),
        st.builds(lambda v: AnyValue(double_value=v), doubles),
        st.builds(lambda v: AnyValue(bool_value=v), st.booleans()),
        st.builds(lambda v: AnyValue(bytes_value=v), st.binary(max_size=64)),
        st.just(AnyValue()),  # no value set at all
    )

    def nest(children: st.SearchStrategy[AnyValue]) -> st.SearchStrategy[AnyValue]:
        def array(values: list[AnyValue]) -> AnyValue:
            result = AnyValue()
            result.array_value.values.extend(values)
            return result

        def kvlist(pairs: list[tuple[str, AnyValue]]) -> AnyValue:
            result = AnyValue()
            result.kvlist_value.values.extend(KeyValue(key=k, value=v) for k, v in pairs)
            return result

        return st.one_of(
            st.builds(array, st.lists(children, max_size=4)),
            st.builds(kvlist, st.lists(st.tuples(hostile_text, children), max_size=4)),
        )

    return st.recursive(scalar, nest, max_leaves=max_depth * 2)


attributes = st.lists(
    st.builds(lambda k, v: KeyValue(key=k, value=v), hostile_text, any_values()), max_size=6
)


@st.composite
def hostile_spans(draw: st.DrawFn) -> Span:
    span = Span(
        trace_id=draw(ids),
        span_id=draw(st.one_of(st.binary(min_size=8, max_size=8), ids)),
        parent_span_id=draw(st.one_of(st.just(b""), ids)),
        trace_state=draw(hostile_text),
        name=draw(hostile_text),
        kind=draw(st.integers(0, 7)),  # 6 and 7 are not SpanKind values
        start_time_unix_nano=draw(times),
        end_time_unix_nano=draw(times),
        dropped_attributes_count=draw(counts),
        dropped_events_count=draw(counts),
        dropped_links_count=draw(counts),
        flags=draw(counts),
    )
    span.attributes.extend(draw(attributes))
    for _ in range(draw(st.integers(0, 3))):
        event = span.events.add(time_unix_nano=draw(times), name=draw(hostile_text))
        event.attributes.extend(draw(attributes))
        event.dropped_attributes_count = draw(counts)
    for _ in range(draw(st.integers(0, 3))):
        link = span.links.add(trace_id=draw(ids), span_id=draw(ids), trace_state=draw(hostile_text))
        link.attributes.extend(draw(attributes))
        link.flags = draw(counts)
    status_code = draw(st.integers(0, 5))  # 3 to 5 are not status codes
    span.status.code = status_code  # type: ignore[assignment]
    span.status.message = draw(hostile_text)
    return span


@st.composite
def hostile_requests(draw: st.DrawFn, valid_span: Span) -> ExportTraceServiceRequest:
    """A request of hostile resources, scopes and spans, with ``valid_span`` placed among them."""
    request = ExportTraceServiceRequest()
    resource_count = draw(st.integers(1, 3))
    placed = draw(st.integers(0, resource_count - 1))
    for index in range(resource_count):
        resource_spans = request.resource_spans.add(schema_url=draw(hostile_text))
        resource_spans.resource.attributes.extend(draw(attributes))
        if draw(st.booleans()):
            resource_spans.resource.attributes.add(
                key="service.name", value=AnyValue(string_value=draw(hostile_text))
            )
        resource_spans.resource.dropped_attributes_count = draw(counts)
        scope_spans = resource_spans.scope_spans.add(schema_url=draw(hostile_text))
        scope_spans.scope.name = draw(hostile_text)
        scope_spans.scope.version = draw(hostile_text)
        scope_spans.scope.attributes.extend(draw(attributes))
        scope_spans.spans.extend(draw(st.lists(hostile_spans(), max_size=4)))
        if index == placed:
            scope_spans.spans.insert(draw(st.integers(0, len(scope_spans.spans))), valid_span)
    return request


def _wrong_type(value: Any) -> Any:
    return {"unexpected": [value]} if not isinstance(value, dict) else "not an object"


@st.composite
def json_mutations(draw: st.DrawFn, document: dict[str, Any]) -> dict[str, Any]:
    """An OTLP/JSON document with one value somewhere replaced by one of the wrong type."""
    paths: list[tuple[Any, Any]] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for key, value in node.items():
                paths.append((node, key))
                walk(value)
        elif isinstance(node, list):
            for index, value in enumerate(node):
                paths.append((node, index))
                walk(value)

    walk(document)
    if paths:
        container, key = draw(st.sampled_from(paths))
        replacement = draw(
            st.one_of(
                st.just(_wrong_type(container[key])),
                st.sampled_from([None, True, -1, 1.5, "zz", [], {}, "9" * 30]),
            )
        )
        container[key] = replacement
    return document
