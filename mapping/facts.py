"""``span_facts``: what one OTLP span says about agents, tools and models, read in one pass."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from math import isfinite
from typing import Any

from opentelemetry.proto.common.v1.common_pb2 import InstrumentationScope, KeyValue
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

from mapping import registry
from mapping.conventions import agentguide, gen_ai, openinference, otel
from mapping.conventions.base import Shape, TextReader
from mapping.evaluations import evaluation_scores
from mapping.messages import NOT_JSON, answer_in, parsed, request_in
from mapping.model import ArtifactFacts, SpanCategory, SpanFacts, SpanStatus
from mapping.registry import Reading
from mapping.span_artifacts import document_artifacts, event_artifacts, last_exception
from mapping.span_attributes import (
    AttributePair,
    add_pairs,
    distinct_pairs,
    shared_attributes,
)
from mapping.text import MAX_DISPLAY_CHARS, MAX_IDENTIFIER_BYTES, display, identifier
from mapping.values import as_int, as_text, display_text, python_value, read_prefixed

__all__ = ["MAX_DISPLAY_CHARS", "read_attributes", "read_prefixed", "span_facts"]

_STATUS: Mapping[int, SpanStatus] = {
    Status.STATUS_CODE_UNSET: "UNSET",
    Status.STATUS_CODE_OK: "OK",
    Status.STATUS_CODE_ERROR: "ERROR",
}

_DOCUMENT_CATEGORIES = frozenset({"retriever", "reranker"})
_JSON_STARTS = frozenset('{["')
_SHORT_IDENTIFIER = MAX_IDENTIFIER_BYTES // 4  # this many characters fit in any encoding


def read_attributes(
    attributes: Iterable[KeyValue],
) -> tuple[dict[str, Any], dict[str, float], tuple[AttributePair, ...]]:
    """In one pass: the values of the keys mapping reads, the numeric usage attributes (keyed
    by valid identifiers: a usage key becomes a metric name), and the span's own attribute
    pairs as attribute filters search them (``mapping.span_attributes``)."""
    wanted = registry.WANTED_KEYS
    usage_prefixes = registry.USAGE_PREFIXES
    values: dict[str, Any] = {}
    usage: dict[str, float] = {}
    pairs: list[AttributePair] = []
    for kv in attributes:
        key = kv.key
        value = kv.value
        kind = value.WhichOneof("value")
        if kind == "string_value":
            text = value.string_value
            if key in wanted:
                values[key] = text
            add_pairs(pairs, key, value, kind, text)
            continue
        if key in wanted:
            values[key] = python_value(value)
        elif key.startswith(usage_prefixes) and (kind == "int_value" or kind == "double_value"):
            number: float = value.int_value if kind == "int_value" else value.double_value
            if isfinite(number):
                usage_key = key
                if len(key) > _SHORT_IDENTIFIER or "\x00" in key:
                    usage_key = identifier(key)[0]
                usage[usage_key] = number
        add_pairs(pairs, key, value, kind)
    return values, usage, distinct_pairs(pairs)


def _first(attrs: Mapping[str, Any], keys: tuple[str, ...]) -> Any:
    """The value of the first of ``keys`` present with a non-empty value."""
    for key in keys:
        if key in attrs:
            value = attrs[key]
            if value is not None and value != "":
                return value
    return None


def _first_item(attrs: Mapping[str, Any], keys: tuple[str, ...]) -> tuple[Any, str | None]:
    """``_first``, with the key it was found under."""
    for key in keys:
        if key in attrs:
            value = attrs[key]
            if value is not None and value != "":
                return value, key
    return None, None


_NOTHING_IGNORED: frozenset[str] = frozenset()


def _first_text(
    attrs: Mapping[str, Any], keys: tuple[str, ...], ignored: frozenset[str] = _NOTHING_IGNORED
) -> str | None:
    """``_first`` as an identifier-like display string; ``ignored`` values count as absent."""
    for key in keys:
        if key in attrs:
            value = attrs[key]
            if value is not None and value != "":
                text = value if type(value) is str else as_text(value)
                if text not in ignored:
                    return text
    return None


def _first_count(usage: Mapping[str, float], keys: tuple[str, ...]) -> int | None:
    for key in keys:
        if key in usage:
            count = as_int(usage[key])
            if count is not None:
                return count
    return None


_service_name_at: tuple[Resource | None, int] = (None, -1)


def _service_name(resource: Resource) -> str | None:
    """The resource's ``service.name``. The spans of a batch share one Resource object: the
    position of the key in the last resource read is tried first (its key checked, its value
    read), which spares walking every resource attribute for every span."""
    global _service_name_at
    attributes = resource.attributes
    last, index = _service_name_at
    if last is resource and index < len(attributes):
        kv = attributes[index]
        if kv.key == otel.SERVICE_NAME:
            return as_text(python_value(kv.value))
    for index, kv in enumerate(attributes):
        if kv.key == otel.SERVICE_NAME:
            _service_name_at = (resource, index)
            return as_text(python_value(kv.value))
    return None


def _identifier_at(
    attrs: Mapping[str, Any],
    keys: tuple[str, ...],
    field: str,
    cut: list[str],
    ignored: frozenset[str] = _NOTHING_IGNORED,
) -> str | None:
    """``_first_text`` bounded as an identifier (``_bounded``)."""
    return _bounded(_first_text(attrs, keys, ignored), field, cut)


def _bounded(value: str | None, field: str, cut: list[str]) -> str | None:
    """An identifier bounded and made valid; ``field`` noted in ``cut`` when it was cut."""
    if value is None or (len(value) <= _SHORT_IDENTIFIER and "\x00" not in value):
        return value  # short enough in any encoding; a span's text holds no surrogate
    text, was_cut = identifier(value)
    if was_cut:
        cut.append(field)
    return text


def _shown(value: Any, field: str, cut: list[str]) -> str | None:
    """A value's display text capped and made valid; ``field`` noted in ``cut`` when it was
    cut."""
    shown = value if type(value) is str else display_text(value)
    if shown is None:
        return None
    text, was_cut = display(shown)
    if was_cut:
        cut.append(field)
    return text


def _read(
    readers: tuple[TextReader, ...],
    attrs: Mapping[str, Any],
    span: Span,
    category: SpanCategory,
) -> tuple[Any, str | None]:
    """The first fallback reader's value, and its source."""
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
        value = reader.read(attrs, span, category)
        if value is not None:
            return value, reader.source
    return None, None


def _value(
    attrs: Mapping[str, Any],
    span: Span,
    category: SpanCategory,
    first: tuple[TextReader, ...],
    keys: tuple[str, ...],
    fallbacks: tuple[TextReader, ...],
) -> tuple[Any, str | None]:
    """An input (output) value and its source: the readers that go before the keys, else
    the first key present, else the fallback readers."""
    if first:
        value, source = _read(first, attrs, span, category)
        if value is not None:
            return value, source
    value, source = _first_item(attrs, keys)
    if value is None:
        value, source = _read(fallbacks, attrs, span, category)
    return value, source


def _readable(value: Any, shapes: tuple[Shape, ...], generic: Callable[[Any], str | None]) -> Any:
    """What a person reads in an agent's input or output value: the text found in the
    framework's shape, else the value itself."""
    if type(value) is str and value.lstrip()[:1] not in _JSON_STARTS:
        return value  # plain text
    data = parsed(value)
    if data is NOT_JSON:
        return value
    for shape in shapes:
        text = shape(data)
        if text is not None:
            return text
    text = generic(data)
    return value if text is None else text


def _artifacts(span: Span, attrs: Mapping[str, Any], category: str) -> list[ArtifactFacts]:
    artifacts = event_artifacts(span.events)
    if category in _DOCUMENT_CATEGORIES:
        documents = read_prefixed(span.attributes, openinference.DOCUMENT_PREFIXES)
        artifacts.extend(document_artifacts(documents, attrs.get(gen_ai.RETRIEVAL_DOCUMENTS)))
    elif gen_ai.RETRIEVAL_DOCUMENTS in attrs:
        artifacts.extend(document_artifacts({}, attrs[gen_ai.RETRIEVAL_DOCUMENTS]))
    return artifacts


def span_facts(span: Span, resource: Resource, scope: InstrumentationScope) -> SpanFacts:
    """Classify one span and read what it says, independent of every other span.

    The conventions of ``mapping.registry`` decide the category from the span's attributes,
    its name and the instrumentation scope's name. Every text is bounded and valid for
    PostgreSQL (``mapping.text``); the span itself is not changed.
    """
    attrs, usage, own_pairs = read_attributes(span.attributes)
    name = span.name
    category, convention = registry.classify(attrs, name, scope.name)
    reading: Reading = registry.READINGS[convention]
    keys = reading.keys
    ignored = reading.ignored_values
    span_status = span.status
    status = _STATUS.get(span_status.code, "UNSET")
    status_message = span_status.message or None
    has_events = len(span.events) > 0
    cut: list[str] = []

    scores = evaluation_scores(span.events) if has_events else []
    artifacts = (
        _artifacts(span, attrs, category)
        if has_events or category in _DOCUMENT_CATEGORIES or gen_ai.RETRIEVAL_DOCUMENTS in attrs
        else []
    )

    error_type = error_message = None
    if status == "ERROR":
        if has_events:
            error_type, error_message = last_exception(span.events)
        error_type = _bounded(error_type or _first_text(attrs, keys.error_type), "error_type", cut)
        error_message = _shown(error_message or status_message, "error_message", cut)

    agent_name = agent_id = agent_version = agent_description = handoff_from = None
    tool_name = tool_call_id = None
    if category == "agent":
        agent_name = _first_text(attrs, keys.agent_name)
        if agent_name is None and reading.agent_name_from_attributes is not None:
            agent_name = reading.agent_name_from_attributes(attrs)
        if agent_name is None and reading.agent_name_from_span_name is not None:
            agent_name = reading.agent_name_from_span_name(name)
        agent_name = _bounded(agent_name, "agent_name", cut)
        agent_id = _identifier_at(
            attrs, keys.agent_id, "agent_id", cut, ignored.get("agent_id", _NOTHING_IGNORED)
        )
        agent_version = _identifier_at(attrs, keys.agent_version, "agent_version", cut)
        agent_description = _shown(
            _first_text(
                attrs,
                keys.agent_description,
                ignored.get("agent_description", _NOTHING_IGNORED),
            ),
            "agent_description",
            cut,
        )
        handoff_from = _identifier_at(attrs, keys.handoff_from, "handoff_from_agent", cut)
    elif category == "tool":
        tool_name = _bounded(_first_text(attrs, keys.tool_name) or name, "tool_name", cut)
        tool_call_id = _identifier_at(attrs, keys.tool_call_id, "tool_call_id", cut)

    input_tokens = output_tokens = total_tokens = None
    cache_read_input_tokens = cache_write_input_tokens = reasoning_output_tokens = None
    if usage:
        input_tokens = _first_count(usage, keys.input_tokens)
        output_tokens = _first_count(usage, keys.output_tokens)
        total_tokens = _first_count(usage, keys.total_tokens)
        cache_read_input_tokens = _first_count(usage, keys.cache_read_input_tokens)
        cache_write_input_tokens = _first_count(usage, keys.cache_write_input_tokens)
        reasoning_output_tokens = _first_count(usage, keys.reasoning_output_tokens)

    hint = model = provider = session_id = user_id = declared_status = None
    if attrs:
        hint = _identifier_at(
            attrs,
            keys.agent_name_hint,
            "agent_name_hint",
            cut,
            ignored.get("agent_name_hint", _NOTHING_IGNORED),
        )
        if hint is None and reading.agent_name_hint_from_attributes is not None:
            hint = _bounded(reading.agent_name_hint_from_attributes(attrs), "agent_name_hint", cut)
        model = _identifier_at(attrs, keys.model, "model", cut)
        provider = _identifier_at(
            attrs, keys.provider, "provider", cut, ignored.get("provider", _NOTHING_IGNORED)
        )
        session_id = _identifier_at(attrs, keys.session_id, "session_id", cut)
        if session_id is None and reading.session_id_from_attributes is not None:
            session_id = _bounded(reading.session_id_from_attributes(attrs), "session_id", cut)
        user_id = _identifier_at(attrs, keys.user_id, "user_id", cut)
        if user_id is None and reading.user_id_from_attributes is not None:
            user_id = _bounded(reading.user_id_from_attributes(attrs), "user_id", cut)
        declared = _first(attrs, keys.run_status if category == "agent" else keys.step_status)
        if declared in agentguide.DECLARABLE_STATUSES:
            declared_status = declared

    if category == "agent" and reading.agent_text_from_llm_calls:
        input_value = output_value = input_source = output_source = None  # mapping.derive
    else:
        input_value, input_source = _value(
            attrs,
            span,
            category,
            reading.input_readers_before_keys,
            keys.input,
            reading.input_readers if has_events else reading.input_readers_without_events,
        )
        output_value, output_source = _value(
            attrs,
            span,
            category,
            reading.output_readers_before_keys,
            keys.output,
            reading.output_readers if has_events else reading.output_readers_without_events,
        )
    if category == "agent":
        if input_value is not None:
            input_value = _readable(input_value, reading.request_shapes, request_in)
            if input_value == "":  # a shape that holds no request
                input_value = input_source = None
        if output_value is not None:
            output_value = _readable(output_value, reading.answer_shapes, answer_in)
            if output_value == "":  # a shape that holds no answer
                output_value = output_source = None
    input_text = _shown(input_value, "input", cut)
    output_text = _shown(output_value, "output", cut)
    parent_span_id = span.parent_span_id

    return SpanFacts(
        trace_id=span.trace_id.hex(),
        span_id=span.span_id.hex(),
        parent_span_id=parent_span_id.hex() if parent_span_id else None,
        name=_bounded(name, "name", cut),  # type: ignore[arg-type]
        start_ns=span.start_time_unix_nano,
        end_ns=span.end_time_unix_nano,
        status=status,
        status_message=status_message and _shown(status_message, "status_message", cut),
        category=category,
        convention=convention,
        service_name=_bounded(_service_name(resource), "service_name", cut),
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
        input_truncated="input" in cut,
        input_source=input_source,
        output=output_text,
        output_truncated="output" in cut,
        output_source=output_source,
        error_type=error_type,
        error_message=error_message,
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        total_tokens=total_tokens,
        cache_read_input_tokens=cache_read_input_tokens,
        cache_write_input_tokens=cache_write_input_tokens,
        reasoning_output_tokens=reasoning_output_tokens,
        session_id=session_id,
        user_id=user_id,
        usage=usage,
        artifacts=artifacts,
        scores=scores,
        declared_status=declared_status,
        truncated_fields=tuple(cut),
        attributes=own_pairs,
        shared_attributes=shared_attributes(resource, scope),
    )
