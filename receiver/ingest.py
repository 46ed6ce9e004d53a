"""From an OTLP export request to a storage batch: validation, and the answer.

Shared by the gRPC and HTTP receivers, so both protocols accept and reject exactly alike.
The request may be a lenient one (``mapping.wire``: strings as bytes, not checked for UTF-8);
the raw resource, scope and span are stored as sent either way, and every value bound for a
text column goes through ``column_text``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTracePartialSuccess,
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from receiver.text import column_text
from storage.records import ResourceRecord, ScopeRecord, SpanBatch

_ZERO_TRACE_ID = bytes(16)
_ZERO_SPAN_ID = bytes(8)
_MAX_REPORTED_ERRORS = 10
_MAX_TIMESTAMP_NS = (1 << 63) - 1  # PostgreSQL bigint


@dataclass(slots=True)
class PreparedRequest:
    """The valid spans of a request, and why the others were rejected."""

    batch: SpanBatch
    rejected_spans: int = 0
    errors: list[str] = field(default_factory=list)

    def response(self) -> ExportTraceServiceResponse:
        """The OTLP answer once the batch is committed: partial success when spans were left out."""
        response = ExportTraceServiceResponse()
        if self.rejected_spans or self.errors:
            shown = self.errors[:_MAX_REPORTED_ERRORS]
            more = len(self.errors) - len(shown)
            message = "; ".join(shown) + (f"; and {more} more" if more > 0 else "")
            response.partial_success.CopyFrom(
                ExportTracePartialSuccess(rejected_spans=self.rejected_spans, error_message=message)
            )
        return response


def span_problem(span: Span | Any) -> str | None:
    """Why a span cannot be stored, or None when it is valid."""
    if len(span.trace_id) != 16:
        return f"trace_id must be 16 bytes, got {len(span.trace_id)}"
    if span.trace_id == _ZERO_TRACE_ID:
        return "trace_id is all zeros"
    if len(span.span_id) != 8:
        return f"span_id must be 8 bytes, got {len(span.span_id)}"
    if span.span_id == _ZERO_SPAN_ID:
        return "span_id is all zeros"
    if span.parent_span_id and len(span.parent_span_id) != 8:
        return f"parent_span_id must be empty or 8 bytes, got {len(span.parent_span_id)}"
    if span.start_time_unix_nano > _MAX_TIMESTAMP_NS or span.end_time_unix_nano > _MAX_TIMESTAMP_NS:
        return "start or end time is beyond the year 2262 (nanoseconds over 2^63-1)"
    return None


def _raw(value: str | bytes) -> bytes:
    return value if isinstance(value, bytes) else value.encode("utf-8", "surrogatepass")


def _content_hash(payload: bytes, schema_url: str | bytes) -> bytes:
    return hashlib.blake2b(payload + b"\x00" + _raw(schema_url), digest_size=16).digest()


def _service_name(attributes: Sequence[Any]) -> str | None:
    for attribute in attributes:
        if attribute.key in ("service.name", b"service.name"):
            value = attribute.value
            if value.WhichOneof("value") == "string_value":
                return column_text(value.string_value)
    return None


def _span_label(span: Any) -> str:
    return repr(column_text(span.name)[:64])


def prepare_request(
    request: ExportTraceServiceRequest | Any, earlier_errors: Sequence[str] = ()
) -> PreparedRequest:
    """Validate every span and build the batch of the valid ones.

    ``earlier_errors`` are spans already rejected while decoding (e.g. OTLP/JSON ids that are
    not hex); they are counted and reported with the rest.
    """
    batch = SpanBatch()
    prepared = PreparedRequest(batch=batch, rejected_spans=len(earlier_errors))
    prepared.errors.extend(earlier_errors)
    for resource_spans in request.resource_spans:
        resource = resource_spans.resource
        resource_bytes = resource.SerializeToString(deterministic=True)
        resource_hash = _content_hash(resource_bytes, resource_spans.schema_url)
        if resource_hash not in batch.resources:
            batch.resources[resource_hash] = ResourceRecord(
                resource=resource_bytes,
                schema_url=column_text(resource_spans.schema_url),
                service_name=_service_name(resource.attributes),
            )
        for scope_spans in resource_spans.scope_spans:
            scope = scope_spans.scope
            scope_bytes = scope.SerializeToString(deterministic=True)
            scope_hash = _content_hash(scope_bytes, scope_spans.schema_url)
            if scope_hash not in batch.scopes:
                batch.scopes[scope_hash] = ScopeRecord(
                    scope=scope_bytes, schema_url=column_text(scope_spans.schema_url)
                )
            for span in scope_spans.spans:
                problem = span_problem(span)
                if problem is not None:
                    prepared.rejected_spans += 1
                    prepared.errors.append(f"span {_span_label(span)}: {problem}")
                    continue
                batch.trace_ids.append(span.trace_id)
                batch.span_ids.append(span.span_id)
                batch.parent_span_ids.append(span.parent_span_id or None)
                batch.names.append(column_text(span.name))
                batch.start_ns.append(span.start_time_unix_nano)
                batch.end_ns.append(span.end_time_unix_nano)
                batch.resource_hashes.append(resource_hash)
                batch.scope_hashes.append(scope_hash)
                batch.spans.append(span.SerializeToString())
    return prepared
