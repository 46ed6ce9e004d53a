"""Every convention that names a conversation (session) or a user gives runs their session_id
and user_id, read from the captured spans of real frameworks."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from mapping import derive_trace, span_facts
from mapping.model import Run
from tests.mapping.otlp import fixtures_dir, set_any_value, spans_of_bodies

Edit = Callable[[Span], None]


def _runs(scenario: str, edit: Edit | None = None) -> list[Run]:
    bodies = sorted((fixtures_dir() / scenario).glob("*.body.bin"))
    by_trace: dict[str, list] = {}  # type: ignore[type-arg]
    for span, resource, scope in spans_of_bodies(bodies):
        if edit is not None:
            edit(span)
        facts = span_facts(span, resource, scope)
        by_trace.setdefault(facts.trace_id, []).append(facts)
    return [run for group in by_trace.values() for run in derive_trace(group).runs]


def _values_of(scenario: str, key: str) -> set[str]:
    """The values of ``key`` on the spans of a scenario, read from its OTLP/JSON bodies."""
    found = set()
    for path in sorted((fixtures_dir() / scenario).glob("*.body.json")):
        for resource_spans in json.loads(path.read_text())["resourceSpans"]:
            for scope_spans in resource_spans["scopeSpans"]:
                for span in scope_spans["spans"]:
                    for kv in span.get("attributes", []):
                        if kv["key"] == key:
                            found.add(kv["value"]["stringValue"])
    return found


def _add(key: str, value: str) -> Edit:
    def edit(span: Span) -> None:
        kv = span.attributes.add()
        kv.key = key
        set_any_value(kv.value, value)

    return edit


def _drop(*keys: str) -> Edit:
    def edit(span: Span) -> None:
        kept = [kv for kv in span.attributes if kv.key not in keys]
        del span.attributes[:]
        span.attributes.extend(kept)

    return edit


@pytest.mark.parametrize(
    ("scenario", "key"),
    [
        ("agno/ok", "session.id"),
        ("agno/team", "session.id"),
        ("agno/ok_genai_semconv", "gen_ai.conversation.id"),
        ("google-adk/ok", "gen_ai.conversation.id"),
        ("google-adk/sub_agents", "gen_ai.conversation.id"),
        ("google-adk/ok_schema_v1", "gcp.vertex.agent.session_id"),
        ("google-adk/ok_openinference", "session.id"),
        ("google-adk/sub_agents_openinference", "session.id"),
        ("pydantic-ai/ok", "gen_ai.conversation.id"),
        ("pydantic-ai-v6/ok", "gen_ai.conversation.id"),
    ],
)
def test_captured_session_ids_reach_every_run(scenario: str, key: str) -> None:
    values = _values_of(scenario, key)
    assert len(values) == 1, values  # one conversation per scenario
    runs = _runs(scenario)
    assert runs
    assert {run.session_id for run in runs} == values


def test_google_adk_schema_1_session_key_alone_names_the_session() -> None:
    """ADK's schema 1 says ``gcp.vertex.agent.session_id``; with the GenAI key gone it still
    names the session."""
    (want,) = _values_of("google-adk/ok_schema_v1", "gcp.vertex.agent.session_id")
    runs = _runs("google-adk/ok_schema_v1", _drop("gen_ai.conversation.id"))
    assert [run.session_id for run in runs] == [want]


def test_openinference_user_id_from_google_adk() -> None:
    runs = _runs("google-adk/sub_agents_openinference")
    assert {run.user_id for run in runs} == {"user-1"}


@pytest.mark.parametrize(
    ("scenario", "session_key", "user_key"),
    [
        (
            "traceloop/ok",
            "traceloop.association.properties.session_id",
            "traceloop.association.properties.user_id",
        ),
        (
            "traceloop/agent_as_tool",
            "traceloop.association.properties.thread_id",
            "traceloop.association.properties.userId",
        ),
        ("vercel-ai/ok", "ai.telemetry.metadata.sessionId", "ai.telemetry.metadata.userId"),
        ("vercel-ai/subagent", "ai.telemetry.metadata.session_id", "ai.telemetry.metadata.user_id"),
        ("strands/ok", "session.id", "user.id"),  # Strands' documented trace_attributes
        ("openai-agents-v2/ok", "gen_ai.conversation.id", "enduser.id"),
        ("crewai/ok", "langfuse.session.id", "langfuse.user.id"),
    ],
)
def test_app_set_session_and_user_keys(scenario: str, session_key: str, user_key: str) -> None:
    """The keys an app sets on every span of a framework's real capture (association
    properties, telemetry metadata, trace attributes) name every run's session and user."""

    def edit(span: Span) -> None:
        _add(session_key, "conv-42")(span)
        _add(user_key, "alice")(span)

    runs = _runs(scenario, edit)
    assert runs
    assert {(run.session_id, run.user_id) for run in runs} == {("conv-42", "alice")}


def _set_metadata(extra: dict[str, object]) -> Edit:
    def edit(span: Span) -> None:
        for kv in span.attributes:
            if kv.key == "metadata":
                metadata = json.loads(kv.value.string_value)
                kv.value.string_value = json.dumps({**metadata, **extra})

    return edit


def test_langgraph_thread_id_in_metadata_names_the_session() -> None:
    """A LangGraph ``thread_id`` (its checkpointer's ``configurable``) sits in every run's
    LangChain ``metadata``; an instrumentation that does not copy it to ``session.id`` still
    names the session."""
    runs = _runs("langgraph/subagent", _set_metadata({"thread_id": "thread-7", "user_id": "bob"}))
    assert len(runs) == 2
    assert {(run.session_id, run.user_id) for run in runs} == {("thread-7", "bob")}


def test_session_id_key_beats_metadata() -> None:
    def edit(span: Span) -> None:
        _set_metadata({"thread_id": "from-metadata"})(span)
        _add("session.id", "from-key")(span)

    assert {run.session_id for run in _runs("langgraph/ok", edit)} == {"from-key"}


def test_runs_without_a_session_key_have_none() -> None:
    for scenario in ("openai-agents/ok", "smolagents/ok", "llamaindex/ok"):
        assert all(run.session_id is None and run.user_id is None for run in _runs(scenario))


def test_every_fixture_with_a_session_key_is_listed() -> None:
    """A newly captured framework that names sessions gets a row in the test above."""
    keys = ("session.id", "gen_ai.conversation.id", "gcp.vertex.agent.session_id")
    carrying = {
        f"{path.parent.parent.name}/{path.parent.name}"
        for key in keys
        for path in fixtures_dir().glob("*/*/*.body.json")
        if f'"{key}"' in path.read_text()
    }
    for scenario in carrying:
        assert all(run.session_id for run in _runs(scenario)), scenario
