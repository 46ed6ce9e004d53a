"""What a convention module declares: the attribute keys it reads and how it classifies a span.

A convention (an OpenTelemetry semantic convention, or the attributes one framework family's
instrumentation writes) is a ``Convention`` value in its own module under
``mapping/conventions/``; ``mapping/registry.py`` lists them in the order they are tried.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from opentelemetry.proto.trace.v1.trace_pb2 import Span

from mapping.model import SpanCategory

Attributes = Mapping[str, Any]
"""The values of the keys mapping reads from one span (every declared key that is present)."""

Classifier = Callable[[Attributes, str, str], SpanCategory | None]
"""``(attributes, span name, instrumentation scope name)`` -> the span's category, or None when
the convention does not recognise the span (the next convention is tried)."""

ReadText = Callable[[Attributes, Span, SpanCategory], Any]
"""``(attributes read, the span, its category)`` -> a value (text, or structured content shown
as compact JSON), or None."""

Shape = Callable[[Any], str | None]
"""A parsed JSON value (or structured attribute) -> the text a person reads in it, or None when
the value is not of this shape; ``""`` when it is of this shape and holds nothing a person
reads as a request or an answer (a tool call written out as text)."""


@dataclass(frozen=True, slots=True)
class TextReader:
    """A fallback for a span's input or output when no input (output) key is present.

    ``source`` names where the text came from (``SpanFacts.input_source``). It is tried only on
    spans of one of ``categories`` (None: any), carrying one of ``keys`` (empty: whatever they
    carry), with events when ``needs_events``. With ``before_keys`` it is tried before any key,
    on spans its own convention classified: the key holds something a person does not read
    (a framework's serialised state) and this reader finds the text elsewhere.
    """

    read: ReadText
    source: str
    categories: frozenset[SpanCategory] | None = None
    keys: tuple[str, ...] = ()
    needs_events: bool = False
    before_keys: bool = False


@dataclass(frozen=True, slots=True)
class Keys:
    """Where a convention finds each field: attribute keys, the first present non-empty wins.

    For every field but ``agent_name``, a span classified by this convention tries these keys
    first, then every other registered convention's keys for the field, in registry order
    (frameworks mix conventions on one span). ``agent_name`` and ``handoff_from`` are read only
    from the keys of the convention that classified the span an agent: a name copied onto every
    child span must not make any span an agent, and a graph node's parent is an agent's name in
    one instrumentation and an opaque node id in another.
    """

    agent_name: tuple[str, ...] = ()  # on the span of an agent invocation only
    agent_id: tuple[str, ...] = ()
    agent_version: tuple[str, ...] = ()
    agent_description: tuple[str, ...] = ()
    agent_name_hint: tuple[str, ...] = ()  # an agent name frameworks copy onto child spans
    handoff_from: tuple[str, ...] = ()  # the agent that handed over to this one
    tool_name: tuple[str, ...] = ()
    tool_call_id: tuple[str, ...] = ()
    model: tuple[str, ...] = ()
    provider: tuple[str, ...] = ()
    input: tuple[str, ...] = ()
    output: tuple[str, ...] = ()
    session_id: tuple[str, ...] = ()
    user_id: tuple[str, ...] = ()
    error_type: tuple[str, ...] = ()
    input_tokens: tuple[str, ...] = ()
    output_tokens: tuple[str, ...] = ()
    total_tokens: tuple[str, ...] = ()
    cache_read_input_tokens: tuple[str, ...] = ()
    cache_write_input_tokens: tuple[str, ...] = ()
    reasoning_output_tokens: tuple[str, ...] = ()
    run_status: tuple[str, ...] = ()  # a lifecycle status an agent span declares itself
    step_status: tuple[str, ...] = ()  # the same for a step span

    def attribute_keys(self) -> frozenset[str]:
        """The keys read as attributes (token counts are read from the usage figures)."""
        return frozenset(
            key for f in fields(self) if f.name not in COUNT_FIELDS for key in getattr(self, f.name)
        )


KEY_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(Keys))
OWN_ONLY_FIELDS: frozenset[str] = frozenset({"agent_name", "handoff_from"})
"""Fields read only from the classifying convention's keys: what the key means (an agent's
name, a graph node's name or its opaque id) depends on who wrote it."""
COUNT_FIELDS: frozenset[str] = frozenset(
    {
        "input_tokens",
        "output_tokens",
        "total_tokens",
        "cache_read_input_tokens",
        "cache_write_input_tokens",
        "reasoning_output_tokens",
    }
)
"""Fields read from the numeric usage attributes: their keys must lie under a usage prefix."""


@dataclass(frozen=True, slots=True)
class Convention:
    """One convention or framework family: what it reads and how it recognises spans.

    ``markers``: when set, the classifier is tried only on spans carrying one of these keys
    (it cannot recognise a span without them); empty: tried on every span.
    ``scopes``: when set, the convention applies only to spans whose instrumentation scope
    name starts with one of these (a per-framework refinement of a generic convention).
    ``agent_name_from_attributes``: where the keys name no agent, the agent's name read from
    the attributes of an agent span this convention classified (a field inside a JSON value).
    ``agent_name_from_span_name``: where the keys name no agent, the agent's name read from
    the span name of an agent span this convention classified (``invoke_agent <name>``).
    ``ignored_values``: per field (``provider``, ``agent_id``, ``agent_description``,
    ``agent_name_hint``, ...), values this instrumentation writes when it knows nothing (a
    configured default, its own marker): read as absent on the spans it classifies.
    ``agent_name_hint_from_attributes``: where the keys give no hint, an agent name a span
    this convention classified mentions (inside a logged value); a run whose agent span names
    no agent takes the earliest of its spans' hints.
    ``agent_text_from_llm_calls``: an agent span of this convention carries no request or
    answer a person reads (a serialised workflow state): its run shows its first LLM call's
    request and its last LLM call's answer.
    ``session_id_from_attributes`` / ``user_id_from_attributes``: where no key gives one, the
    session (user) id read from the attributes of a span this convention classified (a field
    inside a JSON value, such as LangChain's ``metadata``).
    ``reads``: exact keys the classifier or readers use beyond ``keys``.
    ``usage_prefixes``: numeric attributes under these prefixes are usage figures (summed
    per run as metrics).
    ``input_readers`` / ``output_readers``: fallbacks tried, in order, when no input (output)
    key is present.
    ``request_shapes`` / ``answer_shapes``: on an agent span, shapes of input (output) values
    in which a person's request (the final answer) can be found; tried before the generic
    message shapes of ``mapping.messages``.
    """

    name: str
    keys: Keys = field(default_factory=Keys)
    classify: Classifier | None = None
    markers: tuple[str, ...] = ()
    scopes: tuple[str, ...] = ()
    agent_name_from_attributes: Callable[[Attributes], str | None] | None = None
    agent_name_from_span_name: Callable[[str], str | None] | None = None
    ignored_values: Mapping[str, frozenset[str]] = field(default_factory=dict)
    agent_name_hint_from_attributes: Callable[[Attributes], str | None] | None = None
    agent_text_from_llm_calls: bool = False
    session_id_from_attributes: Callable[[Attributes], str | None] | None = None
    user_id_from_attributes: Callable[[Attributes], str | None] | None = None
    reads: frozenset[str] = frozenset()
    usage_prefixes: tuple[str, ...] = ()
    input_readers: tuple[TextReader, ...] = ()
    output_readers: tuple[TextReader, ...] = ()
    request_shapes: tuple[Shape, ...] = ()
    answer_shapes: tuple[Shape, ...] = ()

    def all_keys(self) -> frozenset[str]:
        """Every exact attribute key this convention reads."""
        readers = (*self.input_readers, *self.output_readers)
        reader_keys = frozenset(key for reader in readers for key in reader.keys)
        return self.keys.attribute_keys() | self.reads | frozenset(self.markers) | reader_keys
