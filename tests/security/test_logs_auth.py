"""Log records and keys: sending them needs an ingest key, they are stored in the key's
project, reading them needs the read scope, and the request limit counts records."""

from __future__ import annotations

import grpc
import httpx
import pytest
from google.rpc import status_pb2

from tests.logs.helpers import logs_request, make_record, post_logs
from tests.otlp_helpers import random_span_id, random_trace_id
from tests.security.conftest import MAX_SPANS_PER_REQUEST, SecuredServer

LOGS_EXPORT = "/opentelemetry.proto.collector.logs.v1.LogsService/Export"


@pytest.mark.parametrize(
    ("key", "status"),
    [(None, 401), ("alpha-read", 403), ("alpha-revoked", 401), ("alpha-ingest", 200)],
)
def test_sending_logs_needs_an_ingest_key(
    secured: SecuredServer, key: str | None, status: int
) -> None:
    headers = secured.keys[key].bearer() if key else {}
    request = logs_request([make_record(random_trace_id(), random_span_id(), body="x")])
    response = post_logs(secured.server.http_url, request, headers=headers)
    assert response.status_code == status, response.text
    if status == 401:
        assert response.headers["WWW-Authenticate"] == "Bearer"


def test_grpc_logs_without_a_key_are_unauthenticated(secured: SecuredServer) -> None:
    request = logs_request([make_record(random_trace_id(), body="x")])
    with grpc.insecure_channel(secured.server.grpc_endpoint) as channel:
        export = channel.unary_unary(LOGS_EXPORT)
        with pytest.raises(grpc.RpcError) as refused:
            export(request.SerializeToString(), timeout=30)
        assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
        metadata = tuple((k.lower(), v) for k, v in secured.keys["alpha-ingest"].bearer().items())
        export(request.SerializeToString(), metadata=metadata, timeout=30)


def test_logs_stay_in_their_project(secured: SecuredServer) -> None:
    trace_id = random_trace_id()
    request = logs_request([make_record(trace_id, random_span_id(), body="alpha's secret")])
    sent = post_logs(
        secured.server.http_url, request, headers=secured.keys["alpha-ingest"].bearer()
    )
    assert sent.status_code == 200
    url = f"{secured.server.http_url}/v1/traces/{trace_id.hex()}/logs"
    alpha = httpx.get(url, headers=secured.keys["alpha-read"].bearer())
    assert [r["body"] for r in alpha.json()["logs"]] == ["alpha's secret"]
    beta = httpx.get(url, headers=secured.keys["beta-read"].bearer())
    assert beta.status_code == 200 and beta.json()["logs"] == []
    assert httpx.get(url, headers=secured.keys["alpha-ingest"].bearer()).status_code == 403
    assert httpx.get(url).status_code == 401


def test_too_many_records_in_one_request(secured: SecuredServer) -> None:
    count = MAX_SPANS_PER_REQUEST + 1
    records = [make_record(random_trace_id(), body=str(n)) for n in range(count)]
    ingest = secured.keys["alpha-ingest"].bearer()
    response = post_logs(secured.server.http_url, logs_request(records), headers=ingest)
    assert response.status_code == 413
    status = status_pb2.Status.FromString(response.content)  # encoded like the request
    assert f"{count} log records" in status.message
