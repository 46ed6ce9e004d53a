"""Readable text from the message lists that conventions put in attributes."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from mapping.values import display_text


def _parsed(value: Any) -> Any:
    if isinstance(value, str | bytes):
        try:
            return orjson.loads(value)
        except orjson.JSONDecodeError:
            return None
    return value


def _text_of(content: Any) -> str | None:
    """The text of a message's ``content`` or ``parts``: a string, or the text parts joined."""
    if isinstance(content, str):
        return content
    if not isinstance(content, list):
        return None
    texts = []
    for part in content:
        if isinstance(part, str):
            texts.append(part)
        elif isinstance(part, dict) and part.get("type", "text") == "text":
            text = part.get("content", part.get("text"))
            if isinstance(text, str):
                texts.append(text)
    return "\n".join(texts) if texts else None


def first_user_prompt(messages: Any) -> str | None:
    """The text of the first user message with text in a conversation (JSON or parsed list).

    Pydantic AI records an agent run's input only inside the whole conversation
    (``pydantic_ai.all_messages``, earlier ``all_messages_events``); its prompt is the first
    user message that carries text (later user messages may carry only tool results).
    """
    parsed = _parsed(messages)
    if not isinstance(parsed, list):
        return None
    for message in parsed:
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
