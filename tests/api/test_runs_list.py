"""GET /v1/runs: every filter, newest-first order and both kinds of pagination, against runs
sent over real OTLP/HTTP."""

from __future__ import annotations

from dataclasses import dataclass

import httpx
import pytest

from mapping.derive import derived_agent_id
from tests.api.builders import HOUR_NS, T0, AgentRun, Llm, Tool, iso, send_runs, unique
from tests.support import RunningServer, wait_derived


@dataclass
class Dataset:
    alpha: str
    beta: str
    session_a: str
    session_b: str
    user_a: str
    user_b: str
    tool_search: str
    tool_fetch: str
    runs: list[AgentRun]

    def of(self, agent: str) -> list[AgentRun]:
        return [run for run in self.runs if run.agent == agent]


@pytest.fixture(scope="module")
def data(agentguide_server: RunningServer) -> Dataset:
    alpha, beta = unique("alpha"), unique("beta")
    session_a, session_b = unique("session"), unique("session")
    user_a, user_b = unique("user"), unique("user")
    search, fetch, calc = unique("search"), unique("fetch"), unique("calc")
    failure = ("ValueError", "bad input")
    runs = [
        AgentRun(alpha, T0, 2000, tools=[Tool(search, 10, 100), Tool(fetch, 200, 300)],
                 llms=[Llm("gpt-x", 600, 500, 100, 20)], session_id=session_a, user_id=user_a),
        AgentRun(alpha, T0 + HOUR_NS, 5000, tools=[Tool(search, 10, 50, error=failure)],
                 error=failure, session_id=session_a, user_id=user_b),
        AgentRun(alpha, T0 + 2 * HOUR_NS, 500, llms=[Llm("gpt-y", 10, 400, 7, 3)],
                 session_id=session_b, user_id=user_a),
        AgentRun(alpha, T0 + 3 * HOUR_NS, 10000,
                 tools=[Tool(fetch, 10, 200, error=("TimeoutError", "slow")),
                        Tool(fetch, 300, 400)]),
        AgentRun(alpha, T0 + 26 * HOUR_NS, 1000, tools=[Tool(search, 10, 70)]),
        AgentRun(beta, T0 + HOUR_NS // 2, 3000, tools=[Tool(calc, 10, 10)]),
    ]  # fmt: skip
    send_runs(agentguide_server.http_url, runs)
    wait_derived(agentguide_server.database_url)
    return Dataset(alpha, beta, session_a, session_b, user_a, user_b, search, fetch, runs)


def ids(response: httpx.Response) -> list[str]:
    assert response.status_code == 200, response.text
    return [run["id"] for run in response.json()["items"]]


def newest_first(runs: list[AgentRun]) -> list[str]:
    return [run.id for run in sorted(runs, key=lambda r: (r.start_ns, r.id), reverse=True)]


def test_agent_filter_lists_the_agents_runs_newest_first(api: httpx.Client, data: Dataset) -> None:
    assert ids(api.get("/v1/runs", params={"agent": data.alpha})) == newest_first(
        data.of(data.alpha)
    )
    assert ids(api.get("/v1/runs", params={"agent": data.beta})) == newest_first(data.of(data.beta))
    assert ids(api.get("/v1/runs", params={"agent": unique("nobody")})) == []


def test_a_run_carries_every_field(api: httpx.Client, data: Dataset) -> None:
    first = data.runs[0]
    (run,) = api.get("/v1/runs", params={"trace_id": first.trace_id.hex()}).json()["items"]
    assert run == {
        "id": first.id,
        "trace_id": first.trace_id.hex(),
        "span_id": first.span_id.hex(),
        "name": f"invoke_agent {data.alpha}",
        "agent": {"id": derived_agent_id(data.alpha), "name": data.alpha, "version": None},
        "parent_run_id": None,
        "status": "SUCCESS",
        "input": "question",
        "input_truncated": False,
        "output": "answer",
        "output_truncated": False,
        "error": None,
        "started_at": "2024-03-01T00:00:00Z",
        "finished_at": "2024-03-01T00:00:02Z",
        "duration_ms": 2000.0,
        "step_count": 3,
        "tool_call_count": 2,
        "llm_call_count": 1,
        "failed_step_count": 0,
        "orphan_span_count": 0,
        "input_tokens": 100,
        "output_tokens": 20,
        "total_tokens": 120,
        "models": ["gpt-x"],
        "session_id": data.session_a,
        "user_id": data.user_a,
        "service_name": "test-service",
        "cost": None,  # "gpt-x" is in no price table
        "unpriced_llm_calls": 1,
        "match": None,  # set in a text search (q)
    }


def test_status_filter(api: httpx.Client, data: Dataset) -> None:
    failed = ids(api.get("/v1/runs", params={"agent": data.alpha, "status": "FAILED"}))
    assert failed == [data.runs[1].id]
    succeeded = ids(api.get("/v1/runs", params={"agent": data.alpha, "status": "SUCCESS"}))
    assert succeeded == newest_first([r for r in data.of(data.alpha) if not r.failed])
    assert ids(api.get("/v1/runs", params={"agent": data.alpha, "status": "PENDING"})) == []


def test_failed_run_reports_its_error(api: httpx.Client, data: Dataset) -> None:
    (run,) = api.get("/v1/runs", params={"trace_id": data.runs[1].trace_id.hex()}).json()["items"]
    assert run["status"] == "FAILED"
    assert run["error"] == {"type": "ValueError", "message": "bad input"}
    assert run["failed_step_count"] == 1


@pytest.mark.parametrize(
    ("since", "until", "expected"),
    [
        (T0 + HOUR_NS, None, [1, 2, 3, 4]),
        (None, T0 + HOUR_NS, [0]),
        (T0 + HOUR_NS, T0 + 3 * HOUR_NS, [1, 2]),
        (T0 + 100 * HOUR_NS, None, []),
    ],
)
def test_since_until_on_run_start(
    api: httpx.Client,
    data: Dataset,
    since: int | None,
    until: int | None,
    expected: list[int],
) -> None:
    """since is inclusive, until exclusive; both accept RFC 3339 and epoch milliseconds."""
    want = newest_first([data.runs[i] for i in expected])
    for render in (iso, lambda ns: str(ns // 1_000_000)):
        params = {"agent": data.alpha}
        if since is not None:
            params["since"] = render(since)
        if until is not None:
            params["until"] = render(until)
        assert ids(api.get("/v1/runs", params=params)) == want


def test_rfc3339_with_offset_and_fraction(api: httpx.Client, data: Dataset) -> None:
    everything = newest_first(data.of(data.alpha))
    for since in ("2024-03-01T01:00:00+01:00", "2024-02-29T23:00:00-01:00", "2024-03-01 00:00:00"):
        assert ids(api.get("/v1/runs", params={"agent": data.alpha, "since": since})) == everything
    params = {"agent": data.alpha, "since": "2024-03-01T00:00:00.000000001Z"}
    assert ids(api.get("/v1/runs", params=params)) == newest_first(data.of(data.alpha)[1:])


def test_trace_id_filter_finds_the_runs_of_a_trace(api: httpx.Client, data: Dataset) -> None:
    run = data.runs[2]
    assert ids(api.get("/v1/runs", params={"trace_id": run.trace_id.hex()})) == [run.id]
    assert ids(api.get("/v1/runs", params={"trace_id": run.trace_id.hex().upper()})) == [run.id]
    assert ids(api.get("/v1/runs", params={"trace_id": "ab" * 16})) == []


def test_session_and_user_filters(api: httpx.Client, data: Dataset) -> None:
    assert ids(api.get("/v1/runs", params={"session_id": data.session_a})) == newest_first(
        data.runs[0:2]
    )
    assert ids(api.get("/v1/runs", params={"session_id": data.session_b})) == [data.runs[2].id]
    assert ids(api.get("/v1/runs", params={"user_id": data.user_a})) == newest_first(
        [data.runs[0], data.runs[2]]
    )
    assert ids(api.get("/v1/runs", params={"user_id": data.user_b})) == [data.runs[1].id]


def test_tool_filter_finds_runs_that_called_it(api: httpx.Client, data: Dataset) -> None:
    assert ids(api.get("/v1/runs", params={"tool": data.tool_search})) == newest_first(
        [data.runs[0], data.runs[1], data.runs[4]]
    )
    assert ids(api.get("/v1/runs", params={"tool": data.tool_fetch})) == newest_first(
        [data.runs[0], data.runs[3]]
    )
    assert ids(api.get("/v1/runs", params={"tool": unique("never-called")})) == []


def test_min_duration_filter(api: httpx.Client, data: Dataset) -> None:
    params = {"agent": data.alpha, "min_duration_ms": "2000"}
    assert ids(api.get("/v1/runs", params=params)) == newest_first([*data.runs[0:2], data.runs[3]])
    params["min_duration_ms"] = "10000.5"
    assert ids(api.get("/v1/runs", params=params)) == []


def test_has_error_filter(api: httpx.Client, data: Dataset) -> None:
    """A run has an error when it failed or one of its steps did."""
    alpha = data.of(data.alpha)
    with_error = ids(api.get("/v1/runs", params={"agent": data.alpha, "has_error": "true"}))
    assert with_error == newest_first([r for r in alpha if r.has_error])
    without = ids(api.get("/v1/runs", params={"agent": data.alpha, "has_error": "false"}))
    assert without == newest_first([r for r in alpha if not r.has_error])


def test_filters_combine(api: httpx.Client, data: Dataset) -> None:
    params = {"session_id": data.session_a, "user_id": data.user_a, "tool": data.tool_fetch}
    assert ids(api.get("/v1/runs", params=params)) == [data.runs[0].id]
    params = {"agent": data.alpha, "has_error": "true", "status": "SUCCESS"}
    assert ids(api.get("/v1/runs", params=params)) == [data.runs[3].id]


@pytest.fixture(scope="module")
def many(agentguide_server: RunningServer) -> list[AgentRun]:
    agent = unique("paged")
    # Two runs share a start time: the id breaks the tie, so pages never skip or repeat.
    runs = [AgentRun(agent, T0 + i * 1_000_000_000, 10) for i in range(6)]
    runs.append(AgentRun(agent, T0 + 3 * 1_000_000_000, 10))
    send_runs(agentguide_server.http_url, runs)
    wait_derived(agentguide_server.database_url)
    return runs


def test_cursor_pages_cover_every_run_once(api: httpx.Client, many: list[AgentRun]) -> None:
    agent = many[0].agent
    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        params = {"agent": agent, "limit": "3"}
        if cursor:
            params["cursor"] = cursor
        body = api.get("/v1/runs", params=params).json()
        seen += [run["id"] for run in body["items"]]
        pages += 1
        cursor = body["next_cursor"]
        if cursor is None:
            break
    assert pages == 3
    assert seen == newest_first(many)


def test_last_page_has_no_next_cursor(api: httpx.Client, many: list[AgentRun]) -> None:
    body = api.get("/v1/runs", params={"agent": many[0].agent, "limit": "7"}).json()
    assert len(body["items"]) == 7
    assert body["next_cursor"] is None


def test_offset_pagination(api: httpx.Client, many: list[AgentRun]) -> None:
    agent = many[0].agent
    everything = newest_first(many)
    assert (
        ids(api.get("/v1/runs", params={"agent": agent, "offset": "2", "limit": "3"}))
        == (everything[2:5])
    )
    assert ids(api.get("/v1/runs", params={"agent": agent, "offset": "100"})) == []
    first = api.get("/v1/runs", params={"agent": agent, "limit": "2"}).json()
    after = {"agent": agent, "cursor": first["next_cursor"], "offset": "1", "limit": "2"}
    assert ids(api.get("/v1/runs", params=after)) == everything[3:5]


def test_default_limit_is_50_and_max_500(api: httpx.Client, many: list[AgentRun]) -> None:
    assert api.get("/v1/runs", params={"limit": "500"}).status_code == 200
    too_many = api.get("/v1/runs", params={"limit": "501"})
    assert too_many.status_code == 422
    assert too_many.json()["error"]["parameters"] == ["limit"]
    assert len(api.get("/v1/runs").json()["items"]) <= 50
