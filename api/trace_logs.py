"""GET /v1/traces/{trace_id}/logs: the log records of a trace (or of one span), as stored."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Path, Query, Request
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord
from pydantic import BaseModel, Field

from api.auth import ProjectIdDep
from api.traces import TRACE_ID_PATTERN
from mapping.log_records import LogView, log_view, view_order
from mapping.wire import readable
from receiver.service import IngestService
from storage.records import StoredLogRecord
from storage.store import Store

router = APIRouter(tags=["traces"])

MAX_LOGS = 1000


class LogRecordOut(BaseModel):
    time_ns: int = Field(description="When the event happened (0: not given)")
    observed_time_ns: int
    severity_number: int = Field(description="OTLP severity number, 0 when unspecified")
    severity_text: str | None
    body: Any = Field(description="The body as a JSON value (bytes as base64)")
    attributes: dict[str, Any]
    event_name: str | None
    span_id: str | None = Field(description="The span it was written in (hex), if any")
    flags: int


class TraceLogs(BaseModel):
    trace_id: str
    logs: list[LogRecordOut]
    truncated: bool = Field(description=f"More than {MAX_LOGS} records: the first are shown")


def _views(stored: list[StoredLogRecord]) -> list[LogView]:
    views = [log_view(readable(LogRecord, item.record)) for item in stored]
    return sorted(views, key=view_order)


@router.get(
    "/v1/traces/{trace_id}/logs",
    summary="The log records of a trace, or of one of its spans, in time order",
    response_model=TraceLogs,
)
async def get_trace_logs(
    request: Request,
    project_id: ProjectIdDep,
    trace_id: str = Path(description="32 hex characters", pattern=TRACE_ID_PATTERN),
    span_id: str | None = Query(
        None,
        description="Only the records of this span (16 hex characters)",
        pattern="^[0-9a-fA-F]{16}$",
    ),
) -> TraceLogs:
    store: Store = request.app.state.store
    stored = await store.log_reader.trace_logs(
        project_id, bytes.fromhex(trace_id), bytes.fromhex(span_id) if span_id else None
    )
    ingest: IngestService = request.app.state.ingest
    views = await ingest.decoder.run(_views, stored)
    return TraceLogs(
        trace_id=trace_id.lower(),
        logs=[
            LogRecordOut(
                time_ns=v.time_ns,
                observed_time_ns=v.observed_time_ns,
                severity_number=v.severity_number,
                severity_text=v.severity_text,
                body=v.body,
                attributes=v.attributes,
                event_name=v.event_name,
                span_id=v.span_id,
                flags=v.flags,
            )
            for v in views[:MAX_LOGS]
        ],
        truncated=len(views) > MAX_LOGS,
    )
