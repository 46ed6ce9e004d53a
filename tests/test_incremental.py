"""Derivation work grows with what changed, not with the trace: a trace arriving in many
requests maps each span about once and writes each row about once, and so does a REST run
growing one step at a time. Counted with the derivers' own metrics, not timed."""

from __future__ import annotations

import httpx

from tests.otlp_helpers import make_request, make_span, post_protobuf, random_trace_id
from tests.security.helpers import sample, scrape
from tests.support import RunningServer, running_server, wait_derived

START = 1_790_000_000_000_000_000


def _work(server: RunningServer) -> tuple[float, float]:
    samples = scrape(server.http_url)
    return (
        sample(samples, "agentguide_derive_spans_mapped_total"),
        sample(samples, "agentguide_derive_rows_written_total"),
    )


def test_a_long_trace_in_200_requests_maps_each_span_about_once(fresh_database_url: str) -> None:
    trace_id = random_trace_id()
    agent = make_span(
        trace_id,
        "invoke_agent long",
        attributes={"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "long"},
        start_ns=START,
        duration_ns=3_600 * 10**9,
    )
    steps = [
        make_span(
            trace_id,
            "execute_tool t",
            parent_span_id=agent.span_id,
            attributes={"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "t"},
            start_ns=START + i * 10**6,
            duration_ns=10**5,
        )
        for i in range(19_999)
    ]
    spans = [*steps, agent]  # children end first: the agent span arrives last
    with running_server(fresh_database_url) as server:
        for position in range(0, len(spans), 100):
            response = post_protobuf(
                server.http_url, make_request(spans[position : position + 100])
            )
            assert response.status_code == 200
        wait_derived(fresh_database_url, timeout=120)
        mapped, written = _work(server)
        run = httpx.get(server.http_url + "/v1/runs", params={"trace_id": trace_id.hex()}).json()
    (only,) = run["items"]
    assert (only["agent"]["name"], only["step_count"]) == ("long", 19_999)
    # Each span is mapped once (a cached span is not mapped again) ...
    assert mapped <= 1.1 * len(spans), mapped
    # ... and each row written about once: 20,000 step rows, and the run row once per pass.
    assert written <= 1.5 * len(spans), (written, mapped)


def test_a_rest_run_grows_one_step_at_a_time_with_linear_work(fresh_database_url: str) -> None:
    with (
        running_server(fresh_database_url) as server,
        httpx.Client(base_url=server.http_url, timeout=30) as api,
    ):
        run = api.post("/v1/runs", json={"agent_name": "stepper"}).json()
        for n in range(300):
            step = api.post(f"/v1/runs/{run['id']}/steps", json={"tool_name": f"t{n % 3}"})
            assert step.status_code == 201
            done = api.patch(f"/v1/runs/{run['id']}/steps/{step.json()['id']}", json={})
            assert done.status_code == 200
        api.patch(f"/v1/runs/{run['id']}", json={"status": "SUCCESS"})
        wait_derived(fresh_database_url, timeout=120)
        mapped, written = _work(server)
        detail = api.get(f"/v1/runs/{run['id']}").json()
    assert (detail["status"], detail["step_count"]) == ("SUCCESS", 300)
    # 301 spans, each written at most 3 times (created, finished; the run span 302 times):
    # mapped spans stay linear in the writes, whatever the number of derivations.
    assert mapped <= 2 * 300 + 302 + 10, mapped
    assert written <= 4 * 300 + 302 + 10, written
