"""The JavaScript SDKs' rules: the OpenAI Agents SDK for TypeScript through OpenInference JS,
and the Vercel AI SDK's own ``ai.*`` spans (their captures are golden tests too)."""

from __future__ import annotations

from typing import Any

from opentelemetry.proto.common.v1.common_pb2 import InstrumentationScope
from opentelemetry.proto.trace.v1.trace_pb2 import Status

from mapping import registry, span_facts
from mapping.conventions import openai_agents_js, vercel_ai
from mapping.model import SpanFacts
from tests.mapping.otlp import make_resource, make_span

AGENTS_JS_SCOPE = openai_agents_js.SCOPES[0]


def _facts(name: str, attributes: dict[str, Any], scope: str, **options: Any) -> SpanFacts:
    span = make_span(name, attributes, **options)
    return span_facts(span, make_resource("svc"), InstrumentationScope(name=scope))


# --- OpenAI Agents SDK for TypeScript + OpenInference JS --------------------------------------


def test_agents_js_agent_span_is_named_by_its_graph_node() -> None:
    facts = _facts(
        "weather-agent",
        {"openinference.span.kind": "AGENT", "graph.node.id": "weather-agent"},
        AGENTS_JS_SCOPE,
    )
    assert (facts.category, facts.convention) == ("agent", "openai_agents_js")
    assert facts.agent_name == "weather-agent"


def test_agents_js_agent_name_attribute_wins_over_the_node_id() -> None:
    attrs = {"openinference.span.kind": "AGENT", "agent.name": "a", "graph.node.id": "b"}
    assert _facts("a", attrs, AGENTS_JS_SCOPE).agent_name == "a"


def test_agents_js_workflow_root_is_a_wrapper() -> None:
    attrs = {"openinference.span.kind": "AGENT", "input.value": "[]", "output.value": "done"}
    assert _facts("Agent workflow", attrs, AGENTS_JS_SCOPE).category == "container"


def test_graph_node_alone_names_no_agent_outside_the_agents_js_scope() -> None:
    attrs = {"openinference.span.kind": "AGENT", "graph.node.id": "agent"}
    facts = _facts("agent", attrs, "openinference.instrumentation.langchain")
    assert facts.category == "container"
    assert facts.agent_name is None


def test_agents_js_handoff_names_the_sender() -> None:
    attrs = {
        "openinference.span.kind": "AGENT",
        "graph.node.id": "weather-agent",
        "graph.node.parent_id": "triage-agent",
    }
    assert _facts("weather-agent", attrs, AGENTS_JS_SCOPE).handoff_from_agent == "triage-agent"


# --- Vercel AI SDK ------------------------------------------------------------------------------


def test_vercel_generate_text_is_a_run_named_by_its_function_id() -> None:
    attrs = {
        "ai.operationId": "ai.generateText",
        "ai.telemetry.functionId": "weather-agent",
        "ai.prompt": '{"system":"Be brief.","prompt":"Weather in Paris?"}',
        "ai.response.text": "Sunny.",
        "ai.usage.inputTokens": 480,
        "ai.usage.outputTokens": 66,
    }
    facts = _facts("ai.generateText", attrs, "ai")
    assert (facts.category, facts.convention) == ("agent", "vercel_ai")
    assert facts.agent_name == "weather-agent"
    assert (facts.input, facts.input_source) == ("Weather in Paris?", "ai.prompt")
    assert (facts.output, facts.output_source) == ("Sunny.", "ai.response.text")
    assert (facts.input_tokens, facts.output_tokens) == (480, 66)


def test_vercel_prompt_given_as_messages_reads_the_last_user_text() -> None:
    prompt = (
        '{"messages":[{"role":"user","content":"first"},'
        '{"role":"user","content":[{"type":"text","text":"second"}]}]}'
    )
    attrs = {"ai.operationId": "ai.streamText", "ai.prompt": prompt}
    assert _facts("ai.streamText", attrs, "ai").input == "second"
    as_prompt = '{"prompt":[{"role":"user","content":"only"}]}'
    attrs = {"ai.operationId": "ai.generateText", "ai.prompt": as_prompt}
    assert _facts("ai.generateText", attrs, "ai").input == "only"


def test_vercel_function_id_on_a_child_span_is_a_hint_not_an_agent() -> None:
    attrs = {
        "ai.operationId": "ai.toolCall",
        "ai.telemetry.functionId": "weather-agent",
        "ai.toolCall.name": "get_weather",
        "ai.toolCall.id": "call_1",
        "ai.toolCall.args": '{"city":"Paris"}',
        "ai.toolCall.result": '"Sunny"',
    }
    facts = _facts("ai.toolCall", attrs, "ai")
    assert facts.category == "tool"
    assert facts.agent_name is None and facts.agent_name_hint == "weather-agent"
    assert (facts.tool_name, facts.tool_call_id) == ("get_weather", "call_1")
    assert (facts.input, facts.output) == ('{"city":"Paris"}', '"Sunny"')


def test_vercel_failing_tool_call_reads_its_exception() -> None:
    attrs = {"ai.operationId": "ai.toolCall", "ai.toolCall.name": "convert_units"}
    facts = _facts(
        "ai.toolCall",
        attrs,
        "ai",
        status=Status.STATUS_CODE_ERROR,
        status_message="unit service unavailable",
        events=[("exception", {"exception.type": "Error", "exception.message": "unit down"})],
    )
    assert (facts.error_type, facts.error_message) == ("Error", "unit down")


def test_vercel_model_call_reads_the_sdk_usage_details() -> None:
    attrs = {
        "ai.operationId": "ai.generateText.doGenerate",
        "ai.model.id": "gpt-4o-mini",
        "ai.model.provider": "openai.responses",
        "ai.usage.inputTokens": 200,
        "ai.usage.outputTokens": 26,
        "ai.usage.inputTokenDetails.cacheReadTokens": 128,
        "ai.usage.inputTokenDetails.cacheWriteTokens": 4,
        "ai.usage.outputTokenDetails.reasoningTokens": 16,
    }
    facts = _facts("ai.generateText.doGenerate", attrs, "ai")
    assert (facts.category, facts.model) == ("llm", "gpt-4o-mini")
    assert facts.provider == "openai.responses"
    assert (facts.input_tokens, facts.output_tokens) == (200, 26)
    assert facts.cache_read_input_tokens == 128
    assert facts.cache_write_input_tokens == 4
    assert facts.reasoning_output_tokens == 16
    assert facts.usage["ai.usage.inputTokens"] == 200


def test_vercel_older_usage_names_are_read() -> None:
    attrs = {
        "ai.operationId": "ai.streamText.doStream",
        "ai.model.id": "gpt-4o-mini",
        "ai.usage.promptTokens": 10,
        "ai.usage.completionTokens": 3,
    }
    facts = _facts("ai.streamText.doStream", attrs, "ai")
    assert (facts.input_tokens, facts.output_tokens) == (10, 3)


def test_vercel_one_shot_calls_pass_their_children_through() -> None:
    for operation in ("ai.generateObject", "ai.streamObject", "ai.embed", "ai.rerank"):
        facts = _facts(operation, {"ai.operationId": operation}, "ai")
        assert facts.category == "container", operation
    embedding = _facts("ai.embed.doEmbed", {"ai.operationId": "ai.embed.doEmbed"}, "ai")
    assert embedding.category == "embedding"


def test_vercel_unknown_operation_falls_through_to_the_other_conventions() -> None:
    attrs = {"ai.operationId": "ai.somethingNew", "gen_ai.operation.name": "chat"}
    facts = _facts("ai.somethingNew", attrs, "ai")
    assert (facts.category, facts.convention) == ("llm", "gen_ai")
    assert vercel_ai.classify({"ai.operationId": 3}, "x", "ai") is None


def test_js_rules_come_before_the_conventions_they_refine() -> None:
    order = [c.name for c in registry.REGISTRY]
    assert order.index("openai_agents_js") < order.index("openinference")
    # AI SDK spans carry gen_ai.* keys too: their own operation id decides first
    assert order.index("vercel_ai") < order.index("gen_ai")
