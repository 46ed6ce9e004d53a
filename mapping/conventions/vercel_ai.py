"""The Vercel AI SDK's own telemetry (``experimental_telemetry`` in ``ai`` 4 to 6, and
``LegacyOpenTelemetry`` of ``@ai-sdk/otel``): ``ai.*`` spans of the instrumentation scope
``ai``, told apart by ``ai.operationId``.

``ai.generateText`` / ``ai.streamText`` is one call of the SDK's tool loop: an agent run, named
by ``ai.telemetry.functionId`` (copied onto every span of the call). Each model call under it
is ``ai.generateText.doGenerate`` / ``ai.streamText.doStream`` and each tool execution
``ai.toolCall`` (``ai.toolCall.name``, ``.args``, ``.result``; a tool that throws is status
ERROR with an ``exception`` event, and the loop goes on). The run's request is in ``ai.prompt``
(``{"system": ..., "prompt": ...}`` or ``{"messages": [...]}``), its answer in
``ai.response.text``, its totals in ``ai.usage.*``. A sub-agent is a tool whose ``execute``
calls ``generateText`` again: its ``ai.generateText`` span sits under the ``ai.toolCall``.
``generateObject`` / ``streamObject`` (one structured call), ``embed`` and ``rerank`` pass
their children through. The AI SDK 7 integration ``OpenTelemetry`` of ``@ai-sdk/otel`` emits
GenAI conventions instead (read by ``gen_ai``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mapping.conventions.base import Attributes, Convention, Keys
from mapping.messages import last_user_text, message_list
from mapping.model import SpanCategory

OPERATION_ID = "ai.operationId"
FUNCTION_ID = "ai.telemetry.functionId"
MODEL_ID = "ai.model.id"
MODEL_PROVIDER = "ai.model.provider"
RESPONSE_MODEL = "ai.response.model"
PROMPT = "ai.prompt"
PROMPT_MESSAGES = "ai.prompt.messages"
RESPONSE_TEXT = "ai.response.text"
RESPONSE_OBJECT = "ai.response.object"
RESPONSE_TOOL_CALLS = "ai.response.toolCalls"
TOOL_CALL_NAME = "ai.toolCall.name"
TOOL_CALL_ID = "ai.toolCall.id"
TOOL_CALL_ARGS = "ai.toolCall.args"
TOOL_CALL_RESULT = "ai.toolCall.result"
EMBED_VALUE = "ai.value"
USAGE_PREFIX = "ai.usage."
# ``experimental_telemetry: {metadata: {sessionId, userId}}``: the names Langfuse and others
# document for the AI SDK (any metadata key becomes ``ai.telemetry.metadata.<key>``).
METADATA_PREFIX = "ai.telemetry.metadata."
METADATA_SESSION_IDS = tuple(
    METADATA_PREFIX + name for name in ("sessionId", "session_id", "threadId", "conversationId")
)
METADATA_USER_IDS = tuple(METADATA_PREFIX + name for name in ("userId", "user_id"))

OPERATION_CATEGORIES: Mapping[str, SpanCategory] = {
    "ai.generateText": "agent",
    "ai.streamText": "agent",
    "ai.generateObject": "container",
    "ai.streamObject": "container",
    "ai.embed": "container",
    "ai.embedMany": "container",
    "ai.rerank": "container",
    "ai.generateText.doGenerate": "llm",
    "ai.streamText.doStream": "llm",
    "ai.generateObject.doGenerate": "llm",
    "ai.streamObject.doStream": "llm",
    "ai.embed.doEmbed": "embedding",
    "ai.embedMany.doEmbed": "embedding",
    "ai.rerank.doRerank": "reranker",
    "ai.toolCall": "tool",
}


def classify(attrs: Attributes, span_name: str, scope_name: str) -> SpanCategory | None:
    operation = attrs.get(OPERATION_ID)
    return OPERATION_CATEGORIES.get(operation) if isinstance(operation, str) else None


def prompt_request(data: Any) -> str | None:
    """The request in ``ai.prompt``: its ``prompt`` (a string or messages), else the last user
    message of its ``messages`` (read by the generic message shapes)."""
    if not isinstance(data, dict):
        return None
    prompt = data.get("prompt")
    if isinstance(prompt, str):
        return prompt
    messages = message_list(prompt)
    return last_user_text(messages) if messages is not None else None


CONVENTION = Convention(
    name="vercel_ai",
    classify=classify,
    markers=(OPERATION_ID,),
    keys=Keys(
        agent_name=(FUNCTION_ID,),
        agent_name_hint=(FUNCTION_ID,),
        tool_name=(TOOL_CALL_NAME,),
        tool_call_id=(TOOL_CALL_ID,),
        model=(RESPONSE_MODEL, MODEL_ID),
        provider=(MODEL_PROVIDER,),
        input=(TOOL_CALL_ARGS, PROMPT, PROMPT_MESSAGES, EMBED_VALUE),
        output=(TOOL_CALL_RESULT, RESPONSE_TEXT, RESPONSE_OBJECT, RESPONSE_TOOL_CALLS),
        session_id=METADATA_SESSION_IDS,
        user_id=METADATA_USER_IDS,
        input_tokens=(USAGE_PREFIX + "inputTokens", USAGE_PREFIX + "promptTokens"),
        output_tokens=(USAGE_PREFIX + "outputTokens", USAGE_PREFIX + "completionTokens"),
        total_tokens=(USAGE_PREFIX + "totalTokens",),
        cache_read_input_tokens=(
            USAGE_PREFIX + "inputTokenDetails.cacheReadTokens",
            USAGE_PREFIX + "cachedInputTokens",
        ),
        cache_write_input_tokens=(USAGE_PREFIX + "inputTokenDetails.cacheWriteTokens",),
        reasoning_output_tokens=(
            USAGE_PREFIX + "outputTokenDetails.reasoningTokens",
            USAGE_PREFIX + "reasoningTokens",
        ),
    ),
    usage_prefixes=(USAGE_PREFIX,),
    request_shapes=(prompt_request,),
)
