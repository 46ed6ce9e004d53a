"""GET /v1/failures, run detail's failure, /v1/runs?signature= and /v1/runs/{id}/failure, through a
running server fed over OTLP."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from tests.api.builders import HOUR_NS, T0, AgentRun, Tool, iso, send_runs
from tests.support import PostgresServer, running_server, wait_derived

MINUTE_NS = 60 * 10**9


def search_timeout(agent: str, hour: int, seconds: int) -> AgentRun:
    message = f"read timed out after {seconds}s (request {uuid.uuid4()})"
    return AgentRun(
        agent,
        T0 + hour * HOUR_NS + 7 * MINUTE_NS,
        900,
        tools=[Tool("search", 10, 400, ("TimeoutError", message))],
        error=("TimeoutError", f"tool search failed: {message}"),
    )


def payments_down(hour: int, attempt: int) -> AgentRun:
    message = f"payments answered 503 for 'INV-{1000 + attempt}'"
    return AgentRun(
        "billing-bot",
        T0 + hour * HOUR_NS + 30 * MINUTE_NS,
        300,
        tools=[
            Tool("lookup", 5, 20),
            Tool("charge", 40, 100, ("HTTPError", message)),
        ],
        error=("HTTPError", f"charge failed: {message}"),
    )


@dataclass
class Failures:
    url: str
    search: list[AgentRun]  # steady: hours 1, 3, 5, 13, 15, 17
    payments: list[AgentRun]  # new: hours 20, 21, 22
    plan: AgentRun  # the run's own error, hour 2
    success: AgentRun


@pytest.fixture(scope="module")
def failures(postgres: PostgresServer) -> Iterator[Failures]:
    database_url = postgres.create_database()
    search = [
        search_timeout("support-bot" if i < 4 else "billing-bot", hour, 5 + i)
        for i, hour in enumerate([1, 3, 13, 15, 5, 17])
    ]
    payments = [payments_down(hour, i) for i, hour in enumerate([20, 21, 22])]
    plan = AgentRun(
        "support-bot",
        T0 + 2 * HOUR_NS,
        50,
        tools=[Tool("search", 5, 10)],
        error=("ValueError", "no plan for 'refund' in 3 steps"),
    )
    success = AgentRun("support-bot", T0 + 4 * HOUR_NS, 100, tools=[Tool("search", 5, 10)])
    with running_server(database_url) as server:
        send_runs(server.http_url, [*search, *payments, plan, success])
        wait_derived(database_url)
        yield Failures(server.http_url, search, payments, plan, success)


def get(site: Failures, path: str, **params: object) -> dict:
    response = httpx.get(site.url + path, params=params, timeout=30)
    assert response.status_code == 200, response.text
    return response.json()


WINDOW = {"since": iso(T0), "until": iso(T0 + 24 * HOUR_NS)}


def test_alike_failures_group_under_one_signature(failures: Failures) -> None:
    answer = get(failures, "/v1/failures", **WINDOW, order="count")
    assert answer["total"] == 3
    assert answer["trend_bucket_ms"] == 3_600_000
    assert answer["trend_start"] == iso(T0)
    search, payments, plan = answer["items"]
    assert (search["count"], payments["count"], plan["count"]) == (6, 3, 1)
    assert search["kind"] == "tool"
    assert search["name"] == "search"
    assert search["error_type"] == "TimeoutError"
    assert search["message_template"] == "read timed out after <num>s (request <uuid>)"
    assert (
        search["title"] == "tool search: TimeoutError: read timed out after <num>s (request <uuid>)"
    )
    assert search["agents"] == [
        {"name": "support-bot", "count": 4},
        {"name": "billing-bot", "count": 2},
    ]
    assert payments["kind"] == "tool"
    assert payments["name"] == "charge"
    assert payments["message_template"] == "payments answered <num> for '<str>'"
    assert plan["kind"] == "run"
    assert plan["name"] == ""
    assert plan["message_template"] == "no plan for '<str>' in <num> steps"


def test_counts_first_and_last_seen_sample_and_trend(failures: Failures) -> None:
    search = next(
        item
        for item in get(failures, "/v1/failures", **WINDOW)["items"]
        if item["name"] == "search"
    )
    starts = sorted(run.start_ns for run in failures.search)
    newest = max(failures.search, key=lambda run: run.start_ns)
    assert search["first_seen"] == iso(starts[0])
    assert search["last_seen"] == iso(starts[-1])
    assert search["sample_run_id"] == newest.id
    assert search["sample_error"]["type"] == "TimeoutError"
    assert search["sample_error"]["message"].startswith("tool search failed: read timed out")
    expected = [0] * 24
    for hour in (1, 3, 5, 13, 15, 17):
        expected[hour] = 1
    assert search["trend"] == expected
    assert search["growth"] == 0
    assert search["runs_url"] == f"/v1/runs?signature={search['signature']}&status=FAILED"


def test_newest_growing_first_by_default(failures: Failures) -> None:
    growing = get(failures, "/v1/failures", **WINDOW)["items"]
    assert [item["name"] for item in growing] == ["charge", "search", ""]
    assert [item["growth"] for item in growing] == [3, 0, -1]
    recent = get(failures, "/v1/failures", **WINDOW, order="recent")["items"]
    assert [item["name"] for item in recent] == ["charge", "search", ""]
    assert len(get(failures, "/v1/failures", **WINDOW, limit=1)["items"]) == 1


def test_the_agent_filter_and_the_window_narrow_the_counts(failures: Failures) -> None:
    billing = get(failures, "/v1/failures", **WINDOW, agent="billing-bot", order="count")
    assert [(item["name"], item["count"]) for item in billing["items"]] == [
        ("charge", 3),
        ("search", 2),
    ]
    assert billing["items"][1]["agents"] == [{"name": "billing-bot", "count": 2}]
    early = get(failures, "/v1/failures", since=iso(T0), until=iso(T0 + 6 * HOUR_NS))
    assert {(item["name"], item["count"]) for item in early["items"]} == {("search", 3), ("", 1)}
    assert get(failures, "/v1/failures")["total"] == 0  # the last 24 hours: nothing


def test_a_failed_run_says_how_many_others_failed_the_same_way(failures: Failures) -> None:
    run = failures.search[0]
    detail = get(failures, f"/v1/runs/{run.id}")
    failure = detail["failure"]
    assert failure["other_runs"] == 5
    assert failure["kind"] == "tool"
    assert failure["name"] == "search"
    assert failure["title"].startswith("tool search: TimeoutError")
    assert get(failures, f"/v1/runs/{run.id}/failure") == failure
    listed = get(failures, failure["runs_url"].split("?")[0], signature=failure["signature"])
    assert sorted(item["id"] for item in listed["items"]) == sorted(r.id for r in failures.search)
    plan = get(failures, f"/v1/runs/{failures.plan.id}")["failure"]
    assert plan["other_runs"] == 0
    assert plan["kind"] == "run"


def test_a_run_that_did_not_fail_has_no_failure(failures: Failures) -> None:
    assert get(failures, f"/v1/runs/{failures.success.id}")["failure"] is None
    response = httpx.get(f"{failures.url}/v1/runs/{failures.success.id}/failure", timeout=30)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


@pytest.mark.parametrize(
    ("path", "params", "parameter"),
    [
        ("/v1/runs", {"signature": "not-a-signature"}, "signature"),
        ("/v1/failures", {"limit": 0}, "limit"),
        ("/v1/failures", {"order": "loudest"}, "order"),
        ("/v1/failures", {"buckets": 1}, "buckets"),
        ("/v1/failures", {"since": iso(T0 + HOUR_NS), "until": iso(T0)}, "until"),
    ],
)
def test_bad_parameters_are_named(
    failures: Failures, path: str, params: dict[str, object], parameter: str
) -> None:
    response = httpx.get(failures.url + path, params=params, timeout=30)
    assert response.status_code == 422, response.text
    assert parameter in response.json()["error"]["parameters"]
