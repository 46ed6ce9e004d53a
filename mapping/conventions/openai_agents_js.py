"""The OpenAI Agents SDK for TypeScript (``@openai/agents``) as OpenInference's JS
instrumentation (``@arizeai/openinference-instrumentation-openai-agents``) exports it:
OpenInference's rules, for spans of that instrumentation scope.

Each agent invocation is an ``AGENT`` span named after the agent that carries the name in
``graph.node.id`` only (no ``agent.name``). The trace root ``Agent workflow`` is an ``AGENT``
span with no node id: a wrapper, although it carries the run's request and final answer (lifted
from the first and last LLM calls of the whole trace, across agents). The agent span itself
carries no input or output (the instrumentation lifts them onto the LLM call's parent, a
``turn`` CHAIN span), so a run reads its own LLM calls. A handoff makes the receiving agent's
span a sibling of the sender's with ``graph.node.parent_id``; an agent used as a tool runs
under the tool's span. A tool that throws is a TOOL span with status ERROR, an ``exception``
event and, by default, the SDK's redacted message; the run goes on.
"""

from __future__ import annotations

from mapping.conventions import openinference
from mapping.conventions.base import Attributes, Convention, Keys
from mapping.model import SpanCategory

SCOPES = ("@arizeai/openinference-instrumentation-openai-agents",)
GRAPH_NODE_ID = "graph.node.id"


def classify(attrs: Attributes, span_name: str, scope_name: str) -> SpanCategory | None:
    kind = attrs.get(openinference.SPAN_KIND)
    if isinstance(kind, str) and kind.upper() == "AGENT":
        named = attrs.get(openinference.AGENT_NAME) or attrs.get(GRAPH_NODE_ID)
        return "agent" if named else "container"
    return openinference.classify(attrs, span_name, scope_name)


KEYS = Keys(
    **{
        **{name: getattr(openinference.KEYS, name) for name in openinference.KEYS.__slots__},
        "agent_name": (openinference.AGENT_NAME, GRAPH_NODE_ID),
    }
)

CONVENTION = Convention(
    name="openai_agents_js",
    classify=classify,
    scopes=SCOPES,
    keys=KEYS,
    markers=openinference.CONVENTION.markers,
    usage_prefixes=openinference.CONVENTION.usage_prefixes,
)
