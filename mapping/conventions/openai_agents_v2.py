"""The OpenAI Agents SDK as the OpenTelemetry contrib instrumentation
``opentelemetry-instrumentation-openai-agents-v2`` records it (scope
``opentelemetry.instrumentation.openai_agents``): the GenAI conventions, with its defaults.

The trace root ``Agent workflow`` is an ``invoke_agent`` span naming no agent: a wrapper, not
a run. Spans it cannot name (``gen_ai.operation.name = unknown``, the SDK's turn spans) and
every LLM and tool span carry its configured defaults, ``gen_ai.agent.name = OpenAI Agent``,
``gen_ai.agent.id = agent``, ``gen_ai.agent.description = OpenAI Agents instrumentation``
(the agent spans too, for id and description): placeholders, not an agent's identity. An
agent that handed off or called a tool records that call as its answer, the SDK item's Python
repr as text (``ResponseFunctionToolCall(...)``): no answer.
"""

from __future__ import annotations

import re
from typing import Any

from mapping.conventions import gen_ai, heuristics
from mapping.conventions.base import Attributes, Convention
from mapping.messages import final_assistant_text, message_list
from mapping.model import SpanCategory

SCOPES = ("opentelemetry.instrumentation.openai_agents",)
DEFAULT_AGENT_NAME = "OpenAI Agent"
DEFAULT_AGENT_ID = "agent"
DEFAULT_AGENT_DESCRIPTION = "OpenAI Agents instrumentation"
_ITEM_REPR = re.compile(r"Response\w*Call\(")


def classify(attrs: Attributes, span_name: str, scope_name: str) -> SpanCategory | None:
    category = gen_ai.classify(attrs, span_name, scope_name)
    if category == "agent":
        name = attrs.get(gen_ai.AGENT_NAME)
        return "agent" if name and name != DEFAULT_AGENT_NAME else "container"
    if category is None:  # its turn and handoff spans: plain, read with its placeholders
        return heuristics.classify(attrs, span_name, scope_name) or "plain"
    return category


def answer_unless_item_repr(data: Any) -> str | None:
    """The final assistant text, ``""`` when it is a tool call's repr (no answer)."""
    messages = message_list(data)
    if messages is None:
        return None
    text = final_assistant_text(messages)
    if text is not None and _ITEM_REPR.match(text):
        return ""
    return text


CONVENTION = Convention(
    name="openai_agents_v2",
    classify=classify,
    scopes=SCOPES,
    keys=gen_ai.CONVENTION.keys,
    markers=gen_ai.CONVENTION.markers,
    agent_name_from_span_name=gen_ai.agent_name_from_span_name,
    ignored_values={
        "agent_id": frozenset({DEFAULT_AGENT_ID}),
        "agent_description": frozenset({DEFAULT_AGENT_DESCRIPTION}),
        "agent_name_hint": frozenset({DEFAULT_AGENT_NAME}),
    },
    usage_prefixes=gen_ai.CONVENTION.usage_prefixes,
    answer_shapes=(answer_unless_item_repr,),
)
