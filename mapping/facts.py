"""``span_facts``: what one OTLP span says about agents, tools and models, read in one pass."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from math import isfinite
from typing import Any

from opentelemetry.proto.common.v1.common_pb2 import InstrumentationScope, KeyValue
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

from mapping import conventions as c
from mapping.messages import first_user_prompt, indexed_messages
from mapping.model import ArtifactFacts, SpanFacts, SpanStatus
from mapping.span_artifacts import document_artifacts, event_artifacts, last_exception
from mapping.values import MAX_DISPLAY_CHARS, as_int, as_text, cap, display_text, python_value

__all__ = ["MAX_DISPLAY_CHARS", "read_attributes", "read_prefixed", "span_facts"]

_STATUS: Mapping[int, SpanStatus] = {
    Status.STATUS_CODE_UNSET: "UNSET",
    Status.STATUS_CODE_OK: "OK",
    Status.STATUS_CODE_ERROR: "ERROR",
}

_INPUT_KEYS = (
    c.GEN_AI_TOOL_CALL_ARGUMENTS,
    c.GEN_AI_INPUT_MESSAGES,
    c.INPUT_VALUE,
    c.TRACELOOP_ENTITY_INPUT,
    c.PYDANTIC_TOOL_ARGUMENTS,
    c.GEN_AI_PROMPT,
)
_OUTPUT_KEYS = (
    c.GEN_AI_TOOL_CALL_RESULT,
    c.GEN_AI_OUTPUT_MESSAGES,
    c.OUTPUT_VALUE,
    c.TRACELOOP_ENTITY_OUTPUT,
    c.PYDANTIC_FINAL_RESULT,
    c.PYDANTIC_TOOL_RESPONSE,
    c.GEN_AI_COMPLETION,
)
_MODEL_KEYS = (*c.MODEL_KEYS, c.PYDANTIC_MODEL_NAME)
_PROVIDER_KEYS = (c.GEN_AI_PROVIDER_NAME, c.GEN_AI_SYSTEM, c.LLM_PROVIDER, c.LLM_SYSTEM)
_SESSION_KEYS = (c.SESSION_ID, c.GEN_AI_CONVERSATION_ID)
_AGENT_NAME_HINT_KEYS = (c.GEN_AI_AGENT_NAME, c.PYDANTIC_AGENT_NAME, c.TRACELOOP_WORKFLOW_NAME)
_AGENT_NAME_KEYS: Mapping[str | None, tuple[str, ...]] = {
    "gen_ai": (c.GEN_AI_AGENT_NAME, c.PYDANTIC_AGENT_NAME, c.AGENT_NAME),
    "openinference": (c.AGENT_NAME,),
    "traceloop": (c.TRACELOOP_ENTITY_NAME, c.GEN_AI_AGENT_NAME),
    "pydantic_ai": (c.PYDANTIC_AGENT_NAME,),
}
_TOOL_NAME_KEYS = (c.GEN_AI_TOOL_NAME, c.TOOL_NAME, c.TRACELOOP_ENTITY_NAME)
_TOOL_CALL_ID_KEYS = (c.GEN_AI_TOOL_CALL_ID, c.TOOL_CALL_ID)
_DOCUMENT_CATEGORIES = frozenset({"retriever", "reranker"})


def read_attributes(attributes: Iterable[KeyValue]) -> tuple[dict[str, Any], dict[str, float]]:
    """In one pass: the values of the keys mapping reads, and the numeric usage attributes."""
    wanted = c.WANTED_KEYS
    usage_prefixes = c.USAGE_PREFIXES
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
            number = python_value(kv.value)
            if type(number) is int or (type(number) is float and isfinite(number)):
                usage[key] = number
    return values, usage


def read_prefixed(attributes: Iterable[KeyValue], prefixes: tuple[str, ...]) -> dict[str, Any]:
    """The attributes whose keys start with one of ``prefixes``."""
    return {kv.key: python_value(kv.value) for kv in attributes if kv.key.startswith(prefixes)}


def _first(attrs: Mapping[str, Any], keys: tuple[str, ...]) -> Any:
    """The value of the first of ``keys`` present with a non-empty value."""
    for key in keys:
        if key in attrs:
            value = attrs[key]
            if value is not None and value != "":
                return value
    return None


def _first_text(attrs: Mapping[str, Any], keys: tuple[str, ...]) -> str | None:
    value = _first(attrs, keys)
    if value is None or type(value) is str:
        return value
    return as_text(value)


def _first_count(usage: Mapping[str, float], keys: tuple[str, ...]) -> int | None:
    for key in keys:
        if key in usage:
            count = as_int(usage[key])
            if count is not None:
                return count
    return None


def _service_name(resource: Resource) -> str | None:
    for kv in resource.attributes:
        if kv.key == "service.name":
            return as_text(python_value(kv.value))
    return None


def _input_text(
    attributes: Iterable[KeyValue], attrs: Mapping[str, Any], category: str
) -> str | None:
    value = _first(attrs, _INPUT_KEYS)
    if value is not None:
        return value if type(value) is str else display_text(value)
    for key in (c.PYDANTIC_ALL_MESSAGES, c.PYDANTIC_ALL_MESSAGES_EVENTS):
        if key in attrs:
            return first_user_prompt(attrs[key])
    if category == "llm":
        return indexed_messages(read_prefixed(attributes, (c.INDEXED_PROMPT_PREFIX,)))
    return None


def _output_text(
    attributes: Iterable[KeyValue], attrs: Mapping[str, Any], category: str
) -> str | None:
    value = _first(attrs, _OUTPUT_KEYS)
    if value is not None:
        return value if type(value) is str else display_text(value)
    if category == "llm":
        return indexed_messages(read_prefixed(attributes, (c.INDEXED_COMPLETION_PREFIX,)))
    return None


def _artifacts(
    span: Span, attributes: Iterable[KeyValue], attrs: Mapping[str, Any], category: str
) -> list[ArtifactFacts]:
    artifacts = event_artifacts(span.events)
    if category in _DOCUMENT_CATEGORIES:
        documents = read_prefixed(attributes, c.OPENINFERENCE_DOCUMENT_PREFIXES)
        artifacts.extend(document_artifacts(documents, attrs.get(c.GEN_AI_RETRIEVAL_DOCUMENTS)))
    elif c.GEN_AI_RETRIEVAL_DOCUMENTS in attrs:
        artifacts.extend(document_artifacts({}, attrs[c.GEN_AI_RETRIEVAL_DOCUMENTS]))
    return artifacts


def span_facts(span: Span, resource: Resource, scope: InstrumentationScope) -> SpanFacts:
    """Classify one span and read what it says, independent of every other span.

    ``scope`` is part of the signature so that a rule may depend on the instrumentation
    library; the current rules are decided by attributes alone.
    """
    attributes = span.attributes
    attrs, usage = read_attributes(attributes)
    name = span.name
    category, convention = c.classify(attrs, name)
    span_status = span.status
    status = _STATUS.get(span_status.code, "UNSET")
    status_message = span_status.message or None
    has_events = len(span.events) > 0

    artifacts = (
        _artifacts(span, attributes, attrs, category)
        if has_events or category in _DOCUMENT_CATEGORIES or c.GEN_AI_RETRIEVAL_DOCUMENTS in attrs
        else []
    )

    error_type = error_message = None
    if status == "ERROR":
        if has_events:
            error_type, error_message = last_exception(span.events)
        error_type = error_type or _first_text(attrs, (c.ERROR_TYPE,))
        error_message = error_message or status_message

    agent_name = agent_id = agent_version = agent_description = handoff_from = None
    tool_name = tool_call_id = None
    if category == "agent":
        agent_name = _first_text(attrs, _AGENT_NAME_KEYS.get(convention, ()))
        agent_id = _first_text(attrs, (c.GEN_AI_AGENT_ID,))
        agent_version = _first_text(attrs, (c.GEN_AI_AGENT_VERSION,))
        agent_description = _first_text(attrs, (c.GEN_AI_AGENT_DESCRIPTION,))
        handoff_from = _first_text(attrs, (c.GRAPH_NODE_PARENT_ID,))
    elif category == "tool":
        tool_name = _first_text(attrs, _TOOL_NAME_KEYS) or name
        tool_call_id = _first_text(attrs, _TOOL_CALL_ID_KEYS)

    input_tokens = output_tokens = total_tokens = None
    if usage:
        input_tokens = _first_count(usage, c.INPUT_TOKEN_KEYS)
        output_tokens = _first_count(usage, c.OUTPUT_TOKEN_KEYS)
        total_tokens = _first_count(usage, c.TOTAL_TOKEN_KEYS)

    declared = attrs.get(
        c.AGENTGUIDE_RUN_STATUS if category == "agent" else c.AGENTGUIDE_STEP_STATUS
    )
    declared_status = declared if declared in c.DECLARABLE_STATUSES else None

    input_text, input_truncated = cap(_input_text(attributes, attrs, category))
    output_text, output_truncated = cap(_output_text(attributes, attrs, category))
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
        agent_name_hint=_first_text(attrs, _AGENT_NAME_HINT_KEYS),
        handoff_from_agent=handoff_from,
        tool_name=tool_name,
        tool_call_id=tool_call_id,
        model=_first_text(attrs, _MODEL_KEYS),
        provider=_first_text(attrs, _PROVIDER_KEYS),
        input=input_text,
        input_truncated=input_truncated,
        output=output_text,
        output_truncated=output_truncated,
        error_type=error_type,
        error_message=error_message,
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        total_tokens=total_tokens,
        session_id=_first_text(attrs, _SESSION_KEYS),
        user_id=_first_text(attrs, (c.USER_ID,)),
        usage=usage,
        artifacts=artifacts,
        declared_status=declared_status,
    )
