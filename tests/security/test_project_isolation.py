"""Two projects send the same trace (same trace and span ids, different agents); each project's
read key sees only its own runs, steps, spans, agents, tools and KPIs."""

from __future__ import annotations

import os

import httpx
import pytest
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

from tests.otlp_helpers import random_span_id, random_trace_id, spans_by_id
from tests.security.conftest import SecuredServer
from tests.security.helpers import grpc_export, post_otlp
from tests.security.spans import agent_run
from tests.support import wait_derived


@pytest.fixture(scope="module")
def shared_trace(secured: SecuredServer) -> tuple[str, str]:
    """The trace id and run id that both projects used."""
    trace_id, agent_span_id, tool_span_id = random_trace_id(), random_span_id(), random_span_id()
    alpha_request, run_id = agent_run(
        "isolated-alpha",
        trace_id=trace_id,
        agent_span_id=agent_span_id,
        tool_span_id=tool_span_id,
        tool="alpha_tool",
    )
    beta_request, beta_run_id = agent_run(
        "isolated-beta",
        trace_id=trace_id,
        agent_span_id=agent_span_id,
        tool_span_id=tool_span_id,
        tool="beta_tool",
    )
    assert run_id == beta_run_id
    response = post_otlp(
        secured.server.http_url, alpha_request, secured.keys["alpha-ingest"].bearer()
    )
    assert response.status_code == 200, response.text
    _, error = grpc_export(
        secured.server.grpc_endpoint, beta_request, secured.keys["beta-ingest"].bearer()
    )
    assert error is None, error
    wait_derived(secured.database_url)
    return trace_id.hex(), run_id


@pytest.mark.parametrize("project", ["alpha", "beta"])
def test_each_project_sees_only_its_own(
    secured: SecuredServer, shared_trace: tuple[str, str], project: str
) -> None:
    trace_hex, run_id = shared_trace
    own_agent, other_agent = (
        ("isolated-alpha", "isolated-beta")
        if project == "alpha"
        else ("isolated-beta", "isolated-alpha")
    )
    own_tool, other_tool = (
        ("alpha_tool", "beta_tool") if project == "alpha" else ("beta_tool", "alpha_tool")
    )
    with httpx.Client(
        base_url=secured.server.http_url,
        headers=secured.keys[f"{project}-read"].bearer(),
        timeout=30,
    ) as api:
        spans = spans_by_id(api.get(f"/v1/traces/{trace_hex}").json())
        assert len(spans) == 2
        services = {
            attribute["value"]["stringValue"]
            for entry in spans.values()
            for attribute in entry["resource"]["attributes"]
            if attribute["key"] == "service.name"
        }
        assert services == {own_agent}

        runs = api.get("/v1/runs", params={"trace_id": trace_hex}).json()["items"]
        assert [(r["id"], r["agent"]["name"]) for r in runs] == [(run_id, own_agent)]
        run = api.get(f"/v1/runs/{run_id}").json()
        assert [step["tool_name"] for step in run["steps"]] == [own_tool]
        steps = api.get(f"/v1/runs/{run_id}/steps").json()
        assert [step["tool_name"] for step in steps["items"]] == [own_tool]

        agents = {agent["name"] for agent in api.get("/v1/agents").json()["items"]}
        assert own_agent in agents
        assert other_agent not in agents
        tools = {tool["tool"] for tool in api.get("/v1/tools").json()["items"]}
        assert own_tool in tools
        assert other_tool not in tools
        summary = api.get("/v1/metrics/summary", params={"agent": other_agent}).json()
        assert summary["runs"]["total"] == 0


def test_otel_sdk_env_headers_pick_the_project(
    secured: SecuredServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """OTEL_EXPORTER_OTLP_HEADERS as docs/operations.md shows it (the space percent-encoded)."""
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SpanExportResult

    key = secured.keys["beta-ingest"]
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_HEADERS", f"authorization=Bearer%20{key.secret}")
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", secured.server.http_url + "/v1/traces")
    exporter = OTLPSpanExporter()
    provider = TracerProvider()
    tracer = provider.get_tracer("env-headers")
    span = tracer.start_span("from the environment")
    span.end()
    try:
        assert exporter.export([span]) is SpanExportResult.SUCCESS  # type: ignore[list-item]
    finally:
        exporter.shutdown()
        provider.shutdown()
    trace_hex = format(span.get_span_context().trace_id, "032x")
    base = secured.server.http_url
    beta = httpx.get(f"{base}/v1/traces/{trace_hex}", headers=secured.keys["beta-read"].bearer())
    alpha = httpx.get(f"{base}/v1/traces/{trace_hex}", headers=secured.keys["alpha-read"].bearer())
    assert (beta.status_code, alpha.status_code) == (200, 404)
    assert "OTEL_EXPORTER_OTLP_HEADERS" in os.environ
