"""Strands Agents' own spans (scope ``strands.telemetry.tracer``): the GenAI conventions, with
Strands' message shapes.

Agents are ``invoke_agent <name>`` spans, each model turn an ``execute_event_loop_cycle``
wrapper (an operation the conventions do not define, so a plain span) around a ``chat`` LLM
span and ``execute_tool <tool>`` spans. Without the latest GenAI conventions, message
content is in the older per-message events with Bedrock-style content blocks as JSON text
(``content = '[{"text": "..."}]'``) and the agent's answer in a ``gen_ai.choice`` event's
``message``; with ``OTEL_SEMCONV_STABILITY_OPT_IN=gen_ai_latest_experimental`` it is in
inference-details events in GenAI parts, which the GenAI module reads.
"""

from __future__ import annotations

from typing import Any

from mapping.conventions import gen_ai
from mapping.conventions.base import Convention
from mapping.messages import NOT_JSON, parsed

SCOPES = ("strands.telemetry.tracer",)
_CONTENT = "content"
_CHOICE_MESSAGE = "message"
_BLOCK_TEXT = "text"


def content_blocks_text(content: Any) -> str | None:
    """The text blocks of Bedrock-style content (a list of ``{"text": ...}``, ``{"toolUse":
    ...}`` blocks, or that list as JSON), joined; plain text as it is."""
    blocks = parsed(content) if isinstance(content, str) else content
    if blocks is NOT_JSON:
        return content if isinstance(content, str) else None
    if not isinstance(blocks, list):
        return content if isinstance(content, str) else None
    texts = [
        block[_BLOCK_TEXT]
        for block in blocks
        if isinstance(block, dict) and isinstance(block.get(_BLOCK_TEXT), str)
    ]
    return "\n".join(texts) if texts else None


def user_message_event_text(data: Any) -> str | None:
    """The request in the agent span's message events (``gen_ai.user.message`` content)."""
    if not isinstance(data, list):
        return None
    for message in reversed(data):
        if isinstance(message, dict) and message.get("role") == "user" and _CONTENT in message:
            text = content_blocks_text(message[_CONTENT])
            if text is not None:
                return text
    return None


def choice_event_text(data: Any) -> str | None:
    """The answer in the agent span's last ``gen_ai.choice`` event (its ``message``)."""
    if not isinstance(data, list) or not data:
        return None
    last = data[-1]
    if isinstance(last, dict) and isinstance(last.get(_CHOICE_MESSAGE), str):
        return content_blocks_text(last[_CHOICE_MESSAGE])
    return None


CONVENTION = Convention(
    name="strands",
    classify=gen_ai.classify,
    scopes=SCOPES,
    keys=gen_ai.CONVENTION.keys,
    markers=gen_ai.CONVENTION.markers,
    agent_name_from_span_name=gen_ai.agent_name_from_span_name,
    usage_prefixes=gen_ai.CONVENTION.usage_prefixes,
    request_shapes=(user_message_event_text,),
    answer_shapes=(choice_event_text,),
)
