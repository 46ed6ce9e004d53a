"""Artifacts of one span: exception events, GenAI message events, retrieved documents."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import orjson
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from mapping.conventions import otel
from mapping.conventions.openinference import DOCUMENT_PREFIXES as OPENINFERENCE_DOCUMENT_PREFIXES
from mapping.messages import NOT_JSON, parsed
from mapping.model import ArtifactFacts
from mapping.text import display, identifier
from mapping.values import as_text, display_text, python_value

_EXCEPTION_EVENT = otel.EXCEPTION_EVENT
_CHOICE_EVENT = "gen_ai.choice"
_DETAILS_EVENT = "gen_ai.client.inference.operation.details"
# The content keys of the inference-details event, with the artifact type of their messages.
_DETAILS_CONTENT = (
    ("gen_ai.system_instructions", "message"),
    ("gen_ai.input.messages", "message"),
    ("gen_ai.output.messages", "choice"),
)
_URL_KEYS = ("url", "uri", "source", "link", "href")


def _artifact(
    type_: str,
    name: str | None,
    content: str | None,
    url: str | None = None,
    time_ns: int | None = None,
) -> ArtifactFacts:
    cut = []
    if name is not None:
        name, name_cut = identifier(name)
        if name_cut:
            cut.append("name")
    if content is not None:
        content, content_cut = display(content)
        if content_cut:
            cut.append("content")
    if url is not None:
        url, url_cut = display(url)
        if url_cut:
            cut.append("url")
    return ArtifactFacts(
        type=type_,
        name=name,
        content=content,
        url=url,
        time_ns=time_ns,
        truncated="content" in cut,
        truncated_fields=tuple(cut),
    )


def _event_attributes(event: Span.Event) -> dict[str, Any]:
    return {kv.key: python_value(kv.value) for kv in event.attributes}


def _exception_content(attrs: Mapping[str, Any]) -> str | None:
    message = as_text(attrs.get(otel.EXCEPTION_MESSAGE))
    stacktrace = as_text(attrs.get(otel.EXCEPTION_STACKTRACE))
    if message and stacktrace:
        return f"{message}\n\n{stacktrace}"
    return message or stacktrace


def _is_message_event(name: str) -> bool:
    return name == _CHOICE_EVENT or (name.startswith("gen_ai.") and name.endswith(".message"))


def _details_artifacts(event: Span.Event) -> list[ArtifactFacts]:
    """One artifact per message of an inference-details event: its system instructions and
    input messages (type message), its output messages (type choice), each named by the key
    it came from, content the message as compact JSON."""
    attrs = _event_attributes(event)
    artifacts = []
    for key, type_ in _DETAILS_CONTENT:
        if key not in attrs:
            continue
        value = parsed(attrs[key])
        items = value if isinstance(value, list) else [attrs[key] if value is NOT_JSON else value]
        for item in items:
            content = display_text(item) or None
            artifacts.append(_artifact(type_, key, content, time_ns=event.time_unix_nano))
    return artifacts


def event_artifacts(events: Iterable[Span.Event]) -> list[ArtifactFacts]:
    """Exception events (name = exception type, content = message and stack trace), GenAI
    message/choice events (name = event name, content = compact JSON of its attributes) and
    the messages of inference-details events (``_details_artifacts``)."""
    artifacts = []
    for event in events:
        name = event.name
        if name == _EXCEPTION_EVENT:
            attrs = _event_attributes(event)
            artifacts.append(
                _artifact(
                    "exception",
                    as_text(attrs.get(otel.EXCEPTION_TYPE)),
                    _exception_content(attrs),
                    time_ns=event.time_unix_nano,
                )
            )
        elif _is_message_event(name):
            type_ = "choice" if name == _CHOICE_EVENT else "message"
            content = display_text(_event_attributes(event)) or None
            artifacts.append(_artifact(type_, name, content, time_ns=event.time_unix_nano))
        elif name == _DETAILS_EVENT:
            artifacts.extend(_details_artifacts(event))
    return artifacts


def last_exception(events: Iterable[Span.Event]) -> tuple[str | None, str | None]:
    """The type and message of the span's last ``exception`` event (the one that ended it)."""
    found: tuple[str | None, str | None] = (None, None)
    for event in events:
        if event.name == _EXCEPTION_EVENT:
            attrs = _event_attributes(event)
            found = (
                as_text(attrs.get(otel.EXCEPTION_TYPE)),
                as_text(attrs.get(otel.EXCEPTION_MESSAGE)),
            )
    return found


def _url_in(metadata: Any) -> str | None:
    if isinstance(metadata, str):
        try:
            metadata = orjson.loads(metadata)
        except orjson.JSONDecodeError:
            return None
    if not isinstance(metadata, dict):
        return None
    for key in _URL_KEYS:
        value = metadata.get(key)
        if isinstance(value, str) and "://" in value:
            return value
    return None


def _openinference_documents(attrs: Mapping[str, Any]) -> list[ArtifactFacts]:
    """``retrieval.documents.<n>.document.<field>`` (and reranker output documents)."""
    documents: dict[tuple[int, int], dict[str, Any]] = {}
    for key, value in attrs.items():
        for family, prefix in enumerate(OPENINFERENCE_DOCUMENT_PREFIXES):
            if key.startswith(prefix):
                index, _, field = key[len(prefix) :].partition(".document.")
                if index.isdigit() and field:
                    documents.setdefault((family, int(index)), {})[field] = value
                break
    artifacts = []
    for position in sorted(documents):
        document = documents[position]
        url = as_text(document.get("url")) or _url_in(document.get("metadata"))
        artifacts.append(
            _artifact(
                "document", as_text(document.get("id")), as_text(document.get("content")), url
            )
        )
    return artifacts


def _gen_ai_documents(value: Any) -> list[ArtifactFacts]:
    """``gen_ai.retrieval.documents``: a JSON array of objects with ``id``, ``score``, ..."""
    if isinstance(value, str):
        try:
            value = orjson.loads(value)
        except orjson.JSONDecodeError:
            return [_artifact("document", None, value)]
    if not isinstance(value, list):
        return []
    artifacts = []
    for document in value:
        if isinstance(document, dict):
            content = document.get("content")
            text = content if isinstance(content, str) else display_text(document)
            url = _url_in(document) or _url_in(document.get("metadata"))
            artifacts.append(_artifact("document", as_text(document.get("id")), text, url))
        else:
            artifacts.append(_artifact("document", None, display_text(document)))
    return artifacts


def document_artifacts(openinference: Mapping[str, Any], gen_ai: Any) -> list[ArtifactFacts]:
    """Retrieved documents of both conventions, OpenInference first, in index order."""
    artifacts = _openinference_documents(openinference)
    if gen_ai is not None:
        artifacts.extend(_gen_ai_documents(gen_ai))
    return artifacts
