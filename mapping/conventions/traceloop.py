"""OpenLLMetry (Traceloop): ``traceloop.span.kind`` from its decorators, ``llm.request.type``
from its LLM client instrumentations.

``@workflow`` spans pass their children through; ``@agent``, ``@task`` and ``@tool`` spans are
an agent invocation, a task and a tool call. The workflow and agent names are copied onto every
child span. LLM spans of older versions carry prompts and completions as indexed families
(``gen_ai.prompt.0.role``, ``gen_ai.prompt.0.content``, ...).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from opentelemetry.proto.common.v1.common_pb2 import KeyValue

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
INDEXED_PROMPT_PREFIX = "gen_ai.prompt."
INDEXED_COMPLETION_PREFIX = "gen_ai.completion."

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


def indexed_prompt(
    attrs: Attributes, attributes: Iterable[KeyValue], category: SpanCategory
) -> str | None:
    return indexed_messages(read_prefixed(attributes, (INDEXED_PROMPT_PREFIX,)))


def indexed_completion(
    attrs: Attributes, attributes: Iterable[KeyValue], category: SpanCategory
) -> str | None:
    return indexed_messages(read_prefixed(attributes, (INDEXED_COMPLETION_PREFIX,)))


_LLM: frozenset[SpanCategory] = frozenset({"llm"})

CONVENTION = Convention(
    name="traceloop",
    classify=classify,
    keys=Keys(
        agent_name=(ENTITY_NAME, gen_ai.AGENT_NAME),
        # The agent name is more specific than the workflow's; both are copied onto children.
        agent_name_hint=(gen_ai.AGENT_NAME, WORKFLOW_NAME),
        tool_name=(ENTITY_NAME,),
        input=(ENTITY_INPUT,),
        output=(ENTITY_OUTPUT,),
        input_tokens=(USAGE_PROMPT_TOKENS,),
        output_tokens=(USAGE_COMPLETION_TOKENS,),
        total_tokens=(USAGE_TOTAL_TOKENS,),
    ),
    markers=(SPAN_KIND, LLM_REQUEST_TYPE),
    usage_prefixes=(USAGE_PREFIX,),
    input_readers=(TextReader(indexed_prompt, categories=_LLM),),
    output_readers=(TextReader(indexed_completion, categories=_LLM),),
)
