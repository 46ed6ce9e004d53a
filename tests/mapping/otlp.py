"""Building OTLP protobuf spans for tests, and reading the captured fixture bodies."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from opentelemetry.proto.common.v1.common_pb2 import AnyValue, InstrumentationScope
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

from mapping import span_facts
from mapping.log_events import with_log_events
from mapping.model import SpanFacts
from tests.fakes.otlp_bodies import logs_request, trace_request

TRACE_ID = bytes.fromhex("0af7651916cd43dd8448eb211c80319c")
TRACE_ID_HEX = TRACE_ID.hex()


def fixtures_dir() -> Path:
    """The captured OTLP bodies of real frameworks, inside the repository."""
    return Path(__file__).resolve().parents[1] / "fixtures"


def scenario_dirs() -> list[Path]:
    return sorted(path.parent for path in fixtures_dir().glob("*/*/expected.json"))


def spans_of_bodies(paths: list[Path]) -> Iterator[tuple[Span, Resource, InstrumentationScope]]:
    for path in paths:
        request = trace_request(path)  # protobuf or JSON, as its meta.json says
        for resource_spans in request.resource_spans:
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    yield span, resource_spans.resource, scope_spans.scope


def log_records_of(scenario: Path) -> dict[bytes, list[LogRecord]]:
    """The log records a scenario captured (``NNNN.logs.bin``), by span id."""
    records: dict[bytes, list[LogRecord]] = {}
    for path in sorted(scenario.glob("*.logs.bin")):
        for resource_logs in logs_request(path).resource_logs:
            for scope_logs in resource_logs.scope_logs:
                for record in scope_logs.log_records:
                    records.setdefault(record.span_id, []).append(record)
    return records


def scenario_facts(scenario: Path) -> list[SpanFacts]:
    """The facts of every span of a scenario, in arrival order, with the events its log
    records carry (``mapping.log_events``), as the deriver maps them."""
    bodies = sorted(scenario.glob("*.body.bin"))
    records = log_records_of(scenario)
    return [
        span_facts(with_log_events(span, records.get(span.span_id, [])), resource, scope)
        for span, resource, scope in spans_of_bodies(bodies)
    ]


def set_any_value(target: AnyValue, value: Any) -> None:
    """Set ``target`` to ``value``; None leaves it empty (an AnyValue with no value set)."""
    if value is None:
        return
    if isinstance(value, bool):
        target.bool_value = value
    elif isinstance(value, int):
        target.int_value = value
    elif isinstance(value, float):
        target.double_value = value
    elif isinstance(value, str):
        target.string_value = value
    elif isinstance(value, bytes):
        target.bytes_value = value
    elif isinstance(value, list):
        target.array_value.SetInParent()
        for item in value:
            set_any_value(target.array_value.values.add(), item)
    elif isinstance(value, dict):
        target.kvlist_value.SetInParent()
        for key, item in value.items():
            kv = target.kvlist_value.values.add()
            kv.key = key
            set_any_value(kv.value, item)
    else:
        raise TypeError(type(value))


def make_span(
    name: str = "span",
    attributes: Mapping[str, Any] | None = None,
    *,
    span_id: str = "00000000000000a1",
    parent_span_id: str | None = None,
    status: int = Status.STATUS_CODE_UNSET,
    status_message: str = "",
    events: list[tuple[str, Mapping[str, Any]]] = (),  # type: ignore[assignment]
    start_ns: int = 1_000,
    end_ns: int = 2_000,
) -> Span:
    span = Span(
        trace_id=TRACE_ID,
        span_id=bytes.fromhex(span_id),
        parent_span_id=bytes.fromhex(parent_span_id) if parent_span_id else b"",
        name=name,
        start_time_unix_nano=start_ns,
        end_time_unix_nano=end_ns,
        status=Status(code=status, message=status_message),  # type: ignore[arg-type]
    )
    for key, value in (attributes or {}).items():
        kv = span.attributes.add()
        kv.key = key
        set_any_value(kv.value, value)
    for event_name, event_attributes in events:
        event = span.events.add(name=event_name, time_unix_nano=start_ns + 1)
        for key, value in event_attributes.items():
            kv = event.attributes.add()
            kv.key = key
            set_any_value(kv.value, value)
    return span


def make_resource(service_name: str | None = "svc") -> Resource:
    resource = Resource()
    if service_name is not None:
        kv = resource.attributes.add()
        kv.key = "service.name"
        kv.value.string_value = service_name
    return resource


def facts_of(
    name: str = "span",
    attributes: Mapping[str, Any] | None = None,
    *,
    service_name: str | None = "svc",
    **span_options: Any,
) -> SpanFacts:
    """``span_facts`` of a span built from these arguments."""
    span = make_span(name, attributes, **span_options)
    return span_facts(span, make_resource(service_name), InstrumentationScope(name="test"))
