"""The per-framework rules of Agno, Strands, Google ADK, the OTel contrib openai-agents-v2
instrumentation and Pydantic AI's detailed usage, each on the smallest span that needs it
(the captures under tests/fixtures prove them end to end)."""

from __future__ import annotations

import json
from typing import Any

from opentelemetry.proto.common.v1.common_pb2 import InstrumentationScope

from mapping import derive_trace, span_facts
from mapping.messages import answer_text, request_text
from mapping.model import SpanFacts
from tests.mapping.builders import facts
from tests.mapping.otlp import make_resource, make_span

AGNO = "openinference.instrumentation.agno"
OPENINFERENCE_AGENTS = "openinference.instrumentation.openai_agents"
STRANDS = "strands.telemetry.tracer"
ADK = "gcp.vertex.agent"
OTEL_AGENTS = "opentelemetry.instrumentation.openai_agents"
QUESTION = "What's the weather in Paris?"


def facts_in(scope: str, name: str, attributes: dict[str, Any], **options: Any) -> SpanFacts:
    span = make_span(name, attributes, **options)
    return span_facts(span, make_resource(), InstrumentationScope(name=scope))


def test_a_graph_node_parent_is_a_handoff_only_where_it_names_an_agent() -> None:
    attributes = {
        "openinference.span.kind": "AGENT",
        "agent.name": "weather-agent",
        "graph.node.parent_id": "04c3efbbc9da70d6",
    }
    agno = facts_in(AGNO, "weather_agent.run", attributes)
    assert (agno.convention, agno.category, agno.agent_name) == ("agno", "agent", "weather-agent")
    assert agno.handoff_from_agent is None  # Agno's parent is an opaque node id
    agents_sdk = facts_in(OPENINFERENCE_AGENTS, "weather-agent", attributes)
    assert agents_sdk.handoff_from_agent == "04c3efbbc9da70d6"
    genai = facts_in("x", "invoke_agent a", {"gen_ai.operation.name": "invoke_agent", **attributes})
    assert genai.handoff_from_agent is None  # not a GenAI key


def strands_agent_span() -> SpanFacts:
    return facts_in(
        STRANDS,
        "invoke_agent weather-agent",
        {"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "weather-agent"},
        events=[
            ("gen_ai.system.message", {"content": '[{"text": "You answer weather questions."}]'}),
            ("gen_ai.user.message", {"content": json.dumps([{"text": QUESTION}])}),
            ("gen_ai.choice", {"message": "It is sunny.\n", "finish_reason": "end_turn"}),
        ],
    )


def test_strands_reads_its_content_blocks_in_message_events() -> None:
    f = strands_agent_span()
    assert (f.convention, f.agent_name) == ("strands", "weather-agent")
    assert (f.input, f.output) == (QUESTION, "It is sunny.\n")
    assert f.input_source == "event:gen_ai.*.message"


def test_strands_event_loop_cycles_are_plain() -> None:
    f = facts_in(STRANDS, "execute_event_loop_cycle", {"gen_ai.operation.name": "event_loop"})
    assert f.category == "plain"


def test_adk_schema_1_call_llm_is_the_llm_call_and_its_marker_no_provider() -> None:
    request = {
        "model": "openai/gpt-4o-mini",
        "contents": [{"role": "user", "parts": [{"text": QUESTION}]}],
    }
    response = {"content": {"role": "model", "parts": [{"text": "It is sunny."}]}}
    f = facts_in(
        ADK,
        "call_llm",
        {
            "gen_ai.system": "gcp.vertex.agent",
            "gen_ai.request.model": "openai/gpt-4o-mini",
            "gcp.vertex.agent.llm_request": json.dumps(request),
            "gcp.vertex.agent.llm_response": json.dumps(response),
            "gen_ai.usage.input_tokens": 120,
        },
    )
    assert (f.convention, f.category, f.model, f.provider) == (
        "google_adk",
        "llm",
        "openai/gpt-4o-mini",
        None,  # gcp.vertex.agent names ADK, not the model's provider
    )
    assert f.input_source == "gcp.vertex.agent.llm_request"
    assert request_text(f.input) == QUESTION and answer_text(f.output) == "It is sunny."
    elsewhere = facts_in("x", "call_llm", {"gen_ai.system": "gcp.vertex.agent"})
    assert elsewhere.category == "plain"


def test_adk_sub_agent_request_skips_adk_transcripts_of_another_agent() -> None:
    transcript = "For context: below is a transcript of what another agent did."
    messages = [
        {"role": "user", "parts": [{"type": "text", "content": QUESTION}]},
        {"role": "user", "parts": [{"type": "text", "content": transcript}]},
    ]
    llm = facts_in(
        ADK,
        "generate_content openai/gpt-4o-mini",
        {
            "gen_ai.operation.name": "generate_content",
            "gen_ai.request.model": "openai/gpt-4o-mini",
            "gen_ai.input.messages": json.dumps(messages),
        },
    )
    agent = facts(1, None, "agent", agent_name="weather_agent")
    call = facts(
        2,
        1,
        "llm",
        model=llm.model,
        input=llm.input,
        input_source=llm.input_source,
        convention=llm.convention,
    )
    (run,) = derive_trace([agent, call]).runs
    assert run.input == QUESTION
    generic = facts(2, 1, "llm", input=llm.input, input_source="x", convention="gen_ai")
    assert derive_trace([agent, generic]).runs[0].input == transcript


def test_openinference_writing_over_an_adk_span_is_read_by_its_counts() -> None:
    f = facts_in(
        ADK,
        "invoke_agent weather_agent",
        {
            "openinference.span.kind": "LLM",
            "gen_ai.operation.name": "generate_content",
            "gen_ai.usage.input_tokens": 200,
            "gen_ai.usage.output_tokens": 42,  # ADK adds the reasoning tokens again
            "gen_ai.usage.cache_read.input_tokens": 128,
            "llm.token_count.prompt": 200,
            "llm.token_count.completion": 26,
            "llm.token_count.total": 226,
        },
    )
    assert (f.convention, f.category) == ("google_adk_openinference", "llm")
    assert (f.input_tokens, f.output_tokens, f.total_tokens) == (200, 26, 226)
    assert f.cache_read_input_tokens == 128


def test_otel_agents_workflow_root_and_placeholders_name_no_agent() -> None:
    defaults = {
        "gen_ai.agent.id": "agent",
        "gen_ai.agent.description": "OpenAI Agents instrumentation",
    }
    root = facts_in(OTEL_AGENTS, "Agent workflow", {"gen_ai.operation.name": "invoke_agent"})
    assert (root.convention, root.category) == ("openai_agents_v2", "container")
    agent = facts_in(
        OTEL_AGENTS,
        "invoke_agent weather-agent",
        {"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "weather-agent", **defaults},
    )
    assert (agent.category, agent.agent_name) == ("agent", "weather-agent")
    assert (agent.agent_id, agent.agent_description) == (None, None)
    turn = facts_in(
        OTEL_AGENTS,
        "unknown",
        {"gen_ai.operation.name": "unknown", "gen_ai.agent.name": "OpenAI Agent", **defaults},
    )
    assert (turn.convention, turn.category, turn.agent_name_hint) == (
        "openai_agents_v2",
        "plain",
        None,
    )
    # another instrumentation's "agent" is an id like any other
    other = facts_in("x", "invoke_agent a", {"gen_ai.operation.name": "invoke_agent", **defaults})
    assert other.agent_id == "agent"


def test_otel_agents_handoff_written_as_an_item_repr_is_no_answer() -> None:
    repr_text = "ResponseFunctionToolCall(arguments='{}', name='transfer_to_weather_agent')"
    output = [{"role": "assistant", "parts": [{"type": "text", "content": repr_text}]}]
    f = facts_in(
        OTEL_AGENTS,
        "invoke_agent triage-agent",
        {
            "gen_ai.operation.name": "invoke_agent",
            "gen_ai.agent.name": "triage-agent",
            "gen_ai.output.messages": json.dumps(output),
        },
    )
    assert (f.output, f.output_source) == (None, None)


def test_pydantic_ai_reasoning_tokens_are_read_from_its_usage_details() -> None:
    f = facts_in(
        "pydantic-ai",
        "chat gpt-4o-mini",
        {
            "gen_ai.operation.name": "chat",
            "gen_ai.usage.output_tokens": 26,
            "gen_ai.usage.details.reasoning_tokens": 16,
        },
    )
    assert f.reasoning_output_tokens == 16
    run = facts_in(
        "pydantic-ai",
        "invoke_agent weather-agent",
        {
            "gen_ai.operation.name": "invoke_agent",
            "gen_ai.aggregated_usage.cache_read.input_tokens": 192,
            "gen_ai.aggregated_usage.details.reasoning_tokens": 16,
        },
    )
    assert (run.cache_read_input_tokens, run.reasoning_output_tokens) == (192, 16)


def test_gemini_requests_and_responses_are_message_shapes() -> None:
    request = {"contents": [{"role": "user", "parts": [{"text": QUESTION}]}]}
    assert request_text(json.dumps(request)) == QUESTION
    response = {"content": {"role": "model", "parts": [{"text": "Sunny."}]}}
    assert answer_text(json.dumps(response)) == "Sunny."
    candidates = {"candidates": [{"content": {"role": "model", "parts": [{"text": "Sunny."}]}}]}
    assert answer_text(json.dumps(candidates)) == "Sunny."
    tool_call = {"content": {"role": "model", "parts": [{"function_call": {"name": "f"}}]}}
    assert answer_text(json.dumps(tool_call)) is None


def test_each_refinement_comes_before_what_it_refines() -> None:
    from mapping.registry import REGISTRY

    order = [c.name for c in REGISTRY]
    assert order.index("agno") < order.index("openinference")
    assert order.index("google_adk_openinference") < order.index("google_adk")
    for refinement in ("strands", "google_adk", "openai_agents_v2", "agno", "openai_agents"):
        assert order.index(refinement) < order.index("gen_ai")
