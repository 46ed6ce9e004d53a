"""What the fake model says next: a deterministic function of one request.

The fake offers no intelligence. It reads the conversation a framework sends and:

1. If the request offers tools, it calls the first offered tool (in the order offered) that
   has not been called yet in this conversation, one call per turn: ordinary tools first,
   then one handoff or delegation tool (``transfer_to_*``, ``handoff*``, ``delegate_*``,
   ``ask_question_to_*``; spaces read as underscores) unless the conversation already holds
   one, then a tool that ends the run (``final_answer``).
2. When every offered tool has been called (or none is offered) it answers with a final text
   that quotes each tool result of the conversation — through ``final_answer`` when that
   tool is offered.

Arguments are built from each tool's JSON schema (see ``tool_arguments``). Token counts
depend only on the turn number (see ``usage_for_turn``).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from typing import Any

DEFAULT_CITY = "Paris"
DEFAULT_NUMBER = 21.0
FALLBACK_REQUEST = "What's the weather in Paris, in Fahrenheit?"

_FINAL_TOOLS = {"final_answer"}
_HANDOFF_PREFIXES = ("transfer_to_", "handoff", "delegate_", "ask_question_to_")


@dataclass(frozen=True)
class Tool:
    name: str
    description: str
    parameters: dict[str, Any]


@dataclass(frozen=True)
class ToolCall:
    name: str
    arguments: dict[str, Any]

    @property
    def arguments_json(self) -> str:
        return json.dumps(self.arguments)


@dataclass(frozen=True)
class Usage:
    """One turn's token counts, in the shape both OpenAI APIs report."""

    input_tokens: int
    output_tokens: int
    cached_tokens: int
    reasoning_tokens: int

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens


def usage_for_turn(turn: int) -> Usage:
    """Turn n (the number of tool calls already made in the conversation) costs
    120 + 40n input tokens of which 64n are cached, and 18 + 4n output tokens of which 8n
    are reasoning tokens on even turns (none on odd turns)."""
    return Usage(
        input_tokens=120 + 40 * turn,
        output_tokens=18 + 4 * turn,
        cached_tokens=64 * turn,
        reasoning_tokens=8 * turn if turn % 2 == 0 else 0,
    )


@dataclass
class Conversation:
    """What the fake needs from a request, whichever API it came through."""

    tools: list[Tool]
    user_texts: list[str] = field(default_factory=list)
    called_tools: list[str] = field(default_factory=list)
    tool_results: list[str] = field(default_factory=list)
    system_text: str = ""

    @property
    def request_text(self) -> str:
        """The user's request: the first user message (later ones are often tool-result
        wrappers or framework prompts), without smolagents' "New task:" line."""
        if not self.user_texts:
            return FALLBACK_REQUEST
        return self.user_texts[0].removeprefix("New task:\n")  # smolagents' task wrapper


@dataclass(frozen=True)
class Reply:
    """Either tool calls or a final text, with the turn's usage."""

    text: str | None
    tool_calls: list[ToolCall]
    usage: Usage


def _is_handoff(name: str) -> bool:
    """A tool that hands the work to another agent (CrewAI's "Delegate work to coworker" and
    "Ask question to coworker" count too: spaces are read as underscores)."""
    return name.lower().replace(" ", "_").startswith(_HANDOFF_PREFIXES)


def final_text(conversation: Conversation) -> str:
    if not conversation.tool_results:
        return f"Here is my answer to: {conversation.request_text}"
    results = "; ".join(_one_line(result) for result in conversation.tool_results)
    return f"Done. The tools returned: {results}"


def _one_line(text: str) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= 300 else flat[:297] + "..."


def next_reply(conversation: Conversation) -> Reply:
    turn = len(conversation.called_tools)
    usage = usage_for_turn(turn)
    called = set(conversation.called_tools)
    pending = [tool for tool in conversation.tools if tool.name not in called]
    regular = [t for t in pending if t.name not in _FINAL_TOOLS and not _is_handoff(t.name)]
    handoffs = [t for t in pending if _is_handoff(t.name)]
    finals = [t for t in pending if t.name in _FINAL_TOOLS]
    if any(_is_handoff(name) for name in called):
        handoffs = []
    for candidates in (regular, handoffs, finals):
        if candidates:
            tool = candidates[0]
            return Reply(None, [ToolCall(tool.name, tool_arguments(tool, conversation))], usage)
    return Reply(final_text(conversation), [], usage)


# --- arguments from a JSON schema --------------------------------------------------------

_CITY_NAMES = {"city", "location", "place", "town"}
_NUMBER_NAMES = {"value", "amount", "number", "temperature", "temp", "celsius", "degrees"}
_REQUEST_NAMES = {
    "request",
    "query",
    "task",
    "input",
    "question",
    "message",
    "prompt",
    "instruction",
    "instructions",
    "content",
    "text",
}
_AGENT_NAMES = {
    "to_agent",
    "agent",
    "agent_name",
    "coworker",
    "recipient",
    "target",
    "member_id",  # Agno teams
}
_FROM_UNIT_NAMES = {"from_unit", "source_unit", "from"}
_TO_UNIT_NAMES = {"to_unit", "target_unit", "unit", "to", "units"}


def _first_number(texts: list[str]) -> float | None:
    for text in reversed(texts):
        match = re.search(r"-?\d+(?:\.\d+)?", text)
        if match:
            return float(match.group())
    return None


def _agent_name(schema: dict[str, Any], tool: Tool, conversation: Conversation) -> str:
    enum = schema.get("enum")
    if isinstance(enum, list) and enum:
        weather = [str(v) for v in enum if "weather" in str(v).lower()]
        return weather[0] if weather else str(enum[0])
    for text in (tool.description, str(schema.get("description", "")), conversation.system_text):
        matches = re.findall(r"[\w-]*weather[\w-]*", text, re.IGNORECASE)
        # an identifier ("weather-agent") before the word in prose ("weather questions")
        identifiers = [m for m in matches if "-" in m or "_" in m]
        if identifiers or matches:
            return (identifiers or matches)[0]
    return "weather-agent"


def _value_for(name: str, schema: dict[str, Any], tool: Tool, conversation: Conversation) -> Any:
    kind = schema.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), "string")
    if "anyOf" in schema and kind is None:
        options = [s for s in schema["anyOf"] if isinstance(s, dict) and s.get("type") != "null"]
        if options:
            return _value_for(name, options[0], tool, conversation)
    key = name.lower()
    if tool.name in _FINAL_TOOLS:
        return final_text(conversation)
    if key in _AGENT_NAMES:
        return _agent_name(schema, tool, conversation)
    enum = schema.get("enum")
    if isinstance(enum, list) and enum:
        return enum[0]
    if key in _CITY_NAMES:
        return DEFAULT_CITY
    if kind in ("number", "integer") or key in _NUMBER_NAMES:
        number = _first_number(conversation.tool_results)
        value = DEFAULT_NUMBER if number is None else number
        return int(value) if kind == "integer" else value
    if key in _FROM_UNIT_NAMES:
        return "celsius"
    if key in _TO_UNIT_NAMES:
        return "fahrenheit"
    if key in _REQUEST_NAMES or key.endswith(("request", "query", "task", "question")):
        return conversation.request_text
    if key == "reason":
        return "The user asked about the weather."
    if key == "context":
        return conversation.request_text
    if kind == "boolean":
        return True
    if kind == "array":
        return []
    if kind == "object":
        return {}
    return conversation.request_text


def tool_arguments(tool: Tool, conversation: Conversation) -> dict[str, Any]:
    """Arguments for every required property (every property when none is marked required).

    Well-known names get sensible values: a city is "Paris"; a number is the first number
    in the latest tool result (else 21.0); units go from celsius to fahrenheit; a request,
    query, task or question is the user's request; an agent name is the offered one that
    mentions "weather"; ``final_answer``'s argument is the final text.
    """
    properties = tool.parameters.get("properties") or {}
    required = tool.parameters.get("required")
    names = list(required) if required else list(properties)
    return {
        name: _value_for(name, properties.get(name) or {}, tool, conversation) for name in names
    }
