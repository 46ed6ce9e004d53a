"""OTLP protobuf that the generated classes refuse: string fields that are not UTF-8.

proto3 says a ``string`` holds UTF-8, and protobuf's Python parser refuses a whole message
when one string in it is not; but senders (a Collector among them) do not check, and one bad
attribute would then lose every span of the request. So a request the strict parser refuses
is parsed again with *lenient* twins of the OTLP messages, in which every ``string`` field is
``bytes`` (the same wire type), and its spans are stored exactly as sent. What reads them
back for display or derivation goes through :func:`readable_span` and friends, which replace
what is not UTF-8 with U+FFFD.
"""

from __future__ import annotations

import functools
from typing import Any, TypeVar

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.message import DecodeError, Message
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import InstrumentationScope
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import Span

_LENIENT_PREFIX = "agentguide.lenient."
_STRICT_ROOTS = (
    ExportTraceServiceRequest,
    Span,
    Resource,
    InstrumentationScope,
    ExportLogsServiceRequest,
    LogRecord,
)

M = TypeVar("M", bound=Message)


def _lenient_file(proto: descriptor_pb2.FileDescriptorProto) -> descriptor_pb2.FileDescriptorProto:
    """A copy of an OTLP .proto file under our own package, with strings turned into bytes."""
    lenient = descriptor_pb2.FileDescriptorProto()
    lenient.CopyFrom(proto)
    lenient.name = "agentguide/lenient/" + proto.name
    lenient.package = _LENIENT_PREFIX + proto.package
    lenient.ClearField("options")
    del lenient.dependency[:]
    lenient.dependency.extend("agentguide/lenient/" + name for name in proto.dependency)

    def fix(message: descriptor_pb2.DescriptorProto) -> None:
        message.ClearField("options")
        for field in message.field:
            if field.type == FieldDescriptor.TYPE_STRING:
                field.type = FieldDescriptor.TYPE_BYTES
            if field.type_name.startswith(".opentelemetry."):
                field.type_name = "." + _LENIENT_PREFIX + field.type_name[1:]
            field.ClearField("options")
        for nested in message.nested_type:
            fix(nested)

    for message in lenient.message_type:
        fix(message)
    del lenient.service[:]
    return lenient


@functools.cache
def _lenient_pool() -> descriptor_pool.DescriptorPool:
    files: dict[str, descriptor_pb2.FileDescriptorProto] = {}

    def collect(file_descriptor: Any) -> None:
        if file_descriptor.name in files:
            return
        for dependency in file_descriptor.dependencies:
            collect(dependency)
        proto = descriptor_pb2.FileDescriptorProto()
        file_descriptor.CopyToProto(proto)
        files[file_descriptor.name] = proto

    for root in _STRICT_ROOTS:
        collect(root.DESCRIPTOR.file)
    pool = descriptor_pool.DescriptorPool()
    for proto in files.values():  # dependencies first, as collected
        pool.Add(_lenient_file(proto))
    return pool


@functools.cache
def lenient_class(strict: type[M]) -> type[Message]:
    """The lenient twin of an OTLP message class."""
    name = _LENIENT_PREFIX + strict.DESCRIPTOR.full_name
    descriptor = _lenient_pool().FindMessageTypeByName(name)
    return message_factory.GetMessageClass(descriptor)  # type: ignore[no-any-return]


def parse_lenient(strict: type[M], payload: bytes) -> tuple[Message, bool]:
    """``payload`` parsed as ``strict``, or, when only its strings are not UTF-8, as the
    lenient twin; the flag says which. Raises DecodeError (the strict parser's) when the
    payload is not such a message at all."""
    message = strict()
    try:
        message.ParseFromString(payload)
        return message, False
    except DecodeError as strict_error:
        lenient = lenient_class(strict)()  # type: ignore[arg-type]
        try:
            lenient.ParseFromString(payload)
        except DecodeError:
            raise strict_error from None
        return lenient, True


def readable_text(value: str | bytes) -> str:
    """A string field's value as text: bytes that are not UTF-8 become U+FFFD."""
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


def _copy_readable(source: Message, target: Message) -> None:
    target_fields = target.DESCRIPTOR.fields_by_name
    for field, value in source.ListFields():
        target_field = target_fields[field.name]
        repeated = field.is_repeated
        if field.message_type is not None:
            if repeated:
                items = getattr(target, field.name)
                for item in value:
                    _copy_readable(item, items.add())
            else:
                child = getattr(target, field.name)
                child.SetInParent()
                _copy_readable(value, child)
        elif target_field.type == FieldDescriptor.TYPE_STRING:
            if repeated:
                getattr(target, field.name).extend(readable_text(v) for v in value)
            else:
                setattr(target, field.name, readable_text(value))
        elif repeated:
            getattr(target, field.name).extend(value)
        else:
            setattr(target, field.name, value)


def readable(strict: type[M], payload: bytes) -> M:
    """``payload`` as a ``strict`` message, with every string that is not UTF-8 made valid
    (U+FFFD): for showing or mapping a stored span, resource or scope. Raises DecodeError
    when the payload is not such a message at all."""
    message, lenient = parse_lenient(strict, payload)
    if not lenient:
        return message  # type: ignore[return-value]
    result = strict()
    _copy_readable(message, result)
    return result


def readable_span(payload: bytes) -> Span:
    return readable(Span, payload)
