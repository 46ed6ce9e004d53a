"""The REST ingest: POST /v1/runs, POST /v1/runs/{id}/steps, PATCH .../steps/{step_id},
PATCH /v1/runs/{id}; runs made this way read back like OTLP runs through every endpoint.

A write answers with the ids and status it recorded; the derivers derive it like any trace,
so the tests read the derived run or step back (``settled``) once it shows that status."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

from tests.api.builders import MS, AgentRun, fail, iso, send, send_runs, unique
from tests.otlp_helpers import make_span, random_span_id, random_trace_id
from tests.support import RunningServer, wait_derived

T2 = 1_714_521_600 * 10**9  # 2024-05-01T00:00:00Z


def settled(api: httpx.Client, response: httpx.Response, timeout_s: float = 15) -> dict[str, Any]:
    """The derived run or step a write made, read back once derived with the written status."""
    assert response.status_code in (200, 201), response.text
    written = response.json()
    assert set(written) >= {"id", "status", "url"}
    deadline = time.monotonic() + timeout_s
    while True:
        found = api.get(written["url"])
        if found.status_code == 200 and found.json()["status"] == written["status"]:
            return dict(found.json())
        assert time.monotonic() < deadline, f"{written['url']} not derived: {found.text}"
        time.sleep(0.02)


def create_run(api: httpx.Client, **body: Any) -> dict[str, Any]:
    body.setdefault("agent_name", unique("rest"))
    response = api.post("/v1/runs", json=body)
    assert response.status_code == 201, response.text
    return settled(api, response)


def add_step(api: httpx.Client, run_id: str, **body: Any) -> dict[str, Any]:
    body.setdefault("tool_name", "lookup")
    response = api.post(f"/v1/runs/{run_id}/steps", json=body)
    assert response.status_code == 201, response.text
    return settled(api, response)


def test_a_write_answers_with_its_ids_at_once(api: httpx.Client) -> None:
    created = api.post("/v1/runs", json={"agent_name": unique("ids")})
    written = created.json()
    assert written == {
        "id": written["id"],
        "trace_id": written["id"][:32],
        "status": "PENDING",
        "url": f"/v1/runs/{written['id']}",
    }
    added = api.post(f"/v1/runs/{written['id']}/steps", json={"tool_name": "t"}).json()
    assert added == {
        "id": added["id"],
        "run_id": written["id"],
        "status": "RUNNING",
        "url": f"/v1/runs/{written['id']}/steps/{added['id']}",
    }


def test_the_demo_sequence(api: httpx.Client) -> None:
    """Create a run, add a step, finish the step, mark the run SUCCESS."""
    agent = unique("demo")
    created = api.post(
        "/v1/runs",
        json={"agent_name": agent, "input": "What is the weather in Oslo?",
              "session_id": "s-1", "user_id": "u-1"},
    )  # fmt: skip
    run = settled(api, created)
    run_id = run["id"]
    assert created.headers["location"] == f"/v1/runs/{run_id}"
    assert run["agent"]["name"] == agent
    assert run["input"] == "What is the weather in Oslo?"
    assert (run["session_id"], run["user_id"], run["service_name"]) == ("s-1", "u-1", agent)
    assert run["trace_id"] == run_id[:32] and run["span_id"] == run_id[32:]

    added = api.post(
        f"/v1/runs/{run_id}/steps", json={"tool_name": "get_weather", "input": {"city": "Oslo"}}
    )
    step = settled(api, added)
    assert added.headers["location"] == f"/v1/runs/{run_id}/steps/{step['id']}"
    assert (step["run_id"], step["index"], step["kind"]) == (run_id, 0, "tool")
    assert (step["name"], step["tool_name"]) == ("get_weather", "get_weather")
    assert step["input"] == '{"city":"Oslo"}'

    finished = api.patch(f"/v1/runs/{run_id}/steps/{step['id']}", json={"output": "4 °C, rain"})
    step = settled(api, finished)
    assert step["status"] == "SUCCESS"
    assert step["output"] == "4 °C, rain"
    assert step["finished_at"] is not None and step["duration_ms"] >= 0

    done = api.patch(
        f"/v1/runs/{run_id}",
        json={"status": "SUCCESS", "output": "Rainy, 4 °C.",
              "metrics": {"input_tokens": 120, "output_tokens": 30}},
    )  # fmt: skip
    run = settled(api, done)
    assert run["status"] == "SUCCESS"
    assert run["output"] == "Rainy, 4 °C."
    assert (run["input_tokens"], run["output_tokens"], run["total_tokens"]) == (120, 30, 150)
    assert (run["step_count"], run["tool_call_count"], run["failed_step_count"]) == (1, 1, 0)
    assert run["finished_at"] >= run["started_at"]

    detail = api.get(f"/v1/runs/{run_id}").json()
    assert [s["id"] for s in detail["steps"]] == [step["id"]]
    (listed,) = api.get("/v1/runs", params={"agent": agent}).json()["items"]
    assert listed == {key: run[key] for key in listed}


def test_lifecycle_pending_running_success(api: httpx.Client) -> None:
    run = create_run(api)
    assert (run["status"], run["finished_at"], run["duration_ms"]) == ("PENDING", None, None)
    step = add_step(api, run["id"])
    assert (step["status"], step["finished_at"]) == ("RUNNING", None)
    assert api.get(f"/v1/runs/{run['id']}").json()["status"] == "RUNNING"
    assert settled(api, api.patch(f"/v1/runs/{run['id']}", json={"status": "SUCCESS"}))[
        "status"
    ] == ("SUCCESS")


def test_explicit_running_then_cancelled(api: httpx.Client) -> None:
    run = create_run(api)
    running = settled(api, api.patch(f"/v1/runs/{run['id']}", json={"status": "RUNNING"}))
    assert running["status"] == "RUNNING"
    cancelled = settled(api, api.patch(f"/v1/runs/{run['id']}", json={"status": "CANCELLED"}))
    assert cancelled["status"] == "CANCELLED"
    assert cancelled["finished_at"] is not None


def test_failures_carry_their_errors(api: httpx.Client) -> None:
    run = create_run(api, started_at=iso(T2))
    step = add_step(api, run["id"], started_at=iso(T2 + 10 * MS))
    failed = settled(api, api.patch(
        f"/v1/runs/{run['id']}/steps/{step['id']}",
        json={"error": {"type": "KeyError", "message": "no such city"},
              "finished_at": iso(T2 + 60 * MS)},
    ))  # fmt: skip
    assert failed["status"] == "FAILED"
    assert failed["error"] == {"type": "KeyError", "message": "no such city"}
    assert failed["duration_ms"] == 50.0
    (artifact,) = failed["artifacts"]
    assert artifact["type"] == "exception" and "no such city" in artifact["content"]
    run = settled(
        api,
        api.patch(
            f"/v1/runs/{run['id']}", json={"error": "gave up", "finished_at": iso(T2 + 100 * MS)}
        ),
    )
    assert run["status"] == "FAILED"
    assert run["error"] == {"type": None, "message": "gave up"}
    assert run["duration_ms"] == 100.0
    assert run["failed_step_count"] == 1


def test_explicit_times_in_epoch_milliseconds(api: httpx.Client) -> None:
    start_ms = T2 // MS
    run = create_run(api, started_at=start_ms)
    assert run["started_at"] == "2024-05-01T00:00:00Z"
    step = add_step(api, run["id"], started_at=start_ms + 5)
    assert step["started_at"] == "2024-05-01T00:00:00.005Z"
    step = settled(
        api,
        api.patch(
            f"/v1/runs/{run['id']}/steps/{step['id']}", json={"finished_at": str(start_ms + 7)}
        ),
    )
    assert step["duration_ms"] == 2.0


def test_steps_are_indexed_by_start_time(api: httpx.Client) -> None:
    run = create_run(api, started_at=iso(T2))
    second = add_step(api, run["id"], tool_name="b", started_at=iso(T2 + 20 * MS), index=0)
    first = add_step(api, run["id"], tool_name="a", started_at=iso(T2 + 10 * MS))
    detail = api.get(f"/v1/runs/{run['id']}").json()
    assert [(s["index"], s["id"]) for s in detail["steps"]] == [(0, first["id"]), (1, second["id"])]
    conflicting = api.post(
        f"/v1/runs/{run['id']}/steps",
        json={"tool_name": "c", "index": 0, "started_at": iso(T2 + 30 * MS)},
    )
    assert conflicting.status_code == 409
    assert "step 2" in conflicting.json()["error"]["message"]
    assert add_step(api, run["id"], index=2, started_at=iso(T2 + 30 * MS))["index"] == 2


def test_agent_id_of_a_known_agent_names_it(api: httpx.Client) -> None:
    agent, agent_id = unique("by-id"), unique("agt")
    create_run(api, agent_name=agent, agent_id=agent_id, agent_version="3")
    run = settled(api, api.post("/v1/runs", json={"agent_id": agent_id}))
    assert run["agent"] == {"id": agent_id, "name": agent, "version": None}


def test_finished_runs_and_steps_do_not_change(api: httpx.Client) -> None:
    run = create_run(api)
    step = add_step(api, run["id"])
    step_url = f"/v1/runs/{run['id']}/steps/{step['id']}"
    assert api.patch(step_url, json={}).status_code == 200
    again = api.patch(step_url, json={"output": "late"})
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "conflict"
    assert api.patch(f"/v1/runs/{run['id']}", json={"status": "SUCCESS"}).status_code == 200
    assert api.patch(f"/v1/runs/{run['id']}", json={"status": "FAILED"}).status_code == 409
    assert api.post(f"/v1/runs/{run['id']}/steps", json={"tool_name": "x"}).status_code == 409


def test_otlp_runs_are_read_only(api: httpx.Client, agentguide_server: RunningServer) -> None:
    otlp = AgentRun(unique("otlp"), T2, 100)
    send_runs(agentguide_server.http_url, [otlp])
    wait_derived(agentguide_server.database_url)
    response = api.patch(f"/v1/runs/{otlp.id}", json={"status": "SUCCESS"})
    assert response.status_code == 409
    assert "OTLP" in response.json()["error"]["message"]
    assert api.post(f"/v1/runs/{otlp.id}/steps", json={"tool_name": "x"}).status_code == 409


def test_unknown_ids_are_404(api: httpx.Client) -> None:
    unknown = "cd" * 24
    assert api.patch(f"/v1/runs/{unknown}", json={}).status_code == 404
    assert api.post(f"/v1/runs/{unknown}/steps", json={"tool_name": "x"}).status_code == 404
    run = create_run(api)
    other = create_run(api)
    other_step = add_step(api, other["id"])
    for step_id in (run["id"][:32] + "ab" * 8, other_step["id"], run["id"]):
        response = api.patch(f"/v1/runs/{run['id']}/steps/{step_id}", json={})
        assert response.status_code == 404, step_id
        assert response.json()["error"]["code"] == "not_found"


@pytest.mark.parametrize(
    ("path", "body", "parameter"),
    [
        ("/v1/runs", {}, "agent_name"),
        ("/v1/runs", {"agent_id": "never-seen-agent-id"}, "agent_id"),
        ("/v1/runs", {"agent_name": "a", "started_at": "yesterday"}, "started_at"),
        ("/v1/runs", {"agent_name": "a", "started_at": -5}, "started_at"),
        ("/v1/runs", {"agent_name": "a", "started_at": 1.5}, "started_at"),
        ("/v1/runs", {"agent_name": "a", "colour": "blue"}, "colour"),
        ("/v1/runs", {"agent_name": ""}, "agent_name"),
        ("RUN", {"finished_at": "2024-05-01T00:00:00Z"}, "finished_at"),
        ("RUN", {"status": "SUCCESS", "error": "x"}, "error"),
        ("RUN", {"status": "PENDING"}, "status"),
        ("RUN", {"status": "SUCCESS", "finished_at": "1999-01-01T00:00:00Z"}, "finished_at"),
        ("RUN", {"metrics": {"input_tokens": -1}}, "metrics"),
        ("RUN", {"metrics": {"bad name!": 1}}, "metrics"),
        ("STEPS", {}, "tool_name"),
        ("STEPS", {"tool_name": "t", "index": -1}, "index"),
        ("STEP", {"status": "SUCCESS", "error": "x"}, "error"),
        ("STEP", {"finished_at": "1999-01-01T00:00:00Z"}, "finished_at"),
    ],
)
def test_invalid_bodies_are_422_naming_the_field(
    api: httpx.Client, path: str, body: dict[str, Any], parameter: str
) -> None:
    run = create_run(api, started_at=iso(T2))
    step = add_step(api, run["id"], started_at=iso(T2))
    url = {
        "RUN": f"/v1/runs/{run['id']}",
        "STEPS": f"/v1/runs/{run['id']}/steps",
        "STEP": f"/v1/runs/{run['id']}/steps/{step['id']}",
    }.get(path, path)
    method = api.patch if path in ("RUN", "STEP") else api.post
    response = method(url, json=body)
    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "invalid_parameter"
    assert parameter in response.json()["error"]["parameters"][0]


def test_unpaired_surrogates_are_refused(api: httpx.Client) -> None:
    body = b'{"agent_name": "a", "input": {"text": "\\ud800"}}'
    response = api.post("/v1/runs", content=body, headers={"content-type": "application/json"})
    assert response.status_code == 422
    assert response.json()["error"]["parameters"] == ["input"]


def test_unicode_survives(api: httpx.Client) -> None:
    run = create_run(api, agent_name=unique("ünï-代理"), input="naïve text 🚀 \u200b")
    assert run["input"] == "naïve text 🚀 \u200b"
    (listed,) = api.get("/v1/runs", params={"agent": run["agent"]["name"]}).json()["items"]
    assert listed == {key: run[key] for key in listed}


@pytest.mark.parametrize(
    ("body", "parameter"),
    [
        ({"agent_name": "a\x00b"}, "agent_name"),
        ({"agent_name": "a", "input": {"k": ["x\x00"]}}, "input"),
        ({"agent_name": "a", "input": {"k\x00": 1}}, "input"),
    ],
)
def test_nul_is_refused(api: httpx.Client, body: dict[str, Any], parameter: str) -> None:
    """PostgreSQL text cannot hold NUL, so the mapped copy of such a span could not be stored."""
    response = api.post("/v1/runs", json=body)
    assert response.status_code == 422
    assert response.json()["error"]["parameters"] == [parameter]


def test_the_raw_trace_of_a_rest_run(api: httpx.Client) -> None:
    run = create_run(api, input="raw")
    document = api.get(f"/v1/traces/{run['trace_id']}").json()
    (resource_spans,) = document["resourceSpans"]
    (scope_spans,) = resource_spans["scopeSpans"]
    assert scope_spans["scope"]["name"] == "agentguide.rest"
    (span,) = scope_spans["spans"]
    attributes = {a["key"]: a["value"] for a in span["attributes"]}
    assert attributes["gen_ai.operation.name"] == {"stringValue": "invoke_agent"}
    assert attributes["input.value"] == {"stringValue": "raw"}


# -- REST runs and OTLP runs read back alike --------------------------------------------------

_ID_KEYS = {"id", "trace_id", "span_id", "run_id", "parent_run_id", "parent_step_id",
            "child_run_id"}  # fmt: skip


def normalized(value: Any, names: tuple[str, ...]) -> Any:
    """The answer with ids blanked and agent names replaced, so two agents' runs compare."""
    if isinstance(value, dict):
        return {
            key: ("<id>" if key in _ID_KEYS and item is not None else normalized(item, names))
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [normalized(item, names) for item in value]
    if isinstance(value, str):
        for name in names:
            value = value.replace(name, "<agent>")
    return value


@pytest.fixture(scope="module")
def twins(agentguide_server: RunningServer) -> tuple[str, str]:
    """The same run twice: through the REST ingest, and as OTLP spans an instrumented agent
    would send. Returns (REST agent, OTLP agent)."""
    rest_agent, otlp_agent, tool = unique("twin-rest"), unique("twin-otlp"), unique("lookup")
    with httpx.Client(base_url=agentguide_server.http_url, timeout=30) as api:
        run = create_run(api, agent_name=rest_agent, input="question", session_id="twin-s",
                         user_id="twin-u", service_name="twin-svc", started_at=iso(T2))  # fmt: skip
        ok = add_step(api, run["id"], tool_name=tool, input={"q": 1}, started_at=iso(T2 + 10 * MS))
        api.patch(f"/v1/runs/{run['id']}/steps/{ok['id']}",
                  json={"output": "found", "finished_at": iso(T2 + 110 * MS)})  # fmt: skip
        bad = add_step(api, run["id"], tool_name=tool, input={"q": 2},
                       started_at=iso(T2 + 200 * MS))  # fmt: skip
        api.patch(f"/v1/runs/{run['id']}/steps/{bad['id']}",
                  json={"error": {"type": "KeyError", "message": "missing"},
                        "finished_at": iso(T2 + 250 * MS)})  # fmt: skip
        finished = api.patch(
            f"/v1/runs/{run['id']}",
            json={"status": "SUCCESS", "output": "answer", "finished_at": iso(T2 + 1000 * MS),
                  "metrics": {"input_tokens": 12, "output_tokens": 3}},
        )  # fmt: skip
        assert finished.status_code == 200, finished.text

    trace, root = random_trace_id(), random_span_id()
    spans = [
        make_span(trace, f"invoke_agent {otlp_agent}", span_id=root, start_ns=T2,
                  duration_ns=1000 * MS,
                  attributes={"gen_ai.operation.name": "invoke_agent",
                              "gen_ai.agent.name": otlp_agent, "input.value": "question",
                              "output.value": "answer", "session.id": "twin-s",
                              "user.id": "twin-u", "gen_ai.usage.input_tokens": 12,
                              "gen_ai.usage.output_tokens": 3}),
        make_span(trace, f"execute_tool {tool}", parent_span_id=root, start_ns=T2 + 10 * MS,
                  duration_ns=100 * MS,
                  attributes={"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": tool,
                              "gen_ai.tool.call.arguments": '{"q":1}',
                              "gen_ai.tool.call.result": "found"}),
        make_span(trace, f"execute_tool {tool}", parent_span_id=root, start_ns=T2 + 200 * MS,
                  duration_ns=50 * MS,
                  attributes={"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": tool,
                              "gen_ai.tool.call.arguments": '{"q":2}'}),
    ]  # fmt: skip
    fail(spans[2], "KeyError", "missing")
    send(agentguide_server.http_url, spans, service_name="twin-svc")
    wait_derived(agentguide_server.database_url)
    return rest_agent, otlp_agent


ENDPOINTS = [
    ("/v1/runs", {}),
    ("/v1/tools", {}),
    ("/v1/metrics/summary", {}),
    ("/v1/metrics/timeseries", {"bucket": "1m", "since": iso(T2), "until": iso(T2 + 120 * 10**9)}),
]


@pytest.mark.parametrize(("path", "params"), ENDPOINTS)
def test_rest_and_otlp_runs_read_alike(
    api: httpx.Client, twins: tuple[str, str], path: str, params: dict[str, str]
) -> None:
    rest, otlp = (api.get(path, params={**params, "agent": agent}).json() for agent in twins)
    assert normalized(rest, twins) == normalized(otlp, twins)
    if path == "/v1/runs":
        assert len(rest["items"]) == 1


def test_rest_and_otlp_run_details_read_alike(api: httpx.Client, twins: tuple[str, str]) -> None:
    rest, otlp = (
        api.get(f"/v1/runs/{api.get('/v1/runs', params={'agent': a}).json()['items'][0]['id']}")
        for a in twins
    )
    rest_detail, otlp_detail = rest.json(), otlp.json()
    assert len(rest_detail["steps"]) == 2
    assert rest_detail["steps"][1]["artifacts"][0]["type"] == "exception"
    assert normalized(rest_detail, twins) == normalized(otlp_detail, twins)


def test_rest_and_otlp_agents_read_alike(api: httpx.Client, twins: tuple[str, str]) -> None:
    agents = {a["name"]: a for a in api.get("/v1/agents").json()["items"]}
    rest, otlp = (agents[name] for name in twins)
    assert normalized(rest, twins) == normalized(otlp, twins)
    assert rest["run_count"] == 1
