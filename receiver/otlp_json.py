"""OTLP/JSON <-> protobuf, per the OTLP specification's JSON encoding.

OTLP/JSON is the proto3 JSON mapping with three differences: trace and span ids are hex
strings (not base64), enum values are integers (names are accepted too), and unknown fields
are ignored. Decoding follows the mapping's rules: field names in lowerCamelCase or as in the
.proto, 64-bit integers as numbers or decimal strings, bytes as base64 (standard or URL-safe,
padded or not), doubles as numbers or "NaN"/"Infinity"/"-Infinity", null as absent.

A span with a malformed field (an id that is not hex, a time that is not a number, a value of
the wrong type) is left out and described in the returned errors, which the caller counts as
rejected spans; a malformed resource, scope or envelope refuses the whole request with a
message naming the field.
"""

from __future__ import annotations

import base64
import binascii
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Final

import orjson
from google.protobuf import json_format
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import Message
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import InstrumentationScope
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from mapping.wire import readable
from storage.records import StoredSpan

_ID_FIELDS: Final = frozenset({"trace_id", "span_id", "parent_span_id"})
# Message levels below the request (resource spans, scope spans, span, key-value, value, ...):
# protobuf's parser refuses messages nested deeper than 100, so a decoded request must stay
# well within that to be read back.
MAX_DEPTH: Final = 64

_INT_RANGES: Final = {
    FieldDescriptor.TYPE_INT32: (-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_SINT32: (-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_SFIXED32: (-(2**31), 2**31 - 1),
    FieldDescriptor.TYPE_UINT32: (0, 2**32 - 1),
    FieldDescriptor.TYPE_FIXED32: (0, 2**32 - 1),
    FieldDescriptor.TYPE_INT64: (-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_SINT64: (-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_SFIXED64: (-(2**63), 2**63 - 1),
    FieldDescriptor.TYPE_UINT64: (0, 2**64 - 1),
    FieldDescriptor.TYPE_FIXED64: (0, 2**64 - 1),
}
_SPECIAL_DOUBLES: Final = {"NaN": math.nan, "Infinity": math.inf, "-Infinity": -math.inf}


class OtlpJsonError(ValueError):
    """The body is not an OTLP/JSON ExportTraceServiceRequest."""


class _FieldError(ValueError):
    """A field's value does not fit its type; the path to it is added on the way out."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message
        self.path: list[str] = []

    def within(self, part: str) -> _FieldError:
        self.path.append(part)
        return self

    def __str__(self) -> str:
        return ".".join(reversed(self.path)).replace(".[", "[") + ": " + self.message


def _describe(value: Any) -> str:
    shown = repr(value)
    return shown if len(shown) <= 40 else shown[:37] + "..."


def _integer(value: Any, field: FieldDescriptor) -> int:
    low, high = _INT_RANGES[field.type]
    if isinstance(value, bool):
        raise _FieldError(f"must be an integer, got {_describe(value)}")
    if isinstance(value, int):
        number = value
    elif isinstance(value, float) and value.is_integer():
        number = int(value)
    elif isinstance(value, str):
        try:
            number = int(value.strip(), 10)
        except ValueError:
            try:
                as_float = float(value)
            except ValueError:
                raise _FieldError(f"must be an integer, got {_describe(value)}") from None
            if not as_float.is_integer():
                raise _FieldError(f"must be an integer, got {_describe(value)}") from None
            number = int(as_float)
    else:
        raise _FieldError(f"must be an integer, got {_describe(value)}")
    if not low <= number <= high:
        raise _FieldError(f"{number} is out of range ({low} to {high})")
    return number


def _double(value: Any) -> float:
    if isinstance(value, bool):
        raise _FieldError(f"must be a number, got {_describe(value)}")
    if isinstance(value, int | float):
        return float(value)
    if isinstance(value, str):
        special = _SPECIAL_DOUBLES.get(value)
        if special is not None:
            return special
        try:
            return float(value)
        except ValueError:
            pass
    raise _FieldError(f"must be a number, got {_describe(value)}")


def _enum(value: Any, field: FieldDescriptor) -> int:
    if isinstance(value, str):
        named = field.enum_type.values_by_name.get(value)
        if named is None:
            raise _FieldError(f"{_describe(value)} is not a {field.enum_type.name} name")
        return int(named.number)
    return _integer(value, _INT32_FIELD)


def _hex_id(value: Any) -> bytes:
    if not isinstance(value, str):
        raise _FieldError(f"must be a hex string, got {_describe(value)}")
    try:
        return bytes.fromhex(value)
    except ValueError:
        raise _FieldError(f"{value[:64]!r} is not a hex string") from None


def _base64(value: Any) -> bytes:
    if not isinstance(value, str):
        raise _FieldError(f"must be a base64 string, got {_describe(value)}")
    text = value.replace("-", "+").replace("_", "/")
    text += "=" * (-len(text) % 4)
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise _FieldError(f"{value[:64]!r} is not base64") from None


def _string(value: Any) -> str:
    if not isinstance(value, str):
        raise _FieldError(f"must be a string, got {_describe(value)}")
    return value


def _bool(value: Any) -> bool:
    if not isinstance(value, bool):
        raise _FieldError(f"must be true or false, got {_describe(value)}")
    return value


ScalarReader = Callable[[Any], Any]


@dataclass(frozen=True, slots=True)
class _Field:
    name: str
    repeated: bool
    message: Descriptor | None
    read: ScalarReader | None


def _scalar_reader(field: FieldDescriptor, is_id: bool) -> ScalarReader:
    kind = field.type
    if kind == FieldDescriptor.TYPE_STRING:
        return _string
    if kind == FieldDescriptor.TYPE_BYTES:
        return _hex_id if is_id else _base64
    if kind == FieldDescriptor.TYPE_BOOL:
        return _bool
    if kind in (FieldDescriptor.TYPE_DOUBLE, FieldDescriptor.TYPE_FLOAT):
        return _double
    if kind == FieldDescriptor.TYPE_ENUM:
        return lambda value: _enum(value, field)
    if kind in _INT_RANGES:
        return lambda value: _integer(value, field)
    raise TypeError(f"unsupported field type {kind} of {field.full_name}")


_SPECS: dict[Descriptor, dict[str, _Field]] = {}


def _spec(descriptor: Descriptor) -> dict[str, _Field]:
    """The fields of a message by both of their JSON names."""
    spec = _SPECS.get(descriptor)
    if spec is not None:
        return spec
    spec = {}
    # Ids are hex in OTLP/JSON wherever a span, link or log record carries them.
    ids_in_hex = descriptor.name in ("Span", "Link", "LogRecord")
    for field in descriptor.fields:
        if field.message_type is not None:
            entry = _Field(field.name, field.is_repeated, field.message_type, None)
        else:
            is_id = ids_in_hex and field.name in _ID_FIELDS
            entry = _Field(field.name, field.is_repeated, None, _scalar_reader(field, is_id))
        spec[field.name] = entry
        spec[field.json_name] = entry
    _SPECS[descriptor] = spec
    return spec


def _fill(message: Message, document: Any, depth: int) -> None:
    """Set ``message``'s fields from a JSON object; raises _FieldError naming the field."""
    if type(document) is not dict:
        raise _FieldError(f"must be an object, got {_describe(document)}")
    if depth > MAX_DEPTH:
        raise _FieldError(f"nested more than {MAX_DEPTH} levels deep")
    spec = _spec(message.DESCRIPTOR)
    for key, value in document.items():
        field = spec.get(key)
        if field is None or value is None:
            continue  # unknown fields are ignored; null is the default
        try:
            if field.message is not None:
                if field.repeated:
                    if type(value) is not list:
                        raise _FieldError("must be an array")
                    items = getattr(message, field.name)
                    for index, item in enumerate(value):
                        try:
                            _fill(items.add(), item, depth + 1)
                        except _FieldError as exc:
                            raise exc.within(f"[{index}]") from None
                else:
                    child = getattr(message, field.name)
                    child.SetInParent()
                    _fill(child, value, depth + 1)
            elif field.repeated:
                if type(value) is not list:
                    raise _FieldError("must be an array")
                read = field.read
                assert read is not None
                getattr(message, field.name).extend([read(item) for item in value])
            else:
                setattr(message, field.name, field.read(value))  # type: ignore[misc]
        except _FieldError as exc:
            raise exc.within(key) from None


def _array(document: dict[str, Any], camel: str, snake: str, path: str) -> list[Any]:
    value = document.get(camel, document.get(snake))
    if value is None:
        return []
    if not isinstance(value, list):
        raise OtlpJsonError(f"{path}{camel} must be an array")
    return value


def _span_label(span: Any, index: int) -> str:
    name = span.get("name") if isinstance(span, dict) else None
    return f"span {index} ({name[:64]!r})" if isinstance(name, str) else f"span {index}"


def request_from_json(document: Any) -> tuple[ExportTraceServiceRequest, list[str]]:
    """An OTLP/JSON export request already parsed from JSON, and the spans left out.

    Raises OtlpJsonError when the request as a whole is malformed.
    """
    if not isinstance(document, dict):
        raise OtlpJsonError("the body must be a JSON object with a resourceSpans array")
    request = ExportTraceServiceRequest()
    rejected: list[str] = []
    try:
        for r, resource_doc in enumerate(_array(document, "resourceSpans", "resource_spans", "")):
            resource_path = f"resourceSpans[{r}]"
            if not isinstance(resource_doc, dict):
                raise OtlpJsonError(f"{resource_path} must be an object")
            resource_spans = request.resource_spans.add()
            envelope = {k: v for k, v in resource_doc.items() if k not in _NESTED_RESOURCE}
            try:
                _fill(resource_spans, envelope, 1)
            except _FieldError as exc:
                raise exc.within(resource_path) from None
            for s, scope_doc in enumerate(
                _array(resource_doc, "scopeSpans", "scope_spans", resource_path + ".")
            ):
                scope_path = f"{resource_path}.scopeSpans[{s}]"
                if not isinstance(scope_doc, dict):
                    raise OtlpJsonError(f"{scope_path} must be an object")
                scope_spans = resource_spans.scope_spans.add()
                envelope = {k: v for k, v in scope_doc.items() if k != "spans"}
                try:
                    _fill(scope_spans, envelope, 2)
                except _FieldError as exc:
                    raise exc.within(scope_path) from None
                for index, span_doc in enumerate(
                    _array(scope_doc, "spans", "spans", scope_path + ".")
                ):
                    span = scope_spans.spans.add()
                    try:
                        _fill(span, span_doc, 3)
                    except (_FieldError, UnicodeEncodeError, RecursionError) as exc:
                        del scope_spans.spans[-1]
                        rejected.append(f"{_span_label(span_doc, index)}: {_reason(exc)}")
    except (_FieldError, UnicodeEncodeError, RecursionError) as exc:
        raise OtlpJsonError(f"not an OTLP/JSON ExportTraceServiceRequest: {_reason(exc)}") from None
    return request, rejected


_NESTED_RESOURCE: Final = frozenset({"scopeSpans", "scope_spans"})
_INT32_FIELD: FieldDescriptor = Span.DESCRIPTOR.fields_by_name["dropped_attributes_count"]


def _reason(exc: Exception) -> str:
    if isinstance(exc, RecursionError):
        return f"nested more than {MAX_DEPTH} levels deep"
    if isinstance(exc, UnicodeEncodeError):
        return "a string is not valid Unicode"
    return str(exc)


def request_from_json_bytes(body: bytes) -> tuple[ExportTraceServiceRequest, list[str]]:
    """Decode an OTLP/JSON body. Raises OtlpJsonError."""
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise OtlpJsonError(f"body is not valid JSON: {exc}") from None
    return request_from_json(document)


def serialized_request_from_json(body: bytes) -> tuple[bytes, list[str]]:
    """``request_from_json_bytes`` as protobuf bytes: what a decoding process sends back."""
    request, rejected = request_from_json_bytes(body)
    return request.SerializeToString(), rejected


def _hex_ids(obj: dict[str, Any]) -> None:
    for field in ("traceId", "spanId", "parentSpanId"):
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
    """Stored spans regrouped under their resources and scopes, as an export request.

    Strings that were stored as sent but are not UTF-8 are shown with U+FFFD.
    """
    request = ExportTraceServiceRequest()
    resource_groups: dict[bytes, Any] = {}
    scope_groups: dict[tuple[bytes, bytes], Any] = {}
    for item in stored:
        resource_spans = resource_groups.get(item.resource_hash)
        if resource_spans is None:
            resource_spans = request.resource_spans.add()
            resource_spans.resource.CopyFrom(readable(Resource, item.resource))
            resource_spans.schema_url = item.resource_schema_url
            resource_groups[item.resource_hash] = resource_spans
        scope_key = (item.resource_hash, item.scope_hash)
        scope_spans = scope_groups.get(scope_key)
        if scope_spans is None:
            scope_spans = resource_spans.scope_spans.add()
            scope_spans.scope.CopyFrom(readable(InstrumentationScope, item.scope))
            scope_spans.schema_url = item.scope_schema_url
            scope_groups[scope_key] = scope_spans
        scope_spans.spans.append(readable(Span, item.span))
    return request


def render_trace(stored: Sequence[StoredSpan]) -> bytes:
    """Stored spans as an OTLP/JSON document, encoded: for ``GET /v1/traces/{id}``."""
    return orjson.dumps(request_to_json(assemble_request(stored)))
