"""The spans behind REST-ingested runs: a run is an ``invoke_agent`` span, a step an
``execute_tool`` span under it, written with the OpenTelemetry GenAI keys an instrumented agent
would set. Mapping therefore derives REST runs exactly like OTLP runs.

What OTLP has no word for lives in ``agentguide.*`` attributes: the lifecycle status of a run
or step that is not finished (PENDING, RUNNING) or was cancelled, and named run metrics. An
unfinished span ends when it starts; mapping reads the status attribute to leave it open.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, InstrumentationScope, KeyValue
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

from mapping.conventions import agentguide, gen_ai, openinference, otel

SCOPE_NAME = agentguide.SCOPE_NAME
SCOPE_VERSION = "1"

RUN_STATUS_KEY = agentguide.RUN_STATUS
STEP_STATUS_KEY = agentguide.STEP_STATUS
STEP_INDEX_KEY = agentguide.STEP_INDEX
METRIC_PREFIX = agentguide.METRIC_PREFIX
RUN_OUTPUT_KEY = openinference.OUTPUT_VALUE
STEP_OUTPUT_KEY = gen_ai.TOOL_CALL_RESULT
TOKEN_METRIC_KEYS = {
    "input_tokens": gen_ai.USAGE_INPUT_TOKENS,
    "output_tokens": gen_ai.USAGE_OUTPUT_TOKENS,
    "total_tokens": gen_ai.USAGE_TOTAL_TOKENS,
}

_INT64_LIMIT = float(1 << 63)

UNFINISHED_RUN_STATUSES = frozenset({"PENDING", "RUNNING"})
FINAL_RUN_STATUSES = frozenset({"SUCCESS", "FAILED", "CANCELLED"})


@dataclass(frozen=True, slots=True)
class ErrorFacts:
    type: str | None
    message: str


def new_trace_id() -> bytes:
    while (trace_id := os.urandom(16)) == bytes(16):
        pass
    return trace_id


def new_span_id() -> bytes:
    while (span_id := os.urandom(8)) == bytes(8):
        pass
    return span_id


def json_text(value: Any) -> str | None:
    """A REST input or output as span text: strings as they are, other JSON as JSON."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    # The standard library, not orjson: JSON integers may exceed 64 bits.
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _any_value(value: str | int | float) -> AnyValue:
    if isinstance(value, str):
        return AnyValue(string_value=value)
    if isinstance(value, int):
        return AnyValue(int_value=value)
    return AnyValue(double_value=value)


def set_attribute(span: Span, key: str, value: str | int | float | None) -> None:
    """Set, replace or (with None) remove one attribute."""
    kept = [kv for kv in span.attributes if kv.key != key]
    del span.attributes[:]
    span.attributes.extend(kept)
    if value is not None:
        span.attributes.append(KeyValue(key=key, value=_any_value(value)))


def get_attribute(span: Span, key: str) -> Any:
    for kv in span.attributes:
        if kv.key == key:
            kind = kv.value.WhichOneof("value")
            return getattr(kv.value, kind) if kind else None
    return None


def _set_all(span: Span, attributes: Iterable[tuple[str, str | int | float | None]]) -> None:
    for key, value in attributes:
        set_attribute(span, key, value)


def new_run_span(
    *,
    trace_id: bytes,
    span_id: bytes,
    agent_name: str,
    agent_id: str | None,
    agent_version: str | None,
    agent_description: str | None,
    input_text: str | None,
    session_id: str | None,
    user_id: str | None,
    start_ns: int,
) -> Span:
    span = Span(
        trace_id=trace_id,
        span_id=span_id,
        name=f"invoke_agent {agent_name}",
        kind=Span.SPAN_KIND_INTERNAL,
        start_time_unix_nano=start_ns,
        end_time_unix_nano=start_ns,
    )
    _set_all(
        span,
        [
            (gen_ai.OPERATION_NAME, "invoke_agent"),
            (gen_ai.AGENT_NAME, agent_name),
            (gen_ai.AGENT_ID, agent_id),
            (gen_ai.AGENT_VERSION, agent_version),
            (gen_ai.AGENT_DESCRIPTION, agent_description),
            (openinference.INPUT_VALUE, input_text),
            (openinference.SESSION_ID, session_id),
            (openinference.USER_ID, user_id),
            (RUN_STATUS_KEY, "PENDING"),
        ],
    )
    return span


def new_step_span(
    *,
    run_span: Span,
    span_id: bytes,
    tool_name: str,
    tool_call_id: str | None,
    input_text: str | None,
    index: int | None,
    start_ns: int,
) -> Span:
    span = Span(
        trace_id=run_span.trace_id,
        span_id=span_id,
        parent_span_id=run_span.span_id,
        name=f"execute_tool {tool_name}",
        kind=Span.SPAN_KIND_INTERNAL,
        start_time_unix_nano=start_ns,
        end_time_unix_nano=start_ns,
    )
    _set_all(
        span,
        [
            (gen_ai.OPERATION_NAME, "execute_tool"),
            (gen_ai.TOOL_NAME, tool_name),
            (gen_ai.TOOL_CALL_ID, tool_call_id),
            (gen_ai.TOOL_CALL_ARGUMENTS, input_text),
            (STEP_INDEX_KEY, index),
            (STEP_STATUS_KEY, "RUNNING"),
        ],
    )
    return span


def run_status(span: Span) -> str:
    status = get_attribute(span, RUN_STATUS_KEY)
    return status if isinstance(status, str) else "SUCCESS"


def step_status(span: Span) -> str:
    status = get_attribute(span, STEP_STATUS_KEY)
    return status if isinstance(status, str) else "SUCCESS"


def _record_error(span: Span, error: ErrorFacts, at_ns: int) -> None:
    span.status.CopyFrom(Status(code=Status.STATUS_CODE_ERROR, message=error.message))
    set_attribute(span, otel.ERROR_TYPE, error.type)
    event = span.events.add(name=otel.EXCEPTION_EVENT, time_unix_nano=at_ns)
    if error.type is not None:
        event.attributes.append(KeyValue(key=otel.EXCEPTION_TYPE, value=_any_value(error.type)))
    event.attributes.append(KeyValue(key=otel.EXCEPTION_MESSAGE, value=_any_value(error.message)))


def finish(
    span: Span, *, status_key: str, status: str, end_ns: int, error: ErrorFacts | None
) -> None:
    """End a run or step span with a final status (and error, for FAILED)."""
    span.end_time_unix_nano = end_ns
    set_attribute(span, status_key, status)
    if status == "SUCCESS":
        span.status.CopyFrom(Status(code=Status.STATUS_CODE_OK))
    elif status == "FAILED":
        _record_error(span, error or ErrorFacts(type=None, message="failed"), end_ns)


def set_metrics(span: Span, metrics: dict[str, float]) -> None:
    """Token counts as the GenAI usage keys, any other metric as ``agentguide.metric.<name>``."""
    for name, value in metrics.items():
        number: int | float = (
            int(value) if value.is_integer() and abs(value) < _INT64_LIMIT else value
        )
        set_attribute(span, TOKEN_METRIC_KEYS.get(name, METRIC_PREFIX + name), number)


def rest_resource(service_name: str) -> Resource:
    resource = Resource()
    resource.attributes.append(KeyValue(key=otel.SERVICE_NAME, value=_any_value(service_name)))
    return resource


def rest_scope() -> InstrumentationScope:
    return InstrumentationScope(name=SCOPE_NAME, version=SCOPE_VERSION)


def export_request(
    spans: Iterable[Span], resource: Resource, scope: InstrumentationScope
) -> ExportTraceServiceRequest:
    request = ExportTraceServiceRequest()
    resource_spans = request.resource_spans.add()
    resource_spans.resource.CopyFrom(resource)
    scope_spans = resource_spans.scope_spans.add()
    scope_spans.scope.CopyFrom(scope)
    scope_spans.spans.extend(spans)
    return request
