"""GET /v1/runs/{run_id}: a run with its ordered steps, artifacts, metrics and child runs."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.api.builders import MS, T0, fail, send, unique
from tests.otlp_helpers import make_span, random_span_id, random_trace_id
from tests.support import RunningServer, wait_derived


@pytest.fixture(scope="module")
def nested(agentguide_server: RunningServer) -> dict[str, Any]:
    """A planner run: an LLM call, a failing tool, then a tool that delegates to a sub-agent
    which calls a tool of its own."""
    planner, helper, lookup, delegate = (
        unique("planner"),
        unique("helper"),
        unique("lookup"),
        unique("ask"),
    )
    trace = random_trace_id()
    root, llm, failing, delegating, child, child_tool = (random_span_id() for _ in range(6))
    spans = [
        make_span(trace, f"invoke_agent {planner}", span_id=root, start_ns=T0,
                  duration_ns=1000 * MS,
                  attributes={"gen_ai.operation.name": "invoke_agent",
                              "gen_ai.agent.name": planner, "gen_ai.agent.id": "agt-1",
                              "gen_ai.agent.version": "2.1", "input.value": "plan a trip"}),
        make_span(trace, "chat m1", span_id=llm, parent_span_id=root, start_ns=T0 + 10 * MS,
                  duration_ns=100 * MS,
                  attributes={"gen_ai.operation.name": "chat", "gen_ai.request.model": "m1",
                              "gen_ai.usage.input_tokens": 40, "gen_ai.usage.output_tokens": 2}),
        make_span(trace, f"execute_tool {lookup}", span_id=failing, parent_span_id=root,
                  start_ns=T0 + 200 * MS, duration_ns=50 * MS,
                  attributes={"gen_ai.operation.name": "execute_tool",
                              "gen_ai.tool.name": lookup,
                              "gen_ai.tool.call.arguments": '{"city": "Oslo"}'}),
        make_span(trace, f"execute_tool {delegate}", span_id=delegating, parent_span_id=root,
                  start_ns=T0 + 300 * MS, duration_ns=600 * MS,
                  attributes={"gen_ai.operation.name": "execute_tool",
                              "gen_ai.tool.name": delegate}),
        make_span(trace, f"invoke_agent {helper}", span_id=child, parent_span_id=delegating,
                  start_ns=T0 + 310 * MS, duration_ns=500 * MS,
                  attributes={"gen_ai.operation.name": "invoke_agent",
                              "gen_ai.agent.name": helper}),
        make_span(trace, f"execute_tool {lookup}", span_id=child_tool, parent_span_id=child,
                  start_ns=T0 + 320 * MS, duration_ns=20 * MS,
                  attributes={"gen_ai.operation.name": "execute_tool",
                              "gen_ai.tool.name": lookup}),
    ]  # fmt: skip
    fail(spans[2], "KeyError", "no such city")
    send(agentguide_server.http_url, spans)
    wait_derived(agentguide_server.database_url)
    hexes = {
        name: trace.hex() + span.hex()
        for name, span in [
            ("root", root), ("llm", llm), ("failing", failing), ("delegating", delegating),
            ("child", child), ("child_tool", child_tool),
        ]
    }  # fmt: skip
    return {"ids": hexes, "planner": planner, "helper": helper, "lookup": lookup,
            "delegate": delegate, "trace": trace.hex()}  # fmt: skip


def test_steps_are_ordered_with_their_kinds(api: httpx.Client, nested: dict[str, Any]) -> None:
    ids = nested["ids"]
    run = api.get(f"/v1/runs/{ids['root']}").json()
    assert run["agent"] == {"id": "agt-1", "name": nested["planner"], "version": "2.1"}
    steps = run["steps"]
    assert [(s["index"], s["kind"], s["name"], s["id"]) for s in steps] == [
        (0, "llm", "m1", ids["llm"]),
        (1, "tool", nested["lookup"], ids["failing"]),
        (2, "tool", nested["delegate"], ids["delegating"]),
        (3, "agent", f"invoke_agent {nested['helper']}", ids["child"]),
    ]
    llm, failing, delegating, child = steps
    assert llm["model"] == "m1"
    assert (llm["input_tokens"], llm["output_tokens"], llm["total_tokens"]) == (40, 2, 42)
    assert llm["started_at"] == "2024-03-01T00:00:00.010Z"
    assert llm["finished_at"] == "2024-03-01T00:00:00.110Z"
    assert llm["duration_ms"] == 100.0
    assert failing["status"] == "FAILED"
    assert failing["tool_name"] == nested["lookup"]
    assert failing["input"] == '{"city": "Oslo"}'
    assert failing["error"] == {"type": "KeyError", "message": "no such city"}
    assert child["parent_step_id"] == delegating["id"]
    assert child["child_run_id"] == ids["child"]
    for step in steps:
        assert step["run_id"] == ids["root"]
        assert step["span_id"] == step["id"][32:]


def test_a_failed_step_carries_its_exception_artifact(
    api: httpx.Client, nested: dict[str, Any]
) -> None:
    steps = api.get(f"/v1/runs/{nested['ids']['root']}").json()["steps"]
    (artifact,) = steps[1]["artifacts"]
    assert artifact["type"] == "exception"
    assert "no such city" in artifact["content"]
    assert artifact["time"] == "2024-03-01T00:00:00.250Z"
    assert artifact["span_id"] == nested["ids"]["failing"][32:]
    assert all(step["artifacts"] == [] for step in steps if step is not steps[1])


def test_metrics_and_child_runs(api: httpx.Client, nested: dict[str, Any]) -> None:
    ids = nested["ids"]
    run = api.get(f"/v1/runs/{ids['root']}").json()
    metrics = {(m["name"], tuple(sorted(m["tags"].items()))): m["value"] for m in run["metrics"]}
    assert metrics[("duration_ms", ())] == 1000.0
    assert metrics[("tool_call_count", ())] == 2
    assert metrics[("input_tokens", ())] == 40
    assert metrics[("tool_failures", (("tool", nested["lookup"]),))] == 1
    (child,) = run["child_runs"]
    assert child["id"] == ids["child"]
    assert child["parent_run_id"] == ids["root"]
    assert child["agent"]["name"] == nested["helper"]
    assert child["tool_call_count"] == 1


def test_the_child_run_is_a_run_of_its_own(api: httpx.Client, nested: dict[str, Any]) -> None:
    ids = nested["ids"]
    child = api.get(f"/v1/runs/{ids['child']}").json()
    assert child["parent_run_id"] == ids["root"]
    assert [s["id"] for s in child["steps"]] == [ids["child_tool"]]
    assert child["child_runs"] == []
    listed = api.get("/v1/runs", params={"trace_id": nested["trace"]}).json()["items"]
    assert [run["id"] for run in listed] == [ids["child"], ids["root"]]


def test_ids_are_case_insensitive(api: httpx.Client, nested: dict[str, Any]) -> None:
    run_id = nested["ids"]["root"]
    assert api.get(f"/v1/runs/{run_id.upper()}").json()["id"] == run_id


def test_unknown_run_is_404(api: httpx.Client) -> None:
    response = api.get(f"/v1/runs/{'ab' * 24}")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


@pytest.mark.parametrize("bad", ["xyz", "ab" * 23, "ab" * 25, "zz" * 24])
def test_malformed_run_id_is_422_naming_it(api: httpx.Client, bad: str) -> None:
    response = api.get(f"/v1/runs/{bad}")
    assert response.status_code == 422
    assert response.json()["error"]["parameters"] == ["run_id"]
