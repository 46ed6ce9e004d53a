"""GET /v1/sessions, /v1/sessions/{id}, /v1/users, /v1/users/{id}: runs grouped by the
session and user they carry, sent over real OTLP/HTTP to a real server."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from tests.api.builders import HOUR_NS, MS, T0, AgentRun, Llm, iso, send_runs, unique
from tests.support import RunningServer, fixtures_dir, wait_derived


@dataclass
class Dataset:
    alpha: str
    beta: str
    chat: str  # alpha and beta, three turns, the second failed
    solo: str  # one beta turn
    user_a: str
    user_b: str
    runs: list[AgentRun]


@pytest.fixture(scope="module")
def data(agentguide_server: RunningServer) -> Dataset:
    alpha, beta = unique("alpha"), unique("beta")
    chat, solo = unique("chat / 会话"), unique("solo")
    user_a, user_b = unique("user"), unique("user")
    runs = [
        AgentRun(alpha, T0, 2000, llms=[Llm("gpt-x", 10, 500, 100, 20)], session_id=chat,
                 user_id=user_a, input="What is the weather in Paris?", output="Sunny, 21 °C."),
        AgentRun(alpha, T0 + HOUR_NS, 3000, llms=[Llm("gpt-x", 10, 500, 50, 5)],
                 error=("ValueError", "bad unit"), session_id=chat, user_id=user_a,
                 input="And in Fahrenheit?", output=None),
        AgentRun(beta, T0 + 2 * HOUR_NS, 1000, session_id=chat, user_id=user_a,
                 input="Thanks!", output="You're welcome."),
        AgentRun(beta, T0 + 30 * HOUR_NS, 4000, llms=[Llm("gpt-y", 10, 500, 7, 3)],
                 session_id=solo, user_id=user_b, input="Hello", output="Hi"),
        AgentRun(alpha, T0 + 31 * HOUR_NS, 500, user_id=user_b, input="no session"),
    ]  # fmt: skip
    send_runs(agentguide_server.http_url, runs)
    wait_derived(agentguide_server.database_url)
    return Dataset(alpha, beta, chat, solo, user_a, user_b, runs)


def _items(response: httpx.Response) -> list[dict]:  # type: ignore[type-arg]
    assert response.status_code == 200, response.text
    return response.json()["items"]  # type: ignore[no-any-return]


def _session_path(session_id: str) -> str:
    return "/v1/sessions/" + quote(session_id, safe="")


def test_a_session_sums_its_runs(api: httpx.Client, data: Dataset) -> None:
    (chat,) = _items(api.get("/v1/sessions", params={"user_id": data.user_a}))
    first, _, last = data.runs[:3]
    assert chat == {
        "id": data.chat,
        "user_id": data.user_a,
        "run_count": 3,
        "failed_run_count": 1,
        "running_count": 0,
        "first_activity_at": iso(first.start_ns),
        "last_activity_at": iso(last.start_ns + last.duration_ms * MS),
        "duration_ms": (last.start_ns + last.duration_ms * MS - first.start_ns) / 1e6,
        "input_tokens": 150,
        "output_tokens": 25,
        "total_tokens": 175,
        "cost": None,  # gpt-x has no price
        "agents": sorted([data.alpha, data.beta]),
        "first_message": "What is the weather in Paris?",
        "first_run_id": first.id,
    }


def test_sessions_newest_activity_first_by_agent(api: httpx.Client, data: Dataset) -> None:
    assert [s["id"] for s in _items(api.get("/v1/sessions", params={"agent": data.beta}))] == [
        data.solo,
        data.chat,
    ]
    assert [s["id"] for s in _items(api.get("/v1/sessions", params={"agent": data.alpha}))] == [
        data.chat
    ]
    assert _items(api.get("/v1/sessions", params={"agent": unique("nobody")})) == []


def test_status_filter(api: httpx.Client, data: Dataset) -> None:
    def ids(status: str) -> list[str]:
        return [
            s["id"]
            for s in _items(api.get("/v1/sessions", params={"agent": data.beta, "status": status}))
        ]

    assert ids("failed") == [data.chat]
    assert ids("ok") == [data.solo]


def test_time_filter_selects_sessions_active_in_the_window(
    api: httpx.Client, data: Dataset
) -> None:
    def ids(**window: str) -> list[str]:
        return [
            s["id"] for s in _items(api.get("/v1/sessions", params={"agent": data.beta, **window}))
        ]

    assert ids(since=iso(T0 + 3 * HOUR_NS)) == [data.solo]
    assert ids(until=iso(T0 + 3 * HOUR_NS)) == [data.chat]
    # the chat was active at T0 + 1h30 (it started before, its last turn ended after)
    assert ids(since=iso(T0 + HOUR_NS + HOUR_NS // 2), until=iso(T0 + 2 * HOUR_NS)) == [data.chat]
    assert ids(since=iso(T0 + 40 * HOUR_NS)) == []


def test_keyset_paging_walks_every_session_once(api: httpx.Client, data: Dataset) -> None:
    seen: list[str] = []
    cursor = None
    while True:
        params = {"agent": data.beta, "limit": "1", **({"cursor": cursor} if cursor else {})}
        page = api.get("/v1/sessions", params=params).json()
        seen += [s["id"] for s in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [data.solo, data.chat]


def test_a_session_reads_turn_by_turn(api: httpx.Client, data: Dataset) -> None:
    response = api.get(_session_path(data.chat))
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["session"]["id"] == data.chat
    assert body["next_cursor"] is None
    turns = [(r["id"], r["input"], r["output"], r["status"]) for r in body["runs"]]
    assert turns == [
        (data.runs[0].id, "What is the weather in Paris?", "Sunny, 21 °C.", "SUCCESS"),
        (data.runs[1].id, "And in Fahrenheit?", None, "FAILED"),
        (data.runs[2].id, "Thanks!", "You're welcome.", "SUCCESS"),
    ]
    assert [r["total_tokens"] for r in body["runs"]] == [120, 55, 0]


def test_a_sessions_runs_page(api: httpx.Client, data: Dataset) -> None:
    seen: list[str] = []
    cursor = None
    while True:
        params = {"limit": "2", **({"cursor": cursor} if cursor else {})}
        page = api.get(_session_path(data.chat), params=params).json()
        assert page["session"]["run_count"] == 3
        seen += [r["id"] for r in page["runs"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [run.id for run in data.runs[:3]]


def test_users_sum_their_runs(api: httpx.Client, data: Dataset) -> None:
    users = {u["id"]: u for u in _items(api.get("/v1/users", params={"agent": data.alpha}))}
    assert set(users) == {data.user_a, data.user_b}  # both ran alpha; sums over all their runs
    assert (users[data.user_a]["run_count"], users[data.user_b]["run_count"]) == (3, 2)
    response = api.get("/v1/users/" + quote(data.user_b, safe=""))
    assert response.status_code == 200, response.text
    assert response.json() == {
        "id": data.user_b,
        "run_count": 2,
        "session_count": 1,  # the run without a session is in none
        "failed_run_count": 0,
        "first_activity_at": iso(data.runs[3].start_ns),
        "last_activity_at": iso(data.runs[4].start_ns),
        "total_tokens": 10,
        "cost": None,
        "agents": sorted([data.alpha, data.beta]),
    }
    user_a = api.get("/v1/users/" + quote(data.user_a, safe="")).json()
    assert (user_a["run_count"], user_a["session_count"], user_a["failed_run_count"]) == (3, 1, 1)
    assert user_a["total_tokens"] == 175


def test_users_time_filter(api: httpx.Client, data: Dataset) -> None:
    def ids(**window: str) -> set[str]:
        return {
            u["id"] for u in _items(api.get("/v1/users", params={"agent": data.alpha, **window}))
        }

    assert ids(since=iso(T0 + 3 * HOUR_NS)) == {data.user_b}
    assert ids(until=iso(T0 + 3 * HOUR_NS)) == {data.user_a}
    assert ids(since=iso(T0 + 40 * HOUR_NS)) == set()


def test_users_newest_activity_first_and_paged(api: httpx.Client, data: Dataset) -> None:
    first = api.get("/v1/users", params={"agent": data.beta, "limit": "1"}).json()
    assert [u["id"] for u in first["items"]] == [data.user_b]
    second = api.get(
        "/v1/users", params={"agent": data.beta, "limit": "1", "cursor": first["next_cursor"]}
    ).json()
    assert [u["id"] for u in second["items"]] == [data.user_a]
    assert second["next_cursor"] is None


# --- hostile parameters ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "params", "named"),
    [
        ("/v1/sessions", {"cursor": "not-a-cursor"}, "cursor"),
        ("/v1/sessions", {"cursor": "W10"}, "cursor"),  # base64url of []
        ("/v1/sessions", {"cursor": "x" * 5000}, "cursor"),
        ("/v1/sessions", {"since": "yesterday"}, "since"),
        ("/v1/sessions", {"until": "2024-02-30T00:00:00Z"}, "until"),
        ("/v1/sessions", {"since": iso(T0 + HOUR_NS), "until": iso(T0)}, "until"),
        ("/v1/sessions", {"status": "broken"}, "status"),
        ("/v1/sessions", {"limit": "0"}, "limit"),
        ("/v1/sessions", {"limit": "501"}, "limit"),
        ("/v1/sessions", {"user_id": "a\x00b"}, "user_id"),
        ("/v1/sessions", {"agent": "a\x00b"}, "agent"),
        ("/v1/users", {"cursor": "%%%"}, "cursor"),
        ("/v1/users", {"since": "-5"}, "since"),
    ],
)
def test_bad_parameters_are_named(
    api: httpx.Client, path: str, params: dict[str, str], named: str
) -> None:
    response = api.get(path, params=params)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["parameters"] == [named]


def test_a_session_cursor_must_name_a_run(api: httpx.Client, data: Dataset) -> None:
    from api.activity_cursor import encode_cursor

    response = api.get(_session_path(data.chat), params={"cursor": encode_cursor(1, "not-a-run")})
    assert response.status_code == 422
    assert response.json()["error"]["parameters"] == ["cursor"]
    response = api.get(_session_path(data.chat), params={"limit": "1001"})
    assert response.status_code == 422
    assert response.json()["error"]["parameters"] == ["limit"]


def test_unknown_session_and_user_are_404(api: httpx.Client) -> None:
    for path in ("/v1/sessions/", "/v1/users/"):
        response = api.get(path + quote(unique("nobody"), safe=""))
        assert response.status_code == 404, response.text
        assert response.json()["error"]["code"] == "not_found"


@pytest.mark.parametrize(("path", "named"), [("sessions", "session_id"), ("users", "user_id")])
def test_nul_in_an_id_is_refused(api: httpx.Client, path: str, named: str) -> None:
    response = api.get(f"/v1/{path}/a%00b")
    assert response.status_code == 422, response.text
    assert response.json()["error"]["parameters"] == [named]


# --- a captured conversation ----------------------------------------------------------------


def _send_turn(
    server: RunningServer, scenario: Path, session_id: str, user_id: str, later_ns: int = 0
) -> None:
    """Post a capture under a new trace id, its session and user ids replaced, ``later_ns``
    later."""
    trace_id = os.urandom(16)
    for body in sorted(scenario.glob("*.body.bin")):
        request = ExportTraceServiceRequest.FromString(body.read_bytes())
        for resource_spans in request.resource_spans:
            for scope_spans in resource_spans.scope_spans:
                for span in scope_spans.spans:
                    span.trace_id = trace_id
                    span.start_time_unix_nano += later_ns
                    span.end_time_unix_nano += later_ns
                    for kv in span.attributes:
                        if kv.key == "session.id":
                            kv.value.string_value = session_id
                        elif kv.key == "user.id":
                            kv.value.string_value = user_id
        response = httpx.post(
            server.http_url + "/v1/traces",
            content=request.SerializeToString(),
            headers={"Content-Type": "application/x-protobuf"},
        )
        assert response.status_code == 200, response.text


def test_a_captured_google_adk_conversation(
    api: httpx.Client, agentguide_server: RunningServer
) -> None:
    """Google ADK (OpenInference) names session.id and user.id on its spans: two turns of a
    triage agent that transfers to a weather sub-agent (its sibling run) make one session of
    four runs, in order, whose first message is the first turn's request."""
    scenario = fixtures_dir() / "google-adk" / "sub_agents_openinference"
    session_id, user_id = unique("adk-session"), unique("adk-user")
    _send_turn(agentguide_server, scenario, session_id, user_id)
    _send_turn(agentguide_server, scenario, session_id, user_id, later_ns=60 * 10**9)
    wait_derived(agentguide_server.database_url)
    body = api.get(_session_path(session_id)).json()
    runs = body["runs"]
    assert len(runs) == 4
    assert body["session"]["run_count"] == 4
    assert body["session"]["user_id"] == user_id
    assert body["session"]["agents"] == ["triage_agent", "weather_agent"]
    assert [(r["agent"]["name"], r["parent_run_id"]) for r in runs] == [
        ("triage_agent", None),
        ("weather_agent", None),
    ] * 2
    assert [r["started_at"] for r in runs] == sorted(r["started_at"] for r in runs)
    assert runs[0]["input"]
    assert body["session"]["first_message"] == runs[0]["input"]
    assert body["session"]["first_run_id"] == runs[0]["id"]
    (listed,) = _items(api.get("/v1/sessions", params={"user_id": user_id}))
    assert listed == body["session"]
    user = api.get("/v1/users/" + quote(user_id, safe="")).json()
    assert (user["run_count"], user["session_count"]) == (4, 1)
