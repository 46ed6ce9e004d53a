"""CrewAI as OpenInference instruments it (``openinference-instrumentation-crewai``; its model
calls are the openai or LiteLLM instrumentation's spans).

``Crew_<id>.kickoff`` is a wrapper. An agent run is ``<role>._execute_core`` (``AGENT``, no
``agent.name``): the agent is ``graph.node.id``, the role. Its ``input.value`` is the agent's
configuration; its ``output.value`` is the task's output as JSON, whose ``description`` is the
request and ``raw`` the answer. A delegation (the ``Delegate work to coworker`` and ``Ask
question to coworker`` tools) runs the coworker inside the tool span, with no agent span of its
own: that tool span is read as the coworker's run, named by its ``coworker`` argument, with the
delegated ``task`` as its request and the tool's output as its answer.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from opentelemetry.proto.trace.v1.trace_pb2 import Span

from mapping.conventions import openinference
from mapping.conventions.base import Attributes, Convention, TextReader
from mapping.messages import NOT_JSON, parsed
from mapping.model import SpanCategory

SCOPES = ("openinference.instrumentation.crewai",)
GRAPH_NODE_ID = "graph.node.id"
AGENT_SUFFIX = "._execute_core"
DELEGATION_TOOLS = frozenset({"Delegate work to coworker", "Ask question to coworker"})


def _is_delegation(attrs: Attributes) -> bool:
    return attrs.get(openinference.TOOL_NAME) in DELEGATION_TOOLS


def _json_text(value: Any, field: str) -> str | None:
    data = parsed(value)
    text = data.get(field) if data is not NOT_JSON and isinstance(data, dict) else None
    return text if isinstance(text, str) and text else None


def classify(attrs: Attributes, span_name: str, scope_name: str) -> SpanCategory | None:
    kind = attrs.get(openinference.SPAN_KIND)
    if kind == "AGENT" and span_name.endswith(AGENT_SUFFIX):
        return "agent"
    if kind == "TOOL" and _is_delegation(attrs):
        return "agent"
    return openinference.classify(attrs, span_name, scope_name)


def coworker(attrs: Attributes) -> str | None:
    """The agent a delegation tool span hands the work to."""
    if not _is_delegation(attrs):
        return None
    return _json_text(attrs.get(openinference.INPUT_VALUE), "coworker")


def agent_name_from_span_name(span_name: str) -> str | None:
    return span_name.removesuffix(AGENT_SUFFIX) or None


def delegated_task(attrs: Attributes, span: Span, category: SpanCategory) -> str | None:
    """The task a delegation tool hands over."""
    if not _is_delegation(attrs):
        return None
    return _json_text(attrs.get(openinference.INPUT_VALUE), "task")


def task_description(attrs: Attributes, span: Span, category: SpanCategory) -> str | None:
    """The task an agent ran: its output's ``description``."""
    if _is_delegation(attrs):
        return None
    return _json_text(attrs.get(openinference.OUTPUT_VALUE), "description")


def raw_answer(data: Any) -> str | None:
    """The ``raw`` answer of a task output."""
    text = data.get("raw") if isinstance(data, dict) else None
    return text if isinstance(text, str) else None


_AGENT: frozenset[SpanCategory] = frozenset({"agent"})

CONVENTION = Convention(
    name="crewai",
    classify=classify,
    scopes=SCOPES,
    keys=replace(openinference.KEYS, agent_name=(GRAPH_NODE_ID,)),
    markers=openinference.CONVENTION.markers,
    usage_prefixes=openinference.CONVENTION.usage_prefixes,
    agent_name_from_attributes=coworker,
    agent_name_from_span_name=agent_name_from_span_name,
    input_readers=(
        TextReader(delegated_task, openinference.INPUT_VALUE, _AGENT, before_keys=True),
        TextReader(task_description, openinference.OUTPUT_VALUE, _AGENT, before_keys=True),
    ),
    answer_shapes=(raw_answer,),
)
