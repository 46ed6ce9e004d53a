"""LangGraph (LangChain) as OpenInference instruments it
(``openinference-instrumentation-langchain``): OpenInference's rules, refined.

The instrumentation tags a run ``AGENT`` when its name contains "agent", otherwise by LangChain
run type, and never sets ``agent.name``. The agent run is the graph's span, named after the
graph (``create_react_agent(name=...)``): a span whose ``metadata`` has ``ls_integration`` =
``langgraph`` and no ``langgraph_node`` (the top graph), or an ``AGENT`` span whose
``langgraph_node`` is not its own name (a graph run inside another graph's node, such as an
agent called from a tool; it inherits that node's metadata). A graph node (``langgraph_node``
equal to the span name, like the ``agent`` node) is a wrapper, and a span with ``tool.name`` is
a tool call even when tagged ``AGENT``. A nested graph whose name lacks "agent" is tagged
``CHAIN`` like every other runnable inside a node and cannot be told apart: it stays a wrapper.

The graph's input and output are LangChain message state (``{"messages": [...]}``); its output
serialises messages as ``{"type": "ai", "data": {"content": ...}}``, read as the last AI text.
"""

from __future__ import annotations

from typing import Any

from mapping.conventions import openinference
from mapping.conventions.base import Attributes, Convention
from mapping.messages import ASSISTANT_ROLES, NOT_JSON, parsed
from mapping.model import SpanCategory

SCOPES = ("openinference.instrumentation.langchain",)
METADATA = "metadata"
LANGGRAPH_NODE = "langgraph_node"
LS_INTEGRATION = "ls_integration"
# Where LangGraph (its checkpointer's ``configurable``) and LangChain apps put a conversation's
# id in a run's metadata; OpenInference copies them into ``session.id`` in recent versions.
SESSION_METADATA_KEYS = ("session_id", "thread_id", "conversation_id")
USER_METADATA_KEYS = ("user_id",)


def _metadata(attrs: Attributes) -> dict[str, Any]:
    value = parsed(attrs.get(METADATA))
    return value if value is not NOT_JSON and isinstance(value, dict) else {}


def _metadata_text(attrs: Attributes, names: tuple[str, ...]) -> str | None:
    if METADATA not in attrs:
        return None
    metadata = _metadata(attrs)
    for name in names:
        value = metadata.get(name)
        if isinstance(value, str) and value:
            return value
        if isinstance(value, int) and not isinstance(value, bool):
            return str(value)
    return None


def session_id_from_metadata(attrs: Attributes) -> str | None:
    """The session a span's LangChain ``metadata`` names (``thread_id`` and its kin)."""
    return _metadata_text(attrs, SESSION_METADATA_KEYS)


def user_id_from_metadata(attrs: Attributes) -> str | None:
    return _metadata_text(attrs, USER_METADATA_KEYS)


def classify(attrs: Attributes, span_name: str, scope_name: str) -> SpanCategory | None:
    if attrs.get(openinference.TOOL_NAME):
        return "tool"
    kind = attrs.get(openinference.SPAN_KIND)
    if kind in ("AGENT", "CHAIN"):
        metadata = _metadata(attrs)
        node = metadata.get(LANGGRAPH_NODE)
        if node is None and metadata.get(LS_INTEGRATION) == "langgraph":
            return "agent"
        if kind == "AGENT":
            return "agent" if node is not None and node != span_name else "container"
    return openinference.classify(attrs, span_name, scope_name)


def agent_name_from_span_name(span_name: str) -> str | None:
    return span_name or None


def final_ai_text(data: Any) -> str | None:
    """The last AI message's text in a graph state whose messages are serialised as
    ``{"type": "ai", "data": {"content": ...}}``."""
    messages = data.get("messages") if isinstance(data, dict) else None
    if not isinstance(messages, list):
        return None
    for message in reversed(messages):
        if not isinstance(message, dict) or message.get("type") not in ASSISTANT_ROLES:
            continue
        content = message.get("data", {}).get("content") if "data" in message else None
        return content if isinstance(content, str) else None
    return None


CONVENTION = Convention(
    name="langgraph",
    classify=classify,
    scopes=SCOPES,
    keys=openinference.KEYS,
    markers=openinference.CONVENTION.markers,
    reads=frozenset({METADATA}),
    usage_prefixes=openinference.CONVENTION.usage_prefixes,
    agent_name_from_span_name=agent_name_from_span_name,
    session_id_from_attributes=session_id_from_metadata,
    user_id_from_attributes=user_id_from_metadata,
    answer_shapes=(final_ai_text,),
)
