"""Hostile filters, cursors, ids and bodies: every answer is a 2xx or a 4xx in the API's error
shape, never a server error. Runs against a server of its own, so junk stays out of the
session database."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.api.builders import T0, AgentRun, Tool, send_runs
from tests.support import PostgresServer, running_server, wait_derived

SQL_PROBES = [
    "' OR '1'='1",
    "'; DROP TABLE runs; --",
    '" OR ""="',
    "1; SELECT pg_sleep(5)",
    "%",
    "_",
    "\\",
    "$1",
    "%s",
    "{}",
    "NULL",
]
NUMBER_PROBES = [
    "-1",
    "0",
    "1e309",
    "-1e309",
    "NaN",
    "inf",
    "9" * 40,
    "-9223372036854775809",
    "9223372036854775808",
    "0x10",
    "1_000",
    "",
]
TIME_PROBES = [
    "2024-13-01T00:00:00Z",
    "2024-02-30T00:00:00Z",
    "2024-01-01T25:00:00Z",
    "2024-01-01T00:00:60Z",
    "0000-01-01T00:00:00Z",
    "1969-12-31T23:59:59Z",
    "2262-04-11T23:47:17Z",
    "9999-12-31T23:59:59Z",
    "2024-01-01T00:00:00.1234567890Z",
    "2024-01-01T00:00:00+25:00",
    "2024-01-01",
    "now",
    "yesterday",
    "-1",
    "9223372036854",
    "9223372036855",
    "1" * 30,
    "١٧٠٠٠٠٠٠٠٠٠٠٠",  # Arabic-Indic digits
    " ",
]
UNICODE_PROBES = ["💥", "\u202eevil", "ü", "\ufeff", "\x00", "a\x00b", "\x7f", "代理", "\u0301"]
RAW_QUERY_PROBES = ["%ED%A0%80", "%FF%FE", "%00", "%", "%%", "a%2", "%C0%AF"]

TEXT_PARAMETERS = {
    "/v1/runs": [
        "agent",
        "session_id",
        "user_id",
        "tool",
        "status",
        "trace_id",
        "cursor",
        "score",
        "score_label",
    ],
    "/v1/tools": ["agent"],
    "/v1/metrics/summary": ["agent"],
    "/v1/metrics/timeseries": ["agent", "bucket"],
}
NUMBER_PARAMETERS = {
    "/v1/runs": ["limit", "offset", "min_duration_ms", "has_error", "score_min", "score_max"]
}
TIME_PARAMETERS = {
    path: ["since", "until"]
    for path in ("/v1/runs", "/v1/tools", "/v1/metrics/summary", "/v1/metrics/timeseries")
}


@pytest.fixture(scope="module")
def client(postgres: PostgresServer) -> Iterator[httpx.Client]:
    database_url = postgres.create_database()
    with running_server(database_url) as server:
        send_runs(
            server.http_url,
            [
                AgentRun("fuzz-agent", T0 + i * 10**9, 100 * i, tools=[Tool("t", 1, 1)])
                for i in range(3)
            ],
        )
        wait_derived(database_url)
        with httpx.Client(base_url=server.http_url, timeout=30) as http:
            yield http


def assert_no_server_error(response: httpx.Response) -> None:
    assert response.status_code < 500, (response.request.url, response.text)
    if response.status_code >= 400:
        error = response.json()["error"]
        assert isinstance(error["code"], str) and isinstance(error["message"], str)


def _cases(table: dict[str, list[str]], probes: list[str]) -> list[tuple[str, str, str]]:
    return [
        (path, name, probe) for path, names in table.items() for name in names for probe in probes
    ]


@pytest.mark.parametrize(
    ("path", "name", "probe"),
    _cases(TEXT_PARAMETERS, SQL_PROBES + UNICODE_PROBES)
    + _cases(NUMBER_PARAMETERS, NUMBER_PROBES)
    + _cases(TIME_PARAMETERS, TIME_PROBES + SQL_PROBES),
)
def test_hostile_query_parameters(client: httpx.Client, path: str, name: str, probe: str) -> None:
    assert_no_server_error(client.get(path, params={name: probe}))


def test_injection_probes_match_nothing(client: httpx.Client) -> None:
    for probe in SQL_PROBES:
        response = client.get("/v1/runs", params={"agent": probe})
        assert response.json()["items"] == []
    assert len(client.get("/v1/runs", params={"agent": "fuzz-agent"}).json()["items"]) == 3


@pytest.mark.parametrize("raw", RAW_QUERY_PROBES)
@pytest.mark.parametrize("name", ["agent", "since", "cursor", "limit"])
def test_broken_percent_encoding(client: httpx.Client, name: str, raw: str) -> None:
    assert_no_server_error(client.get(f"/v1/runs?{name}={raw}"))


def _cursor(value: Any) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


@pytest.mark.parametrize(
    "cursor",
    [
        _cursor([2**70, "ab"]),
        _cursor([-1, "ab"]),
        _cursor([1.5, "ab"]),
        _cursor([1, "' OR 1=1 --"]),
        _cursor([1, "AB"]),
        _cursor([1]),
        _cursor({"start": 1}),
        _cursor(None),
        base64.urlsafe_b64encode(b"\xff\xfe garbage").decode(),
        "====",
        "a" * 10_000,
        "💥",
    ],
)
def test_forged_cursors_are_422(client: httpx.Client, cursor: str) -> None:
    response = client.get("/v1/runs", params={"cursor": cursor})
    assert response.status_code == 422
    assert response.json()["error"]["parameters"] == ["cursor"]


@pytest.mark.parametrize(
    "run_id", ["ab" * 24, "AB" * 24, "x" * 48, "1", "ab" * 100, "%00", "..", "ab" * 24 + "%20"]
)
def test_hostile_run_ids(client: httpx.Client, run_id: str) -> None:
    assert_no_server_error(client.get(f"/v1/runs/{run_id}"))
    assert_no_server_error(client.patch(f"/v1/runs/{run_id}", json={"status": "SUCCESS"}))
    assert_no_server_error(client.post(f"/v1/runs/{run_id}/steps", json={"tool_name": "t"}))
    assert_no_server_error(client.patch(f"/v1/runs/{run_id}/steps/{run_id}", json={}))
    score = {"name": "n", "value": 1}
    assert_no_server_error(client.post(f"/v1/runs/{run_id}/scores", json=score))
    assert_no_server_error(client.post(f"/v1/runs/{run_id}/steps/{run_id}/scores", json=score))
    assert_no_server_error(client.get(f"/v1/runs/{run_id}/scores"))


def test_hostile_score_bodies(client: httpx.Client) -> None:
    run_id = client.get("/v1/runs", params={"agent": "fuzz-agent"}).json()["items"][0]["id"]
    bodies: list[Any] = [
        *({"name": probe, "value": 1} for probe in [*SQL_PROBES, *UNICODE_PROBES, "a" * 2000]),
        *({"name": "n", "value": probe} for probe in [2**70, -(2**70), 1e308, -0.0, {}, "1"]),
        *({"name": "n", "label": probe} for probe in [*SQL_PROBES, "", "💥" * 200]),
        *({"name": "n", "value": 1, "observed_at": probe} for probe in [*TIME_PROBES, 2**70]),
        [{"name": "n", "value": 1}, None],
        [[{"name": "n", "value": 1}]],
    ]
    for body in bodies:
        assert_no_server_error(client.post(f"/v1/runs/{run_id}/scores", json=body))
    for probe in SQL_PROBES:  # each was stored as a name on this run, and matches only itself
        response = client.get("/v1/runs", params={"score": probe})
        assert [run["id"] for run in response.json()["items"]] == [run_id], probe
    for path in ("/v1/metrics/summary", "/v1/metrics/timeseries"):
        assert_no_server_error(client.get(path, params={"since": "0"}))


@pytest.mark.parametrize(
    "body",
    [{"agent_name": probe} for probe in [*SQL_PROBES, "💥", "\u202e", "a" * 2000]]
    + [
        {"agent_name": "a", "started_at": probe}
        for probe in [*TIME_PROBES, 2**70, -(2**70), 1e308, True, None, [], {}]
    ]
    + [
        {"agent_name": "a", "input": probe}
        for probe in [{"deep": [[[[{"x": None}]]]]}, 2**70, 1e308, -0.0, "💥" * 1000, [], True]
    ]
    + [[], "text", None, 42, {"agent_name": None}, {"agent_name": 5}],
)
def test_hostile_run_bodies(client: httpx.Client, body: Any) -> None:
    assert_no_server_error(client.post("/v1/runs", json=body))


def test_hostile_bodies_on_a_run(client: httpx.Client) -> None:
    run = client.post("/v1/runs", json={"agent_name": "fuzz-rest"}).json()
    url = f"/v1/runs/{run['id']}"
    step = client.post(f"{url}/steps", json={"tool_name": "t"}).json()
    bodies: list[Any] = [
        {"metrics": {"x": 1e308}},
        {"metrics": {"x": 2**70}},
        {"metrics": {"input_tokens": 2**70}},
        {"metrics": {"input_tokens": 1.5}},
        {"metrics": {f"m{i}": i for i in range(200)}},
        {"metrics": {"": 1}},
        {"error": {"message": "x", "type": 5}},
        {"error": ""},
        {"status": "RUNNING", "finished_at": "2024-01-01T00:00:00Z"},
        {"output": {"a": [1, 2, {"b": None}]}},
        {"finished_at": 2**62},
    ]
    for body in bodies:
        assert_no_server_error(client.patch(url, json=body))
    for body in ({"tool_name": "t", "index": 2**40}, {"tool_name": "t", "started_at": 2**62}):
        assert_no_server_error(client.post(f"{url}/steps", json=body))
    for body in ({"finished_at": "0"}, {"status": "CANCELLED"}, {"error": {"message": "m"}}):
        assert_no_server_error(client.patch(f"{url}/steps/{step['id']}", json=body))


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    path=st.sampled_from(sorted(TIME_PARAMETERS)),
    params=st.dictionaries(
        st.sampled_from(["agent", "since", "until", "bucket", "status", "limit", "cursor", "tool"]),
        st.one_of(st.text(max_size=40), st.integers().map(str), st.floats().map(str)),
        max_size=4,
    ),
)
def test_generated_parameters(client: httpx.Client, path: str, params: dict[str, str]) -> None:
    assert_no_server_error(client.get(path, params=params))
