"""Whole payloads for the run or steps being shown, from the one stored copy: the raw spans.

Derived rows keep previews of inputs and outputs and no artifacts. A detail view gets the
rest by mapping the raw spans again, off the event loop: for a trace of up to
``FULL_TRACE_MAX_SPANS`` spans the whole trace is derived again (the answer is exactly what
derivation makes, artifacts of wrapper spans included); for a larger one only the spans
shown are mapped. Log records that are events of a span (``mapping.log_events``) are read and
mapped with their span, as the deriver does.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import TypeVar

from opentelemetry.proto.common.v1.common_pb2 import InstrumentationScope
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from mapping import derive_trace, span_facts
from mapping.log_events import with_log_events
from mapping.model import SpanFacts, make_id
from mapping.wire import readable
from storage.log_reader import PostgresLogReader
from storage.query_records import ArtifactRow, RunRow, StepRow
from storage.records import StoredLogRecord, StoredSpan
from storage.span_reader import PostgresSpanReader

FULL_TRACE_MAX_SPANS = 2000


@dataclass(slots=True)
class Payload:
    input: str | None
    input_truncated: bool
    output: str | None
    output_truncated: bool
    error_message: str | None


@dataclass(slots=True)
class Payloads:
    """Whole payloads by run/step id, and artifacts by the run or step they belong to."""

    by_id: dict[str, Payload] = field(default_factory=dict)
    artifacts: dict[str | None, list[ArtifactRow]] = field(default_factory=dict)

    def run(self, row: RunRow) -> RunRow:
        return _with_payload(row, self.by_id.get(row.id))

    def step(self, row: StepRow) -> StepRow:
        return _with_payload(row, self.by_id.get(row.id))

    def all_artifacts(self) -> list[ArtifactRow]:
        return [a for artifacts in self.artifacts.values() for a in artifacts]


Row = TypeVar("Row", RunRow, StepRow)


def _with_payload(row: Row, payload: Payload | None) -> Row:
    if payload is None:
        return row
    # A payload the spans mapped here do not have (a run's input taken from one of its LLM
    # calls, in a trace too big to derive again) keeps the row's preview.
    changes: dict[str, object] = {"error_message": payload.error_message or row.error_message}
    if payload.input is not None:
        changes.update(input=payload.input, input_truncated=payload.input_truncated)
    if payload.output is not None:
        changes.update(output=payload.output, output_truncated=payload.output_truncated)
    return replace(row, **changes)  # type: ignore[arg-type]


Events = dict[bytes, list[LogRecord]]  # a span's log records, by span id


def _events_by_span(records: Sequence[StoredLogRecord]) -> Events:
    events: Events = {}
    for stored in records:
        events.setdefault(stored.span_id, []).append(readable(LogRecord, stored.record))
    return events


def _facts(stored: StoredSpan, events: Events) -> SpanFacts:
    span = readable(Span, stored.span)
    records = events.get(stored.span_id or span.span_id)
    return span_facts(
        with_log_events(span, records) if records else span,
        readable(Resource, stored.resource),
        readable(InstrumentationScope, stored.scope),
    )


def _artifact_rows(trace_id: str, facts: SpanFacts, step_id: str | None) -> list[ArtifactRow]:
    span_ref = make_id(trace_id, facts.span_id)
    return [
        ArtifactRow(
            id=f"{span_ref}:{n}",
            step_id=step_id,
            span_id=facts.span_id,
            type=a.type,
            name=a.name,
            content=a.content,
            url=a.url,
            time_ns=a.time_ns,
            truncated=a.truncated,
        )
        for n, a in enumerate(facts.artifacts)
    ]


def _derive_whole(spans: list[StoredSpan], records: list[StoredLogRecord], run_id: str) -> Payloads:
    events = _events_by_span(records)
    facts = [_facts(stored, events) for stored in spans]
    derived = derive_trace(facts)
    payloads = Payloads()
    for run in derived.runs:
        payloads.by_id[run.id] = Payload(
            run.input, run.input_truncated, run.output, run.output_truncated, run.error_message
        )
    for step in derived.steps:
        payloads.by_id[step.id] = Payload(
            step.input, step.input_truncated, step.output, step.output_truncated,
            step.error_message,
        )  # fmt: skip
    for artifact in derived.artifacts:
        if artifact.run_id != run_id:
            continue
        payloads.artifacts.setdefault(artifact.step_id, []).append(
            ArtifactRow(
                id=artifact.id,
                step_id=artifact.step_id,
                span_id=artifact.span_id,
                type=artifact.type,
                name=artifact.name,
                content=artifact.content,
                url=artifact.url,
                time_ns=artifact.time_ns,
                truncated=artifact.truncated,
            )
        )
    return payloads


def _map_spans(
    spans: list[StoredSpan], records: list[StoredLogRecord], trace_id: str, run_id: str
) -> Payloads:
    events = _events_by_span(records)
    payloads = Payloads()
    for stored in spans:
        facts = _facts(stored, events)
        entity_id = make_id(trace_id, facts.span_id)
        payloads.by_id[entity_id] = Payload(
            facts.input, facts.input_truncated, facts.output, facts.output_truncated,
            facts.error_message,
        )  # fmt: skip
        step_id = None if entity_id == run_id else entity_id
        payloads.artifacts.setdefault(step_id, []).extend(_artifact_rows(trace_id, facts, step_id))
    return payloads


async def payloads_of(
    reader: PostgresSpanReader,
    project_id: int,
    run_id: str,
    span_count: int | None,
    shown_ids: Sequence[str],
    log_reader: PostgresLogReader | None = None,
    spans_within: tuple[int, int] | None = None,
) -> Payloads:
    """Whole payloads and artifacts of a run (``run_id``) and of the steps ``shown_ids``,
    with the events its spans' log records carry (``mapping.log_events``). ``spans_within``:
    the start times of the trace's spans, when the caller has read its registry entry."""
    trace_hex = run_id[:32]
    trace_id = bytes.fromhex(trace_hex)
    logs = log_reader if log_reader is not None else PostgresLogReader(reader.pool)
    if span_count is not None and span_count <= FULL_TRACE_MAX_SPANS:
        spans = await reader.derived_trace_spans(project_id, trace_id, within=spans_within)
        if spans:
            records = await logs.trace_logs(project_id, trace_id)
            return await asyncio.to_thread(_derive_whole, spans, records, run_id)
    wanted = [bytes.fromhex(entity_id[32:]) for entity_id in {run_id, *shown_ids}]
    spans = await reader.derived_trace_spans(project_id, trace_id, wanted, spans_within)
    records = await logs.trace_logs(project_id, trace_id) if spans else []
    return await asyncio.to_thread(_map_spans, spans, records, trace_hex, run_id)
