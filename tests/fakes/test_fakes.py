"""The fake OpenAI server and the OTLP capture server, over real sockets."""

from __future__ import annotations

import base64
import gzip
import json
import struct
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from tests.fakes.capture import write_scenario
from tests.fakes.capture_server import CaptureServer
from tests.fakes.openai_server import FakeOpenAIServer, embedding_vector
from tests.fakes.otlp_bodies import trace_request
from tests.fakes.scenario import usage_for_turn

WEATHER_TOOLS: list[dict[str, Any]] = [
    {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "Current weather of a city.",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}},
                "required": ["city"],
            },
        },
    },
    {
        "type": "function",
        "function": {
            "name": "convert_units",
            "description": "Celsius to Fahrenheit.",
            "parameters": {
                "type": "object",
                "properties": {"value": {"type": "number"}},
                "required": ["value"],
            },
        },
    },
]
QUESTION = "What's the weather in Paris, in Fahrenheit?"


@pytest.fixture(scope="module")
def openai() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer() as server:
        yield server


def _sse(response: httpx.Response) -> list[tuple[str | None, str]]:
    events: list[tuple[str | None, str]] = []
    name: str | None = None
    for line in response.iter_lines():
        if line.startswith("event: "):
            name = line.removeprefix("event: ")
        elif line.startswith("data: "):
            events.append((name, line.removeprefix("data: ")))
            name = None
    return events


def test_chat_calls_each_tool_once_then_answers_with_their_results(
    openai: FakeOpenAIServer,
) -> None:
    messages: list[dict[str, Any]] = [{"role": "user", "content": QUESTION}]
    calls = []
    results = {"get_weather": "Sunny, 21.5 C", "convert_units": "70.7 F"}
    for turn in range(3):
        body = {"model": "gpt-4o-mini", "messages": messages, "tools": WEATHER_TOOLS}
        answer = httpx.post(f"{openai.base_url}/chat/completions", json=body).json()
        assert answer["model"] == "gpt-4o-mini"
        usage = usage_for_turn(turn)
        assert answer["usage"]["prompt_tokens"] == usage.input_tokens
        assert answer["usage"]["prompt_tokens_details"]["cached_tokens"] == usage.cached_tokens
        assert (
            answer["usage"]["completion_tokens_details"]["reasoning_tokens"]
            == usage.reasoning_tokens
        )
        message = answer["choices"][0]["message"]
        messages.append(message)
        for call in message.get("tool_calls") or []:
            calls.append((call["function"]["name"], json.loads(call["function"]["arguments"])))
            result = results[call["function"]["name"]]
            messages.append({"role": "tool", "tool_call_id": call["id"], "content": result})
    assert calls == [("get_weather", {"city": "Paris"}), ("convert_units", {"value": 21.5})]
    assert answer["choices"][0]["finish_reason"] == "stop"
    assert "Sunny, 21.5 C" in message["content"] and "70.7 F" in message["content"]
    assert usage_for_turn(2).reasoning_tokens > 0 and usage_for_turn(1).cached_tokens > 0


def test_chat_stream_ends_with_the_usage_chunk_when_asked(openai: FakeOpenAIServer) -> None:
    body = {
        "model": "gpt-4.1-mini",
        "messages": [{"role": "user", "content": QUESTION}],
        "tools": WEATHER_TOOLS,
        "stream": True,
        "stream_options": {"include_usage": True},
    }
    with httpx.stream("POST", f"{openai.base_url}/chat/completions", json=body) as response:
        assert response.headers["content-type"] == "text/event-stream"
        events = _sse(response)
    assert events[-1] == (None, "[DONE]")
    chunks = [json.loads(data) for _, data in events[:-1]]
    arguments = "".join(
        call["function"].get("arguments") or ""
        for chunk in chunks
        for choice in chunk["choices"]
        for call in choice["delta"].get("tool_calls") or []
    )
    assert json.loads(arguments) == {"city": "Paris"}
    assert chunks[-2]["choices"][0]["finish_reason"] == "tool_calls"
    assert chunks[-1]["choices"] == []
    assert chunks[-1]["usage"]["prompt_tokens"] == usage_for_turn(0).input_tokens
    assert all(chunk["model"] == "gpt-4.1-mini" for chunk in chunks)


def test_responses_stream_has_the_real_event_sequence(openai: FakeOpenAIServer) -> None:
    tools = [{"type": "function", **tool["function"]} for tool in WEATHER_TOOLS]
    body = {"model": "gpt-4o-mini", "input": QUESTION, "tools": tools, "stream": True}
    with httpx.stream("POST", f"{openai.base_url}/responses", json=body) as response:
        events = [(name, json.loads(data)) for name, data in _sse(response)]
    assert [name for name, _ in events] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.done",
        "response.output_item.done",
        "response.completed",
    ]
    assert [data["sequence_number"] for _, data in events] == list(range(len(events)))
    completed = events[-1][1]["response"]
    (item,) = completed["output"]
    assert (item["type"], item["name"], json.loads(item["arguments"])) == (
        "function_call",
        "get_weather",
        {"city": "Paris"},
    )
    follow_up = {
        "model": "gpt-4o-mini",
        "input": [
            {"role": "user", "content": QUESTION},
            item,
            {"type": "function_call_output", "call_id": item["call_id"], "output": "21 C"},
            {"type": "function_call", "call_id": "c2", "name": "convert_units", "arguments": "{}"},
            {"type": "function_call_output", "call_id": "c2", "output": "69.8 F"},
        ],
        "tools": tools,
    }
    answer = httpx.post(f"{openai.base_url}/responses", json=follow_up).json()
    assert answer["output"][0]["type"] == "message"
    assert "69.8 F" in answer["output"][0]["content"][0]["text"]
    assert answer["usage"]["input_tokens_details"]["cached_tokens"] == 128


def test_embeddings_are_deterministic_in_both_encodings(openai: FakeOpenAIServer) -> None:
    url = f"{openai.base_url}/embeddings"
    floats = httpx.post(url, json={"model": "text-embedding-3-small", "input": ["a", "b"]}).json()
    packed = httpx.post(url, json={"input": "a", "encoding_format": "base64"}).json()
    assert floats["data"][0]["embedding"] == embedding_vector("a")
    assert floats["data"][0]["embedding"] != floats["data"][1]["embedding"]
    raw = base64.b64decode(packed["data"][0]["embedding"])
    decoded = struct.unpack(f"<{len(raw) // 4}f", raw)
    assert decoded == pytest.approx(embedding_vector("a"), abs=1e-6)
    models = httpx.get(f"{openai.base_url}/models").json()
    assert "gpt-4o-mini" in [m["id"] for m in models["data"]]


def test_capture_server_keeps_real_exporter_bodies_byte_for_byte(tmp_path: Path) -> None:
    with CaptureServer() as capture:
        provider = TracerProvider(resource=Resource.create({"service.name": "capture-test"}))
        exporter = OTLPSpanExporter(endpoint=f"{capture.endpoint}/v1/traces")
        provider.add_span_processor(SimpleSpanProcessor(exporter))
        tracer = provider.get_tracer("capture-test")
        with tracer.start_as_current_span("invoke_agent weather-agent") as agent:
            agent.set_attribute("gen_ai.usage.input_tokens", 2**40)
            with tracer.start_as_current_span("execute_tool get_weather"):
                pass
        provider.shutdown()
        metrics = httpx.post(
            f"{capture.endpoint}/v1/metrics",
            content=b"",
            headers={"Content-Type": "application/x-protobuf"},
        )
        assert metrics.status_code == 200
        capture.wait_quiet(0.2)
        captured = capture.captured("traces")
    assert len(captured) == 2
    write_scenario(captured, tmp_path, [])
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        f"000{n}.{suffix}" for n in (1, 2) for suffix in ("body.bin", "body.json", "meta.json")
    ]
    meta = json.loads((tmp_path / "0002.meta.json").read_text())
    assert meta["content_type"] == "application/x-protobuf"
    assert meta["signal"] == "traces"
    assert meta["body_length"] == (tmp_path / "0002.body.bin").stat().st_size
    assert (tmp_path / "0002.body.bin").read_bytes() == captured[1].body
    request = ExportTraceServiceRequest.FromString((tmp_path / "0002.body.bin").read_bytes())
    span = request.resource_spans[0].scope_spans[0].spans[0]
    rendered = json.loads((tmp_path / "0002.body.json").read_text())
    json_span = rendered["resourceSpans"][0]["scopeSpans"][0]["spans"][0]
    assert json_span["name"] == "invoke_agent weather-agent"
    assert json_span["traceId"] == span.trace_id.hex()
    assert json_span["kind"] == 1
    assert json_span["attributes"][0]["value"] == {"intValue": str(2**40)}


def test_capture_server_takes_gzip_json_and_logs_apart(tmp_path: Path) -> None:
    document = {
        "resourceSpans": [
            {
                "scopeSpans": [
                    {
                        "spans": [
                            {
                                "traceId": "0af7651916cd43dd8448eb211c80319c",
                                "spanId": "b7ad6b7169203331",
                                "name": "chat gpt-4o-mini",
                                "kind": 3,
                                "attributes": [
                                    {
                                        "key": "error.stack",
                                        "value": {"stringValue": "at /srv/app/agent.js:10"},
                                    }
                                ],
                            }
                        ]
                    }
                ]
            }
        ]
    }
    body = gzip.compress(json.dumps(document).encode())
    logs = {"resourceLogs": [{"scopeLogs": [{"logRecords": [{"body": {"stringValue": "hi"}}]}]}]}
    with CaptureServer() as capture:
        headers = {"Content-Type": "application/json", "Content-Encoding": "gzip"}
        answer = httpx.post(f"{capture.endpoint}/v1/traces", content=body, headers=headers)
        assert (answer.status_code, answer.json()) == (200, {})
        assert httpx.post(f"{capture.endpoint}/v1/logs", json=logs).status_code == 200
        bad = httpx.post(
            f"{capture.endpoint}/v1/traces",
            content=b"\xff\xff",
            headers={"Content-Type": "application/x-protobuf"},
        )
        assert bad.status_code == 400
        captured = capture.captured()
    write_scenario(captured, tmp_path, [("/srv/app/", "")])
    assert json.loads((tmp_path / "0001.logs.json").read_text())["resourceLogs"][0]
    meta = json.loads((tmp_path / "0001.meta.json").read_text())
    assert (meta["content_encoding"], meta["scrubbed_paths"]) == ("gzip", True)
    assert not list(tmp_path.glob("0002.*"))
    request = trace_request(tmp_path / "0001.body.bin")
    span = request.resource_spans[0].scope_spans[0].spans[0]
    assert span.span_id.hex() == "b7ad6b7169203331"
    assert span.attributes[0].value.string_value == "at agent.js:10"
    rendered = json.loads((tmp_path / "0001.body.json").read_text())
    assert rendered["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["kind"] == 3


_TINY_AGENT = """
import os, sys
import httpx
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

provider = TracerProvider()
provider.add_span_processor(SimpleSpanProcessor(OTLPSpanExporter()))
tracer = provider.get_tracer("tiny-agent")
with tracer.start_as_current_span("invoke_agent tiny") as span:
    answer = httpx.post(
        os.environ["OPENAI_BASE_URL"] + "/chat/completions",
        headers={"Authorization": "Bearer " + os.environ["OPENAI_API_KEY"]},
        json={"model": "gpt-4o-mini", "messages": [{"role": "user", "content": sys.argv[1]}]},
    ).json()
    span.set_attribute("output", answer["choices"][0]["message"]["content"])
    try:
        raise RuntimeError("boom")
    except RuntimeError as exc:
        span.record_exception(exc)
provider.shutdown()
"""


def test_capture_cli_records_a_scenario_and_keeps_expected(tmp_path: Path) -> None:
    from tests.fakes import capture

    script = tmp_path / "agent.py"
    script.write_text(_TINY_AGENT)
    scenario = tmp_path / "fixtures" / "tiny" / "ok"
    scenario.mkdir(parents=True)
    (scenario / "expected.json").write_text("{}")
    (scenario / "0009.body.bin").write_bytes(b"stale")
    argv = ["tiny", "ok", "--fixtures-dir", str(tmp_path / "fixtures"), "--quiet-seconds", "0.5"]
    assert capture.main([*argv, "--", sys.executable, "-c", "pass"]) == 1  # nothing exported
    assert (scenario / "0009.body.bin").exists(), "a run that exported nothing changes nothing"
    command = ["--", sys.executable, str(script), "hi"]
    assert capture.main([*argv, "--scrub-root", str(tmp_path), *command]) == 0
    names = sorted(p.name for p in scenario.iterdir())
    assert names == ["0001.body.bin", "0001.body.json", "0001.meta.json", "expected.json"]
    assert (scenario / "expected.json").read_text() == "{}"
    meta = json.loads((scenario / "0001.meta.json").read_text())
    assert meta["scrubbed_paths"] is True
    text = (scenario / "0001.body.json").read_text()
    assert "Here is my answer to: hi" in text
    assert str(tmp_path) not in text
    (span,) = trace_request(scenario / "0001.body.bin").resource_spans[0].scope_spans[0].spans
    event = {kv.key: kv.value.string_value for kv in span.events[0].attributes}
    stacktrace = event["exception.stacktrace"]
    assert 'File "agent.py", line' in stacktrace
    versions = json.loads((tmp_path / "fixtures" / "tiny" / "versions.json").read_text())
    assert versions["opentelemetry-sdk"] and versions["python"]
