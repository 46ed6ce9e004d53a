"""Readable text from the message lists that conventions put in attributes and events.

Message lists come in several shapes, as JSON strings or as structured attribute values:

- GenAI: ``{"role": "user", "parts": [{"type": "text", "content": "..."}]}``
- OpenAI chat: ``{"role": "user", "content": "..." | [{"type": "text", "text": "..."}]}``,
  wrapped as ``{"messages": [...]}`` (a request) or ``{"choices": [{"message": ...}]}``
- OpenAI Responses / Agents SDK items: ``{"type": "message", "role": "assistant", "content":
  [{"type": "output_text", "text": "..."}]}``, ``{"type": "function_call", ...}``, wrapped as
  ``{"output": [...]}`` (a response)
- LangChain: ``{"type": "human" | "ai", "content": ...}``, ``["user", "..."]`` pairs, and
  serialized ``{"lc": 1, "id": [..., "HumanMessage"], "kwargs": {"content": ...}}``, in a
  graph state ``{"messages": [...]}``
- Gemini: ``{"role": "model", "parts": [{"text": "..."}]}``, wrapped as ``{"contents": [...]}``
  (a request), ``{"content": {...}}`` (a response, Google ADK's ``LlmResponse``) or
  ``{"candidates": [{"content": {...}}]}``
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from mapping.values import display_text

USER_ROLES = frozenset({"user", "human"})
ASSISTANT_ROLES = frozenset({"assistant", "ai", "model"})
_TEXT_PART_TYPES = frozenset({"text", "input_text", "output_text"})
_LANGCHAIN_CLASSES = {"HumanMessage": "human", "AIMessage": "ai", "AIMessageChunk": "ai"}
_LIST_WRAPPERS = ("messages", "choices", "output", "contents", "candidates")
NOT_JSON = object()


def parsed(value: Any) -> Any:
    """A JSON string parsed (``NOT_JSON`` when it is not JSON); any other value as it is."""
    if isinstance(value, str | bytes):
        try:
            return orjson.loads(value)
        except orjson.JSONDecodeError:
            return NOT_JSON
    return value


def _text_of(content: Any) -> str | None:
    """The text of a message's content or parts: a string, or the text parts joined."""
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        return None
    texts = []
    for part in content:
        if isinstance(part, str):
            texts.append(part)
        elif isinstance(part, dict) and part.get("type", "text") in _TEXT_PART_TYPES:
            text = part.get("content", part.get("text"))
            if isinstance(text, str):
                texts.append(text)
    return "\n".join(texts) if texts else None


def role_and_text(message: Any) -> tuple[str | None, str | None]:
    """The role of one message (user, assistant, ... in any vocabulary) and its text."""
    if isinstance(message, list) and len(message) == 2 and isinstance(message[0], str):
        return message[0], message[1] if isinstance(message[1], str) else None
    if not isinstance(message, dict):
        return None, None
    if "message" in message and isinstance(message["message"], dict):  # a chat choice
        inner = message["message"]
        return inner.get("role", "assistant"), role_and_text(inner)[1]
    if isinstance(message.get("content"), dict):  # a Gemini candidate or response
        inner = message["content"]
        return inner.get("role", "model"), role_and_text(inner)[1]
    kwargs = message.get("kwargs")
    if message.get("lc") is not None and isinstance(kwargs, dict):  # serialized LangChain
        ids = message.get("id")
        role = kwargs.get("type")
        if role is None and isinstance(ids, list) and ids:
            role = _LANGCHAIN_CLASSES.get(str(ids[-1]))
        return role, _text_of(kwargs.get("content"))
    role = message.get("role")
    kind = message.get("type")
    if role is None:
        if kind == "function_call":  # a Responses tool call: the model's turn, no text
            return "assistant", None
        role = kind  # LangChain message dicts
    text = _text_of(message.get("parts"))
    if text is None:
        text = _text_of(message.get("content"))
    return role, text


def message_list(value: Any) -> list[Any] | None:
    """The messages in a parsed value: a list, or a list wrapped in ``messages``, ``choices``,
    ``output``, ``contents`` or ``candidates``; a single message dict (or a response with one
    ``content`` message) as a list of one."""
    if isinstance(value, dict):
        for key in _LIST_WRAPPERS:
            inner = value.get(key)
            if isinstance(inner, list):
                return inner
        if "role" in value or isinstance(value.get("content"), dict):
            return [value]
        return None
    return value if isinstance(value, list) else None


def last_user_text(messages: list[Any]) -> str | None:
    """The text of the last user message that has text (later user messages of some
    conventions carry only tool results)."""
    for message in reversed(messages):
        role, text = role_and_text(message)
        if role in USER_ROLES and text is not None:
            return text
    return None


def final_assistant_text(messages: list[Any]) -> str | None:
    """The text of the last assistant message; None when that message has none (it called a
    tool instead of answering)."""
    for message in reversed(messages):
        role, text = role_and_text(message)
        if role in ASSISTANT_ROLES:
            return text
    return None


def request_text(value: Any) -> str | None:
    """The request a person made, in an input value (JSON text or structured) of any message
    shape: a JSON string's content, the last user message's text, or ``{"input": "..."}``."""
    return request_in(parsed(value))


def answer_text(value: Any) -> str | None:
    """The final answer in an output value (JSON text or structured) of any message shape: a
    JSON string's content, or the last assistant message's text."""
    return answer_in(parsed(value))


def request_in(data: Any) -> str | None:
    """``request_text`` of a parsed value."""
    if isinstance(data, str):
        return data
    messages = message_list(data)
    if messages is not None:
        return last_user_text(messages)
    if isinstance(data, dict) and isinstance(data.get("input"), str):
        return data["input"]  # type: ignore[no-any-return]
    return None


def answer_in(data: Any) -> str | None:
    """``answer_text`` of a parsed value."""
    if isinstance(data, str):
        return data
    messages = message_list(data)
    if messages is not None:
        return final_assistant_text(messages)
    if isinstance(data, dict) and isinstance(data.get("output"), str):
        return data["output"]  # type: ignore[no-any-return]
    return None


def first_user_prompt(messages: Any) -> str | None:
    """The text of the first user message with text in a conversation (JSON or parsed list).

    Pydantic AI records an agent run's input only inside the whole conversation
    (``pydantic_ai.all_messages``, earlier ``all_messages_events``); its prompt is the first
    user message that carries text (later user messages may carry only tool results).
    """
    data = parsed(messages)
    if not isinstance(data, list):
        return None
    for message in data:
        if not isinstance(message, dict) or message.get("role") != "user":
            continue
        text = _text_of(message.get("parts")) or _text_of(message.get("content"))
        if text is not None:
            return text
    return None


def indexed_messages(attrs: Mapping[str, Any]) -> str | None:
    """Compact JSON of a ``<prefix>.<n>.<field>`` attribute family, ordered by ``n``.

    OpenLLMetry before the GenAI message attributes wrote prompts and completions as
    ``gen_ai.prompt.0.role``, ``gen_ai.prompt.0.content``, ...
    """
    messages: dict[int, dict[str, str | None]] = {}
    for key, value in attrs.items():
        parts = key.split(".", 3)
        if len(parts) != 4 or not parts[2].isdigit():
            continue
        messages.setdefault(int(parts[2]), {})[parts[3]] = display_text(value)
    if not messages:
        return None
    return orjson.dumps([messages[index] for index in sorted(messages)]).decode()
