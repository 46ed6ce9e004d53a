"""Log records that are events of a span, as that span's events.

OpenTelemetry sends events (the GenAI content and evaluation events among them) as log records
carrying the trace and span id of the span they belong to. Mapping reads a span's events in
one place (``span.events``), whichever way they travelled: ``with_log_events`` returns the span
with its event records appended as span events, so that every reader of events (messages,
choices, inference details, exceptions, evaluations) sees both alike.

Pure, and independent of arrival order: records are deduplicated and ordered by their own
content (time, then bytes), after the span's own events. Only records with an event name
(``LogRecord.event_name``, else an ``event.name`` attribute) become events; other records are
listed beside the step by the API, not mapped.

An event record's body is part of the event: a key/value body's entries become event
attributes (an attribute of the same key wins), any other body one attribute ``body``.
"""

from __future__ import annotations

from collections.abc import Iterable

from opentelemetry.proto.common.v1.common_pb2 import KeyValue
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from mapping.log_records import EVENT_NAME_ATTRIBUTE, event_name_of

BODY_ATTRIBUTE = "body"


def event_of(record: LogRecord) -> Span.Event | None:
    """The span event a log record stands for, or None when it names no event."""
    name = event_name_of(record)
    if name is None:
        return None
    event = Span.Event(
        name=name,
        time_unix_nano=record.time_unix_nano or record.observed_time_unix_nano,
        dropped_attributes_count=record.dropped_attributes_count,
    )
    keys: set[str] = set()
    for kv in record.attributes:
        if kv.key == EVENT_NAME_ATTRIBUTE:
            continue
        keys.add(kv.key)
        event.attributes.append(kv)
    if record.HasField("body"):
        body = record.body
        if body.WhichOneof("value") == "kvlist_value":
            for kv in body.kvlist_value.values:
                if kv.key not in keys:
                    keys.add(kv.key)
                    event.attributes.append(kv)
        elif body.WhichOneof("value") is not None and BODY_ATTRIBUTE not in keys:
            event.attributes.append(KeyValue(key=BODY_ATTRIBUTE, value=body))
    return event


def events_of(records: Iterable[LogRecord]) -> list[Span.Event]:
    """The events of ``records``, each distinct event once, in (time, content) order."""
    found: dict[bytes, Span.Event] = {}
    for record in records:
        event = event_of(record)
        if event is not None:
            found.setdefault(event.SerializeToString(deterministic=True), event)
    ordered = sorted(found.items(), key=lambda item: (item[1].time_unix_nano, item[0]))
    return [event for _, event in ordered]


def with_log_events(span: Span, records: Iterable[LogRecord]) -> Span:
    """``span`` with the events of ``records`` after its own (a copy when there are any)."""
    events = events_of(records)
    if not events:
        return span
    copy = Span()
    copy.CopyFrom(span)
    copy.events.extend(events)
    return copy
