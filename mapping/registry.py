"""The conventions mapping knows, in the order they are tried, and what follows from them.

A span is classified by the first registered convention that recognises it (a convention
with ``scopes`` is tried only on spans of those instrumentation scopes); a span none
recognises is plain. To add a framework, write its module under ``mapping/conventions/`` and
add it here: a refinement of a generic convention goes before that convention.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any

from mapping.conventions import (
    agentguide,
    agno,
    crewai,
    gen_ai,
    google_adk,
    heuristics,
    langfuse,
    langgraph,
    llamaindex,
    openai_agents,
    openai_agents_js,
    openai_agents_v2,
    openinference,
    pydantic_ai,
    smolagents,
    strands,
    traceloop,
    vercel_ai,
)
from mapping.conventions.base import (
    KEY_FIELDS,
    OWN_ONLY_FIELDS,
    Attributes,
    Convention,
    Keys,
    Shape,
    TextReader,
)
from mapping.messages import answer_in, parsed, request_in
from mapping.model import SpanCategory

REGISTRY: tuple[Convention, ...] = (
    agentguide.CONVENTION,
    vercel_ai.CONVENTION,  # ai.operationId; its spans also carry some gen_ai.* keys
    # OpenInference refinements by instrumentation scope, before gen_ai: OpenInference copies
    # GenAI attributes onto its spans when OPENINFERENCE_ENABLE_GENAI_SEMCONV is set.
    langgraph.CONVENTION,
    smolagents.CONVENTION,
    crewai.CONVENTION,
    llamaindex.CONVENTION,
    openai_agents.CONVENTION,
    openai_agents_js.CONVENTION,
    agno.CONVENTION,
    # GenAI refinements by instrumentation scope
    strands.CONVENTION,
    google_adk.OPENINFERENCE_CONVENTION,
    google_adk.CONVENTION,
    openai_agents_v2.CONVENTION,
    gen_ai.CONVENTION,
    openinference.CONVENTION,
    traceloop.CONVENTION,
    pydantic_ai.CONVENTION,
    heuristics.CONVENTION,
    langfuse.CONVENTION,  # keys only: a session and user named for Langfuse
)


def _unique(keys: Iterable[str]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(keys))


class Reading:
    """How the fields of a span classified by one convention are read: its own keys (and
    readers) first, then every other convention's, in registry order."""

    __slots__ = (
        "agent_name_from_attributes",
        "agent_name_from_span_name",
        "agent_name_hint_from_attributes",
        "agent_text_from_llm_calls",
        "answer_shapes",
        "convention",
        "ignored_values",
        "input_readers",
        "input_readers_before_keys",
        "input_readers_without_events",
        "keys",
        "output_readers",
        "output_readers_before_keys",
        "output_readers_without_events",
        "request_shapes",
        "session_id_from_attributes",
        "user_id_from_attributes",
    )

    def __init__(self, own: Convention | None, registry: tuple[Convention, ...]) -> None:
        ordered = registry if own is None else (own, *(c for c in registry if c is not own))
        resolved: dict[str, tuple[str, ...]] = {}
        for name in KEY_FIELDS:
            if name in OWN_ONLY_FIELDS:
                resolved[name] = getattr(own.keys, name) if own is not None else ()
            else:
                resolved[name] = _unique(k for c in ordered for k in getattr(c.keys, name))
        self.convention = own.name if own is not None else None
        self.keys = Keys(**resolved)
        self.input_readers: tuple[TextReader, ...] = _unique_readers(
            r for c in ordered for r in c.input_readers if not r.before_keys
        )
        self.output_readers: tuple[TextReader, ...] = _unique_readers(
            r for c in ordered for r in c.output_readers if not r.before_keys
        )
        self.input_readers_without_events = tuple(
            r for r in self.input_readers if not r.needs_events
        )
        self.output_readers_without_events = tuple(
            r for r in self.output_readers if not r.needs_events
        )
        self.request_shapes: tuple[Shape, ...] = tuple(
            dict.fromkeys(shape for c in ordered for shape in c.request_shapes)
        )
        self.answer_shapes: tuple[Shape, ...] = tuple(
            dict.fromkeys(shape for c in ordered for shape in c.answer_shapes)
        )
        self.agent_name_from_span_name: Callable[[str], str | None] | None = (
            own.agent_name_from_span_name if own is not None else None
        )
        self.ignored_values: Mapping[str, frozenset[str]] = (
            own.ignored_values if own is not None else {}
        )
        self.agent_name_from_attributes: Callable[[Attributes], str | None] | None = (
            own.agent_name_from_attributes if own is not None else None
        )
        self.agent_name_hint_from_attributes: Callable[[Attributes], str | None] | None = (
            own.agent_name_hint_from_attributes if own is not None else None
        )
        self.agent_text_from_llm_calls = own.agent_text_from_llm_calls if own else False
        self.session_id_from_attributes: Callable[[Attributes], str | None] | None = (
            own.session_id_from_attributes if own is not None else None
        )
        self.user_id_from_attributes: Callable[[Attributes], str | None] | None = (
            own.user_id_from_attributes if own is not None else None
        )
        # readers that go before the keys are their own convention's only
        self.input_readers_before_keys: tuple[TextReader, ...] = tuple(
            r for r in (own.input_readers if own else ()) if r.before_keys
        )
        self.output_readers_before_keys: tuple[TextReader, ...] = tuple(
            r for r in (own.output_readers if own else ()) if r.before_keys
        )


def _unique_readers(readers: Iterable[TextReader]) -> tuple[TextReader, ...]:
    return tuple(dict.fromkeys(readers))


WANTED_KEYS: frozenset[str] = frozenset().union(*(c.all_keys() for c in REGISTRY))
"""Every exact attribute key some convention reads: the rest are skipped in one pass."""

USAGE_PREFIXES: tuple[str, ...] = _unique(p for c in REGISTRY for p in c.usage_prefixes)
"""Numeric attributes under these prefixes are usage figures."""

READINGS: dict[str | None, Reading] = {c.name: Reading(c, REGISTRY) for c in REGISTRY}
READINGS[None] = Reading(None, REGISTRY)

_CLASSIFIERS = tuple(
    (c.name, c.classify, c.markers, c.scopes) for c in REGISTRY if c.classify is not None
)


def classify(attrs: Attributes, span_name: str, scope_name: str) -> tuple[SpanCategory, str | None]:
    """The category of a span and the name of the convention that decided it."""
    for name, classifier, markers, scopes in _CLASSIFIERS:
        if markers:
            for marker in markers:
                if marker in attrs:
                    break
            else:
                continue
        if scopes and not scope_name.startswith(scopes):
            continue
        category = classifier(attrs, span_name, scope_name)
        if category is not None:
            return category, name
    return "plain", None


_OWN_SHAPES: dict[str | None, tuple[tuple[Shape, ...], tuple[Shape, ...]]] = {
    c.name: (c.request_shapes, c.answer_shapes) for c in REGISTRY
}


def _text_in(value: Any, shapes: tuple[Shape, ...], generic: Callable[[Any], str | None]) -> Any:
    data = parsed(value)
    for shape in shapes:
        text = shape(data)
        if text is not None:
            return text or None  # "": of this shape, with nothing a person reads
    return generic(data)


def call_request_text(convention: str | None, value: Any) -> str | None:
    """The request a person reads in an LLM call's input: in the shapes of the convention
    that classified the call, else in any message shape (``mapping.messages``)."""
    shapes = _OWN_SHAPES.get(convention, ((), ()))[0]
    return _text_in(value, shapes, request_in)  # type: ignore[no-any-return]


def call_answer_text(convention: str | None, value: Any) -> str | None:
    """The final answer a person reads in an LLM call's output (as ``call_request_text``)."""
    shapes = _OWN_SHAPES.get(convention, ((), ()))[1]
    return _text_in(value, shapes, answer_in)  # type: ignore[no-any-return]
