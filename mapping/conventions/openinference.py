"""OpenInference (Arize), the generic rules for every framework it instruments.

A span is classified by ``openinference.span.kind``. An ``AGENT`` span is an agent invocation
only when it names the agent (``agent.name``); without a name it is a wrapper (a workflow root,
a graph node) and passes its children through. Per-framework refinements (keyed on the
instrumentation scope) come before this module in the registry.
"""

from __future__ import annotations

from collections.abc import Mapping

from mapping.conventions.base import Attributes, Convention, Keys
from mapping.model import SpanCategory

SPAN_KIND = "openinference.span.kind"
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
TOKEN_COUNT_PREFIX = "llm.token_count."
TOKEN_COUNT_PROMPT = "llm.token_count.prompt"
TOKEN_COUNT_COMPLETION = "llm.token_count.completion"
TOKEN_COUNT_TOTAL = "llm.token_count.total"
TOKEN_COUNT_CACHE_READ = "llm.token_count.prompt_details.cache_read"
TOKEN_COUNT_CACHE_WRITE = "llm.token_count.prompt_details.cache_write"
TOKEN_COUNT_REASONING = "llm.token_count.completion_details.reasoning"
# Indexed families read in a second pass on the spans that need them.
DOCUMENT_PREFIXES = ("retrieval.documents.", "reranker.output_documents.")

KIND_CATEGORIES: Mapping[str, SpanCategory] = {
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


def classify(attrs: Attributes, span_name: str, scope_name: str) -> SpanCategory | None:
    kind = attrs.get(SPAN_KIND)
    if not isinstance(kind, str):
        return None
    category = KIND_CATEGORIES.get(kind.upper())
    if category == "agent" and not attrs.get(AGENT_NAME):
        return "container"
    return category


KEYS = Keys(
    agent_name=(AGENT_NAME,),
    handoff_from=(GRAPH_NODE_PARENT_ID,),
    tool_name=(TOOL_NAME,),
    tool_call_id=(TOOL_CALL_ID,),
    model=(LLM_MODEL_NAME,),
    provider=(LLM_PROVIDER, LLM_SYSTEM),
    input=(INPUT_VALUE,),
    output=(OUTPUT_VALUE,),
    session_id=(SESSION_ID,),
    user_id=(USER_ID,),
    input_tokens=(TOKEN_COUNT_PROMPT,),
    output_tokens=(TOKEN_COUNT_COMPLETION,),
    total_tokens=(TOKEN_COUNT_TOTAL,),
    cache_read_input_tokens=(TOKEN_COUNT_CACHE_READ,),
    cache_write_input_tokens=(TOKEN_COUNT_CACHE_WRITE,),
    reasoning_output_tokens=(TOKEN_COUNT_REASONING,),
)

CONVENTION = Convention(
    name="openinference",
    classify=classify,
    keys=KEYS,
    markers=(SPAN_KIND,),
    usage_prefixes=(TOKEN_COUNT_PREFIX,),
)
