"""Poison input (issue 10): identifiers bounded in bytes, text valid for PostgreSQL, parent
links that loop, and traces too large for recursion. Everything mapping hands on must be
storable and indexable whatever a sender put in its spans."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry.proto.common.v1.common_pb2 import InstrumentationScope
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

from mapping import MAX_DISPLAY_CHARS, MAX_IDENTIFIER_BYTES, derive_trace, span_facts
from mapping.model import STEP_CATEGORIES, DerivedTrace, SpanFacts
from mapping.text import display, identifier, valid_text
from tests.mapping.builders import facts, sid
from tests.mapping.otlp import facts_of, make_resource, make_span

ERROR = Status.STATUS_CODE_ERROR

# Fields of derived rows that reach a database index, or name something a person filters by.
IDENTIFIER_FIELDS = {
    "Run": {
        "name",
        "agent_name",
        "agent_id",
        "agent_version",
        "error_type",
        "session_id",
        "user_id",
        "service_name",
        "handoff_from_agent",
    },
    "Step": {"name", "tool_name", "model", "error_type", "agent_name"},
    "Artifact": {"name"},
    "Metric": {"name"},
    "AgentSeen": {"name", "agent_id", "version"},
}


def texts(value: Any, path: str = "") -> Iterator[tuple[str, str]]:
    """Every string inside a derived value, with the path of the field holding it."""
    if isinstance(value, str):
        yield path, value
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        for field in dataclasses.fields(value):
            yield from texts(getattr(value, field.name), f"{type(value).__name__}.{field.name}")
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from texts(key, path)
            yield from texts(item, path)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from texts(item, path)


def assert_storable(trace: DerivedTrace) -> None:
    for path, text in texts(trace):
        assert "\x00" not in text, path
        text.encode("utf-8")  # no unpaired surrogate
        kind, _, field = path.partition(".")
        if field in IDENTIFIER_FIELDS.get(kind, ()):
            assert len(text.encode("utf-8")) <= MAX_IDENTIFIER_BYTES, path
        else:
            assert len(text) <= MAX_DISPLAY_CHARS, path


# --- the text functions ----------------------------------------------------------------


@given(st.text())
def test_identifier_is_a_valid_prefix_within_the_bound(text: str) -> None:
    bounded, cut = identifier(text)
    encoded = bounded.encode("utf-8")
    assert len(encoded) <= MAX_IDENTIFIER_BYTES
    assert "\x00" not in bounded
    clean = valid_text(text)
    assert clean.startswith(bounded)
    assert cut == (bounded != clean)
    assert cut == (len(clean.encode("utf-8")) > MAX_IDENTIFIER_BYTES)


def test_identifier_cuts_on_a_character_boundary() -> None:
    bounded, cut = identifier("é" * 300)  # 600 bytes: 256 characters fit
    assert (bounded, cut) == ("é" * 256, True)
    bounded, cut = identifier("a" + "😀" * 200)  # 1 + 4 * 127 = 509 bytes fit
    assert (bounded, cut) == ("a" + "😀" * 127, True)


def test_identifier_at_the_bound_is_not_cut() -> None:
    assert identifier("x" * MAX_IDENTIFIER_BYTES) == ("x" * MAX_IDENTIFIER_BYTES, False)
    assert identifier("é" * 256) == ("é" * 256, False)


def test_nul_becomes_the_replacement_character() -> None:
    assert identifier("a\x00b") == ("a\ufffdb", False)
    assert display("a\x00b") == ("a\ufffdb", False)
    assert valid_text("\x00") == "\ufffd"


def test_surrogates_are_joined_or_replaced() -> None:
    assert valid_text("a\ud83d\ude00b") == "a😀b"  # a pair written as two code points
    assert valid_text("a\ud800b\udfff") == "a\ufffdb\ufffd"
    assert identifier("\ud800" * 3) == ("\ufffd" * 3, False)


def test_a_span_cannot_carry_a_surrogate() -> None:
    """Display texts are not searched for surrogates: protobuf refuses them in any span."""
    with pytest.raises(ValueError, match="surrogates"):
        Span(name="a\ud800")


# --- each identifier of a span ----------------------------------------------------------

LONG = "ß" * 400  # 800 bytes

AGENT = {"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "a"}
TOOL = {"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "t"}
LLM = {"gen_ai.operation.name": "chat", "gen_ai.request.model": "m"}
OPENINFERENCE_AGENT = {"openinference.span.kind": "AGENT", "agent.name": "a"}


@pytest.mark.parametrize(
    ("attributes", "key", "field"),
    [
        (AGENT, "gen_ai.agent.name", "agent_name"),
        (AGENT, "gen_ai.agent.id", "agent_id"),
        (AGENT, "gen_ai.agent.version", "agent_version"),
        (OPENINFERENCE_AGENT, "graph.node.parent_id", "handoff_from_agent"),
        (TOOL, "gen_ai.tool.name", "tool_name"),
        (TOOL, "gen_ai.tool.call.id", "tool_call_id"),
        (LLM, "gen_ai.request.model", "model"),
        (LLM, "gen_ai.provider.name", "provider"),
        (LLM, "gen_ai.conversation.id", "session_id"),
        (LLM, "user.id", "user_id"),
        (LLM, "error.type", "error_type"),
    ],
)
def test_a_long_identifier_is_cut_and_named(
    attributes: dict[str, str], key: str, field: str
) -> None:
    f = facts_of("s", {**attributes, key: LONG + "tail"}, status=ERROR)
    value = getattr(f, field)
    assert value == "ß" * (MAX_IDENTIFIER_BYTES // 2)
    assert field in f.truncated_fields


def test_long_span_name_service_name_and_status_message() -> None:
    f = facts_of(LONG, AGENT, service_name=LONG, status=ERROR, status_message="m" * 40000)
    assert (f.name, f.service_name) == ("ß" * 256, "ß" * 256)
    assert f.error_message == "m" * MAX_DISPLAY_CHARS
    assert {"name", "service_name", "error_message", "status_message"} <= set(f.truncated_fields)


def test_short_identifiers_are_not_flagged() -> None:
    f = facts_of("invoke_agent a", AGENT)
    assert f.truncated_fields == ()


def test_long_identifiers_reach_runs_steps_metrics_and_agents_bounded_and_flagged() -> None:
    agent = facts_of("agent", {**AGENT, "gen_ai.agent.name": LONG}, span_id="00000000000000a1")
    tool = facts_of(
        LONG,
        {**TOOL, "gen_ai.tool.name": LONG, "error.type": LONG},
        span_id="00000000000000a2",
        parent_span_id="00000000000000a1",
        status=ERROR,
    )
    trace = derive_trace([agent, tool])
    assert_storable(trace)
    [run] = trace.runs
    assert "agent_name" in run.truncated_fields
    [step] = trace.steps
    assert {"name", "tool_name", "error_type"} <= set(step.truncated_fields)
    failures = [m for m in trace.metrics if m.name == "tool_failures"]
    assert [len(m.tags["tool"].encode()) for m in failures] == [MAX_IDENTIFIER_BYTES]


def test_a_long_usage_key_is_a_bounded_metric_name() -> None:
    f = facts_of("chat", {**LLM, "gen_ai.usage." + "k" * 600: 3})
    [key] = f.usage
    assert len(key.encode()) == MAX_IDENTIFIER_BYTES


def test_nul_anywhere_in_a_span_is_replaced_and_the_span_is_untouched() -> None:
    span = make_span(
        "invoke_agent a\x00",
        {
            **AGENT,
            "gen_ai.agent.name": "a\x00",
            "gen_ai.conversation.id": "s\x00",
            "input.value": "in\x00",
            "gen_ai.usage.x\x00": 1,
        },
        status=ERROR,
        status_message="boom\x00",
        events=[("exception", {"exception.type": "E\x00", "exception.message": "m\x00"})],
    )
    before = span.SerializeToString()
    f = span_facts(span, make_resource("svc\x00"), InstrumentationScope(name="s\x00"))
    assert span.SerializeToString() == before
    assert (f.name, f.agent_name, f.session_id, f.service_name) == (
        "invoke_agent a\ufffd",
        "a\ufffd",
        "s\ufffd",
        "svc\ufffd",
    )
    assert (f.input, f.error_type, f.error_message) == ("in\ufffd", "E\ufffd", "m\ufffd")
    assert list(f.usage) == ["gen_ai.usage.x\ufffd"]
    assert [(a.name, a.content) for a in f.artifacts] == [("E\ufffd", "m\ufffd")]
    assert f.truncated_fields == ()
    assert_storable(derive_trace([f]))


# --- any text anywhere, through span_facts and derive_trace -----------------------------

# Text with NUL, multi-byte characters and lengths on both sides of the identifier bound.
poison = st.one_of(
    st.text(max_size=20),
    st.text(alphabet=st.sampled_from(["\x00", "a", "é", "日", "😀"]), max_size=700),
    st.integers(min_value=100, max_value=2000).map(lambda n: "ü" * n),
)

IDENTIFIER_KEYS = [
    "gen_ai.agent.name",
    "gen_ai.agent.id",
    "gen_ai.agent.version",
    "gen_ai.tool.name",
    "gen_ai.tool.call.id",
    "gen_ai.request.model",
    "gen_ai.provider.name",
    "gen_ai.conversation.id",
    "session.id",
    "user.id",
    "error.type",
    "agent.name",
    "tool.name",
    "traceloop.entity.name",
    "traceloop.workflow.name",
    "graph.node.parent_id",
]
KINDS = [
    {"gen_ai.operation.name": "invoke_agent"},
    {"gen_ai.operation.name": "execute_tool"},
    {"gen_ai.operation.name": "chat"},
    {"openinference.span.kind": "AGENT"},
    {"openinference.span.kind": "TOOL"},
    {"traceloop.span.kind": "agent"},
    {},
]


@st.composite
def poisoned_spans(draw: st.DrawFn) -> list[SpanFacts]:
    size = draw(st.integers(min_value=1, max_value=6))
    resource = make_resource(draw(poison))
    found = []
    for n in range(1, size + 1):
        attributes: dict[str, Any] = dict(draw(st.sampled_from(KINDS)))
        for key in draw(st.lists(st.sampled_from(IDENTIFIER_KEYS), max_size=5, unique=True)):
            attributes[key] = draw(poison)
        attributes["input.value"] = draw(poison)
        attributes["gen_ai.usage." + draw(poison)] = draw(st.integers(0, 10))
        span = make_span(
            draw(poison),
            attributes,
            span_id=f"{n:016x}",
            parent_span_id=f"{draw(st.integers(0, n - 1)):016x}" if n > 1 else None,
            status=draw(st.sampled_from([Status.STATUS_CODE_OK, ERROR])),
            status_message=draw(poison),
            events=[("exception", {"exception.type": draw(poison), "exception.message": "m"})],
        )
        found.append(span_facts(span, resource, InstrumentationScope(name=draw(poison))))
    return found


@settings(max_examples=150, deadline=None)
@given(poisoned_spans())
def test_whatever_a_span_says_every_derived_text_is_storable(spans: list[SpanFacts]) -> None:
    for f in spans:
        for field in ("name", "agent_name", "tool_name", "model", "session_id", "service_name"):
            value = getattr(f, field)
            assert value is None or len(value.encode()) <= MAX_IDENTIFIER_BYTES
    assert_storable(derive_trace(spans))


# --- parent links that loop -------------------------------------------------------------


@st.composite
def looping_traces(draw: st.DrawFn) -> list[SpanFacts]:
    """Traces whose parent links may point anywhere in the trace: to the span itself, to a
    descendant (a cycle), or outside it."""
    size = draw(st.integers(min_value=1, max_value=25))
    spans = []
    for n in range(1, size + 1):
        parent = draw(st.one_of(st.none(), st.integers(1, size), st.integers(size + 1, size + 3)))
        spans.append(
            facts(
                n,
                parent,
                draw(st.sampled_from(["agent", "tool", "llm", "plain", "container"])),
                start=draw(st.integers(0, 3)) * 10,
            )
        )
    return spans


@settings(max_examples=300, deadline=None)
@given(looping_traces(), st.randoms(use_true_random=False))
def test_parent_loops_map_every_span_whatever_the_order(spans: list[SpanFacts], rng: Any) -> None:
    derived = derive_trace(spans)
    shuffled = spans[:]
    rng.shuffle(shuffled)
    assert derive_trace(shuffled) == derived
    assert {s.span_id for s in derived.steps if s.kind != "agent"} == {
        f.span_id for f in spans if f.category in STEP_CATEGORIES
    }
    assert {f.span_id for f in spans if f.category == "agent"} <= {r.span_id for r in derived.runs}
    run_ids = {r.id for r in derived.runs}
    assert all(r.parent_run_id is None or r.parent_run_id in run_ids for r in derived.runs)


def test_a_run_is_never_its_own_ancestor() -> None:
    trace = derive_trace([facts(1, 3, "agent"), facts(2, 1, "agent"), facts(3, 2, "agent")])
    parents = {r.id: r.parent_run_id for r in trace.runs}
    for run_id in parents:
        seen, current = set(), run_id
        while current is not None:
            assert current not in seen
            seen.add(current)
            current = parents[current]


# --- size -------------------------------------------------------------------------------

HUGE = 100_000


def test_a_chain_of_100000_spans_derives_without_recursion() -> None:
    spans = [facts(1, None, "agent")]
    spans += [facts(n, n - 1, "tool" if n % 2 else "plain") for n in range(2, HUGE + 1)]
    trace = derive_trace(spans)
    assert [r.span_id for r in trace.runs] == [sid(1)]
    assert len(trace.steps) == HUGE // 2 - 1  # the odd spans from 3 on
    assert trace.steps[-1].parent_step_id == trace.steps[-2].id


def test_a_cycle_of_100000_spans_derives() -> None:
    trace = derive_trace(
        [facts(n, n % HUGE + 1, "llm", input_tokens=1) for n in range(1, HUGE + 1)]
    )
    [run] = trace.runs
    assert (run.span_id, run.step_count, run.input_tokens) == (sid(1), HUGE, 1)


def test_100000_sibling_steps_derive() -> None:
    spans = [facts(1, None, "agent")]
    spans += [facts(n, 1, "llm", input_tokens=1, start=n) for n in range(2, HUGE + 1)]
    [run] = derive_trace(spans).runs
    assert (run.step_count, run.input_tokens) == (HUGE - 1, HUGE - 1)
