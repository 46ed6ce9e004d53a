"""The last resort for spans no convention claims: a tool name or tool call id makes a tool
call, a model attribute an LLM call."""

from __future__ import annotations

from mapping.conventions import gen_ai, openinference
from mapping.conventions.base import Attributes, Convention
from mapping.model import SpanCategory

MODEL_KEYS = (gen_ai.RESPONSE_MODEL, gen_ai.REQUEST_MODEL, openinference.LLM_MODEL_NAME)


def classify(attrs: Attributes, span_name: str, scope_name: str) -> SpanCategory | None:
    if attrs.get(gen_ai.TOOL_NAME) or attrs.get(gen_ai.TOOL_CALL_ID):
        return "tool"
    for key in MODEL_KEYS:
        if attrs.get(key):
            return "llm"
    return None


CONVENTION = Convention(
    name="heuristic",
    classify=classify,
    markers=(gen_ai.TOOL_NAME, gen_ai.TOOL_CALL_ID, *MODEL_KEYS),
)
