"""/metrics: counters move as spans are accepted and refused; pool and derive figures are there."""

from __future__ import annotations

import grpc
import httpx
from google.rpc import status_pb2

from tests.otlp_helpers import make_request, make_span, random_trace_id
from tests.security.conftest import MAX_SPANS_PER_REQUEST, SecuredServer
from tests.security.helpers import grpc_export, post_otlp, sample, scrape
from tests.security.spans import agent_run
from tests.support import wait_derived


def test_counters_move_with_accepted_and_rejected_spans(secured: SecuredServer) -> None:
    base = secured.server.http_url
    admin = secured.keys["alpha-admin"].bearer()
    ingest = secured.keys["alpha-ingest"].bearer()
    before = scrape(base, admin)

    trace_id = random_trace_id()
    mixed = make_request(
        [make_span(trace_id), make_span(trace_id), make_span(b"\x01" * 15, "bad trace id")]
    )
    assert post_otlp(base, mixed, ingest).status_code == 200
    valid, _ = agent_run("metrics-agent")
    assert grpc_export(secured.server.grpc_endpoint, valid, ingest)[0] == grpc.StatusCode.OK
    assert post_otlp(base, valid, {}).status_code == 401
    too_many = make_request(
        [make_span(random_trace_id()) for _ in range(MAX_SPANS_PER_REQUEST + 1)]
    )
    refused = post_otlp(base, too_many, ingest)
    assert refused.status_code == 413
    assert "at most 100" in status_pb2.Status.FromString(refused.content).message
    code, _ = grpc_export(secured.server.grpc_endpoint, too_many, ingest)
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    wait_derived(secured.database_url)

    after = scrape(base, admin)

    def moved(name: str, **labels: str) -> float:
        return sample(after, name, **labels) - sample(before, name, **labels)

    assert moved("agentguide_spans_received_total", protocol="http") == 3 + 101
    assert moved("agentguide_spans_accepted_total", protocol="http") == 2
    assert moved("agentguide_spans_rejected_total", protocol="http", reason="invalid") == 1
    assert moved("agentguide_spans_rejected_total", protocol="http", reason="too_many_spans") == 101
    assert moved("agentguide_spans_accepted_total", protocol="grpc") == 2
    assert moved("agentguide_spans_rejected_total", protocol="grpc", reason="too_many_spans") == 101
    assert moved("agentguide_export_requests_total", protocol="http", outcome="partial") == 1
    assert (
        moved("agentguide_export_requests_total", protocol="http", outcome="unauthenticated") == 1
    )
    assert moved("agentguide_export_requests_total", protocol="grpc", outcome="ok") == 1
    assert moved("agentguide_export_duration_seconds_count", protocol="http") == 3
    assert sample(after, "agentguide_exports_in_flight", protocol="http") == 0
    assert sample(after, "agentguide_db_pool_max") == 8
    assert sample(after, "agentguide_db_pool_requests_total") > 0
    # The derive worker's figures, from its own process.
    assert moved("agentguide_traces_derived_total") >= 1
    assert moved("agentguide_mapping_duration_seconds_count") >= 1
    assert sample(after, "agentguide_derive_batch_duration_seconds_count") >= 1


def test_api_refusals_are_counted(secured: SecuredServer) -> None:
    base = secured.server.http_url
    admin = secured.keys["beta-admin"].bearer()
    before = scrape(base, admin)
    assert httpx.get(base + "/v1/runs").status_code == 401
    assert (
        httpx.get(base + "/v1/runs", headers=secured.keys["beta-ingest"].bearer()).status_code
        == 403
    )
    after = scrape(base, admin)
    for reason in ("unauthenticated", "permission_denied"):
        key = ("agentguide_api_rejections_total", (("reason", reason),))
        assert after[key] - before.get(key, 0.0) == 1


def test_responses_carry_a_request_id(secured: SecuredServer) -> None:
    base = secured.server.http_url
    given = httpx.get(base + "/healthz", headers={"X-Request-Id": "trace-me-42"})
    assert given.headers["X-Request-Id"] == "trace-me-42"
    made = httpx.get(base + "/healthz", headers={"X-Request-Id": "not ok; <script>"})
    assert len(made.headers["X-Request-Id"]) == 32
    assert made.headers["X-Request-Id"].isalnum()
    refused = httpx.post(base + "/v1/traces", headers={"X-Request-Id": "refused-export-7"})
    assert refused.status_code == 401
    assert '"request_id":"refused-export-7"' in secured.server.log()
