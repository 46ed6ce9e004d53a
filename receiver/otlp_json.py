"""OTLP/JSON <-> protobuf, per the OTLP specification's JSON encoding.

OTLP/JSON is the proto3 JSON mapping with three differences: trace and span ids are hex
strings (not base64), enum values are integers, and unknown fields are ignored.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from typing import Any

from google.protobuf import json_format
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from storage.records import StoredSpan

_ID_FIELDS = ("traceId", "spanId", "parentSpanId")
_ID_FIELDS_SNAKE = {"trace_id": "traceId", "span_id": "spanId", "parent_span_id": "parentSpanId"}


class OtlpJsonError(ValueError):
    """The body is not an OTLP/JSON ExportTraceServiceRequest."""


def _hex_id_to_base64(value: Any, field: str) -> str:
    if not isinstance(value, str):
        raise ValueError(f"{field} must be a hex string, got {type(value).__name__}")
    try:
        raw = bytes.fromhex(value)
    except ValueError:
        raise ValueError(f"{field} {value[:64]!r} is not a hex string") from None
    return base64.b64encode(raw).decode("ascii")


def _convert_ids(obj: dict[str, Any]) -> None:
    """Turn the hex ids of a span or link (in place) into proto3 JSON's base64."""
    for snake, camel in _ID_FIELDS_SNAKE.items():
        if snake in obj and camel not in obj:
            obj[camel] = obj.pop(snake)
    for field in _ID_FIELDS:
        if field in obj and obj[field] not in ("", None):
            obj[field] = _hex_id_to_base64(obj[field], field)


def _as_list(value: Any, what: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise OtlpJsonError(f"{what} must be an array")
    return value


def request_from_json(document: Any) -> tuple[ExportTraceServiceRequest, list[str]]:
    """Parse an OTLP/JSON export request.

    Spans whose ids are not hex are left out and described in the returned list of errors
    (the caller counts them as rejected); anything else malformed raises OtlpJsonError.
    """
    if not isinstance(document, dict):
        raise OtlpJsonError("the body must be a JSON object with a resourceSpans array")
    rejected: list[str] = []
    for resource_spans in _as_list(
        document.get("resourceSpans", document.get("resource_spans")), "resourceSpans"
    ):
        if not isinstance(resource_spans, dict):
            raise OtlpJsonError("every resourceSpans entry must be an object")
        for scope_spans in _as_list(
            resource_spans.get("scopeSpans", resource_spans.get("scope_spans")), "scopeSpans"
        ):
            if not isinstance(scope_spans, dict):
                raise OtlpJsonError("every scopeSpans entry must be an object")
            kept = []
            for position, span in enumerate(_as_list(scope_spans.get("spans"), "spans")):
                if not isinstance(span, dict):
                    raise OtlpJsonError("every span must be an object")
                try:
                    _convert_ids(span)
                    for link in _as_list(span.get("links"), "links"):
                        if isinstance(link, dict):
                            _convert_ids(link)
                except ValueError as exc:
                    rejected.append(f"span {position} ({span.get('name', '?')!s:.64}): {exc}")
                    continue
                kept.append(span)
            scope_spans["spans"] = kept
    request = ExportTraceServiceRequest()
    try:
        json_format.ParseDict(document, request, ignore_unknown_fields=True)
    except (json_format.ParseError, TypeError, ValueError, binascii.Error) as exc:
        raise OtlpJsonError(f"not an OTLP/JSON ExportTraceServiceRequest: {exc}") from exc
    return request, rejected


def _hex_ids(obj: dict[str, Any]) -> None:
    for field in _ID_FIELDS:
        if field in obj:
            obj[field] = base64.b64decode(obj[field]).hex()


def span_to_json(span: Span) -> dict[str, Any]:
    """A span as OTLP/JSON: hex ids, integer enums, 64-bit integers as strings."""
    document = json_format.MessageToDict(span, use_integers_for_enums=True)
    _hex_ids(document)
    for link in document.get("links", ()):
        _hex_ids(link)
    return document


def request_to_json(request: ExportTraceServiceRequest) -> dict[str, Any]:
    """A whole export request (or response-shaped trace) as OTLP/JSON."""
    document = json_format.MessageToDict(request, use_integers_for_enums=True)
    for resource_spans in document.get("resourceSpans", ()):
        for scope_spans in resource_spans.get("scopeSpans", ()):
            for span in scope_spans.get("spans", ()):
                _hex_ids(span)
                for link in span.get("links", ()):
                    _hex_ids(link)
    return document


def assemble_request(stored: Sequence[StoredSpan]) -> ExportTraceServiceRequest:
    """Stored spans regrouped under their resources and scopes, as an export request."""
    request = ExportTraceServiceRequest()
    resource_groups: dict[bytes, Any] = {}
    scope_groups: dict[tuple[bytes, bytes], Any] = {}
    for item in stored:
        resource_spans = resource_groups.get(item.resource_hash)
        if resource_spans is None:
            resource_spans = request.resource_spans.add()
            resource_spans.resource.ParseFromString(item.resource)
            resource_spans.schema_url = item.resource_schema_url
            resource_groups[item.resource_hash] = resource_spans
        scope_key = (item.resource_hash, item.scope_hash)
        scope_spans = scope_groups.get(scope_key)
        if scope_spans is None:
            scope_spans = resource_spans.scope_spans.add()
            scope_spans.scope.ParseFromString(item.scope)
            scope_spans.schema_url = item.scope_schema_url
            scope_groups[scope_key] = scope_spans
        scope_spans.spans.add().ParseFromString(item.span)
    return request
