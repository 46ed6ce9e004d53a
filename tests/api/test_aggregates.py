"""GET /v1/agents, /v1/tools, /v1/metrics/summary and /v1/metrics/timeseries: exact figures
over runs sent over real OTLP/HTTP."""

from __future__ import annotations

from dataclasses import dataclass

import httpx
import pytest

from mapping.derive import derived_agent_id
from tests.api.builders import (
    HOUR_NS,
    MS,
    AgentRun,
    Llm,
    Tool,
    iso,
    percentile_cont,
    send_runs,
    unique,
)
from tests.support import RunningServer, wait_derived

T1 = 1_711_929_600 * 10**9  # 2024-04-01T00:00:00Z
DAY_NS = 24 * HOUR_NS


@dataclass
class Fleet:
    agent: str
    other: str
    tool_a: str
    tool_b: str
    runs: list[AgentRun]


@pytest.fixture(scope="module")
def fleet(agentguide_server: RunningServer) -> Fleet:
    agent, other = unique("kpi"), unique("kpi-other")
    a, b = unique("tool-a"), unique("tool-b")
    timeout = ("TimeoutError", "took too long")
    runs = [
        AgentRun(agent, T1, 2000,
                 tools=[Tool(a, 10, 100), Tool(a, 200, 200), Tool(b, 500, 50, error=timeout)],
                 llms=[Llm("m", 600, 10, 30, 5)]),
        AgentRun(agent, T1 + HOUR_NS, 3000,
                 tools=[Tool(a, 10, 400, error=timeout), Tool(b, 500, 60)],
                 error=("RuntimeError", "gave up")),
        AgentRun(agent, T1 + 25 * HOUR_NS, 7000, tools=[Tool(a, 10, 1000)],
                 llms=[Llm("m", 2000, 10, 70, 15)]),
        AgentRun(other, T1, 500, tools=[Tool(a, 10, 5)]),
    ]  # fmt: skip
    send_runs(agentguide_server.http_url, runs)
    wait_derived(agentguide_server.database_url)
    return Fleet(agent, other, a, b, runs)


def test_agents_lists_run_and_failure_counts(api: httpx.Client, fleet: Fleet) -> None:
    agents = {agent["name"]: agent for agent in api.get("/v1/agents").json()["items"]}
    assert agents[fleet.agent] == {
        "id": derived_agent_id(fleet.agent),  # the run sent no gen_ai.agent.id
        "name": fleet.agent,
        "version": None,
        "description": None,
        "run_count": 3,
        "failure_count": 1,
        "last_run_at": iso(T1 + 25 * HOUR_NS),
        "first_seen_at": iso(T1),
        "last_seen_at": iso(T1 + 25 * HOUR_NS + 7000 * MS),
    }
    assert agents[fleet.other]["run_count"] == 1
    assert agents[fleet.other]["failure_count"] == 0


def _tool_stats(durations: list[float], failures: int) -> dict[str, object]:
    return {
        "calls": len(durations),
        "failures": failures,
        "failure_rate": failures / len(durations),
        "duration_ms": {
            "avg": pytest.approx(sum(durations) / len(durations)),
            "p50": pytest.approx(percentile_cont(durations, 0.5)),
            "p95": pytest.approx(percentile_cont(durations, 0.95)),
            "p99": pytest.approx(percentile_cont(durations, 0.99)),
        },
    }


def test_tools_of_an_agent_with_exact_percentiles(api: httpx.Client, fleet: Fleet) -> None:
    items = api.get("/v1/tools", params={"agent": fleet.agent}).json()["items"]
    assert items == [
        {"tool": fleet.tool_a, **_tool_stats([100, 200, 400, 1000], 1)},
        {"tool": fleet.tool_b, **_tool_stats([50, 60], 1)},
    ]


def test_tools_without_agent_count_every_agent(api: httpx.Client, fleet: Fleet) -> None:
    items = {item["tool"]: item for item in api.get("/v1/tools").json()["items"]}
    assert items[fleet.tool_a] == {"tool": fleet.tool_a, **_tool_stats([5, 100, 200, 400, 1000], 1)}


def test_tools_window_is_on_the_call_start(api: httpx.Client, fleet: Fleet) -> None:
    params = {"agent": fleet.agent, "since": iso(T1 + 200 * MS), "until": iso(T1 + 2 * HOUR_NS)}
    items = api.get("/v1/tools", params=params).json()["items"]
    assert items == [
        {"tool": fleet.tool_a, **_tool_stats([200, 400], 1)},
        {"tool": fleet.tool_b, **_tool_stats([50, 60], 1)},
    ]
    params["since"] = iso(T1 + 100 * DAY_NS)
    params.pop("until")
    assert api.get("/v1/tools", params=params).json()["items"] == []


def test_summary_of_an_agent(api: httpx.Client, fleet: Fleet) -> None:
    summary = api.get("/v1/metrics/summary", params={"agent": fleet.agent}).json()
    durations = [2000.0, 3000.0, 7000.0]
    steps = [4.0, 2.0, 2.0]
    assert summary == {
        "since": None,
        "until": None,
        "agent": fleet.agent,
        "runs": {
            "total": 3,
            "by_status": {"PENDING": 0, "RUNNING": 0, "SUCCESS": 2, "FAILED": 1, "CANCELLED": 0},
        },
        "success_rate": pytest.approx(2 / 3),
        "duration_ms": {
            "avg": pytest.approx(4000.0),
            "p50": pytest.approx(3000.0),
            "p95": pytest.approx(percentile_cont(durations, 0.95)),
            "p99": pytest.approx(percentile_cont(durations, 0.99)),
        },
        "steps_per_run": {
            "avg": pytest.approx(8 / 3),
            "p50": 2.0,
            "p95": pytest.approx(percentile_cont(steps, 0.95)),
            "p99": pytest.approx(percentile_cont(steps, 0.99)),
        },
        "tokens": {"input": 100, "output": 20, "total": 120},
        "top_failing_tools": [
            {"tool": fleet.tool_a, "calls": 4, "failures": 1, "failure_rate": 0.25},
            {"tool": fleet.tool_b, "calls": 2, "failures": 1, "failure_rate": 0.5},
        ],
        "top_errors": [{"type": "RuntimeError", "message": "gave up", "count": 1}],
    }


def test_summary_window(api: httpx.Client, fleet: Fleet) -> None:
    params = {"agent": fleet.agent, "since": iso(T1 + HOUR_NS), "until": iso(T1 + DAY_NS)}
    summary = api.get("/v1/metrics/summary", params=params).json()
    assert summary["since"] == iso(T1 + HOUR_NS)
    assert summary["until"] == iso(T1 + DAY_NS)
    assert summary["runs"]["total"] == 1
    assert summary["success_rate"] == 0.0
    assert summary["duration_ms"]["p99"] == 3000.0
    assert summary["top_failing_tools"] == [
        {"tool": fleet.tool_a, "calls": 1, "failures": 1, "failure_rate": 1.0}
    ]


def test_summary_of_nothing(api: httpx.Client) -> None:
    summary = api.get("/v1/metrics/summary", params={"agent": unique("idle")}).json()
    assert summary["runs"]["total"] == 0
    assert summary["success_rate"] is None
    assert summary["duration_ms"] == {"avg": None, "p50": None, "p95": None, "p99": None}
    assert summary["tokens"] == {"input": 0, "output": 0, "total": 0}
    assert summary["top_failing_tools"] == []
    assert summary["top_errors"] == []


def test_timeseries_hourly_with_empty_buckets(api: httpx.Client, fleet: Fleet) -> None:
    params = {
        "agent": fleet.agent,
        "bucket": "1h",
        "since": iso(T1),
        "until": iso(T1 + 3 * HOUR_NS),
    }
    series = api.get("/v1/metrics/timeseries", params=params).json()
    assert series == {
        "bucket": "1h",
        "since": iso(T1),
        "until": iso(T1 + 3 * HOUR_NS),
        "agent": fleet.agent,
        "buckets": [
            {"start": iso(T1), "runs": 1, "failures": 0, "success_rate": 1.0,
             "avg_duration_ms": 2000.0, "p95_duration_ms": 2000.0},
            {"start": iso(T1 + HOUR_NS), "runs": 1, "failures": 1, "success_rate": 0.0,
             "avg_duration_ms": 3000.0, "p95_duration_ms": 3000.0},
            {"start": iso(T1 + 2 * HOUR_NS), "runs": 0, "failures": 0, "success_rate": None,
             "avg_duration_ms": None, "p95_duration_ms": None},
        ],
    }  # fmt: skip


def test_timeseries_daily_buckets_align_to_the_bucket(api: httpx.Client, fleet: Fleet) -> None:
    params = {"agent": fleet.agent, "bucket": "1d", "since": iso(T1 + 5 * HOUR_NS),
              "until": iso(T1 + 2 * DAY_NS)}  # fmt: skip
    series = api.get("/v1/metrics/timeseries", params=params).json()
    assert series["since"] == iso(T1)
    assert [(b["start"], b["runs"], b["failures"]) for b in series["buckets"]] == [
        (iso(T1), 2, 1),
        (iso(T1 + DAY_NS), 1, 0),
    ]
    assert series["buckets"][0]["p95_duration_ms"] == pytest.approx(
        percentile_cont([2000, 3000], 0.95)
    )


@pytest.mark.parametrize(("bucket", "count"), [("1m", 10), ("5m", 2)])
def test_timeseries_minute_buckets(
    api: httpx.Client, fleet: Fleet, bucket: str, count: int
) -> None:
    params = {"agent": fleet.agent, "bucket": bucket, "since": iso(T1),
              "until": iso(T1 + 10 * 60 * 10**9)}  # fmt: skip
    buckets = api.get("/v1/metrics/timeseries", params=params).json()["buckets"]
    assert len(buckets) == count
    assert [b["runs"] for b in buckets] == [1] + [0] * (count - 1)


def test_timeseries_defaults_to_the_last_day_hourly(api: httpx.Client) -> None:
    series = api.get("/v1/metrics/timeseries").json()
    assert series["bucket"] == "1h"
    assert len(series["buckets"]) in (24, 25)


def test_timeseries_refuses_too_many_buckets(api: httpx.Client) -> None:
    params = {"bucket": "1m", "since": "2024-01-01T00:00:00Z", "until": "2024-03-01T00:00:00Z"}
    response = api.get("/v1/metrics/timeseries", params=params)
    assert response.status_code == 422
    assert response.json()["error"]["parameters"] == ["bucket"]


@pytest.mark.parametrize(
    "path", ["/v1/runs", "/v1/tools", "/v1/metrics/summary", "/v1/metrics/timeseries"]
)
def test_until_before_since_is_422(api: httpx.Client, path: str) -> None:
    params = {"since": "2024-03-02T00:00:00Z", "until": "2024-03-01T00:00:00Z"}
    response = api.get(path, params=params)
    assert response.status_code == 422
    assert response.json()["error"]["parameters"] == ["until"]
