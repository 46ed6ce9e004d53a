"""Values that PostgreSQL text cannot hold, bodies that would not end, and what the event loop
must keep doing meanwhile."""

from __future__ import annotations

import socket
import sys
import threading
import time
from collections.abc import Iterator

import grpc
import httpx
import orjson
import psycopg
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from receiver.grpc_server import SERVICE_NAME
from tests.otlp_helpers import (
    PROTOBUF,
    attr,
    make_request,
    make_span,
    parse_export_response,
    post_protobuf,
    random_trace_id,
    stored_spans,
)
from tests.support import (
    RunningServer,
    running_server,
    stored_raw_spans,
    stored_span_count,
    wait_derived,
)

MIB = 1024 * 1024


def _rows(database_url: str, query: str, *params: object) -> list[tuple[object, ...]]:
    with psycopg.connect(database_url) as conn:
        return list(conn.execute(query, params).fetchall())


def _export_grpc(server: RunningServer, payload: bytes) -> ExportTraceServiceResponse:
    with grpc.insecure_channel(server.grpc_endpoint) as channel:
        answer = channel.unary_unary(f"/{SERVICE_NAME}/Export")(payload, timeout=30)
    return ExportTraceServiceResponse.FromString(answer)


@pytest.mark.parametrize("transport", ["http-protobuf", "http-json", "grpc"])
def test_nul_in_resource_and_scope_is_stored_and_cleaned(
    agentguide_server: RunningServer, transport: str
) -> None:
    """A NUL in service.name (which made a 500 and lost the batch) or in a schema URL: the
    spans are stored, the raw resource keeps the NUL, the text columns get U+FFFD."""
    trace_id = random_trace_id()
    service = f"svc\x00{transport}"
    request = make_request([make_span(trace_id, "a\x00b")], service_name=service)
    request.resource_spans[0].schema_url = "https://schema\x00/1"
    request.resource_spans[0].scope_spans[0].schema_url = "https://scope\x00/1"
    request.resource_spans[0].scope_spans[0].scope.attributes.append(attr("k\x00", "v\x00"))
    if transport == "grpc":
        response = _export_grpc(agentguide_server, request.SerializeToString())
    elif transport == "http-protobuf":
        response = parse_export_response(post_protobuf(agentguide_server.http_url, request))
    else:
        from receiver.otlp_json import request_to_json

        answer = httpx.post(
            agentguide_server.http_url + "/v1/traces",
            content=orjson.dumps(request_to_json(request)),
            headers={"Content-Type": "application/json"},
        )
        assert answer.status_code == 200, answer.text
        response = parse_export_response(answer)
    assert response.partial_success.rejected_spans == 0
    (stored,) = stored_spans(agentguide_server.http_url, trace_id).values()
    assert stored["span"]["name"] == "a\x00b"
    assert stored["resource"]["attributes"][0]["value"]["stringValue"] == service
    # Schema URLs are kept in text columns only (they are not part of the raw resource).
    assert stored["resourceSchemaUrl"] == "https://schema\ufffd/1"
    rows = _rows(
        agentguide_server.database_url or "",
        "SELECT r.schema_url, sc.schema_url FROM spans s "
        "JOIN resources r USING (project_id, resource_id) "
        "JOIN scopes sc USING (project_id, scope_id) WHERE s.trace_id = %s",
        trace_id,
    )
    assert rows == [("https://schema\ufffd/1", "https://scope\ufffd/1")]


@pytest.mark.parametrize("transport", ["http-protobuf", "grpc"])
def test_invalid_utf8_is_accepted(agentguide_server: RunningServer, transport: str) -> None:
    """proto3 strings that are not UTF-8 (protobuf's parser refuses the whole message): the
    span is stored as sent, and so are the request's other spans; what shows it (the API, the
    deriver) reads U+FFFD in their place."""
    trace_id = random_trace_id()
    good = make_span(trace_id, "good")
    bad = make_span(trace_id, "BAD-NAME", attributes={"input.value": "BAD-VALUE"})
    payload = (
        make_request([good, bad], service_name="svc-BAD")
        .SerializeToString()
        .replace(b"BAD-NAME", b"bad\xffname")
        .replace(b"BAD-VALUE", b"bad\xc3value")
        .replace(b"svc-BAD", b"svc\xfeBAD")
    )
    if transport == "grpc":
        response = _export_grpc(agentguide_server, payload)
    else:
        answer = httpx.post(
            agentguide_server.http_url + "/v1/traces",
            content=payload,
            headers={"Content-Type": PROTOBUF},
        )
        assert answer.status_code == 200, answer.text
        response = parse_export_response(answer)
    assert response.partial_success.rejected_spans == 0
    stored = stored_spans(agentguide_server.http_url, trace_id)
    assert sorted(entry["span"]["name"] for entry in stored.values()) == ["bad\ufffdname", "good"]
    rows = _rows(
        agentguide_server.database_url or "",
        "SELECT r.resource FROM spans s "
        "JOIN resources r USING (project_id, resource_id) WHERE s.trace_id = %s",
        trace_id,
    )
    raws = stored_raw_spans(agentguide_server.database_url or "", trace_id)
    (raw,) = [raw for raw in raws if b"bad\xffname" in raw]
    assert b"bad\xc3value" in raw, "the raw span keeps the bytes as sent"
    assert all(b"svc\xfeBAD" in bytes(resource) for (resource,) in rows)  # type: ignore[arg-type]
    wait_derived(agentguide_server.database_url or "")
    runs = httpx.get(
        agentguide_server.http_url + "/v1/runs", params={"trace_id": trace_id.hex()}
    ).json()["items"]
    assert {run["service_name"] for run in runs} == {"svc\ufffdBAD"}, "derived with U+FFFD"


def test_rest_identifiers_are_limited_in_bytes(agentguide_server: RunningServer) -> None:
    """A 3 KB agent name was stored as a span and then answered 503: now it is refused before
    anything is stored, with the field named; the limit counts UTF-8 bytes."""
    url = agentguide_server.http_url
    database_url = agentguide_server.database_url or ""
    before = stored_span_count(database_url)
    for name, field in (("a" * 3000, "agent_name"), ("é" * 257, "agent_name")):
        response = httpx.post(url + "/v1/runs", json={field: name})
        assert response.status_code == 422, response.text
        error = response.json()["error"]
        assert error["parameters"] == [field]
        assert "at most 512 bytes" in error["message"]
    response = httpx.post(url + "/v1/runs", json={"agent_name": "ok", "session_id": "s" * 600})
    assert response.status_code == 422 and response.json()["error"]["parameters"] == ["session_id"]
    response = httpx.post(url + "/v1/runs", json={"agent_name": "a\x00b"})
    assert response.status_code == 422 and "NUL" in response.json()["error"]["message"]
    assert stored_span_count(database_url) == before
    response = httpx.post(url + "/v1/runs", json={"agent_name": "é" * 256})
    assert response.status_code == 201, response.text
    run_id = response.json()["id"]
    step = httpx.post(url + f"/v1/runs/{run_id}/steps", json={"tool_name": "t" * 513})
    assert step.status_code == 422 and step.json()["error"]["parameters"] == ["tool_name"]


def _chunks(total: int, size: int = 64 * 1024) -> Iterator[bytes]:
    sent = 0
    while sent < total:
        yield b" " * min(size, total - sent)
        sent += size


@pytest.mark.parametrize("path", ["/v1/runs", "/v1/simulate"])
def test_api_bodies_are_limited_while_streaming(
    agentguide_server: RunningServer, path: str
) -> None:
    """No Content-Length: the body is cut off at the limit, not read whole and then parsed."""
    response = httpx.post(
        agentguide_server.http_url + path,
        content=_chunks(5 * MIB),
        headers={"Content-Type": "application/json"},
        timeout=30,
    )
    assert response.status_code == 413
    assert "limit" in response.json()["error"]["message"]
    declared = httpx.post(
        agentguide_server.http_url + path,
        content=b"{}" + b" " * (5 * MIB),
        headers={"Content-Type": "application/json"},
    )
    assert declared.status_code == 413
    assert httpx.get(agentguide_server.http_url + "/healthz").status_code == 200


def test_chunked_export_holds_its_share_of_the_budget(fresh_database_url: str) -> None:
    """A chunked OTLP body (no Content-Length) holds the request limit while it is read: with
    room for one, a second export waits and is then refused with a retry delay."""
    with running_server(
        fresh_database_url,
        "--max-request-bytes", str(MIB),
        "--max-inflight-bytes", str(MIB),
        "--admission-wait", "0.3",
    ) as server:  # fmt: skip
        with socket.create_connection(("127.0.0.1", server.http_port)) as slow:
            slow.sendall(
                b"POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-protobuf\r\n"
                b"Transfer-Encoding: chunked\r\n\r\n4\r\nabcd\r\n"
            )
            time.sleep(0.3)
            small = make_request([make_span(random_trace_id())])
            response = post_protobuf(server.http_url, small)
            assert response.status_code == 429
            assert response.headers["Retry-After"] in ("1", "2")
            assert "busy" in parse_status_message(response)
        response = post_protobuf(server.http_url, small)
        assert response.status_code == 200


def parse_status_message(response: httpx.Response) -> str:
    from google.rpc import status_pb2

    return str(status_pb2.Status.FromString(response.content).message)


def test_memory_watcher_starts_no_process() -> None:
    """The server trims freed memory every second: that must not run a subprocess each time
    (finding the C library with ctypes.util.find_library does)."""
    from agentguide.memory import release_free_memory

    release_free_memory()  # the C library is looked up once, here
    started: list[object] = []

    def watch(event: str, args: tuple[object, ...]) -> None:
        if event in ("subprocess.Popen", "os.posix_spawn", "os.exec", "os.fork"):
            started.append(args)

    sys.addaudithook(watch)
    for _ in range(20):
        release_free_memory()
    assert started == []


def _big_json_body(target: int) -> tuple[bytes, int]:
    """An OTLP/JSON body of about ``target`` bytes built directly as JSON, and its span count."""
    trace_id = random_trace_id().hex()
    spans = []
    size = 0
    index = 0
    while size < target:
        span = {
            "traceId": trace_id,
            "spanId": f"{index + 1:016x}",
            "name": f"op-{index}",
            "startTimeUnixNano": "1700000000000000000",
            "endTimeUnixNano": "1700000000001000000",
            "attributes": [
                {"key": "input.value", "value": {"stringValue": "q" * 600}},
                {"key": "n", "value": {"intValue": str(index)}},
            ],
        }
        spans.append(span)
        size += len(orjson.dumps(span))
        index += 1
    body = {"resourceSpans": [{"scopeSpans": [{"spans": spans}]}]}
    return orjson.dumps(body), len(spans)


def test_healthz_answers_while_a_32_mib_json_body_is_ingested(fresh_database_url: str) -> None:
    """The big body is decoded away from the event loop: /healthz keeps answering between the
    moment the whole body has been sent and the moment the export is answered."""
    body, span_count = _big_json_body(32 * MIB - 512 * 1024)
    events: list[str] = []
    lock = threading.Lock()

    def record(event: str) -> None:
        with lock:
            events.append(event)

    def chunks() -> Iterator[bytes]:
        for start in range(0, len(body), MIB):
            yield body[start : start + MIB]
        record("body sent")

    with running_server(fresh_database_url) as server:
        result: dict[str, httpx.Response] = {}

        def ingest() -> None:
            result["response"] = httpx.post(
                server.http_url + "/v1/traces",
                content=chunks(),
                headers={"Content-Type": "application/json"},
                timeout=120,
            )
            record("export answered")

        sender = threading.Thread(target=ingest)
        sender.start()
        with httpx.Client(base_url=server.http_url, timeout=60) as client:
            while sender.is_alive():
                if client.get("/healthz").status_code == 200:
                    record("healthz")
                time.sleep(0.005)
        sender.join()
        response = result["response"]
        assert response.status_code == 200, response.text
        assert "partialSuccess" not in response.json()
        while_ingesting = events[events.index("body sent") : events.index("export answered")]
        assert while_ingesting.count("healthz") >= 5, events[-40:]
        count = stored_span_count(fresh_database_url)
        assert count == span_count
