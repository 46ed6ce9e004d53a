"""GET /v1/agents, /v1/tools, /v1/metrics/summary and /v1/metrics/timeseries over runs sent
over real OTLP/HTTP: from the rollups (counts exact, percentiles within 1% of the value at
that rank) and, with exact=true, exactly from the rows."""

from __future__ import annotations

import math
from dataclasses import dataclass

import httpx
import pytest

from mapping.derive import derived_agent_id
from storage.sketch import RELATIVE_ERROR
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
        "cost": None,  # model "m" is in no price table
        "unpriced_llm_calls": 2,
    }
    assert agents[fleet.other]["run_count"] == 1
    assert agents[fleet.other]["failure_count"] == 0


def at_rank(values: list[float], fraction: float) -> float:
    """The value at rank ceil(fraction * n): what a rollup's percentile approximates."""
    ordered = sorted(values)
    return ordered[max(1, math.ceil(fraction * len(ordered))) - 1]


def _distribution(values: list[float], *, exact: bool) -> dict[str, object]:
    if exact:
        return {
            "avg": pytest.approx(sum(values) / len(values)),
            "p50": pytest.approx(percentile_cont(values, 0.5)),
            "p95": pytest.approx(percentile_cont(values, 0.95)),
            "p99": pytest.approx(percentile_cont(values, 0.99)),
        }
    return {
        "avg": pytest.approx(sum(values) / len(values)),
        "p50": pytest.approx(at_rank(values, 0.5), rel=RELATIVE_ERROR),
        "p95": pytest.approx(at_rank(values, 0.95), rel=RELATIVE_ERROR),
        "p99": pytest.approx(at_rank(values, 0.99), rel=RELATIVE_ERROR),
    }


def _tool_stats(durations: list[float], failures: int, *, exact: bool = False) -> dict[str, object]:
    return {
        "calls": len(durations),
        "failures": failures,
        "failure_rate": failures / len(durations),
        "duration_ms": _distribution(durations, exact=exact),
    }


EXACT_WINDOW = {"since": iso(T1 - DAY_NS), "until": iso(T1 + 6 * DAY_NS), "exact": "true"}


@pytest.mark.parametrize("exact", [False, True])
def test_tools_of_an_agent(api: httpx.Client, fleet: Fleet, exact: bool) -> None:
    params = {"agent": fleet.agent, **(EXACT_WINDOW if exact else {})}
    answer = api.get("/v1/tools", params=params).json()
    assert answer["exact"] is exact
    assert answer["items"] == [
        {"tool": fleet.tool_a, **_tool_stats([100, 200, 400, 1000], 1, exact=exact)},
        {"tool": fleet.tool_b, **_tool_stats([50, 60], 1, exact=exact)},
    ]


def test_tools_without_agent_count_every_agent(api: httpx.Client, fleet: Fleet) -> None:
    items = {item["tool"]: item for item in api.get("/v1/tools").json()["items"]}
    assert items[fleet.tool_a] == {"tool": fleet.tool_a, **_tool_stats([5, 100, 200, 400, 1000], 1)}


def test_tools_window_is_on_the_run_start(api: httpx.Client, fleet: Fleet) -> None:
    """A tool call counts in the window of its run's start, like the run itself; the rollups
    widen the window to whole minutes, exact=true keeps it to the nanosecond."""
    params = {"agent": fleet.agent, "since": iso(T1 + 200 * MS), "until": iso(T1 + 2 * HOUR_NS)}
    widened = api.get("/v1/tools", params=params).json()["items"]
    assert [(i["tool"], i["calls"]) for i in widened] == [(fleet.tool_a, 3), (fleet.tool_b, 2)]
    exact = api.get("/v1/tools", params={**params, "exact": "true"}).json()["items"]
    assert exact == [
        {"tool": fleet.tool_a, **_tool_stats([400], 1, exact=True)},
        {"tool": fleet.tool_b, **_tool_stats([60], 0, exact=True)},
    ]
    params["since"] = iso(T1 + 100 * DAY_NS)
    params.pop("until")
    assert api.get("/v1/tools", params=params).json()["items"] == []


def test_exact_needs_a_bounded_window(api: httpx.Client) -> None:
    for params in (
        {"exact": "true"},
        {"exact": "true", "since": iso(T1), "until": iso(T1 + 8 * DAY_NS)},
    ):
        for path in ("/v1/tools", "/v1/metrics/summary"):
            response = api.get(path, params=params)
            assert response.status_code == 422
            assert response.json()["error"]["parameters"] == ["exact"]


@pytest.mark.parametrize("exact", [False, True])
def test_summary_of_an_agent(api: httpx.Client, fleet: Fleet, exact: bool) -> None:
    params = {"agent": fleet.agent, **(EXACT_WINDOW if exact else {})}
    summary = api.get("/v1/metrics/summary", params=params).json()
    durations = [2000.0, 3000.0, 7000.0]
    steps = [4.0, 2.0, 2.0]
    assert summary == {
        "since": EXACT_WINDOW["since"] if exact else None,
        "until": EXACT_WINDOW["until"] if exact else None,
        "exact": exact,
        "agent": fleet.agent,
        "runs": {
            "total": 3,
            "by_status": {"PENDING": 0, "RUNNING": 0, "SUCCESS": 2, "FAILED": 1, "CANCELLED": 0},
        },
        "success_rate": pytest.approx(2 / 3),
        "duration_ms": _distribution(durations, exact=exact),
        "steps_per_run": _distribution(steps, exact=exact),
        "tokens": {"input": 100, "output": 20, "total": 120},
        "top_failing_tools": [
            {"tool": fleet.tool_a, "calls": 4, "failures": 1, "failure_rate": 0.25},
            {"tool": fleet.tool_b, "calls": 2, "failures": 1, "failure_rate": 0.5},
        ],
        "top_errors": [{"type": "RuntimeError", "message": "gave up", "count": 1}],
        "cost": {
            "total": None,
            "priced_runs": 0,
            "llm_calls": 2,
            "unpriced_llm_calls": 2,
            "unpriced_share": 1.0,
            "by_model": [
                {"model": "m", "calls": 2, "unpriced_calls": 2, "cost": None, "input_tokens": 100,
                 "output_tokens": 20, "cache_read_tokens": 0, "cache_write_tokens": 0,
                 "reasoning_tokens": 0},
            ],
        },
        "scores": [],
    }  # fmt: skip


def test_summary_window(api: httpx.Client, fleet: Fleet) -> None:
    params = {"agent": fleet.agent, "since": iso(T1 + HOUR_NS), "until": iso(T1 + DAY_NS)}
    summary = api.get("/v1/metrics/summary", params=params).json()
    assert summary["since"] == iso(T1 + HOUR_NS)
    assert summary["until"] == iso(T1 + DAY_NS)
    assert summary["runs"]["total"] == 1
    assert summary["success_rate"] == 0.0
    assert summary["duration_ms"]["p99"] == pytest.approx(3000.0, rel=RELATIVE_ERROR)
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
             "avg_duration_ms": 2000.0,
             "p95_duration_ms": pytest.approx(2000.0, rel=RELATIVE_ERROR),
             "cost": None, "unpriced_llm_calls": 1, "scores": {}},
            {"start": iso(T1 + HOUR_NS), "runs": 1, "failures": 1, "success_rate": 0.0,
             "avg_duration_ms": 3000.0,
             "p95_duration_ms": pytest.approx(3000.0, rel=RELATIVE_ERROR),
             "cost": None, "unpriced_llm_calls": 0, "scores": {}},
            {"start": iso(T1 + 2 * HOUR_NS), "runs": 0, "failures": 0, "success_rate": None,
             "avg_duration_ms": None, "p95_duration_ms": None, "cost": None,
             "unpriced_llm_calls": 0, "scores": {}},
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
        at_rank([2000, 3000], 0.95), rel=RELATIVE_ERROR
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
