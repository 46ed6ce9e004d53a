"""Every bad input gets a clear error and the right status, and the server keeps serving."""

from __future__ import annotations

import gzip
import socket
import time

import grpc
import httpx
import pytest
from google.protobuf import json_format
from google.rpc import code_pb2, status_pb2

from receiver.grpc_server import SERVICE_NAME
from tests.conftest import SESSION_MAX_REQUEST_BYTES
from tests.otlp_helpers import (
    PROTOBUF,
    make_request,
    make_span,
    parse_export_response,
    post_protobuf,
    random_span_id,
    random_trace_id,
    stored_spans,
)
from tests.support import RunningServer, running_server


def _status(response: httpx.Response) -> status_pb2.Status:
    status = status_pb2.Status()
    if response.headers["content-type"].startswith(PROTOBUF):
        status.ParseFromString(response.content)
    else:
        json_format.ParseDict(response.json(), status)
    return status


def _still_serving(server: RunningServer) -> None:
    assert httpx.get(server.http_url + "/healthz").status_code == 200
    trace_id = random_trace_id()
    assert post_protobuf(server.http_url, make_request([make_span(trace_id)])).status_code == 200
    assert len(stored_spans(server.http_url, trace_id)) == 1


def _post(server: RunningServer, body: bytes, headers: dict[str, str]) -> httpx.Response:
    return httpx.post(server.http_url + "/v1/traces", content=body, headers=headers, timeout=30)


@pytest.mark.parametrize(
    ("body", "content_type", "fragment"),
    [
        (b"\xff\xff\xff garbage", PROTOBUF, "not a protobuf ExportTraceServiceRequest"),
        (make_request([make_span(b"\x01" * 16)]).SerializeToString()[:-3], PROTOBUF, "protobuf"),
        (b"{not json", "application/json", "not valid JSON"),
        (b"[1, 2]", "application/json", "JSON object"),
        (b'{"resourceSpans": {"a": 1}}', "application/json", "resourceSpans must be an array"),
        (
            b'{"resourceSpans": [{"resource": {"attributes": [{"key": "k", "value": '
            b'{"intValue": "many"}}]}}]}',
            "application/json",
            "resourceSpans[0].resource.attributes[0].value.intValue",
        ),
    ],
    ids=["garbage", "truncated", "bad-json", "json-array", "json-shape", "json-resource-field"],
)
def test_undecodable_body_is_400(
    agentguide_server: RunningServer, body: bytes, content_type: str, fragment: str
) -> None:
    response = _post(agentguide_server, body, {"Content-Type": content_type})
    assert response.status_code == 400
    assert response.headers["content-type"].startswith(content_type)
    status = _status(response)
    assert status.code == code_pb2.INVALID_ARGUMENT
    assert fragment in status.message
    _still_serving(agentguide_server)


def test_unsupported_content_type_is_415(agentguide_server: RunningServer) -> None:
    response = _post(agentguide_server, b"hello", {"Content-Type": "text/plain"})
    assert response.status_code == 415
    message = _status(response).message
    assert "text/plain" in message and PROTOBUF in message and "application/json" in message
    _still_serving(agentguide_server)


def test_missing_content_type_is_415(agentguide_server: RunningServer) -> None:
    response = httpx.post(agentguide_server.http_url + "/v1/traces", content=b"x")
    assert response.status_code == 415
    assert "Content-Type" in _status(response).message


def test_unsupported_content_encoding_is_415(agentguide_server: RunningServer) -> None:
    response = _post(agentguide_server, b"x", {"Content-Type": PROTOBUF, "Content-Encoding": "br"})
    assert response.status_code == 415
    assert "br" in _status(response).message


def test_invalid_gzip_is_400(agentguide_server: RunningServer) -> None:
    headers = {"Content-Type": PROTOBUF, "Content-Encoding": "gzip"}
    response = _post(agentguide_server, b"not gzip at all", headers)
    assert response.status_code == 400
    assert "gzip" in _status(response).message
    truncated = gzip.compress(make_request([make_span(random_trace_id())]).SerializeToString())
    response = _post(agentguide_server, truncated[:-12], headers)
    assert response.status_code == 400
    assert "truncated" in _status(response).message
    _still_serving(agentguide_server)


def test_body_over_limit_is_413(agentguide_server: RunningServer) -> None:
    body = b"\x00" * (SESSION_MAX_REQUEST_BYTES + 1)
    response = _post(agentguide_server, body, {"Content-Type": PROTOBUF})
    assert response.status_code == 413
    assert str(SESSION_MAX_REQUEST_BYTES) in _status(response).message
    _still_serving(agentguide_server)


def test_chunked_body_over_limit_is_413(agentguide_server: RunningServer) -> None:
    chunk = b"\x00" * 65536

    def chunks():  # no Content-Length: the limit applies while streaming
        for _ in range(SESSION_MAX_REQUEST_BYTES // len(chunk) + 2):
            yield chunk

    response = httpx.post(
        agentguide_server.http_url + "/v1/traces",
        content=chunks(),
        headers={"Content-Type": PROTOBUF},
        timeout=30,
    )
    assert response.status_code == 413
    _still_serving(agentguide_server)


def test_gzip_bomb_is_413(agentguide_server: RunningServer) -> None:
    bomb = gzip.compress(b"\x00" * (SESSION_MAX_REQUEST_BYTES * 8))
    assert len(bomb) < 200_000
    response = _post(
        agentguide_server, bomb, {"Content-Type": PROTOBUF, "Content-Encoding": "gzip"}
    )
    assert response.status_code == 413
    assert "gunzipped" in _status(response).message
    _still_serving(agentguide_server)


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE", "PATCH"])
def test_wrong_method_is_405(agentguide_server: RunningServer, method: str) -> None:
    response = httpx.request(method, agentguide_server.http_url + "/v1/traces")
    assert response.status_code == 405
    assert response.json()["error"]["code"] == "method_not_allowed"
    assert method in response.json()["error"]["message"]


def test_invalid_spans_rejected_valid_ones_kept(agentguide_server: RunningServer) -> None:
    trace_id = random_trace_id()
    good = make_span(trace_id, "good")
    bad = [
        make_span(b"\x00" * 16, "zero-trace"),
        make_span(b"\x01" * 15, "short-trace"),
        make_span(trace_id, "zero-span", span_id=b"\x00" * 8),
        make_span(trace_id, "long-span", span_id=b"\x01" * 9),
        make_span(trace_id, "bad-parent", parent_span_id=b"\x01" * 3),
        make_span(trace_id, "far-future", start_ns=2**63),
    ]
    response = post_protobuf(agentguide_server.http_url, make_request([good, *bad]))
    assert response.status_code == 200
    partial = parse_export_response(response).partial_success
    assert partial.rejected_spans == len(bad)
    for fragment in ("all zeros", "16 bytes", "8 bytes", "parent_span_id", "2262"):
        assert fragment in partial.error_message
    assert [
        s["span"]["name"] for s in stored_spans(agentguide_server.http_url, trace_id).values()
    ] == ["good"]


def test_json_non_hex_ids_rejected_per_span(agentguide_server: RunningServer) -> None:
    trace_id = random_trace_id().hex()
    body = {
        "resourceSpans": [
            {
                "scopeSpans": [
                    {
                        "spans": [
                            {"traceId": trace_id, "spanId": "0102030405060708", "name": "ok"},
                            {"traceId": "xyz", "spanId": "0102030405060709", "name": "bad"},
                            {"traceId": trace_id, "spanId": "01020304050607", "name": "short"},
                        ]
                    }
                ]
            }
        ]
    }
    response = httpx.post(agentguide_server.http_url + "/v1/traces", json=body)
    assert response.status_code == 200
    partial = response.json()["partialSuccess"]
    assert partial["rejectedSpans"] == "2"
    assert "not a hex string" in partial["errorMessage"]
    assert "8 bytes" in partial["errorMessage"]
    assert list(stored_spans(agentguide_server.http_url, trace_id)) == ["0102030405060708"]


def test_json_span_with_a_malformed_field_is_rejected_alone(
    agentguide_server: RunningServer,
) -> None:
    trace_id = random_trace_id().hex()
    spans = [
        {"traceId": trace_id, "spanId": "0102030405060708", "name": "ok"},
        {"traceId": trace_id, "spanId": "0102030405060709", "startTimeUnixNano": "soon"},
        {"traceId": trace_id, "spanId": "010203040506070a", "kind": "SPAN_KIND_NOPE"},
    ]
    body = {"resourceSpans": [{"scopeSpans": [{"spans": spans}]}]}
    response = httpx.post(agentguide_server.http_url + "/v1/traces", json=body)
    assert response.status_code == 200
    partial = response.json()["partialSuccess"]
    assert partial["rejectedSpans"] == "2"
    assert "span 1: startTimeUnixNano: must be an integer" in partial["errorMessage"]
    assert "kind: 'SPAN_KIND_NOPE' is not a SpanKind name" in partial["errorMessage"]
    assert list(stored_spans(agentguide_server.http_url, trace_id)) == ["0102030405060708"]


def test_nul_characters_are_stored(agentguide_server: RunningServer) -> None:
    trace_id = random_trace_id()
    span = make_span(trace_id, "nul\x00name", attributes={"input.value": "a\x00b"})
    response = post_protobuf(agentguide_server.http_url, make_request([span]))
    assert response.status_code == 200, response.text
    (stored,) = stored_spans(agentguide_server.http_url, trace_id).values()
    assert stored["span"]["name"] == "nul\x00name"


def _raw_export(server: RunningServer, payload: bytes, **kwargs: object) -> bytes:
    with grpc.insecure_channel(server.grpc_endpoint, options=kwargs.pop("options", [])) as channel:
        export = channel.unary_unary(f"/{SERVICE_NAME}/Export")
        return export(payload, timeout=10, **kwargs)  # type: ignore[no-any-return]


def test_grpc_garbage_is_invalid_argument(agentguide_server: RunningServer) -> None:
    with pytest.raises(grpc.RpcError) as caught:
        _raw_export(agentguide_server, b"\xff\xff\xff garbage")
    assert caught.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "not a protobuf ExportTraceServiceRequest" in caught.value.details()
    _still_serving(agentguide_server)


def test_grpc_over_limit_is_rejected(agentguide_server: RunningServer) -> None:
    payload = make_request(
        [make_span(random_trace_id(), attributes={"big": "x" * (SESSION_MAX_REQUEST_BYTES + 10)})]
    ).SerializeToString()
    with pytest.raises(grpc.RpcError) as caught:
        _raw_export(agentguide_server, payload, options=[("grpc.max_send_message_length", -1)])
    assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "larger than max" in caught.value.details()
    _still_serving(agentguide_server)


def test_grpc_gzip_bomb_is_rejected(agentguide_server: RunningServer) -> None:
    payload = make_request(
        [make_span(random_trace_id(), attributes={"big": "x" * (SESSION_MAX_REQUEST_BYTES * 4)})]
    ).SerializeToString()
    with pytest.raises(grpc.RpcError) as caught:
        _raw_export(
            agentguide_server,
            payload,
            compression=grpc.Compression.Gzip,
            options=[("grpc.max_send_message_length", -1)],
        )
    assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    _still_serving(agentguide_server)


def test_grpc_invalid_spans_partial_success(agentguide_server: RunningServer) -> None:
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceResponse,
    )

    trace_id = random_trace_id()
    request = make_request([make_span(trace_id), make_span(b"\x00" * 16)])
    response = ExportTraceServiceResponse()
    response.ParseFromString(_raw_export(agentguide_server, request.SerializeToString()))
    assert response.partial_success.rejected_spans == 1
    assert "all zeros" in response.partial_success.error_message
    assert len(stored_spans(agentguide_server.http_url, trace_id)) == 1


def test_overload_gets_429_with_retry_after(fresh_database_url: str) -> None:
    """A request holding the in-flight budget makes the next one a retryable 429."""
    with running_server(
        fresh_database_url, "--max-inflight-bytes", "1000", "--admission-wait", "0.2"
    ) as server:
        body = make_request([make_span(random_trace_id())]).SerializeToString()
        with socket.create_connection(("127.0.0.1", server.http_port)) as slow:
            slow.sendall(
                b"POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-protobuf\r\n"
                + f"Content-Length: {len(body) + 5000}\r\n\r\n".encode()
                + body[:10]
            )
            time.sleep(0.3)
            response = post_protobuf(server.http_url, make_request([make_span(random_trace_id())]))
            assert response.status_code == 429
            assert response.headers["Retry-After"] in ("1", "2")  # 1 s, with jitter
            assert "busy" in _status(response).message
            with pytest.raises(grpc.RpcError) as caught:
                _raw_export(server, body)
            assert caught.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
            details = dict(caught.value.trailing_metadata() or ())
            assert "grpc-status-details-bin" in details
        time.sleep(0.3)
        _still_serving(server)


def test_default_request_limit_is_at_least_32_mib() -> None:
    from receiver.limits import DEFAULT_MAX_REQUEST_BYTES

    assert DEFAULT_MAX_REQUEST_BYTES >= 32 * 1024 * 1024


def test_large_payload_under_default_limit_is_accepted(fresh_database_url: str) -> None:
    """Agent spans carry whole prompts: a 20 MB span goes through both protocols."""
    with running_server(fresh_database_url) as server:
        trace_id = random_trace_id()
        big = "p" * (20 * 1024 * 1024)
        http_span = make_span(trace_id, "http", attributes={"gen_ai.input.messages": big})
        assert (
            post_protobuf(server.http_url, make_request([http_span]), compress=True).status_code
            == 200
        )
        grpc_span = make_span(trace_id, "grpc", span_id=random_span_id(), attributes={"x": big})
        _raw_export(server, make_request([grpc_span]).SerializeToString())
        stored = stored_spans(server.http_url, trace_id)
        assert len(stored) == 2
        sizes = {
            entry["span"]["name"]: len(entry["span"]["attributes"][0]["value"]["stringValue"])
            for entry in stored.values()
        }
        assert sizes == {"http": len(big), "grpc": len(big)}
