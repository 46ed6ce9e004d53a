"""Plain records that cross the storage boundary."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(slots=True)
class SpanBatch:
    """The spans of one export request, column by column, ready for a bulk insert."""

    trace_ids: list[bytes] = field(default_factory=list)
    span_ids: list[bytes] = field(default_factory=list)
    parent_span_ids: list[bytes | None] = field(default_factory=list)
    names: list[str] = field(default_factory=list)  # not stored: the raw span has them
    start_ns: list[int] = field(default_factory=list)
    end_ns: list[int] = field(default_factory=list)
    resource_hashes: list[bytes] = field(default_factory=list)
    scope_hashes: list[bytes] = field(default_factory=list)
    spans: list[bytes] = field(default_factory=list)
    resources: dict[bytes, ResourceRecord] = field(default_factory=dict)
    scopes: dict[bytes, ScopeRecord] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.span_ids)


@dataclass(slots=True)
class ResourceRecord:
    resource: bytes  # serialized opentelemetry.proto.resource.v1.Resource
    schema_url: str
    service_name: str | None


@dataclass(slots=True)
class ScopeRecord:
    scope: bytes  # serialized opentelemetry.proto.common.v1.InstrumentationScope
    schema_url: str


@dataclass(slots=True)
class StoredSpan:
    """One stored span (its protobuf as received) with the resource and scope it arrived under."""

    span: bytes
    resource_hash: bytes  # the resource's content key (8 bytes)
    resource: bytes
    resource_schema_url: str
    scope_hash: bytes
    scope: bytes
    scope_schema_url: str
    span_id: bytes = b""
    start_ns: int = 0


@dataclass(slots=True)
class LogBatch:
    """The log records of one export request, column by column, ready for a bulk insert.

    ``trace_ids`` are 16 zero bytes and ``span_ids`` 8 zero bytes for a record without them.
    """

    trace_ids: list[bytes] = field(default_factory=list)
    span_ids: list[bytes] = field(default_factory=list)
    time_ns: list[int] = field(default_factory=list)  # its time, else its observed time
    resource_hashes: list[bytes] = field(default_factory=list)
    scope_hashes: list[bytes] = field(default_factory=list)
    records: list[bytes] = field(default_factory=list)  # serialized LogRecord, as received
    resources: dict[bytes, ResourceRecord] = field(default_factory=dict)
    scopes: dict[bytes, ScopeRecord] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.records)


@dataclass(slots=True)
class StoredLogRecord:
    """One stored log record (its protobuf as received) with its resource and scope."""

    record: bytes
    resource: bytes
    scope: bytes
    span_id: bytes  # 8 zero bytes when it has none
    time_ns: int
