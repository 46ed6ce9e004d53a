"""Google ADK's own spans (scope ``gcp.vertex.agent``): the GenAI conventions, with ADK's
legacy LLM span and content keys, and its framing of a sub-agent's conversation.

Telemetry schema 2 (ADK's default) is plain GenAI: ``invoke_workflow`` (a container),
``invoke_agent``, ``generate_content`` and ``execute_tool`` spans. Schema 1 wraps each model
call in a ``call_llm`` span (no operation name) carrying the request and response as ADK's
own JSON (``gcp.vertex.agent.llm_request`` / ``llm_response``, Gemini-style ``contents`` and
``content``), with a GenAI ``generate_content`` span for the same call inside it; its tool
spans carry ``gcp.vertex.agent.tool_call_args`` / ``tool_response``.

When one agent transfers to another, ADK hands the sub-agent the conversation with user
messages that begin ``For context:`` quoting the other agent's calls: ADK's words, not the
user's, so they are skipped when reading the request.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from mapping.conventions import gen_ai, openinference
from mapping.conventions.base import Attributes, Convention
from mapping.messages import USER_ROLES, message_list, role_and_text
from mapping.model import SpanCategory

SCOPES = ("gcp.vertex.agent",)
LLM_REQUEST = "gcp.vertex.agent.llm_request"  # schema 1, on call_llm spans
LLM_RESPONSE = "gcp.vertex.agent.llm_response"
TOOL_CALL_ARGS = "gcp.vertex.agent.tool_call_args"  # schema 1, on execute_tool spans
TOOL_RESPONSE = "gcp.vertex.agent.tool_response"
CALL_LLM_SPAN_NAME = "call_llm"
TRANSCRIPT_PREFIX = "For context:"  # ADK quoting another agent to a sub-agent
# ADK's marker in gen_ai.system on its schema 1 spans: the framework, not the model's provider
SYSTEM_MARKER = "gcp.vertex.agent"
SESSION_ID = "gcp.vertex.agent.session_id"  # schema 1 (later ADKs say gen_ai.conversation.id)


def classify(attrs: Attributes, span_name: str, scope_name: str) -> SpanCategory | None:
    category = gen_ai.classify(attrs, span_name, scope_name)
    if category is None and span_name == CALL_LLM_SPAN_NAME:
        return "llm"
    return category


def request_without_transcripts(data: Any) -> str | None:
    """The last user message with text that is not ADK's transcript of another agent."""
    messages = message_list(data)
    if messages is None:
        return None
    for message in reversed(messages):
        role, text = role_and_text(message)
        if role in USER_ROLES and text is not None and not text.startswith(TRANSCRIPT_PREFIX):
            return text
    return None


CONVENTION = Convention(
    name="google_adk",
    classify=classify,
    scopes=SCOPES,
    keys=replace(
        gen_ai.CONVENTION.keys,
        input=(TOOL_CALL_ARGS, LLM_REQUEST, *gen_ai.CONVENTION.keys.input),
        output=(TOOL_RESPONSE, LLM_RESPONSE, *gen_ai.CONVENTION.keys.output),
        session_id=(*gen_ai.CONVENTION.keys.session_id, SESSION_ID),
    ),
    markers=(gen_ai.OPERATION_NAME, gen_ai.REQUEST_MODEL),
    ignored_values={"provider": frozenset({SYSTEM_MARKER})},
    agent_name_from_span_name=gen_ai.agent_name_from_span_name,
    usage_prefixes=gen_ai.CONVENTION.usage_prefixes,
    request_shapes=(request_without_transcripts,),
)


OPENINFERENCE_CONVENTION = Convention(
    name="google_adk_openinference",
    classify=openinference.classify,
    scopes=SCOPES,
    keys=replace(openinference.KEYS, handoff_from=()),
    markers=openinference.CONVENTION.markers,
    usage_prefixes=openinference.CONVENTION.usage_prefixes,
    request_shapes=(request_without_transcripts,),
)
"""ADK's spans as ``openinference-instrumentation-google-adk`` rewrites them: on ADK 2.x it
writes each model call's OpenInference attributes onto ADK's current span (the agent's
``invoke_agent`` span, which so becomes an ``LLM`` span carrying the last call). Read by
OpenInference's keys first: its token counts are the provider's, where ADK's own add the
reasoning tokens to the output tokens a second time."""
