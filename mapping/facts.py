"""``span_facts``: what one OTLP span says about agents, tools and models, read in one pass."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from math import isfinite
from typing import Any

from opentelemetry.proto.common.v1.common_pb2 import InstrumentationScope, KeyValue
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

from mapping import registry
from mapping.conventions import agentguide, gen_ai, openinference, otel
from mapping.conventions.base import TextReader
from mapping.model import ArtifactFacts, SpanCategory, SpanFacts, SpanStatus
from mapping.registry import Reading
from mapping.span_artifacts import document_artifacts, event_artifacts, last_exception
from mapping.values import (
    MAX_DISPLAY_CHARS,
    as_int,
    as_text,
    cap,
    display_text,
    python_value,
    read_prefixed,
)

__all__ = ["MAX_DISPLAY_CHARS", "read_attributes", "read_prefixed", "span_facts"]

_STATUS: Mapping[int, SpanStatus] = {
    Status.STATUS_CODE_UNSET: "UNSET",
    Status.STATUS_CODE_OK: "OK",
    Status.STATUS_CODE_ERROR: "ERROR",
}

_DOCUMENT_CATEGORIES = frozenset({"retriever", "reranker"})


def read_attributes(attributes: Iterable[KeyValue]) -> tuple[dict[str, Any], dict[str, float]]:
    """In one pass: the values of the keys mapping reads, and the numeric usage attributes."""
    wanted = registry.WANTED_KEYS
    usage_prefixes = registry.USAGE_PREFIXES
    values: dict[str, Any] = {}
    usage: dict[str, float] = {}
    for kv in attributes:
        key = kv.key
        if key in wanted:
            value = kv.value
            if value.WhichOneof("value") == "string_value":
                values[key] = value.string_value
            else:
                values[key] = python_value(value)
        elif key.startswith(usage_prefixes):
            value = kv.value
            kind = value.WhichOneof("value")
            if kind == "int_value":
                usage[key] = value.int_value
            elif kind == "double_value":
                number = value.double_value
                if isfinite(number):
                    usage[key] = number
    return values, usage


def _first(attrs: Mapping[str, Any], keys: tuple[str, ...]) -> Any:
    """The value of the first of ``keys`` present with a non-empty value."""
    for key in keys:
        if key in attrs:
            value = attrs[key]
            if value is not None and value != "":
                return value
    return None


def _first_text(attrs: Mapping[str, Any], keys: tuple[str, ...]) -> str | None:
    """``_first`` as an identifier-like display string."""
    for key in keys:
        if key in attrs:
            value = attrs[key]
            if value is not None and value != "":
                return value if type(value) is str else as_text(value)
    return None


def _first_count(usage: Mapping[str, float], keys: tuple[str, ...]) -> int | None:
    for key in keys:
        if key in usage:
            count = as_int(usage[key])
            if count is not None:
                return count
    return None


def _service_name(resource: Resource) -> str | None:
    for kv in resource.attributes:
        if kv.key == otel.SERVICE_NAME:
            return as_text(python_value(kv.value))
    return None


def _text(
    value: Any,
    readers: tuple[TextReader, ...],
    attributes: Iterable[KeyValue],
    attrs: Mapping[str, Any],
    category: SpanCategory,
) -> str | None:
    """The display text of an input or output value, else the first reader's text."""
    if value is not None:
        return value if type(value) is str else display_text(value)
    for reader in readers:
        categories = reader.categories
        if categories is not None and category not in categories:
            continue
        keys = reader.keys
        if keys:
            for key in keys:
                if key in attrs:
                    break
            else:
                continue
        text = reader.read(attrs, attributes, category)
        if text is not None:
            return text
    return None


def _artifacts(
    span: Span, attributes: Iterable[KeyValue], attrs: Mapping[str, Any], category: str
) -> list[ArtifactFacts]:
    artifacts = event_artifacts(span.events)
    if category in _DOCUMENT_CATEGORIES:
        documents = read_prefixed(attributes, openinference.DOCUMENT_PREFIXES)
        artifacts.extend(document_artifacts(documents, attrs.get(gen_ai.RETRIEVAL_DOCUMENTS)))
    elif gen_ai.RETRIEVAL_DOCUMENTS in attrs:
        artifacts.extend(document_artifacts({}, attrs[gen_ai.RETRIEVAL_DOCUMENTS]))
    return artifacts


def span_facts(span: Span, resource: Resource, scope: InstrumentationScope) -> SpanFacts:
    """Classify one span and read what it says, independent of every other span.

    The conventions of ``mapping.registry`` decide the category from the span's attributes,
    its name and the instrumentation scope's name.
    """
    attributes = span.attributes
    attrs, usage = read_attributes(attributes)
    name = span.name
    category, convention = registry.classify(attrs, name, scope.name)
    reading: Reading = registry.READINGS[convention]
    keys = reading.keys
    span_status = span.status
    status = _STATUS.get(span_status.code, "UNSET")
    status_message = span_status.message or None
    has_events = len(span.events) > 0

    artifacts = (
        _artifacts(span, attributes, attrs, category)
        if has_events or category in _DOCUMENT_CATEGORIES or gen_ai.RETRIEVAL_DOCUMENTS in attrs
        else []
    )

    error_type = error_message = None
    if status == "ERROR":
        if has_events:
            error_type, error_message = last_exception(span.events)
        error_type = error_type or _first_text(attrs, keys.error_type)
        error_message = error_message or status_message

    agent_name = agent_id = agent_version = agent_description = handoff_from = None
    tool_name = tool_call_id = None
    if category == "agent":
        agent_name = _first_text(attrs, keys.agent_name)
        agent_id = _first_text(attrs, keys.agent_id)
        agent_version = _first_text(attrs, keys.agent_version)
        agent_description = _first_text(attrs, keys.agent_description)
        handoff_from = _first_text(attrs, keys.handoff_from)
    elif category == "tool":
        tool_name = _first_text(attrs, keys.tool_name) or name
        tool_call_id = _first_text(attrs, keys.tool_call_id)

    input_tokens = output_tokens = total_tokens = None
    if usage:
        input_tokens = _first_count(usage, keys.input_tokens)
        output_tokens = _first_count(usage, keys.output_tokens)
        total_tokens = _first_count(usage, keys.total_tokens)

    hint = model = provider = session_id = user_id = declared_status = None
    if attrs:
        hint = _first_text(attrs, keys.agent_name_hint)
        model = _first_text(attrs, keys.model)
        provider = _first_text(attrs, keys.provider)
        session_id = _first_text(attrs, keys.session_id)
        user_id = _first_text(attrs, keys.user_id)
        declared = _first(attrs, keys.run_status if category == "agent" else keys.step_status)
        if declared in agentguide.DECLARABLE_STATUSES:
            declared_status = declared

    input_text, input_truncated = cap(
        _text(_first(attrs, keys.input), reading.input_readers, attributes, attrs, category)
    )
    output_text, output_truncated = cap(
        _text(_first(attrs, keys.output), reading.output_readers, attributes, attrs, category)
    )
    parent_span_id = span.parent_span_id

    return SpanFacts(
        trace_id=span.trace_id.hex(),
        span_id=span.span_id.hex(),
        parent_span_id=parent_span_id.hex() if parent_span_id else None,
        name=name,
        start_ns=span.start_time_unix_nano,
        end_ns=span.end_time_unix_nano,
        status=status,
        status_message=status_message,
        category=category,
        convention=convention,
        service_name=_service_name(resource),
        agent_name=agent_name,
        agent_id=agent_id,
        agent_version=agent_version,
        agent_description=agent_description,
        agent_name_hint=hint,
        handoff_from_agent=handoff_from,
        tool_name=tool_name,
        tool_call_id=tool_call_id,
        model=model,
        provider=provider,
        input=input_text,
        input_truncated=input_truncated,
        output=output_text,
        output_truncated=output_truncated,
        error_type=error_type,
        error_message=error_message,
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        total_tokens=total_tokens,
        session_id=session_id,
        user_id=user_id,
        usage=usage,
        artifacts=artifacts,
        declared_status=declared_status,
    )
