"""Events sent as log records map like span events (pure mapping, no database)."""

from __future__ import annotations

import random

from opentelemetry.proto.common.v1.common_pb2 import InstrumentationScope
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from mapping import derive_trace, span_facts
from mapping.log_events import events_of, with_log_events
from mapping.model import DerivedTrace
from tests.logs.helpers import make_record
from tests.logs.scenario import AGENT, LLM, T0, TOOL, event_scenario
from tests.otlp_helpers import make_span

TRACE = bytes.fromhex("0123456789abcdef0123456789abcdef")


def _derive(spans: list[Span], records: list) -> DerivedTrace:  # type: ignore[type-arg]
    by_span: dict[bytes, list] = {}  # type: ignore[type-arg]
    for record in records:
        by_span.setdefault(record.span_id, []).append(record)
    facts = [
        span_facts(with_log_events(s, by_span.get(s.span_id, [])), Resource(),
                   InstrumentationScope())
        for s in spans
    ]  # fmt: skip
    return derive_trace(facts)


def test_content_events_become_the_llm_steps_messages_and_the_runs_text() -> None:
    scenario = event_scenario(TRACE)
    derived = _derive(scenario.spans, scenario.records)
    (run,) = derived.runs
    assert run.input == "What is 2+2?"
    assert run.output == "4"
    llm = next(step for step in derived.steps if step.kind == "llm")
    assert llm.input is not None and "Be brief." in llm.input and "What is 2+2?" in llm.input
    assert llm.output is not None and '"content":"4"' in llm.output
    messages = [(a.type, a.name) for a in derived.artifacts if a.span_id == LLM.hex()]
    assert messages == [
        ("message", "gen_ai.system.message"),
        ("message", "gen_ai.user.message"),
        ("choice", "gen_ai.choice"),
    ]


def test_span_attributes_win_over_events() -> None:
    span = make_span(
        TRACE, "chat m1", span_id=LLM, start_ns=T0,
        attributes={"gen_ai.operation.name": "chat", "gen_ai.request.model": "m1",
                    "gen_ai.input.messages": '[{"role":"user","parts":[{"type":"text",'
                                             '"content":"from the span"}]}]'},
    )  # fmt: skip
    record = make_record(TRACE, LLM, event_name="gen_ai.user.message", body={"content": "x"})
    facts = span_facts(with_log_events(span, [record]), Resource(), InstrumentationScope())
    assert facts.input is not None and "from the span" in facts.input


def test_inference_details_record_gives_messages_and_artifacts() -> None:
    span = make_span(
        TRACE, "chat m1", span_id=LLM, start_ns=T0,
        attributes={"gen_ai.operation.name": "chat", "gen_ai.request.model": "m1"},
    )  # fmt: skip
    record = make_record(
        TRACE, LLM, event_name="gen_ai.client.inference.operation.details",
        attributes={
            "gen_ai.system_instructions": '[{"type":"text","content":"Be brief."}]',
            "gen_ai.input.messages": '[{"role":"user","parts":[{"type":"text","content":"hi"}]}]',
            "gen_ai.output.messages": '[{"role":"assistant","parts":[{"type":"text",'
                                      '"content":"hello"}],"finish_reason":"stop"}]',
        },
    )  # fmt: skip
    derived = _derive([span], [record])
    (run,) = derived.runs  # a lone LLM call: the run shows the call's messages
    assert run.input is not None and '"content":"hi"' in run.input
    assert run.output is not None and '"content":"hello"' in run.output
    assert [(a.type, a.name) for a in derived.artifacts] == [
        ("message", "gen_ai.system_instructions"),
        ("message", "gen_ai.input.messages"),
        ("choice", "gen_ai.output.messages"),
    ]


def test_evaluation_events_become_scores_on_their_run_and_span() -> None:
    scenario = event_scenario(TRACE)
    derived = _derive(scenario.spans, scenario.records)
    scores = {(s.name, s.span_id): s for s in derived.scores}
    relevance = scores[("relevance", AGENT.hex())]
    assert (relevance.value, relevance.label) == (0.9, "relevant")
    assert relevance.explanation == "answers the question"
    assert relevance.run_span_id == AGENT.hex() and relevance.run_start_ns == T0
    toxicity = scores[("toxicity", LLM.hex())]
    assert (toxicity.value, toxicity.error_type, toxicity.run_span_id) == (
        None,
        "timeout",
        AGENT.hex(),
    )


def test_evaluation_as_span_event_is_a_score_too() -> None:
    span = make_span(
        TRACE, "invoke_agent a", span_id=AGENT, start_ns=T0,
        attributes={"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "a"},
    )  # fmt: skip
    event = span.events.add(name="gen_ai.evaluation.result", time_unix_nano=T0 + 5)
    for key, value in (
        ("gen_ai.evaluation.name", "n" * 5000),
        ("gen_ai.evaluation.score.value", 1),
    ):
        kv = event.attributes.add(key=key)
        if isinstance(value, str):
            kv.value.string_value = value
        else:
            kv.value.int_value = value
    (score,) = derive_trace([span_facts(span, Resource(), InstrumentationScope())]).scores
    assert score.value == 1.0
    assert len(score.name.encode()) <= 1024 and score.name.startswith("nnn")


def test_records_without_an_event_name_are_not_events() -> None:
    plain = make_record(TRACE, TOOL, body="just a log line")
    named_by_attribute = make_record(
        TRACE, TOOL, body={"content": "x"}, attributes={"event.name": "gen_ai.user.message"}
    )
    events = events_of([plain, named_by_attribute])
    assert [e.name for e in events] == ["gen_ai.user.message"]
    assert [kv.key for kv in events[0].attributes] == ["content"]


def test_event_order_and_duplicates_do_not_matter() -> None:
    scenario = event_scenario(TRACE)
    expected = _derive(scenario.spans, scenario.records)
    rng = random.Random(7)
    for _ in range(20):
        records = scenario.records + rng.sample(scenario.records, 3)
        rng.shuffle(records)
        spans = list(scenario.spans)
        rng.shuffle(spans)
        assert _derive(spans, records) == expected
