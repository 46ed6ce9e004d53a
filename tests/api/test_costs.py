"""Cost through the whole path: spans over OTLP/HTTP, priced by the deriver, served by the API.

Expected costs come from genai-prices' own calculation (``calc_price``), not from our adapter.
Models named here with a random suffix are in no price table, so these tests never disturb
what other tests of the shared server see.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import genai_prices
import httpx
import pytest
from genai_prices import Usage, calc_price
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from mapping.trace_costs import token_usage
from tests.api.builders import HOUR_NS, AgentRun, Llm, send_runs, unique
from tests.mapping.otlp import scenario_facts
from tests.support import RunningServer, fixtures_dir, wait_derived

T_COST = 1_717_200_000 * 10**9  # 2024-06-01T00:00:00Z
PRICE_VERSION = f"genai-prices {genai_prices.__version__}"


def library_cost(
    model: str, provider_id: str, at_ns: int, *, input_tokens: int, output_tokens: int,
    cache_read: int = 0,
) -> Decimal:  # fmt: skip
    """genai-prices' own calculation of one call (input_tokens includes the cache reads)."""
    return calc_price(
        Usage(input_tokens=input_tokens, output_tokens=output_tokens, cache_read_tokens=cache_read),
        model,
        provider_id=provider_id,
        genai_request_timestamp=datetime.fromtimestamp(at_ns / 1e9, UTC),
    ).total_price


def run_of(api: httpx.Client, run: AgentRun) -> dict[str, Any]:
    response = api.get(f"/v1/runs/{run.id}")
    assert response.status_code == 200, response.text
    return dict(response.json())


def llm_steps(detail: dict[str, Any]) -> list[dict[str, Any]]:
    return [step for step in detail["steps"] if step["kind"] == "llm"]


def chat(
    model: str, offset_ms: int, input_tokens: int, output_tokens: int, **attributes: Any
) -> Llm:
    return Llm(
        model,
        offset_ms,
        100,
        input_tokens,
        output_tokens,
        {"gen_ai.provider.name": "openai", "gen_ai.response.model": model, **attributes},
    )


# --- a captured fixture --------------------------------------------------------------------


def _send_fixture(server: RunningServer, scenario: Path) -> bytes:
    """Post a capture body by body, under a new trace id; the trace id."""
    trace_id = os.urandom(16)
    for body in sorted(scenario.glob("*.body.bin")):
        request = ExportTraceServiceRequest.FromString(body.read_bytes())
        for resource_spans in request.resource_spans:
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    span.trace_id = trace_id
        response = httpx.post(
            server.http_url + "/v1/traces",
            content=request.SerializeToString(),
            headers={"Content-Type": "application/x-protobuf"},
        )
        assert response.status_code == 200, response.text
    return trace_id


def test_a_fixture_run_costs_what_genai_prices_computes(
    api: httpx.Client, agentguide_server: RunningServer
) -> None:
    """OpenAI Agents SDK (OpenInference), gpt-4o-mini: each LLM step costs what genai-prices
    computes for its token counts at its start, and the run costs their sum."""
    scenario = fixtures_dir() / "openai-agents" / "ok"
    facts = {f.span_id: f for f in scenario_facts(scenario) if f.category == "llm"}
    assert facts
    trace_id = _send_fixture(agentguide_server, scenario)
    wait_derived(agentguide_server.database_url or "")

    runs = api.get("/v1/runs", params={"trace_id": trace_id.hex()}).json()["items"]
    priced_steps = 0
    for run in runs:
        detail = api.get(f"/v1/runs/{run['id']}").json()
        expected_run = Decimal(0)
        for step in llm_steps(detail):
            fact = facts[step["span_id"]]
            usage = token_usage(fact)
            expected = library_cost(
                "gpt-4o-mini",
                "openai",
                fact.start_ns,
                input_tokens=usage.input_tokens or 0,
                output_tokens=usage.output_tokens or 0,
            )
            assert expected > 0
            assert step["cost"] == pytest.approx(float(expected), rel=1e-12)
            assert (step["cost_source"], step["unpriced_reason"]) == ("computed", None)
            assert step["price_version"] == PRICE_VERSION
            expected_run += expected
            priced_steps += 1
        if llm_steps(detail):
            assert detail["cost"] == pytest.approx(float(expected_run), rel=1e-12)
            assert run["cost"] == detail["cost"]
            assert detail["price_versions"] == [PRICE_VERSION]
        assert detail["unpriced_llm_calls"] == 0
    assert priced_steps == len(facts)
    # The trace's top-level run: its own calls and, with its sub-runs', every call of the trace.
    (top,) = [run for run in runs if run["parent_run_id"] is None]
    detail = api.get(f"/v1/runs/{top['id']}").json()
    everything = sum(
        library_cost(
            "gpt-4o-mini",
            "openai",
            f.start_ns,
            input_tokens=f.input_tokens or 0,
            output_tokens=f.output_tokens or 0,
        )
        for f in facts.values()
    )
    assert detail["cost_with_sub_runs"] == pytest.approx(float(everything), rel=1e-12)


# --- built spans: cache reads, unknown models, reported costs ------------------------------


def test_cache_reads_are_billed_at_the_cache_rate(api: httpx.Client, send: Any) -> None:
    cached = AgentRun(
        unique("cache"),
        T_COST,
        1000,
        llms=[chat("gpt-4o", 10, 10_000, 500, **{"gen_ai.usage.cache_read.input_tokens": 8_000})],
    )
    send(cached)
    (step,) = llm_steps(run_of(api, cached))
    with_cache = library_cost(
        "gpt-4o",
        "openai",
        T_COST + 10 * 10**6,
        input_tokens=10_000,
        output_tokens=500,
        cache_read=8_000,
    )
    at_full_rate = library_cost(
        "gpt-4o", "openai", T_COST + 10 * 10**6, input_tokens=10_000, output_tokens=500
    )
    assert with_cache < at_full_rate
    assert step["cost"] == pytest.approx(float(with_cache), rel=1e-12)
    assert step["cache_read_tokens"] == 8_000
    assert step["input_tokens"] == 10_000


def test_an_unknown_model_is_unpriced_and_counts_in_the_unpriced_share(
    api: httpx.Client, send: Any
) -> None:
    agent, unknown = unique("unpriced"), unique("no-such-model")
    run = AgentRun(
        agent,
        T_COST + HOUR_NS,
        1000,
        llms=[chat("gpt-4o-mini", 10, 1_000, 100), chat(unknown, 300, 1_000, 100)],
    )
    send(run)
    detail = run_of(api, run)
    known_cost = library_cost(
        "gpt-4o-mini",
        "openai",
        T_COST + HOUR_NS + 10 * 10**6,
        input_tokens=1_000,
        output_tokens=100,
    )
    steps = {step["model"]: step for step in llm_steps(detail)}
    assert steps[unknown]["cost"] is None
    assert steps[unknown]["cost_source"] == "unpriced"
    assert steps[unknown]["unpriced_reason"] == "unknown model"
    assert steps[unknown]["price_version"] is None
    # The run shows the priced sum, a lower bound, and how many calls it leaves out.
    assert detail["cost"] == pytest.approx(float(known_cost), rel=1e-12)
    assert detail["unpriced_llm_calls"] == 1

    summary = api.get("/v1/metrics/summary", params={"agent": agent}).json()["cost"]
    assert summary["total"] == pytest.approx(float(known_cost), rel=1e-12)
    assert (summary["llm_calls"], summary["unpriced_llm_calls"]) == (2, 1)
    assert summary["unpriced_share"] == 0.5
    assert summary["priced_runs"] == 1
    by_model = {row["model"]: row for row in summary["by_model"]}
    assert [row["model"] for row in summary["by_model"]] == ["gpt-4o-mini", unknown]
    assert by_model[unknown]["cost"] is None and by_model[unknown]["unpriced_calls"] == 1
    assert by_model["gpt-4o-mini"]["cost"] == pytest.approx(float(known_cost), rel=1e-12)
    agents = {a["name"]: a for a in api.get("/v1/agents").json()["items"]}
    assert agents[agent]["cost"] == pytest.approx(float(known_cost), rel=1e-12)
    assert agents[agent]["unpriced_llm_calls"] == 1


def test_a_run_with_only_unknown_models_has_no_cost_not_zero(api: httpx.Client, send: Any) -> None:
    agent = unique("unknown-only")
    run = AgentRun(agent, T_COST + 2 * HOUR_NS, 500, llms=[chat(unique("mystery"), 10, 10, 10)])
    send(run)
    listed = api.get("/v1/runs", params={"agent": agent}).json()["items"]
    assert [(r["cost"], r["unpriced_llm_calls"]) for r in listed] == [(None, 1)]
    summary = api.get("/v1/metrics/summary", params={"agent": agent}).json()["cost"]
    assert (summary["total"], summary["unpriced_share"]) == (None, 1.0)


def test_a_reported_cost_wins(api: httpx.Client, send: Any) -> None:
    run = AgentRun(
        unique("reported"),
        T_COST + 3 * HOUR_NS,
        500,
        llms=[chat("gpt-4o", 10, 1_000_000, 1_000, **{"gen_ai.usage.cost": 0.0421})],
    )
    send(run)
    (step,) = llm_steps(run_of(api, run))
    assert (step["cost"], step["cost_source"], step["price_version"]) == (0.0421, "reported", None)
    assert run_of(api, run)["cost"] == 0.0421


def test_cost_per_bucket(api: httpx.Client, send: Any) -> None:
    agent = unique("buckets")
    first = AgentRun(agent, T_COST + 5 * HOUR_NS, 500, llms=[chat("gpt-4o-mini", 10, 5_000, 50)])
    second = AgentRun(agent, T_COST + 6 * HOUR_NS, 500, llms=[chat(unique("x"), 10, 5, 5)])
    send(first, second)
    series = api.get(
        "/v1/metrics/timeseries",
        params={
            "agent": agent,
            "bucket": "1h",
            "since": T_COST // 10**6 + 5 * 3_600_000,
            "until": T_COST // 10**6 + 8 * 3_600_000,
        },
    ).json()
    costs = [(b["cost"], b["unpriced_llm_calls"]) for b in series["buckets"]]
    assert costs == [(run_of(api, first)["cost"], 0), (None, 1), (None, 0)]
    assert costs[0][0] is not None and costs[0][0] > 0


# --- listing by cost ---------------------------------------------------------------------


def test_runs_by_cost_page_most_expensive_first_without_gaps(api: httpx.Client, send: Any) -> None:
    agent = unique("by-cost")
    tokens = [3_000, 1_000, 3_000, 20_000, 7_000]  # two runs cost the same
    runs = [
        AgentRun(
            agent, T_COST + 10 * HOUR_NS + i * 10**9, 100, llms=[chat("gpt-4o-mini", 10, count, 10)]
        )
        for i, count in enumerate(tokens)
    ]
    runs.append(AgentRun(agent, T_COST + 10 * HOUR_NS + 9 * 10**9, 100))  # no LLM call
    runs.append(
        AgentRun(
            agent,
            T_COST + 10 * HOUR_NS + 8 * 10**9,
            100,
            llms=[chat(unique("mystery"), 10, 10, 10)],
        )
    )
    send(*runs)
    every = {r["id"]: r for r in api.get("/v1/runs", params={"agent": agent}).json()["items"]}
    # most expensive first, no cost last; equal costs (and no cost) newest first
    expected = sorted(
        every.values(),
        key=lambda r: (r["cost"] if r["cost"] is not None else -1, r["started_at"]),
        reverse=True,
    )
    seen: list[str] = []
    cursor = None
    while True:
        params: dict[str, Any] = {"agent": agent, "sort": "cost", "limit": 2}
        if cursor:
            params["cursor"] = cursor
        page = api.get("/v1/runs", params=params).json()
        seen += [r["id"] for r in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [r["id"] for r in expected]
    assert [every[i]["cost"] is None for i in seen] == [False] * 5 + [True] * 2

    cheapest = min(r["cost"] for r in every.values() if r["cost"] is not None)
    at_least = api.get("/v1/runs", params={"agent": agent, "min_cost": cheapest * 1.5}).json()
    assert {r["id"] for r in at_least["items"]} == {
        r["id"] for r in every.values() if r["cost"] is not None and r["cost"] >= cheapest * 1.5
    }
    assert len(at_least["items"]) == 4


def test_a_cursor_pages_only_the_order_it_came_from(api: httpx.Client) -> None:
    by_time = api.get("/v1/runs", params={"limit": 1}).json()["next_cursor"]
    by_cost = api.get("/v1/runs", params={"limit": 1, "sort": "cost"}).json()["next_cursor"]
    assert by_time and by_cost
    for params in ({"cursor": by_time, "sort": "cost"}, {"cursor": by_cost}):
        response = api.get("/v1/runs", params=params)
        assert response.status_code == 422, response.text
        assert response.json()["error"]["parameters"] == ["cursor"]
    for params in ({"sort": "price"}, {"min_cost": "-1"}, {"min_cost": "nan"}):
        response = api.get("/v1/runs", params=params)
        assert response.status_code == 422, response.text


@pytest.fixture(scope="module")
def send(agentguide_server: RunningServer) -> Any:
    """Send runs over OTLP/HTTP and wait until they are derived."""

    def send_and_wait(*runs: AgentRun) -> None:
        send_runs(agentguide_server.http_url, runs)
        wait_derived(agentguide_server.database_url or "")

    return send_and_wait
