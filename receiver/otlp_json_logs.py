"""OTLP/JSON logs export requests, decoded by the rules of ``receiver.otlp_json``.

A log record with a malformed field is left out and described in the returned errors; a
malformed resource, scope or envelope refuses the whole request with a message naming the
field.
"""

from __future__ import annotations

from typing import Any, Final

import orjson
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest

from receiver.otlp_json import OtlpJsonError, _array, _FieldError, _fill, _reason

_NESTED_RESOURCE: Final = frozenset({"scopeLogs", "scope_logs"})
_NESTED_SCOPE: Final = frozenset({"logRecords", "log_records"})


def logs_request_from_json(document: Any) -> tuple[ExportLogsServiceRequest, list[str]]:
    """An OTLP/JSON logs export request already parsed from JSON, and the records left out.

    Raises OtlpJsonError when the request as a whole is malformed.
    """
    if not isinstance(document, dict):
        raise OtlpJsonError("the body must be a JSON object with a resourceLogs array")
    request = ExportLogsServiceRequest()
    rejected: list[str] = []
    try:
        for r, resource_doc in enumerate(_array(document, "resourceLogs", "resource_logs", "")):
            resource_path = f"resourceLogs[{r}]"
            if not isinstance(resource_doc, dict):
                raise OtlpJsonError(f"{resource_path} must be an object")
            resource_logs = request.resource_logs.add()
            envelope = {k: v for k, v in resource_doc.items() if k not in _NESTED_RESOURCE}
            try:
                _fill(resource_logs, envelope, 1)
            except _FieldError as exc:
                raise exc.within(resource_path) from None
            for s, scope_doc in enumerate(
                _array(resource_doc, "scopeLogs", "scope_logs", resource_path + ".")
            ):
                scope_path = f"{resource_path}.scopeLogs[{s}]"
                if not isinstance(scope_doc, dict):
                    raise OtlpJsonError(f"{scope_path} must be an object")
                scope_logs = resource_logs.scope_logs.add()
                envelope = {k: v for k, v in scope_doc.items() if k not in _NESTED_SCOPE}
                try:
                    _fill(scope_logs, envelope, 2)
                except _FieldError as exc:
                    raise exc.within(scope_path) from None
                for index, record_doc in enumerate(
                    _array(scope_doc, "logRecords", "log_records", scope_path + ".")
                ):
                    record = scope_logs.log_records.add()
                    try:
                        _fill(record, record_doc, 3)
                    except (_FieldError, UnicodeEncodeError, RecursionError) as exc:
                        del scope_logs.log_records[-1]
                        rejected.append(f"{scope_path}.logRecords[{index}]: {_reason(exc)}")
    except (_FieldError, UnicodeEncodeError, RecursionError) as exc:
        raise OtlpJsonError(f"not an OTLP/JSON ExportLogsServiceRequest: {_reason(exc)}") from None
    return request, rejected


def logs_request_from_json_bytes(body: bytes) -> tuple[ExportLogsServiceRequest, list[str]]:
    """Decode an OTLP/JSON logs body. Raises OtlpJsonError."""
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise OtlpJsonError(f"body is not valid JSON: {exc}") from None
    return logs_request_from_json(document)


def serialized_logs_request_from_json(body: bytes) -> tuple[bytes, list[str]]:
    """``logs_request_from_json_bytes`` as protobuf bytes: what a decoding process sends back."""
    request, rejected = logs_request_from_json_bytes(body)
    return request.SerializeToString(), rejected
