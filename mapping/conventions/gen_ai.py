"""The OpenTelemetry GenAI semantic conventions (``gen_ai.*``).

A span is classified by ``gen_ai.operation.name``: ``invoke_agent`` is an agent invocation,
``invoke_workflow`` and ``create_agent`` pass their children through, ``execute_tool`` is a
tool call, ``chat`` / ``text_completion`` / ``generate_content`` an LLM call, and so on.
"""

from __future__ import annotations

from collections.abc import Mapping

from mapping.conventions import otel
from mapping.conventions.base import Attributes, Convention, Keys
from mapping.model import SpanCategory

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
RETRIEVAL_DOCUMENTS = "gen_ai.retrieval.documents"
USAGE_PREFIX = "gen_ai.usage."
USAGE_INPUT_TOKENS = "gen_ai.usage.input_tokens"
USAGE_OUTPUT_TOKENS = "gen_ai.usage.output_tokens"
USAGE_TOTAL_TOKENS = "gen_ai.usage.total_tokens"  # not in the conventions; often emitted
USAGE_PROMPT_TOKENS = "gen_ai.usage.prompt_tokens"  # deprecated
USAGE_COMPLETION_TOKENS = "gen_ai.usage.completion_tokens"  # deprecated

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


# Frameworks that speak GenAI may name the agent of an invoke_agent span in their own key too.
_PYDANTIC_AGENT_NAME = "agent_name"
_OPENINFERENCE_AGENT_NAME = "agent.name"

CONVENTION = Convention(
    name="gen_ai",
    classify=classify,
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
        error_type=(otel.ERROR_TYPE,),
        input_tokens=(USAGE_INPUT_TOKENS, USAGE_PROMPT_TOKENS),
        output_tokens=(USAGE_OUTPUT_TOKENS, USAGE_COMPLETION_TOKENS),
        total_tokens=(USAGE_TOTAL_TOKENS,),
    ),
    markers=(OPERATION_NAME,),
    reads=frozenset({RETRIEVAL_DOCUMENTS}),
    usage_prefixes=(USAGE_PREFIX,),
)
