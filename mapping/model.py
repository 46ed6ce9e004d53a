"""The records that mapping produces: per-span facts, and the runs and steps derived from them.

Everything here is plain data. ``SpanFacts`` is computed once per span at ingest (it depends on
that span alone) and stored beside the raw span; ``derive_trace`` turns the facts of one trace
into a ``DerivedTrace``. Times are Unix nanoseconds; ids are lowercase hex strings.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

SpanCategory = Literal[
    "agent",  # an agent invocation: becomes a run (and a step of its parent run)
    "container",  # tagged as an agent/workflow but no invocation: passes its children through
    "tool",
    "llm",
    "embedding",
    "retriever",
    "reranker",
    "guardrail",
    "evaluator",
    "planning",
    "memory",
    "task",
    "plain",  # any other span: passes its children through to the nearest run
]

STEP_CATEGORIES: frozenset[str] = frozenset(
    {
        "tool",
        "llm",
        "embedding",
        "retriever",
        "reranker",
        "guardrail",
        "evaluator",
        "planning",
        "memory",
        "task",
    }
)

StepKind = Literal[
    "tool",
    "llm",
    "agent",
    "embedding",
    "retriever",
    "reranker",
    "guardrail",
    "evaluator",
    "planning",
    "memory",
    "task",
]

RunStatus = Literal["PENDING", "RUNNING", "SUCCESS", "FAILED", "CANCELLED"]
StepStatus = Literal["RUNNING", "SUCCESS", "FAILED"]
SpanStatus = Literal["UNSET", "OK", "ERROR"]


@dataclass(slots=True)
class ArtifactFacts:
    """Something a span carries beyond its input and output."""

    type: str  # "exception", "message", "choice", "document", "event", ...
    name: str | None = None
    content: str | None = None
    url: str | None = None
    time_ns: int | None = None
    truncated: bool = False  # the content was cut
    truncated_fields: tuple[str, ...] = ()  # every field that was cut: "name", "content", "url"


@dataclass(frozen=True, slots=True)
class ScoreFacts:
    """One judgement a span's evaluation events carry (``mapping.evaluations``)."""

    name: str
    value: float | None
    label: str | None
    explanation: str | None
    error_type: str | None
    time_ns: int
    truncated_fields: tuple[str, ...] = ()


@dataclass(slots=True)
class SpanFacts:
    """What mapping reads from one span, independent of every other span.

    Every text is valid PostgreSQL text (no NUL, no unpaired surrogate); identifiers are at
    most ``MAX_IDENTIFIER_BYTES`` UTF-8 bytes and display texts ``MAX_DISPLAY_CHARS``
    characters; ``truncated_fields`` names the fields that were cut.
    """

    trace_id: str
    span_id: str
    parent_span_id: str | None
    name: str
    start_ns: int
    end_ns: int
    status: SpanStatus
    status_message: str | None
    category: SpanCategory
    convention: str | None = None  # "gen_ai", "openinference", "traceloop", "heuristic", None
    service_name: str | None = None
    agent_name: str | None = None  # set only where this span names the agent it invokes
    agent_id: str | None = None
    agent_version: str | None = None
    agent_description: str | None = None
    agent_name_hint: str | None = None  # an agent name inherited by a child (placeholder runs)
    handoff_from_agent: str | None = None
    tool_name: str | None = None
    tool_call_id: str | None = None
    model: str | None = None
    provider: str | None = None
    # On an agent span, what a person reads: the user's request and the final answer, taken
    # from the framework's own shape (messages, LangChain state, ...) when it has one.
    input: str | None = None
    input_truncated: bool = False
    input_source: str | None = None  # the attribute key (or "event:<name>") it was read from
    output: str | None = None
    output_truncated: bool = False
    output_source: str | None = None
    error_type: str | None = None
    error_message: str | None = None
    input_tokens: int | None = None
    output_tokens: int | None = None
    total_tokens: int | None = None
    cache_read_input_tokens: int | None = None  # input tokens served from a provider's cache
    cache_write_input_tokens: int | None = None  # input tokens written to a provider's cache
    reasoning_output_tokens: int | None = None  # output tokens spent on reasoning
    session_id: str | None = None
    user_id: str | None = None
    usage: dict[str, float] = field(default_factory=dict)
    artifacts: list[ArtifactFacts] = field(default_factory=list)
    scores: list[ScoreFacts] = field(default_factory=list)  # its evaluation events
    # A lifecycle status the span states itself (AgentGuide's REST ingest): PENDING, RUNNING,
    # SUCCESS, FAILED or CANCELLED. A run or step still PENDING or RUNNING has no end yet.
    declared_status: str | None = None
    truncated_fields: tuple[str, ...] = ()  # the fields cut to their bound, by field name
    # The span's own attributes, and its resource's and scope's (one tuple shared by the spans
    # of a resource), as attribute filters search them: (key, value) pairs, flattened and
    # bounded (mapping.span_attributes).
    attributes: tuple[tuple[str, str | int | float | bool | None], ...] = ()
    shared_attributes: tuple[tuple[str, str | int | float | bool | None], ...] = ()


@dataclass(slots=True)
class Run:
    id: str
    trace_id: str
    span_id: str  # the agent span; for a placeholder run, the missing parent's span id
    parent_run_id: str | None
    name: str
    agent_name: str
    agent_id: str | None
    agent_version: str | None
    agent_description: str | None
    status: RunStatus
    input: str | None
    input_truncated: bool
    output: str | None
    output_truncated: bool
    error_type: str | None
    error_message: str | None
    start_ns: int
    end_ns: int | None
    models: list[str]
    input_tokens: int
    output_tokens: int
    total_tokens: int
    step_count: int
    tool_call_count: int
    llm_call_count: int
    failed_step_count: int
    orphan_span_count: int
    session_id: str | None
    user_id: str | None
    service_name: str | None
    handoff_from_agent: str | None = None
    cache_read_input_tokens: int = 0
    cache_write_input_tokens: int = 0
    reasoning_output_tokens: int = 0
    input_source: str | None = None  # "<span id>/<key>": the span and attribute it came from
    output_source: str | None = None
    truncated_fields: tuple[str, ...] = ()  # the fields whose text was cut to its bound


@dataclass(slots=True)
class Step:
    id: str
    run_id: str
    trace_id: str
    span_id: str
    index: int
    kind: StepKind
    name: str
    tool_name: str | None
    model: str | None
    status: StepStatus
    input: str | None
    input_truncated: bool
    output: str | None
    output_truncated: bool
    error_type: str | None
    error_message: str | None
    start_ns: int
    end_ns: int | None
    input_tokens: int | None
    output_tokens: int | None
    total_tokens: int | None
    parent_step_id: str | None
    child_run_id: str | None  # set on the step of a sub-agent: the run it invoked
    agent_name: str | None = None  # set on the step of a sub-agent: the agent it invoked
    cache_read_input_tokens: int | None = None
    cache_write_input_tokens: int | None = None
    reasoning_output_tokens: int | None = None
    truncated_fields: tuple[str, ...] = ()


@dataclass(slots=True)
class Artifact:
    id: str
    run_id: str
    step_id: str | None
    trace_id: str
    span_id: str
    type: str
    name: str | None
    content: str | None
    url: str | None
    time_ns: int | None
    truncated: bool
    truncated_fields: tuple[str, ...] = ()


@dataclass(slots=True)
class Score:
    """A judgement from an evaluation event, on a run (``span_id`` is the run's span) or on
    one of its steps or other spans."""

    run_id: str
    trace_id: str
    run_span_id: str
    span_id: str
    run_start_ns: int
    name: str
    value: float | None
    label: str | None
    explanation: str | None
    error_type: str | None
    time_ns: int


@dataclass(slots=True)
class Metric:
    run_id: str
    trace_id: str
    name: str
    value: float
    tags: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class AgentSeen:
    name: str
    agent_id: str | None
    version: str | None
    description: str | None
    first_seen_ns: int
    last_seen_ns: int


@dataclass(slots=True)
class DerivedTrace:
    trace_id: str
    runs: list[Run] = field(default_factory=list)
    steps: list[Step] = field(default_factory=list)
    artifacts: list[Artifact] = field(default_factory=list)
    metrics: list[Metric] = field(default_factory=list)
    agents: list[AgentSeen] = field(default_factory=list)
    scores: list[Score] = field(default_factory=list)


def make_id(trace_id: str, span_id: str) -> str:
    """The deterministic id of the run or step of a span: the same on every instance.

    It embeds the trace id so that a lookup by id finds the trace (and its shard) directly.
    """
    return trace_id + span_id


def split_id(entity_id: str) -> tuple[str, str] | None:
    """The (trace id, span id) of an id made by ``make_id``, or None when it is not one."""
    if len(entity_id) != 48:
        return None
    try:
        bytes.fromhex(entity_id)
    except ValueError:
        return None
    return entity_id[:32].lower(), entity_id[32:].lower()
