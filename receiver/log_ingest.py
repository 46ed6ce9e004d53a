"""From an OTLP logs export request to a storage batch: validation, and the answer.

Shared by the gRPC and HTTP receivers, like ``receiver.ingest`` for spans. A record's trace
and span ids are optional (empty, or all zeros, means none); when present they must be 16 and
8 bytes. The record, its resource and its scope are stored as sent.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsPartialSuccess,
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)

from receiver.ingest import _content_hash, _service_name
from receiver.text import column_text
from storage.records import LogBatch, ResourceRecord, ScopeRecord

NO_TRACE_ID = bytes(16)
NO_SPAN_ID = bytes(8)
_MAX_REPORTED_ERRORS = 10
_MAX_TIMESTAMP_NS = (1 << 63) - 1  # PostgreSQL bigint


@dataclass(slots=True)
class PreparedLogs:
    """The valid records of a request, and why the others were rejected."""

    batch: LogBatch
    rejected: int = 0
    errors: list[str] = field(default_factory=list)

    def response(self) -> ExportLogsServiceResponse:
        """The OTLP answer once the batch is committed: partial success when records were
        left out."""
        response = ExportLogsServiceResponse()
        if self.rejected or self.errors:
            shown = self.errors[:_MAX_REPORTED_ERRORS]
            more = len(self.errors) - len(shown)
            message = "; ".join(shown) + (f"; and {more} more" if more > 0 else "")
            response.partial_success.CopyFrom(
                ExportLogsPartialSuccess(rejected_log_records=self.rejected, error_message=message)
            )
        return response


def count_log_records(request: ExportLogsServiceRequest | Any) -> int:
    return sum(
        len(scope_logs.log_records)
        for resource_logs in request.resource_logs
        for scope_logs in resource_logs.scope_logs
    )


def record_problem(record: Any) -> str | None:
    """Why a log record cannot be stored, or None when it is valid."""
    if record.trace_id and len(record.trace_id) != 16:
        return f"trace_id must be empty or 16 bytes, got {len(record.trace_id)}"
    if record.span_id and len(record.span_id) != 8:
        return f"span_id must be empty or 8 bytes, got {len(record.span_id)}"
    if (
        record.span_id
        and record.span_id != NO_SPAN_ID
        and (not record.trace_id or record.trace_id == NO_TRACE_ID)
    ):
        return "span_id is set but trace_id is not"
    if record.time_unix_nano > _MAX_TIMESTAMP_NS or record.observed_time_unix_nano > (
        _MAX_TIMESTAMP_NS
    ):
        return "time or observed time is beyond the year 2262 (nanoseconds over 2^63-1)"
    return None


def prepare_logs(
    request: ExportLogsServiceRequest | Any, earlier_errors: Sequence[str] = ()
) -> PreparedLogs:
    """Validate every record and build the batch of the valid ones.

    ``earlier_errors`` are records already rejected while decoding (OTLP/JSON).
    """
    batch = LogBatch()
    prepared = PreparedLogs(batch=batch, rejected=len(earlier_errors))
    prepared.errors.extend(earlier_errors)
    for r, resource_logs in enumerate(request.resource_logs):
        resource = resource_logs.resource
        resource_bytes = resource.SerializeToString(deterministic=True)
        resource_hash = _content_hash(resource_bytes, resource_logs.schema_url)
        if resource_hash not in batch.resources:
            batch.resources[resource_hash] = ResourceRecord(
                resource=resource_bytes,
                schema_url=column_text(resource_logs.schema_url),
                service_name=_service_name(resource.attributes),
            )
        for s, scope_logs in enumerate(resource_logs.scope_logs):
            scope = scope_logs.scope
            scope_bytes = scope.SerializeToString(deterministic=True)
            scope_hash = _content_hash(scope_bytes, scope_logs.schema_url)
            if scope_hash not in batch.scopes:
                batch.scopes[scope_hash] = ScopeRecord(
                    scope=scope_bytes, schema_url=column_text(scope_logs.schema_url)
                )
            for n, record in enumerate(scope_logs.log_records):
                problem = record_problem(record)
                if problem is not None:
                    prepared.rejected += 1
                    prepared.errors.append(
                        f"resourceLogs[{r}].scopeLogs[{s}].logRecords[{n}]: {problem}"
                    )
                    continue
                batch.trace_ids.append(record.trace_id or NO_TRACE_ID)
                batch.span_ids.append(record.span_id or NO_SPAN_ID)
                # A record with neither time is kept (and retained) as of its arrival.
                batch.time_ns.append(
                    record.time_unix_nano or record.observed_time_unix_nano or time.time_ns()
                )
                batch.resource_hashes.append(resource_hash)
                batch.scope_hashes.append(scope_hash)
                batch.records.append(record.SerializeToString())
    return prepared
