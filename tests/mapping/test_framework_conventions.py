"""The per-framework OpenInference refinements: what each reads that the generic rules do not.

The captured fixtures (tests/fixtures/<framework>/) prove them end to end; these pin each rule
on one span.
"""

from __future__ import annotations

import json
from typing import Any

from opentelemetry.proto.common.v1.common_pb2 import InstrumentationScope

from mapping import derive_trace, span_facts
from mapping.model import SpanFacts
from tests.mapping.otlp import make_resource, make_span

LANGCHAIN = "openinference.instrumentation.langchain"
SMOLAGENTS = "openinference.instrumentation.smolagents"
CREWAI = "openinference.instrumentation.crewai"
LLAMA_INDEX = "openinference.instrumentation.llama_index"


def _facts(scope: str, name: str, attributes: dict[str, Any], **options: Any) -> SpanFacts:
    span = make_span(name, attributes, **options)
    return span_facts(span, make_resource("svc"), InstrumentationScope(name=scope))


def _langchain(name: str, kind: str, metadata: dict[str, Any], **attributes: Any) -> SpanFacts:
    attributes = {"openinference.span.kind": kind, "metadata": json.dumps(metadata), **attributes}
    return _facts(LANGCHAIN, name, attributes)


def test_langgraph_runs_are_graphs_and_nodes_are_wrappers() -> None:
    top = _langchain("supervisor", "CHAIN", {"ls_integration": "langgraph"})
    node = _langchain("agent", "AGENT", {"ls_integration": "langgraph", "langgraph_node": "agent"})
    nested = _langchain("weather-agent", "AGENT", {"langgraph_node": "tools"})
    inner = _langchain("call_model", "CHAIN", {"langgraph_node": "agent"})
    tool_name = {"tool.name": "ask_weather_agent"}
    tool = _langchain("ask_weather_agent", "AGENT", {"langgraph_node": "tools"}, **tool_name)
    assert (top.category, top.agent_name) == ("agent", "supervisor")
    assert (nested.category, nested.agent_name) == ("agent", "weather-agent")
    assert node.category == "container" and inner.category == "plain"
    assert (tool.category, tool.tool_name) == ("tool", "ask_weather_agent")


def test_langgraph_reads_the_question_and_the_last_ai_message_of_the_state() -> None:
    state_out = {
        "messages": [
            {"type": "human", "data": {"content": "Weather in Paris?"}},
            {"type": "ai", "data": {"content": ""}},
            {"type": "tool", "data": {"content": "21 C"}},
            {"type": "ai", "data": {"content": "It is 21 C."}},
        ]
    }
    graph = _langchain(
        "weather-agent",
        "AGENT",
        {"ls_integration": "langgraph"},
        **{
            "input.value": json.dumps({"messages": [["user", "Weather in Paris?"]]}),
            "output.value": json.dumps(state_out),
        },
    )
    assert (graph.input, graph.output) == ("Weather in Paris?", "It is 21 C.")


def test_smolagents_names_the_agent_from_its_run_span_and_reads_the_task() -> None:
    run = _facts(
        SMOLAGENTS,
        "weather_agent.run",
        {
            "openinference.span.kind": "AGENT",
            "input.value": json.dumps({"task": "Weather in Paris?", "stream": False}),
            "output.value": "It is 21 C.",
        },
    )
    step = _facts(SMOLAGENTS, "Step 1", {"openinference.span.kind": "CHAIN"})
    assert (run.category, run.agent_name, run.input, run.output) == (
        "agent",
        "weather_agent",
        "Weather in Paris?",
        "It is 21 C.",
    )
    assert step.category == "plain"


def test_crewai_agent_is_its_role_and_a_delegation_is_the_coworkers_run() -> None:
    agent = _facts(
        CREWAI,
        "triage-agent._execute_core",
        {
            "openinference.span.kind": "AGENT",
            "graph.node.id": "triage-agent",
            "input.value": json.dumps({"role": "triage-agent", "goal": "route"}),
            "output.value": json.dumps({"description": "Weather in Paris?", "raw": "21 C."}),
        },
    )
    delegation = _facts(
        CREWAI,
        "Delegate work to coworker.run",
        {
            "openinference.span.kind": "TOOL",
            "tool.name": "Delegate work to coworker",
            "input.value": json.dumps(
                {"task": "Find the weather", "context": "", "coworker": "weather-agent"}
            ),
            "output.value": "21 C.",
        },
    )
    tool = {"openinference.span.kind": "TOOL", "tool.name": "get_weather"}
    ordinary = _facts(CREWAI, "get_weather.run", tool)
    assert (agent.agent_name, agent.input, agent.output) == (
        "triage-agent",
        "Weather in Paris?",
        "21 C.",
    )
    assert agent.input_source == "output.value"
    assert (delegation.category, delegation.agent_name) == ("agent", "weather-agent")
    assert (delegation.input, delegation.input_source) == ("Find the weather", "input.value")
    assert (ordinary.category, ordinary.tool_name) == ("tool", "get_weather")


def _llama(name: str, kind: str, span_id: str, parent: str | None, **attributes: Any) -> SpanFacts:
    return _facts(
        LLAMA_INDEX,
        name,
        {"openinference.span.kind": kind, **attributes},
        span_id=span_id,
        parent_span_id=parent,
        start_ns=int(span_id, 16),
        end_ns=int(span_id, 16) + 1,
    )


def test_llamaindex_run_is_the_workflow_named_by_its_steps_and_reads_its_llm_calls() -> None:
    root = _llama(
        "AgentWorkflow.run", "CHAIN", "0000000000000001", None, **{"input.value": '{"state": {}}'}
    )
    setup = _llama(
        "AgentWorkflow.setup_agent",
        "CHAIN",
        "0000000000000002",
        root.span_id,
        **{"input.value": "AgentInput(input=[...], current_agent_name='triage-agent')"},
    )
    later = _llama(
        "AgentWorkflow.setup_agent",
        "CHAIN",
        "0000000000000005",
        root.span_id,
        **{"input.value": "AgentInput(input=[...], current_agent_name='weather-agent')"},
    )
    prepare = _llama("OpenAI._prepare_chat_with_tools", "LLM", "0000000000000003", root.span_id)
    first_call = _llama(
        "OpenAI.astream_chat",
        "LLM",
        "0000000000000004",
        root.span_id,
        **{
            "llm.model_name": "gpt-4o-mini",
            "input.value": '{"messages": ["ChatMessage(...)"]}',
            "llm.input_messages.0.message.role": "system",
            "llm.input_messages.0.message.content": "Route it.",
            "llm.input_messages.1.message.role": "user",
            "llm.input_messages.1.message.content": "Weather in Paris?",
        },
    )
    last_call = _llama(
        "OpenAI.astream_chat",
        "LLM",
        "0000000000000006",
        root.span_id,
        **{
            "llm.model_name": "gpt-4o-mini",
            "llm.output_messages.0.message.role": "assistant",
            "llm.output_messages.0.message.content": "It is 21 C.",
        },
    )
    assert (root.category, root.agent_name, root.input, root.output) == ("agent", None, None, None)
    assert prepare.category == "plain"
    assert setup.agent_name_hint == "triage-agent"
    (run,) = derive_trace([root, setup, later, prepare, first_call, last_call]).runs
    assert run.agent_name == "triage-agent"  # the earliest span that names one
    assert (run.input, run.output) == ("Weather in Paris?", "It is 21 C.")
    assert run.llm_call_count == 2
