"""Attribute keys of the conventions mapping reads, and the classification of one span.

A span is classified by the first rule that matches, in this order: the OpenTelemetry GenAI
operation name, the OpenInference span kind, the OpenLLMetry (Traceloop) span kind or request
type, Pydantic AI's own pre-semconv agent span, then the heuristics (a tool name or call id
makes a tool, a model attribute makes an LLM call). Anything else is a plain span.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mapping.model import SpanCategory

# OpenTelemetry GenAI semantic conventions
GEN_AI_OPERATION_NAME = "gen_ai.operation.name"
GEN_AI_AGENT_NAME = "gen_ai.agent.name"
GEN_AI_AGENT_ID = "gen_ai.agent.id"
GEN_AI_AGENT_VERSION = "gen_ai.agent.version"
GEN_AI_AGENT_DESCRIPTION = "gen_ai.agent.description"
GEN_AI_TOOL_NAME = "gen_ai.tool.name"
GEN_AI_TOOL_CALL_ID = "gen_ai.tool.call.id"
GEN_AI_TOOL_CALL_ARGUMENTS = "gen_ai.tool.call.arguments"
GEN_AI_TOOL_CALL_RESULT = "gen_ai.tool.call.result"
GEN_AI_INPUT_MESSAGES = "gen_ai.input.messages"
GEN_AI_OUTPUT_MESSAGES = "gen_ai.output.messages"
GEN_AI_PROMPT = "gen_ai.prompt"  # deprecated, still emitted
GEN_AI_COMPLETION = "gen_ai.completion"  # deprecated, still emitted
GEN_AI_REQUEST_MODEL = "gen_ai.request.model"
GEN_AI_RESPONSE_MODEL = "gen_ai.response.model"
GEN_AI_PROVIDER_NAME = "gen_ai.provider.name"
GEN_AI_SYSTEM = "gen_ai.system"  # deprecated name of gen_ai.provider.name
GEN_AI_CONVERSATION_ID = "gen_ai.conversation.id"
GEN_AI_RETRIEVAL_DOCUMENTS = "gen_ai.retrieval.documents"
ERROR_TYPE = "error.type"

# OpenInference
OPENINFERENCE_SPAN_KIND = "openinference.span.kind"
AGENT_NAME = "agent.name"
TOOL_NAME = "tool.name"
TOOL_CALL_ID = "tool_call.id"
INPUT_VALUE = "input.value"
OUTPUT_VALUE = "output.value"
LLM_MODEL_NAME = "llm.model_name"
LLM_PROVIDER = "llm.provider"
LLM_SYSTEM = "llm.system"
SESSION_ID = "session.id"
USER_ID = "user.id"
GRAPH_NODE_PARENT_ID = "graph.node.parent_id"

# OpenLLMetry / Traceloop
TRACELOOP_SPAN_KIND = "traceloop.span.kind"
TRACELOOP_ENTITY_NAME = "traceloop.entity.name"
TRACELOOP_ENTITY_INPUT = "traceloop.entity.input"
TRACELOOP_ENTITY_OUTPUT = "traceloop.entity.output"
TRACELOOP_WORKFLOW_NAME = "traceloop.workflow.name"
LLM_REQUEST_TYPE = "llm.request.type"

# Pydantic AI / Logfire (what the conventions above lack)
PYDANTIC_AGENT_NAME = "agent_name"
PYDANTIC_MODEL_NAME = "model_name"
PYDANTIC_FINAL_RESULT = "final_result"
PYDANTIC_ALL_MESSAGES = "pydantic_ai.all_messages"
PYDANTIC_ALL_MESSAGES_EVENTS = "all_messages_events"  # instrumentation versions 1 and 2
PYDANTIC_TOOL_ARGUMENTS = "tool_arguments"  # instrumentation version 1
PYDANTIC_TOOL_RESPONSE = "tool_response"  # instrumentation version 1
PYDANTIC_AGENT_RUN_SPAN_NAME = "agent run"

INPUT_TOKEN_KEYS = (
    "gen_ai.usage.input_tokens",
    "gen_ai.usage.prompt_tokens",
    "llm.token_count.prompt",
    "llm.usage.prompt_tokens",
    "gen_ai.aggregated_usage.input_tokens",
)
OUTPUT_TOKEN_KEYS = (
    "gen_ai.usage.output_tokens",
    "gen_ai.usage.completion_tokens",
    "llm.token_count.completion",
    "llm.usage.completion_tokens",
    "gen_ai.aggregated_usage.output_tokens",
)
TOTAL_TOKEN_KEYS = (
    "gen_ai.usage.total_tokens",
    "llm.token_count.total",
    "llm.usage.total_tokens",
    "gen_ai.aggregated_usage.total_tokens",
)
# AgentGuide's own keys, on the spans its REST ingest writes for runs made without OpenTelemetry.
AGENTGUIDE_RUN_STATUS = "agentguide.run.status"
AGENTGUIDE_STEP_STATUS = "agentguide.step.status"
AGENTGUIDE_METRIC_PREFIX = "agentguide.metric."
DECLARABLE_STATUSES = frozenset({"PENDING", "RUNNING", "SUCCESS", "FAILED", "CANCELLED"})

USAGE_PREFIXES = (
    "gen_ai.usage.",
    "gen_ai.aggregated_usage.",
    "llm.token_count.",
    "llm.usage.",
    AGENTGUIDE_METRIC_PREFIX,
)

# Keys read from indexed families on the rare spans that need them (a second, filtered pass).
OPENINFERENCE_DOCUMENT_PREFIXES = ("retrieval.documents.", "reranker.output_documents.")
INDEXED_PROMPT_PREFIX = "gen_ai.prompt."
INDEXED_COMPLETION_PREFIX = "gen_ai.completion."

WANTED_KEYS: frozenset[str] = frozenset(
    {
        AGENTGUIDE_RUN_STATUS,
        AGENTGUIDE_STEP_STATUS,
        GEN_AI_OPERATION_NAME,
        GEN_AI_AGENT_NAME,
        GEN_AI_AGENT_ID,
        GEN_AI_AGENT_VERSION,
        GEN_AI_AGENT_DESCRIPTION,
        GEN_AI_TOOL_NAME,
        GEN_AI_TOOL_CALL_ID,
        GEN_AI_TOOL_CALL_ARGUMENTS,
        GEN_AI_TOOL_CALL_RESULT,
        GEN_AI_INPUT_MESSAGES,
        GEN_AI_OUTPUT_MESSAGES,
        GEN_AI_PROMPT,
        GEN_AI_COMPLETION,
        GEN_AI_REQUEST_MODEL,
        GEN_AI_RESPONSE_MODEL,
        GEN_AI_PROVIDER_NAME,
        GEN_AI_SYSTEM,
        GEN_AI_CONVERSATION_ID,
        GEN_AI_RETRIEVAL_DOCUMENTS,
        ERROR_TYPE,
        OPENINFERENCE_SPAN_KIND,
        AGENT_NAME,
        TOOL_NAME,
        TOOL_CALL_ID,
        INPUT_VALUE,
        OUTPUT_VALUE,
        LLM_MODEL_NAME,
        LLM_PROVIDER,
        LLM_SYSTEM,
        SESSION_ID,
        USER_ID,
        GRAPH_NODE_PARENT_ID,
        TRACELOOP_SPAN_KIND,
        TRACELOOP_ENTITY_NAME,
        TRACELOOP_ENTITY_INPUT,
        TRACELOOP_ENTITY_OUTPUT,
        TRACELOOP_WORKFLOW_NAME,
        LLM_REQUEST_TYPE,
        PYDANTIC_AGENT_NAME,
        PYDANTIC_MODEL_NAME,
        PYDANTIC_FINAL_RESULT,
        PYDANTIC_ALL_MESSAGES,
        PYDANTIC_ALL_MESSAGES_EVENTS,
        PYDANTIC_TOOL_ARGUMENTS,
        PYDANTIC_TOOL_RESPONSE,
    }
)

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

GEN_AI_OPERATION_CATEGORIES: Mapping[str, SpanCategory] = {
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

OPENINFERENCE_KIND_CATEGORIES: Mapping[str, SpanCategory] = {
    "AGENT": "agent",  # "container" when the span names no agent
    "TOOL": "tool",
    "LLM": "llm",
    "CHAIN": "plain",
    "RETRIEVER": "retriever",
    "EMBEDDING": "embedding",
    "RERANKER": "reranker",
    "GUARDRAIL": "guardrail",
    "EVALUATOR": "evaluator",
    "PROMPT": "plain",
}

TRACELOOP_KIND_CATEGORIES: Mapping[str, SpanCategory] = {
    "workflow": "container",
    "agent": "agent",
    "task": "task",
    "tool": "tool",
}

TRACELOOP_REQUEST_TYPE_CATEGORIES: Mapping[str, SpanCategory] = {
    "embedding": "embedding",
    "rerank": "reranker",
}

MODEL_KEYS = (GEN_AI_RESPONSE_MODEL, GEN_AI_REQUEST_MODEL, LLM_MODEL_NAME)


def classify(attrs: Mapping[str, Any], span_name: str) -> tuple[SpanCategory, str | None]:
    """The category of a span and the convention that decided it."""
    operation = attrs.get(GEN_AI_OPERATION_NAME)
    if isinstance(operation, str):
        category = GEN_AI_OPERATION_CATEGORIES.get(operation)
        if category is not None:
            return category, "gen_ai"

    kind = attrs.get(OPENINFERENCE_SPAN_KIND)
    if isinstance(kind, str):
        category = OPENINFERENCE_KIND_CATEGORIES.get(kind.upper())
        if category == "agent" and not attrs.get(AGENT_NAME):
            return "container", "openinference"
        if category is not None:
            return category, "openinference"

    kind = attrs.get(TRACELOOP_SPAN_KIND)
    if isinstance(kind, str):
        category = TRACELOOP_KIND_CATEGORIES.get(kind)
        if category is not None:
            return category, "traceloop"
    request_type = attrs.get(LLM_REQUEST_TYPE)
    if isinstance(request_type, str) and request_type:
        return TRACELOOP_REQUEST_TYPE_CATEGORIES.get(request_type, "llm"), "traceloop"

    if span_name == PYDANTIC_AGENT_RUN_SPAN_NAME and attrs.get(PYDANTIC_AGENT_NAME):
        return "agent", "pydantic_ai"

    if attrs.get(GEN_AI_TOOL_NAME) or attrs.get(GEN_AI_TOOL_CALL_ID):
        return "tool", "heuristic"
    for key in MODEL_KEYS:
        if attrs.get(key):
            return "llm", "heuristic"
    return "plain", None
