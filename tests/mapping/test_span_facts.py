"""span_facts: one span's classification and the fields read from it, per convention."""

from __future__ import annotations

import base64
import json

import pytest
from opentelemetry.proto.trace.v1.trace_pb2 import Status

from mapping import MAX_DISPLAY_CHARS
from tests.mapping.otlp import TRACE_ID_HEX, facts_of

ERROR = Status.STATUS_CODE_ERROR
OK = Status.STATUS_CODE_OK


# --- OpenTelemetry GenAI semantic conventions -------------------------------------------


def test_invoke_agent_is_an_agent_with_its_identity() -> None:
    f = facts_of(
        "invoke_agent planner",
        {
            "gen_ai.operation.name": "invoke_agent",
            "gen_ai.agent.name": "planner",
            "gen_ai.agent.id": "asst_1",
            "gen_ai.agent.version": "2.1",
            "gen_ai.agent.description": "Plans trips",
            "gen_ai.conversation.id": "conv-9",
            "gen_ai.input.messages": '[{"role":"user"}]',
            "gen_ai.output.messages": '[{"role":"assistant"}]',
        },
    )
    assert (f.category, f.convention) == ("agent", "gen_ai")
    assert (f.agent_name, f.agent_id, f.agent_version, f.agent_description) == (
        "planner",
        "asst_1",
        "2.1",
        "Plans trips",
    )
    assert f.session_id == "conv-9"
    assert f.input == '[{"role":"user"}]'
    assert f.output == '[{"role":"assistant"}]'


@pytest.mark.parametrize(
    ("operation", "category"),
    [
        ("invoke_workflow", "container"),
        ("create_agent", "container"),
        ("execute_tool", "tool"),
        ("chat", "llm"),
        ("text_completion", "llm"),
        ("generate_content", "llm"),
        ("embeddings", "embedding"),
        ("retrieval", "retriever"),
        ("plan", "planning"),
        ("search_memory", "memory"),
        ("update_memory", "memory"),
        ("create_memory_store", "memory"),
    ],
)
def test_gen_ai_operation_names(operation: str, category: str) -> None:
    f = facts_of(operation, {"gen_ai.operation.name": operation})
    assert (f.category, f.convention) == (category, "gen_ai")


def test_unknown_operation_name_falls_through_to_the_heuristics() -> None:
    f = facts_of("x", {"gen_ai.operation.name": "something_new", "gen_ai.request.model": "m"})
    assert (f.category, f.convention) == ("llm", "heuristic")


def test_execute_tool_reads_name_call_id_arguments_and_result() -> None:
    f = facts_of(
        "execute_tool get_weather",
        {
            "gen_ai.operation.name": "execute_tool",
            "gen_ai.tool.name": "get_weather",
            "gen_ai.tool.call.id": "call_1",
            "gen_ai.tool.call.arguments": '{"city":"Paris"}',
            "gen_ai.tool.call.result": '{"temp_c":21.0}',
            "gen_ai.agent.name": "weather-agent",
        },
    )
    assert f.category == "tool"
    assert (f.tool_name, f.tool_call_id) == ("get_weather", "call_1")
    assert (f.input, f.output) == ('{"city":"Paris"}', '{"temp_c":21.0}')


def test_agent_name_copied_onto_a_child_is_only_a_hint() -> None:
    f = facts_of("chat m", {"gen_ai.operation.name": "chat", "gen_ai.agent.name": "weather"})
    assert f.category == "llm"
    assert f.agent_name is None
    assert f.agent_name_hint == "weather"


def test_llm_call_reads_model_provider_and_tokens() -> None:
    f = facts_of(
        "chat gpt-4o",
        {
            "gen_ai.operation.name": "chat",
            "gen_ai.request.model": "gpt-4o",
            "gen_ai.response.model": "gpt-4o-2024-08-06",
            "gen_ai.provider.name": "openai",
            "gen_ai.usage.input_tokens": 100,
            "gen_ai.usage.output_tokens": 20,
            "gen_ai.usage.cache_read.input_tokens": 60,
        },
    )
    assert f.model == "gpt-4o-2024-08-06"
    assert f.provider == "openai"
    assert (f.input_tokens, f.output_tokens, f.total_tokens) == (100, 20, None)
    assert f.usage == {
        "gen_ai.usage.input_tokens": 100,
        "gen_ai.usage.output_tokens": 20,
        "gen_ai.usage.cache_read.input_tokens": 60,
    }


def test_request_model_when_no_response_model() -> None:
    f = facts_of("chat", {"gen_ai.operation.name": "chat", "gen_ai.request.model": "claude"})
    assert f.model == "claude"


def test_older_gen_ai_keys_still_emitted() -> None:
    f = facts_of(
        "chat",
        {
            "gen_ai.operation.name": "chat",
            "gen_ai.system": "anthropic",
            "gen_ai.usage.prompt_tokens": 11,
            "gen_ai.usage.completion_tokens": 7,
            "gen_ai.prompt": "Say hi",
            "gen_ai.completion": "Hi",
        },
    )
    assert f.provider == "anthropic"
    assert (f.input_tokens, f.output_tokens) == (11, 7)
    assert (f.input, f.output) == ("Say hi", "Hi")


def test_usage_ignores_non_numbers() -> None:
    f = facts_of(
        "chat",
        {
            "gen_ai.operation.name": "chat",
            "gen_ai.usage.input_tokens": "12",
            "gen_ai.usage.flag": True,
            "gen_ai.usage.cost": 0.25,
        },
    )
    assert f.usage == {"gen_ai.usage.cost": 0.25}
    assert f.input_tokens is None


def test_reported_total_tokens_are_read() -> None:
    f = facts_of(
        "openai.chat",
        {
            "gen_ai.operation.name": "chat",
            "gen_ai.usage.input_tokens": 27,
            "gen_ai.usage.output_tokens": 9,
            "gen_ai.usage.total_tokens": 40,
        },
    )
    assert (f.input_tokens, f.output_tokens, f.total_tokens) == (27, 9, 40)


# --- errors -----------------------------------------------------------------------------


def test_error_from_the_exception_event() -> None:
    f = facts_of(
        "execute_tool convert",
        {"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "convert"},
        status=ERROR,
        status_message="RuntimeError: unit service unavailable",
        events=[
            (
                "exception",
                {
                    "exception.type": "RuntimeError",
                    "exception.message": "unit service unavailable",
                    "exception.stacktrace": "Traceback ...",
                },
            )
        ],
    )
    assert f.status == "ERROR"
    assert f.status_message == "RuntimeError: unit service unavailable"
    assert (f.error_type, f.error_message) == ("RuntimeError", "unit service unavailable")
    [artifact] = f.artifacts
    assert (artifact.type, artifact.name) == ("exception", "RuntimeError")
    assert artifact.content == "unit service unavailable\n\nTraceback ..."
    assert artifact.time_ns == 1_001


def test_error_from_status_message_and_error_type() -> None:
    f = facts_of(
        "execute_tool x",
        {"gen_ai.operation.name": "execute_tool", "error.type": "timeout"},
        status=ERROR,
        status_message="took too long",
    )
    assert (f.error_type, f.error_message) == ("timeout", "took too long")


def test_no_error_fields_without_error_status() -> None:
    f = facts_of(
        "x",
        {"error.type": "ignored"},
        status=OK,
        events=[("exception", {"exception.type": "KeyError", "exception.message": "k"})],
    )
    assert f.status == "OK"
    assert (f.error_type, f.error_message) == (None, None)
    assert [a.type for a in f.artifacts] == ["exception"]


def test_last_exception_event_wins() -> None:
    f = facts_of(
        "x",
        status=ERROR,
        events=[
            ("exception", {"exception.type": "KeyError", "exception.message": "first"}),
            ("exception", {"exception.type": "ValueError", "exception.message": "last"}),
        ],
    )
    assert (f.error_type, f.error_message) == ("ValueError", "last")
    assert [a.name for a in f.artifacts] == ["KeyError", "ValueError"]


def test_gen_ai_message_and_choice_events_are_artifacts() -> None:
    f = facts_of(
        "chat",
        {"gen_ai.operation.name": "chat"},
        events=[
            ("gen_ai.user.message", {"content": "hi"}),
            ("gen_ai.choice", {"index": 0, "finish_reason": "stop"}),
            ("some.other.event", {"x": 1}),
        ],
    )
    assert [(a.type, a.name) for a in f.artifacts] == [
        ("message", "gen_ai.user.message"),
        ("choice", "gen_ai.choice"),
    ]
    assert json.loads(f.artifacts[1].content or "") == {"index": 0, "finish_reason": "stop"}


# --- OpenInference ----------------------------------------------------------------------


def test_openinference_agent_with_a_name_is_an_agent() -> None:
    f = facts_of(
        "weather-agent",
        {
            "openinference.span.kind": "AGENT",
            "agent.name": "weather-agent",
            "graph.node.parent_id": "triage-agent",
            "session.id": "s-1",
            "user.id": "u-1",
        },
    )
    assert (f.category, f.convention) == ("agent", "openinference")
    assert f.agent_name == "weather-agent"
    assert f.handoff_from_agent == "triage-agent"
    assert (f.session_id, f.user_id) == ("s-1", "u-1")


def test_openinference_agent_without_a_name_is_a_container() -> None:
    f = facts_of("Agent workflow", {"openinference.span.kind": "AGENT"})
    assert (f.category, f.convention) == ("container", "openinference")
    assert f.agent_name is None


@pytest.mark.parametrize(
    ("kind", "category"),
    [
        ("TOOL", "tool"),
        ("LLM", "llm"),
        ("CHAIN", "plain"),
        ("RETRIEVER", "retriever"),
        ("EMBEDDING", "embedding"),
        ("RERANKER", "reranker"),
        ("GUARDRAIL", "guardrail"),
        ("EVALUATOR", "evaluator"),
        ("llm", "llm"),
    ],
)
def test_openinference_span_kinds(kind: str, category: str) -> None:
    f = facts_of("s", {"openinference.span.kind": kind})
    assert (f.category, f.convention) == (category, "openinference")


def test_openinference_llm_and_tool_fields() -> None:
    llm = facts_of(
        "generation",
        {
            "openinference.span.kind": "LLM",
            "llm.model_name": "gpt-4o-mini",
            "llm.system": "openai",
            "llm.token_count.prompt": 27,
            "llm.token_count.completion": 9,
            "llm.token_count.total": 36,
            "input.value": "[...]",
            "output.value": "[..]",
        },
    )
    assert (llm.model, llm.provider) == ("gpt-4o-mini", "openai")
    assert (llm.input_tokens, llm.output_tokens, llm.total_tokens) == (27, 9, 36)
    assert (llm.input, llm.output) == ("[...]", "[..]")
    tool = facts_of(
        "convert_units",
        {"openinference.span.kind": "TOOL", "tool.name": "convert_units", "output.value": 69.8},
    )
    assert (tool.tool_name, tool.output) == ("convert_units", "69.8")


def test_openinference_tool_without_a_name_is_named_after_its_span() -> None:
    f = facts_of("handoff to weather-agent", {"openinference.span.kind": "TOOL"})
    assert f.tool_name == "handoff to weather-agent"


def test_openinference_retrieved_documents_are_artifacts() -> None:
    f = facts_of(
        "retrieve",
        {
            "openinference.span.kind": "RETRIEVER",
            "retrieval.documents.1.document.id": "doc-b",
            "retrieval.documents.1.document.content": "second",
            "retrieval.documents.0.document.id": "doc-a",
            "retrieval.documents.0.document.content": "first",
            "retrieval.documents.0.document.metadata": '{"url": "https://example.com/a"}',
            "retrieval.documents.0.document.score": 0.9,
        },
    )
    assert [(a.type, a.name, a.content, a.url) for a in f.artifacts] == [
        ("document", "doc-a", "first", "https://example.com/a"),
        ("document", "doc-b", "second", None),
    ]


def test_gen_ai_retrieval_documents_are_artifacts() -> None:
    f = facts_of(
        "retrieval kb",
        {
            "gen_ai.operation.name": "retrieval",
            "gen_ai.retrieval.documents": '[{"id": "d1", "score": 0.5, "content": "text"}]',
        },
    )
    assert [(a.type, a.name, a.content) for a in f.artifacts] == [("document", "d1", "text")]


# --- OpenLLMetry / Traceloop ------------------------------------------------------------


def test_traceloop_kinds() -> None:
    workflow = facts_of(
        "w.workflow",
        {"traceloop.span.kind": "workflow", "traceloop.workflow.name": "w"},
    )
    assert (workflow.category, workflow.convention) == ("container", "traceloop")
    agent = facts_of(
        "weather.agent",
        {
            "traceloop.span.kind": "agent",
            "traceloop.entity.name": "weather",
            "traceloop.entity.input": '{"args": []}',
            "traceloop.entity.output": '"done"',
            "traceloop.workflow.name": "w",
        },
    )
    assert (agent.category, agent.agent_name) == ("agent", "weather")
    # What a person reads: a call with no text argument stays as recorded; the answer, a JSON
    # string, is shown decoded.
    assert (agent.input, agent.output) == ('{"args": []}', "done")
    task = facts_of("t.task", {"traceloop.span.kind": "task"})
    assert task.category == "task"
    tool = facts_of(
        "lookup.tool", {"traceloop.span.kind": "tool", "traceloop.entity.name": "lookup"}
    )
    assert (tool.category, tool.tool_name) == ("tool", "lookup")


def test_traceloop_workflow_name_is_a_hint() -> None:
    f = facts_of("lookup.tool", {"traceloop.span.kind": "tool", "traceloop.workflow.name": "w"})
    assert f.agent_name_hint == "w"


@pytest.mark.parametrize(
    ("request_type", "category"),
    [("chat", "llm"), ("completion", "llm"), ("embedding", "embedding"), ("rerank", "reranker")],
)
def test_traceloop_request_type(request_type: str, category: str) -> None:
    f = facts_of("openai.chat", {"llm.request.type": request_type})
    assert (f.category, f.convention) == (category, "traceloop")


def test_traceloop_indexed_prompts_and_completions() -> None:
    f = facts_of(
        "openai.chat",
        {
            "llm.request.type": "chat",
            "gen_ai.prompt.1.role": "user",
            "gen_ai.prompt.1.content": "hi",
            "gen_ai.prompt.0.role": "system",
            "gen_ai.prompt.0.content": "be brief",
            "gen_ai.completion.0.role": "assistant",
            "gen_ai.completion.0.content": "hello",
            "llm.usage.total_tokens": 12,
        },
    )
    assert json.loads(f.input or "") == [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "hi"},
    ]
    assert json.loads(f.output or "") == [{"role": "assistant", "content": "hello"}]
    assert f.total_tokens == 12


# --- Pydantic AI ------------------------------------------------------------------------


def test_pydantic_ai_agent_input_is_the_first_user_prompt_and_output_the_final_result() -> None:
    messages = [
        {"role": "system", "parts": [{"type": "text", "content": "be nice"}]},
        {"role": "user", "parts": [{"type": "text", "content": "Weather in Paris?"}]},
        {"role": "user", "parts": [{"type": "tool_call_response", "result": "21"}]},
    ]
    f = facts_of(
        "invoke_agent weather",
        {
            "gen_ai.operation.name": "invoke_agent",
            "gen_ai.agent.name": "weather",
            "model_name": "m",
            "pydantic_ai.all_messages": json.dumps(messages),
            "final_result": "Sunny.",
            "gen_ai.aggregated_usage.input_tokens": 123,
            "gen_ai.aggregated_usage.output_tokens": 15,
        },
    )
    assert (f.input, f.output) == ("Weather in Paris?", "Sunny.")
    assert f.model == "m"
    assert (f.input_tokens, f.output_tokens) == (123, 15)
    assert f.usage == {
        "gen_ai.aggregated_usage.input_tokens": 123,
        "gen_ai.aggregated_usage.output_tokens": 15,
    }


def test_pydantic_ai_pre_semconv_agent_run() -> None:
    events = [{"role": "user", "content": "hello", "event.name": "gen_ai.user.message"}]
    f = facts_of(
        "agent run",
        {
            "agent_name": "helper",
            "model_name": "m",
            "all_messages_events": json.dumps(events),
            "final_result": "bye",
        },
    )
    assert (f.category, f.convention, f.agent_name) == ("agent", "pydantic_ai", "helper")
    assert (f.input, f.output) == ("hello", "bye")


def test_pydantic_ai_tool_arguments_and_response() -> None:
    f = facts_of(
        "running tool",
        {"gen_ai.tool.name": "t", "tool_arguments": '{"a":1}', "tool_response": "ok"},
    )
    assert (f.category, f.convention) == ("tool", "heuristic")
    assert (f.input, f.output) == ('{"a":1}', "ok")


# --- heuristics and plain spans ---------------------------------------------------------


def test_tool_name_without_operation_is_a_tool() -> None:
    f = facts_of("call search", {"gen_ai.tool.name": "search"})
    assert (f.category, f.convention, f.tool_name) == ("tool", "heuristic", "search")


def test_tool_call_id_alone_is_a_tool_named_after_the_span() -> None:
    f = facts_of("search", {"gen_ai.tool.call.id": "call_1"})
    assert (f.category, f.tool_name, f.tool_call_id) == ("tool", "search", "call_1")


@pytest.mark.parametrize("key", ["gen_ai.request.model", "gen_ai.response.model", "llm.model_name"])
def test_model_attribute_alone_is_an_llm_call(key: str) -> None:
    f = facts_of("complete", {key: "m-1"})
    assert (f.category, f.convention, f.model) == ("llm", "heuristic", "m-1")


def test_tool_heuristic_comes_before_model_heuristic() -> None:
    f = facts_of("x", {"gen_ai.tool.name": "t", "gen_ai.request.model": "m"})
    assert f.category == "tool"


def test_anything_else_is_plain() -> None:
    f = facts_of("GET /", {"http.method": "GET", "model_name": "not-a-model-call"})
    assert (f.category, f.convention) == ("plain", None)


# --- span identity, status, resource ----------------------------------------------------


def test_ids_times_status_and_service() -> None:
    f = facts_of(
        "s",
        span_id="00000000000000ab",
        parent_span_id="00000000000000cd",
        status=OK,
        start_ns=5,
        end_ns=9,
        service_name="shop",
    )
    assert (f.trace_id, f.span_id, f.parent_span_id) == (
        TRACE_ID_HEX,
        "00000000000000ab",
        "00000000000000cd",
    )
    assert (f.start_ns, f.end_ns, f.status, f.status_message) == (5, 9, "OK", None)
    assert f.service_name == "shop"


def test_root_span_has_no_parent_and_unset_status() -> None:
    f = facts_of("root", service_name=None)
    assert (f.parent_span_id, f.status, f.service_name) == (None, "UNSET", None)


# --- display strings and caps -----------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "text"),
    [
        ("plain text", "plain text"),
        (69.8, "69.8"),
        (42, "42"),
        (True, "true"),
        ([1, "a", {"k": None}], '[1,"a",{"k":null}]'),
        ({"a": [1, 2]}, '{"a":[1,2]}'),
        (b"\x00\xff", base64.b64encode(b"\x00\xff").decode()),
        ([b"\x01"], json.dumps([base64.b64encode(b"\x01").decode()])),
    ],
)
def test_values_are_displayed(value: object, text: str) -> None:
    f = facts_of("t", {"openinference.span.kind": "TOOL", "output.value": value})
    assert f.output == text


def test_long_input_is_capped_and_flagged() -> None:
    long = "é" * (MAX_DISPLAY_CHARS + 5)
    f = facts_of("t", {"gen_ai.tool.name": "t", "gen_ai.tool.call.arguments": long})
    assert f.input == long[:MAX_DISPLAY_CHARS]
    assert f.input_truncated is True
    assert f.output is None and f.output_truncated is False


def test_input_of_exactly_the_cap_is_not_flagged() -> None:
    exact = "x" * MAX_DISPLAY_CHARS
    f = facts_of("t", {"gen_ai.tool.name": "t", "gen_ai.tool.call.result": exact})
    assert (f.output, f.output_truncated) == (exact, False)


def test_long_artifact_is_capped_and_flagged() -> None:
    message = "m" * (MAX_DISPLAY_CHARS * 2)
    f = facts_of("x", events=[("exception", {"exception.message": message})])
    [artifact] = f.artifacts
    assert artifact.truncated is True
    assert artifact.content == message[:MAX_DISPLAY_CHARS]


# --- newer GenAI conventions ------------------------------------------------------------


def test_cache_and_reasoning_tokens_of_the_gen_ai_conventions() -> None:
    f = facts_of(
        "chat m",
        {
            "gen_ai.operation.name": "chat",
            "gen_ai.usage.input_tokens": 100,
            "gen_ai.usage.output_tokens": 40,
            "gen_ai.usage.cache_read.input_tokens": 60,
            "gen_ai.usage.cache_write.input_tokens": 25,
            "gen_ai.usage.cache_creation.input_tokens": 99,  # the older name: the newer wins
            "gen_ai.usage.reasoning.output_tokens": 30,
        },
    )
    assert (f.cache_read_input_tokens, f.cache_write_input_tokens, f.reasoning_output_tokens) == (
        60,
        25,
        30,
    )


def test_cache_creation_is_the_older_name_of_cache_write() -> None:
    f = facts_of(
        "chat m",
        {"gen_ai.operation.name": "chat", "gen_ai.usage.cache_creation.input_tokens": 12},
    )
    assert (f.cache_read_input_tokens, f.cache_write_input_tokens, f.reasoning_output_tokens) == (
        None,
        12,
        None,
    )


def test_cache_and_reasoning_tokens_of_openinference() -> None:
    f = facts_of(
        "generation",
        {
            "openinference.span.kind": "LLM",
            "llm.token_count.prompt": 100,
            "llm.token_count.prompt_details.cache_read": 70,
            "llm.token_count.prompt_details.cache_write": 10,
            "llm.token_count.completion_details.reasoning": 20,
        },
    )
    assert (f.cache_read_input_tokens, f.cache_write_input_tokens, f.reasoning_output_tokens) == (
        70,
        10,
        20,
    )


def test_cache_tokens_in_openllmetry_spelling() -> None:
    f = facts_of(
        "openai.chat",
        {
            "llm.request.type": "chat",
            "gen_ai.usage.cache_read_input_tokens": 8,
            "gen_ai.usage.cache_creation_input_tokens": 3,
        },
    )
    assert (f.cache_read_input_tokens, f.cache_write_input_tokens) == (8, 3)


def test_provider_name_and_the_older_system_key() -> None:
    both = {"gen_ai.operation.name": "chat", "gen_ai.provider.name": "x", "gen_ai.system": "y"}
    assert facts_of("chat", both).provider == "x"
    assert facts_of("chat", {"gen_ai.operation.name": "chat", "gen_ai.system": "y"}).provider == "y"


def test_structured_messages_are_shown_as_json() -> None:
    messages = [{"role": "user", "parts": [{"type": "text", "content": "hi"}]}]
    f = facts_of("chat m", {"gen_ai.operation.name": "chat", "gen_ai.input.messages": messages})
    assert json.loads(f.input or "") == messages
    assert f.input_source == "gen_ai.input.messages"


def test_inference_details_event_carries_input_and_output() -> None:
    asked = [{"role": "user", "parts": [{"type": "text", "content": "hi"}]}]
    answered = [{"role": "assistant", "parts": [{"type": "text", "content": "hello"}]}]
    f = facts_of(
        "chat m",
        {"gen_ai.operation.name": "chat"},
        events=[
            (
                "gen_ai.client.inference.operation.details",
                {"gen_ai.input.messages": asked, "gen_ai.output.messages": answered},
            )
        ],
    )
    assert (json.loads(f.input or ""), json.loads(f.output or "")) == (asked, answered)
    source = "event:gen_ai.client.inference.operation.details"
    assert (f.input_source, f.output_source) == (source, source)


def test_inference_details_event_as_json_strings() -> None:
    f = facts_of(
        "chat m",
        {"gen_ai.operation.name": "chat"},
        events=[("gen_ai.client.inference.operation.details", {"gen_ai.input.messages": "[1]"})],
    )
    assert (f.input, f.output) == ("[1]", None)


def test_older_message_events_carry_input_and_output() -> None:
    f = facts_of(
        "chat m",
        {"gen_ai.operation.name": "chat", "gen_ai.system": "openai"},
        events=[
            ("gen_ai.system.message", {"gen_ai.system": "openai", "content": "be brief"}),
            ("gen_ai.user.message", {"content": "hi"}),
            ("gen_ai.assistant.message", {"gen_ai.event.content": '{"content": "earlier"}'}),
            ("gen_ai.tool.message", {"content": "42", "id": "call_1"}),
            ("gen_ai.choice", {"index": 0, "message": {"content": "hello"}}),
        ],
    )
    assert json.loads(f.input or "") == [
        {"role": "system", "content": "be brief"},
        {"role": "user", "content": "hi"},
        {"role": "assistant", "content": "earlier"},
        {"role": "tool", "content": "42", "id": "call_1"},
    ]
    assert json.loads(f.output or "") == [{"index": 0, "message": {"content": "hello"}}]
    assert (f.input_source, f.output_source) == ("event:gen_ai.*.message", "event:gen_ai.choice")


def test_content_in_attributes_wins_over_events() -> None:
    f = facts_of(
        "chat m",
        {"gen_ai.operation.name": "chat", "gen_ai.input.messages": "[]"},
        events=[("gen_ai.user.message", {"content": "hi"})],
    )
    assert (f.input, f.input_source) == ("[]", "gen_ai.input.messages")


# --- agent identity ---------------------------------------------------------------------


def test_invoke_agent_without_a_name_attribute_is_named_by_its_span() -> None:
    f = facts_of("invoke_agent planner", {"gen_ai.operation.name": "invoke_agent"})
    assert (f.category, f.agent_name) == ("agent", "planner")
    bare = facts_of("invoke_agent", {"gen_ai.operation.name": "invoke_agent"})
    assert (bare.category, bare.agent_name) == ("agent", None)


def test_traceloop_agent_without_an_entity_name_is_named_by_its_span() -> None:
    f = facts_of("weather.agent", {"traceloop.span.kind": "agent"})
    assert (f.category, f.agent_name) == ("agent", "weather")


def test_a_name_in_the_span_name_of_a_child_names_no_agent() -> None:
    f = facts_of("invoke_agent planner", {"gen_ai.operation.name": "chat"})
    assert (f.category, f.agent_name) == ("llm", None)


# --- what a person reads on an agent span -----------------------------------------------


def _agent_input(value: object) -> str | None:
    attrs = {"openinference.span.kind": "AGENT", "agent.name": "a", "input.value": value}
    return facts_of("a", attrs).input


def _agent_output(value: object) -> str | None:
    attrs = {"openinference.span.kind": "AGENT", "agent.name": "a", "output.value": value}
    return facts_of("a", attrs).output


ASKED = "Weather in Paris?"
LANGCHAIN_HUMAN = ["langchain", "schema", "messages", "HumanMessage"]
LANGCHAIN_AI = ["langchain", "schema", "messages", "AIMessage"]


@pytest.mark.parametrize(
    "value",
    [
        ASKED,
        json.dumps(ASKED),
        json.dumps({"messages": [["user", ASKED]]}),
        json.dumps({"messages": [{"type": "human", "content": ASKED}]}),
        json.dumps([{"role": "system", "content": "be kind"}, {"role": "user", "content": ASKED}]),
        json.dumps([{"role": "user", "parts": [{"type": "text", "content": ASKED}]}]),
        json.dumps(
            [
                {
                    "type": "message",
                    "role": "user",
                    "content": [{"type": "input_text", "text": ASKED}],
                }
            ]
        ),
        json.dumps(
            {
                "messages": [
                    {
                        "lc": 1,
                        "type": "constructor",
                        "id": LANGCHAIN_HUMAN,
                        "kwargs": {"content": ASKED},
                    }
                ]
            }
        ),
        json.dumps({"input": ASKED}),
        [{"role": "user", "content": ASKED}],
        {"messages": [{"role": "user", "content": ASKED}]},
    ],
)
def test_agent_input_is_the_request_in_any_message_shape(value: object) -> None:
    assert _agent_input(value) == ASKED


ANSWER = "Sunny."


@pytest.mark.parametrize(
    "value",
    [
        ANSWER,
        json.dumps(ANSWER),
        json.dumps(
            {"messages": [{"type": "human", "content": "q"}, {"type": "ai", "content": ANSWER}]}
        ),
        json.dumps([{"role": "assistant", "content": ANSWER, "tool_calls": None}]),
        json.dumps(
            {"choices": [{"index": 0, "message": {"role": "assistant", "content": ANSWER}}]}
        ),
        json.dumps(
            {
                "output": [
                    {"type": "reasoning"},
                    {
                        "type": "message",
                        "role": "assistant",
                        "content": [{"type": "output_text", "text": ANSWER}],
                    },
                ]
            }
        ),
        json.dumps([{"role": "model", "parts": [{"text": ANSWER}]}]),
        json.dumps(
            {
                "messages": [
                    {
                        "lc": 1,
                        "type": "constructor",
                        "id": LANGCHAIN_AI,
                        "kwargs": {"content": ANSWER},
                    }
                ]
            }
        ),
    ],
)
def test_agent_output_is_the_final_answer_in_any_message_shape(value: object) -> None:
    assert _agent_output(value) == ANSWER


def test_agent_output_ending_in_a_tool_call_has_no_answer_and_stays_as_recorded() -> None:
    value = '[{"role": "assistant", "content": null, "tool_calls": [{"id": "c"}]}]'
    assert _agent_output(value) == value


def test_agent_value_of_no_known_shape_stays_as_recorded() -> None:
    assert _agent_input('{"city": "Paris"}') == '{"city": "Paris"}'
    assert _agent_output("[1, 2]") == "[1, 2]"
    assert _agent_output("{not json") == "{not json"


def test_a_tool_span_keeps_its_raw_input() -> None:
    f = facts_of("t", {"openinference.span.kind": "TOOL", "input.value": '"Weather in Paris?"'})
    assert f.input == '"Weather in Paris?"'


def test_traceloop_single_argument_is_the_request() -> None:
    def agent_input(value: str) -> str | None:
        return facts_of(
            "w.agent",
            {"traceloop.span.kind": "agent", "traceloop.entity.input": value},
        ).input

    assert agent_input('{"args": ["Weather?"], "kwargs": {}}') == "Weather?"
    assert agent_input('{"args": [], "kwargs": {"question": "Weather?"}}') == "Weather?"
    two = '{"args": ["a", "b"], "kwargs": {}}'
    assert agent_input(two) == two
