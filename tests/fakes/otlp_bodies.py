"""Decoding captured OTLP/HTTP bodies (protobuf or JSON, gzip or not) and rendering them as
OTLP/JSON: hex trace and span ids, enums as integers, 64-bit integers as strings."""

from __future__ import annotations

import base64
import gzip
import json
import zlib
from pathlib import Path
from typing import Any

from google.protobuf import json_format
from google.protobuf.message import Message
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

SIGNALS: dict[str, type[Message]] = {
    "traces": ExportTraceServiceRequest,
    "logs": ExportLogsServiceRequest,
    "metrics": ExportMetricsServiceRequest,
}
_ID_FIELDS = ("traceId", "spanId", "parentSpanId")


def decompress(body: bytes, content_encoding: str | None) -> bytes:
    encoding = (content_encoding or "").strip().lower()
    if encoding in ("", "identity"):
        return body
    if encoding == "gzip":
        return gzip.decompress(body)
    if encoding == "deflate":
        return zlib.decompress(body)
    raise ValueError(f"unsupported Content-Encoding {content_encoding!r}")


def is_json(content_type: str | None) -> bool:
    return (content_type or "").split(";")[0].strip().lower() == "application/json"


def _walk_ids(document: Any, convert: Any) -> None:
    """Apply ``convert`` to every trace/span id field anywhere in an OTLP/JSON document."""
    if isinstance(document, dict):
        for key, value in document.items():
            if key in _ID_FIELDS and isinstance(value, str) and value:
                document[key] = convert(value)
            else:
                _walk_ids(value, convert)
    elif isinstance(document, list):
        for item in document:
            _walk_ids(item, convert)


def decode(signal: str, body: bytes, content_type: str | None, encoding: str | None) -> Message:
    """The export request a body carries."""
    message = SIGNALS[signal]()
    plain = decompress(body, encoding)
    if is_json(content_type):
        document = json.loads(plain)
        _walk_ids(document, lambda h: base64.b64encode(bytes.fromhex(h)).decode())
        json_format.ParseDict(document, message, ignore_unknown_fields=True)
    else:
        message.ParseFromString(plain)
    return message


def to_otlp_json(message: Message) -> dict[str, Any]:
    document = json_format.MessageToDict(message, use_integers_for_enums=True)
    _walk_ids(document, lambda b: base64.b64decode(b).hex())
    return document


def trace_request(body_path: Path) -> ExportTraceServiceRequest:
    """A captured ``NNNN.body.bin`` decoded with the Content-Type and Content-Encoding its
    ``NNNN.meta.json`` records (protobuf when there is no meta file)."""
    meta_path = body_path.with_name(body_path.name.replace(".body.bin", ".meta.json"))
    meta = json.loads(meta_path.read_text()) if meta_path.exists() else {}
    message = decode(
        "traces", body_path.read_bytes(), meta.get("content_type"), meta.get("content_encoding")
    )
    assert isinstance(message, ExportTraceServiceRequest)
    return message


def logs_request(body_path: Path) -> ExportLogsServiceRequest:
    """A captured ``NNNN.logs.bin`` decoded as its ``NNNN.logs.meta.json`` says."""
    meta_path = body_path.with_name(body_path.name.replace(".logs.bin", ".logs.meta.json"))
    meta = json.loads(meta_path.read_text()) if meta_path.exists() else {}
    message = decode(
        "logs", body_path.read_bytes(), meta.get("content_type"), meta.get("content_encoding")
    )
    assert isinstance(message, ExportLogsServiceRequest)
    return message
