"""Log records as a person reads them: one OTLP ``LogRecord`` to plain, JSON-ready values.

Pure: no I/O. Strings that are not UTF-8 were stored as sent; they are read through
``mapping.wire.readable`` (U+FFFD). Bytes values become base64 text, as in OTLP/JSON.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord

from mapping.values import python_value

EVENT_NAME_ATTRIBUTE = "event.name"  # where events were named before LogRecord.event_name


def _json_ready(value: Any) -> Any:
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, list):
        return [_json_ready(item) for item in value]
    if isinstance(value, dict):
        return {key: _json_ready(item) for key, item in value.items()}
    if (isinstance(value, float) and value != value) or value in (float("inf"), float("-inf")):
        return str(value)
    return value


def event_name_of(record: LogRecord) -> str | None:
    """The record's event name: its ``event_name`` field, else an ``event.name`` attribute."""
    if record.event_name:
        return record.event_name
    for kv in record.attributes:
        if kv.key == EVENT_NAME_ATTRIBUTE and kv.value.WhichOneof("value") == "string_value":
            return kv.value.string_value or None
    return None


@dataclass(frozen=True, slots=True)
class LogView:
    time_ns: int
    observed_time_ns: int
    severity_number: int
    severity_text: str | None
    body: Any
    attributes: dict[str, Any]
    event_name: str | None
    trace_id: str | None
    span_id: str | None
    flags: int


def log_view(record: LogRecord) -> LogView:
    return LogView(
        time_ns=record.time_unix_nano,
        observed_time_ns=record.observed_time_unix_nano,
        severity_number=record.severity_number,
        severity_text=record.severity_text or None,
        body=_json_ready(python_value(record.body)) if record.HasField("body") else None,
        attributes={kv.key: _json_ready(python_value(kv.value)) for kv in record.attributes},
        event_name=event_name_of(record),
        trace_id=record.trace_id.hex() if record.trace_id.strip(b"\x00") else None,
        span_id=record.span_id.hex() if record.span_id.strip(b"\x00") else None,
        flags=record.flags,
    )


def view_order(view: LogView) -> tuple[int, int]:
    return view.time_ns or view.observed_time_ns, view.observed_time_ns
