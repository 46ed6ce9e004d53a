"""Building OTLP logs requests and reading stored log records back, for the logs tests."""

from __future__ import annotations

import gzip
from typing import Any

import httpx
import psycopg
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord

from tests.otlp_helpers import PROTOBUF, any_value, attr


def make_record(
    trace_id: bytes = b"",
    span_id: bytes = b"",
    *,
    event_name: str = "",
    body: Any = None,
    attributes: dict[str, Any] | None = None,
    time_ns: int = 1_700_000_000_000_000_000,
    severity: int = 9,
) -> LogRecord:
    record = LogRecord(
        trace_id=trace_id,
        span_id=span_id,
        time_unix_nano=time_ns,
        observed_time_unix_nano=time_ns,
        severity_number=severity,  # type: ignore[arg-type]
        severity_text="INFO",
        event_name=event_name,
        attributes=[attr(k, v) for k, v in (attributes or {}).items()],
    )
    if body is not None:
        record.body.CopyFrom(any_value(body))
    return record


def logs_request(
    records: list[LogRecord], service: str = "logs-test", scope: str = "tests.logs"
) -> ExportLogsServiceRequest:
    request = ExportLogsServiceRequest()
    resource_logs = request.resource_logs.add()
    resource_logs.resource.attributes.append(attr("service.name", service))
    scope_logs = resource_logs.scope_logs.add()
    scope_logs.scope.name = scope
    scope_logs.log_records.extend(records)
    return request


def post_logs(
    base_url: str,
    request: ExportLogsServiceRequest,
    *,
    compress: bool = False,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    body = request.SerializeToString()
    sent = {"Content-Type": PROTOBUF, **(headers or {})}
    if compress:
        body = gzip.compress(body)
        sent["Content-Encoding"] = "gzip"
    return httpx.post(base_url + "/v1/logs", content=body, headers=sent, timeout=30)


def logs_response(response: httpx.Response) -> ExportLogsServiceResponse:
    parsed = ExportLogsServiceResponse()
    parsed.ParseFromString(response.content)
    return parsed


def stored_records(database_url: str, trace_id: bytes) -> list[LogRecord]:
    """The records stored for a trace, each once (as the readers see them)."""
    from storage.log_reader import stored_log_records

    with psycopg.connect(database_url) as conn:
        rows = conn.execute(
            "SELECT block_id, time_ns, span_ids, records, ''::bytea, ''::bytea "
            "FROM log_records WHERE trace_id = %s",
            (trace_id,),
        ).fetchall()
    return [LogRecord.FromString(stored.record) for stored in stored_log_records(rows)]


def stored_block_count(database_url: str, trace_id: bytes) -> int:
    with psycopg.connect(database_url) as conn:
        row = conn.execute(
            "SELECT count(*) FROM log_records WHERE trace_id = %s", (trace_id,)
        ).fetchone()
    return int(row[0]) if row else 0
