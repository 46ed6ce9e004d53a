"""OpenLLMetry (Traceloop): ``traceloop.span.kind`` from its decorators, ``llm.request.type``
from its LLM client instrumentations.

``@workflow`` spans pass their children through; ``@agent``, ``@task`` and ``@tool`` spans are
an agent invocation, a task and a tool call. The workflow and agent names are copied onto every
child span. LLM spans of older versions carry prompts and completions as indexed families
(``gen_ai.prompt.0.role``, ``gen_ai.prompt.0.content``, ...).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from opentelemetry.proto.trace.v1.trace_pb2 import Span

from mapping.conventions import gen_ai
from mapping.conventions.base import Attributes, Convention, Keys, TextReader
from mapping.messages import indexed_messages
from mapping.model import SpanCategory
from mapping.values import read_prefixed

SPAN_KIND = "traceloop.span.kind"
ENTITY_NAME = "traceloop.entity.name"
ENTITY_INPUT = "traceloop.entity.input"
ENTITY_OUTPUT = "traceloop.entity.output"
WORKFLOW_NAME = "traceloop.workflow.name"
LLM_REQUEST_TYPE = "llm.request.type"
USAGE_PREFIX = "llm.usage."
USAGE_PROMPT_TOKENS = "llm.usage.prompt_tokens"
USAGE_COMPLETION_TOKENS = "llm.usage.completion_tokens"
USAGE_TOTAL_TOKENS = "llm.usage.total_tokens"
# OpenLLMetry's own spelling of the cache counts, before the GenAI conventions named them.
USAGE_CACHE_READ_TOKENS = "gen_ai.usage.cache_read_input_tokens"
USAGE_CACHE_CREATION_TOKENS = "gen_ai.usage.cache_creation_input_tokens"
AGENT_SPAN_NAME_SUFFIX = ".agent"
INDEXED_PROMPT_PREFIX = "gen_ai.prompt."
INDEXED_COMPLETION_PREFIX = "gen_ai.completion."
# ``Traceloop.set_association_properties({...})`` / ``withAssociationProperties``: the app's own
# names, snake_case from Python and camelCase from TypeScript by custom; LangChain metadata
# (a LangGraph ``thread_id``) lands here too.
ASSOCIATION_PREFIX = "traceloop.association.properties."
ASSOCIATION_SESSION_IDS = tuple(
    ASSOCIATION_PREFIX + name
    for name in ("session_id", "sessionId", "thread_id", "threadId", "conversation_id")
)
ASSOCIATION_USER_IDS = tuple(ASSOCIATION_PREFIX + name for name in ("user_id", "userId"))

KIND_CATEGORIES: Mapping[str, SpanCategory] = {
    "workflow": "container",
    "agent": "agent",
    "task": "task",
    "tool": "tool",
}

REQUEST_TYPE_CATEGORIES: Mapping[str, SpanCategory] = {
    "embedding": "embedding",
    "rerank": "reranker",
}


def classify(attrs: Attributes, span_name: str, scope_name: str) -> SpanCategory | None:
    kind = attrs.get(SPAN_KIND)
    if isinstance(kind, str):
        category = KIND_CATEGORIES.get(kind)
        if category is not None:
            return category
    request_type = attrs.get(LLM_REQUEST_TYPE)
    if isinstance(request_type, str) and request_type:
        return REQUEST_TYPE_CATEGORIES.get(request_type, "llm")
    return None


def indexed_prompt(attrs: Attributes, span: Span, category: SpanCategory) -> str | None:
    return indexed_messages(read_prefixed(span.attributes, (INDEXED_PROMPT_PREFIX,)))


def indexed_completion(attrs: Attributes, span: Span, category: SpanCategory) -> str | None:
    return indexed_messages(read_prefixed(span.attributes, (INDEXED_COMPLETION_PREFIX,)))


def agent_name_from_span_name(span_name: str) -> str | None:
    """``<name>.agent``, the span name of an ``@agent``-decorated function."""
    if span_name.endswith(AGENT_SPAN_NAME_SUFFIX):
        return span_name[: -len(AGENT_SPAN_NAME_SUFFIX)] or None
    return None


def single_argument(value: Any) -> str | None:
    """The one text argument of a decorated call, recorded as ``{"args": [...], "kwargs":
    {...}}``: what a person passed the agent."""
    if not isinstance(value, dict) or set(value) != {"args", "kwargs"}:
        return None
    args, kwargs = value["args"], value["kwargs"]
    if not isinstance(args, list) or not isinstance(kwargs, dict):
        return None
    arguments = [*args, *kwargs.values()]
    if len(arguments) == 1 and isinstance(arguments[0], str):
        return arguments[0]
    return None


_LLM: frozenset[SpanCategory] = frozenset({"llm"})

CONVENTION = Convention(
    name="traceloop",
    classify=classify,
    agent_name_from_span_name=agent_name_from_span_name,
    keys=Keys(
        agent_name=(ENTITY_NAME, gen_ai.AGENT_NAME),
        # The agent name is more specific than the workflow's; both are copied onto children.
        agent_name_hint=(gen_ai.AGENT_NAME, WORKFLOW_NAME),
        tool_name=(ENTITY_NAME,),
        input=(ENTITY_INPUT,),
        output=(ENTITY_OUTPUT,),
        session_id=ASSOCIATION_SESSION_IDS,
        user_id=ASSOCIATION_USER_IDS,
        input_tokens=(USAGE_PROMPT_TOKENS,),
        output_tokens=(USAGE_COMPLETION_TOKENS,),
        total_tokens=(USAGE_TOTAL_TOKENS,),
        cache_read_input_tokens=(USAGE_CACHE_READ_TOKENS,),
        cache_write_input_tokens=(USAGE_CACHE_CREATION_TOKENS,),
    ),
    markers=(SPAN_KIND, LLM_REQUEST_TYPE),
    usage_prefixes=(USAGE_PREFIX,),
    input_readers=(TextReader(indexed_prompt, INDEXED_PROMPT_PREFIX + "*", categories=_LLM),),
    output_readers=(
        TextReader(indexed_completion, INDEXED_COMPLETION_PREFIX + "*", categories=_LLM),
    ),
    request_shapes=(single_argument,),
)
