"""The OpenTelemetry GenAI semantic conventions (``gen_ai.*``).

A span is classified by ``gen_ai.operation.name``: ``invoke_agent`` is an agent invocation,
``invoke_workflow`` and ``create_agent`` pass their children through, ``execute_tool`` is a
tool call, ``chat`` / ``text_completion`` / ``generate_content`` an LLM call, and so on.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from opentelemetry.proto.trace.v1.trace_pb2 import Span

from mapping.conventions import otel
from mapping.conventions.base import Attributes, Convention, Keys, TextReader
from mapping.messages import parsed
from mapping.model import SpanCategory
from mapping.values import python_value

OPERATION_NAME = "gen_ai.operation.name"
AGENT_NAME = "gen_ai.agent.name"
AGENT_ID = "gen_ai.agent.id"
AGENT_VERSION = "gen_ai.agent.version"
AGENT_DESCRIPTION = "gen_ai.agent.description"
TOOL_NAME = "gen_ai.tool.name"
TOOL_CALL_ID = "gen_ai.tool.call.id"
TOOL_CALL_ARGUMENTS = "gen_ai.tool.call.arguments"
TOOL_CALL_RESULT = "gen_ai.tool.call.result"
INPUT_MESSAGES = "gen_ai.input.messages"
OUTPUT_MESSAGES = "gen_ai.output.messages"
PROMPT = "gen_ai.prompt"  # deprecated, still emitted
COMPLETION = "gen_ai.completion"  # deprecated, still emitted
REQUEST_MODEL = "gen_ai.request.model"
RESPONSE_MODEL = "gen_ai.response.model"
PROVIDER_NAME = "gen_ai.provider.name"
SYSTEM = "gen_ai.system"  # deprecated name of gen_ai.provider.name
CONVERSATION_ID = "gen_ai.conversation.id"
USER_ID = "user.id"  # OpenTelemetry's general user attributes
ENDUSER_ID = "enduser.id"  # their deprecated predecessor
RETRIEVAL_DOCUMENTS = "gen_ai.retrieval.documents"
USAGE_PREFIX = "gen_ai.usage."
USAGE_INPUT_TOKENS = "gen_ai.usage.input_tokens"
USAGE_OUTPUT_TOKENS = "gen_ai.usage.output_tokens"
USAGE_TOTAL_TOKENS = "gen_ai.usage.total_tokens"  # not in the conventions; often emitted
USAGE_PROMPT_TOKENS = "gen_ai.usage.prompt_tokens"  # deprecated
USAGE_COMPLETION_TOKENS = "gen_ai.usage.completion_tokens"  # deprecated
USAGE_CACHE_READ_TOKENS = "gen_ai.usage.cache_read.input_tokens"
USAGE_CACHE_WRITE_TOKENS = "gen_ai.usage.cache_write.input_tokens"
USAGE_CACHE_CREATION_TOKENS = "gen_ai.usage.cache_creation.input_tokens"  # older name
USAGE_REASONING_TOKENS = "gen_ai.usage.reasoning.output_tokens"

# Message content carried in span events: the current event (both directions on one event)
# and the older one-event-per-message events.
INFERENCE_DETAILS_EVENT = "gen_ai.client.inference.operation.details"
MESSAGE_EVENT_ROLES: Mapping[str, str] = {
    "gen_ai.system.message": "system",
    "gen_ai.user.message": "user",
    "gen_ai.assistant.message": "assistant",
    "gen_ai.tool.message": "tool",
}
CHOICE_EVENT = "gen_ai.choice"
EVENT_CONTENT = "gen_ai.event.content"  # a message as JSON on older events (Azure AI SDKs)
_EVENT_BOOKKEEPING = frozenset({SYSTEM, PROVIDER_NAME, EVENT_CONTENT})
AGENT_SPAN_NAME_PREFIX = "invoke_agent "

MEMORY_OPERATIONS = frozenset(
    {
        "create_memory_store",
        "delete_memory_store",
        "create_memory",
        "upsert_memory",
        "update_memory",
        "search_memory",
        "delete_memory",
    }
)

OPERATION_CATEGORIES: Mapping[str, SpanCategory] = {
    "invoke_agent": "agent",
    "invoke_workflow": "container",
    "create_agent": "container",
    "execute_tool": "tool",
    "chat": "llm",
    "text_completion": "llm",
    "generate_content": "llm",
    "embeddings": "embedding",
    "retrieval": "retriever",
    "plan": "planning",
    **dict.fromkeys(MEMORY_OPERATIONS, "memory"),
}


def classify(attrs: Attributes, span_name: str, scope_name: str) -> SpanCategory | None:
    operation = attrs.get(OPERATION_NAME)
    if isinstance(operation, str):
        return OPERATION_CATEGORIES.get(operation)
    return None


def agent_name_from_span_name(span_name: str) -> str | None:
    """``invoke_agent <name>``, the span name the conventions give an agent invocation."""
    if span_name.startswith(AGENT_SPAN_NAME_PREFIX):
        return span_name[len(AGENT_SPAN_NAME_PREFIX) :].strip() or None
    return None


def _event_attributes(event: Span.Event) -> dict[str, Any]:
    return {kv.key: python_value(kv.value) for kv in event.attributes}


def _details(span: Span, key: str) -> Any:
    """``key`` on the last inference-details event that carries it."""
    found = None
    for event in span.events:
        if event.name == INFERENCE_DETAILS_EVENT:
            for kv in event.attributes:
                if kv.key == key:
                    found = python_value(kv.value)
    return found


def _event_message(attrs: dict[str, Any], role: str | None) -> Any:
    """One message of an older message event: its JSON content, else its attributes."""
    if EVENT_CONTENT in attrs:
        content = parsed(attrs[EVENT_CONTENT])
        if isinstance(content, dict):
            if role is not None:
                content.setdefault("role", role)
            return content
    message = {k: v for k, v in attrs.items() if k not in _EVENT_BOOKKEEPING}
    if role is not None:
        message.setdefault("role", role)
    return message


def details_input(attrs: Attributes, span: Span, category: SpanCategory) -> Any:
    return _details(span, INPUT_MESSAGES)


def details_output(attrs: Attributes, span: Span, category: SpanCategory) -> Any:
    return _details(span, OUTPUT_MESSAGES)


def message_events(attrs: Attributes, span: Span, category: SpanCategory) -> Any:
    """The messages of ``gen_ai.<role>.message`` events, in order."""
    messages = [
        _event_message(_event_attributes(event), MESSAGE_EVENT_ROLES[event.name])
        for event in span.events
        if event.name in MESSAGE_EVENT_ROLES
    ]
    return messages or None


def choice_events(attrs: Attributes, span: Span, category: SpanCategory) -> Any:
    """The choices of ``gen_ai.choice`` events, in order."""
    choices = [
        _event_message(_event_attributes(event), None)
        for event in span.events
        if event.name == CHOICE_EVENT
    ]
    return choices or None


# Frameworks that speak GenAI may name the agent of an invoke_agent span in their own key too.
_PYDANTIC_AGENT_NAME = "agent_name"
_OPENINFERENCE_AGENT_NAME = "agent.name"

CONVENTION = Convention(
    name="gen_ai",
    classify=classify,
    agent_name_from_span_name=agent_name_from_span_name,
    keys=Keys(
        agent_name=(AGENT_NAME, _PYDANTIC_AGENT_NAME, _OPENINFERENCE_AGENT_NAME),
        agent_id=(AGENT_ID,),
        agent_version=(AGENT_VERSION,),
        agent_description=(AGENT_DESCRIPTION,),
        agent_name_hint=(AGENT_NAME,),
        tool_name=(TOOL_NAME,),
        tool_call_id=(TOOL_CALL_ID,),
        model=(RESPONSE_MODEL, REQUEST_MODEL),
        provider=(PROVIDER_NAME, SYSTEM),
        input=(TOOL_CALL_ARGUMENTS, INPUT_MESSAGES, PROMPT),
        output=(TOOL_CALL_RESULT, OUTPUT_MESSAGES, COMPLETION),
        session_id=(CONVERSATION_ID,),
        user_id=(USER_ID, ENDUSER_ID),
        error_type=(otel.ERROR_TYPE,),
        input_tokens=(USAGE_INPUT_TOKENS, USAGE_PROMPT_TOKENS),
        output_tokens=(USAGE_OUTPUT_TOKENS, USAGE_COMPLETION_TOKENS),
        total_tokens=(USAGE_TOTAL_TOKENS,),
        cache_read_input_tokens=(USAGE_CACHE_READ_TOKENS,),
        cache_write_input_tokens=(USAGE_CACHE_WRITE_TOKENS, USAGE_CACHE_CREATION_TOKENS),
        reasoning_output_tokens=(USAGE_REASONING_TOKENS,),
    ),
    markers=(OPERATION_NAME,),
    reads=frozenset({RETRIEVAL_DOCUMENTS}),
    usage_prefixes=(USAGE_PREFIX,),
    input_readers=(
        TextReader(details_input, "event:" + INFERENCE_DETAILS_EVENT, needs_events=True),
        TextReader(message_events, "event:gen_ai.*.message", needs_events=True),
    ),
    output_readers=(
        TextReader(details_output, "event:" + INFERENCE_DETAILS_EVENT, needs_events=True),
        TextReader(choice_events, "event:" + CHOICE_EVENT, needs_events=True),
    ),
)
