"""Building, sending and comparing OTLP requests in tests."""

from __future__ import annotations

import gzip
import os
from collections.abc import Iterable
from typing import Any

import httpx
from google.protobuf import json_format
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

from receiver.otlp_json import request_to_json

PROTOBUF = "application/x-protobuf"


def random_trace_id() -> bytes:
    return os.urandom(16)


def random_span_id() -> bytes:
    return os.urandom(8)


def attr(key: str, value: Any) -> KeyValue:
    return KeyValue(key=key, value=any_value(value))


def any_value(value: Any) -> AnyValue:
    if isinstance(value, bool):
        return AnyValue(bool_value=value)
    if isinstance(value, int):
        return AnyValue(int_value=value)
    if isinstance(value, float):
        return AnyValue(double_value=value)
    if isinstance(value, bytes):
        return AnyValue(bytes_value=value)
    if isinstance(value, str):
        return AnyValue(string_value=value)
    if isinstance(value, list):
        result = AnyValue()
        result.array_value.values.extend(any_value(item) for item in value)
        return result
    if isinstance(value, dict):
        result = AnyValue()
        result.kvlist_value.values.extend(attr(k, v) for k, v in value.items())
        return result
    raise TypeError(type(value))


def make_span(
    trace_id: bytes,
    name: str = "span",
    *,
    span_id: bytes | None = None,
    parent_span_id: bytes = b"",
    attributes: dict[str, Any] | None = None,
    start_ns: int = 1_700_000_000_000_000_000,
    duration_ns: int = 1_000_000,
    status_code: int = Status.STATUS_CODE_UNSET,
    status_message: str = "",
) -> Span:
    span = Span(
        trace_id=trace_id,
        span_id=span_id or random_span_id(),
        parent_span_id=parent_span_id,
        name=name,
        kind=Span.SPAN_KIND_INTERNAL,
        start_time_unix_nano=start_ns,
        end_time_unix_nano=start_ns + duration_ns,
        status=Status(code=status_code, message=status_message),  # type: ignore[arg-type]
    )
    span.attributes.extend(attr(k, v) for k, v in (attributes or {}).items())
    return span


def make_request(
    spans: Iterable[Span], service_name: str = "test-service", scope_name: str = "tests"
) -> ExportTraceServiceRequest:
    request = ExportTraceServiceRequest()
    resource_spans = request.resource_spans.add()
    resource_spans.resource.attributes.append(attr("service.name", service_name))
    scope_spans = resource_spans.scope_spans.add()
    scope_spans.scope.name = scope_name
    scope_spans.spans.extend(spans)
    return request


def post_protobuf(
    base_url: str, request: ExportTraceServiceRequest, *, compress: bool = False
) -> httpx.Response:
    body = request.SerializeToString()
    headers = {"Content-Type": PROTOBUF}
    if compress:
        body = gzip.compress(body)
        headers["Content-Encoding"] = "gzip"
    return httpx.post(base_url + "/v1/traces", content=body, headers=headers, timeout=30)


def parse_export_response(response: httpx.Response) -> ExportTraceServiceResponse:
    parsed = ExportTraceServiceResponse()
    if response.headers["content-type"].startswith(PROTOBUF):
        parsed.ParseFromString(response.content)
    else:
        json_format.ParseDict(response.json(), parsed)
    return parsed


def spans_by_id(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Each span of an OTLP/JSON request with the resource and scope it sits under."""
    flattened: dict[str, dict[str, Any]] = {}
    for resource_spans in document.get("resourceSpans", ()):
        for scope_spans in resource_spans.get("scopeSpans", ()):
            for span in scope_spans.get("spans", ()):
                flattened[span["spanId"]] = {
                    "resource": resource_spans.get("resource", {}),
                    "resourceSchemaUrl": resource_spans.get("schemaUrl", ""),
                    "scope": scope_spans.get("scope", {}),
                    "scopeSchemaUrl": scope_spans.get("schemaUrl", ""),
                    "span": span,
                }
    return flattened


def expected_spans(*requests: ExportTraceServiceRequest) -> dict[str, dict[str, Any]]:
    merged: dict[str, dict[str, Any]] = {}
    for request in requests:
        merged.update(spans_by_id(request_to_json(request)))
    return merged


def stored_spans(base_url: str, trace_id: bytes | str) -> dict[str, dict[str, Any]]:
    trace_hex = trace_id.hex() if isinstance(trace_id, bytes) else trace_id
    response = httpx.get(f"{base_url}/v1/traces/{trace_hex}", timeout=30)
    assert response.status_code == 200, response.text
    return spans_by_id(response.json())
