"""The OpenAI Agents SDK as OpenInference instruments it (``openinference-instrumentation-
openai-agents``): OpenInference's rules, for spans of that instrumentation scope.

The trace root ``Agent workflow`` is tagged ``AGENT`` but names no agent: a wrapper, not a run.
Each agent invocation is an ``AGENT`` span named after the agent with ``agent.name``; a handoff
makes the receiving agent's span a sibling of the sender's, linked by ``graph.node.parent_id``.
The agent span itself carries no input or output.
"""

from __future__ import annotations

from mapping.conventions import openinference
from mapping.conventions.base import Convention

SCOPES = ("openinference.instrumentation.openai_agents",)

CONVENTION = Convention(
    name="openai_agents",
    classify=openinference.classify,
    scopes=SCOPES,
    keys=openinference.KEYS,
    markers=openinference.CONVENTION.markers,
    usage_prefixes=openinference.CONVENTION.usage_prefixes,
)
