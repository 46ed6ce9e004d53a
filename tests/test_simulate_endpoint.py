"""POST /v1/simulate against a running server: what it answers is what the API then serves,
at once; its bounds and its one-at-a-time rule hold."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.support import RunningServer

# Seeds no other test uses: a seed fixes trace ids, and the session database is shared.
SEED = 5_310_001


@pytest.fixture(scope="module")
def client(agentguide_server: RunningServer) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=agentguide_server.http_url, timeout=120) as http:
        yield http


def simulate(client: httpx.Client, body: Any = None, **kwargs: Any) -> httpx.Response:
    if body is not None:
        kwargs["json"] = body
    return client.post("/v1/simulate", **kwargs)


def runs_of(client: httpx.Client, trace_ids: list[str]) -> list[dict[str, Any]]:
    runs = []
    for trace_id in trace_ids:
        response = client.get("/v1/runs", params={"trace_id": trace_id, "limit": 100})
        assert response.status_code == 200, response.text
        page = response.json()
        assert page["next_cursor"] is None
        runs.extend(page["items"])
    return runs


def spans_of(client: httpx.Client, trace_id: str) -> list[dict[str, Any]]:
    response = client.get(f"/v1/traces/{trace_id}")
    assert response.status_code == 200, response.text
    return [
        span
        for resource_spans in response.json()["resourceSpans"]
        for scope_spans in resource_spans["scopeSpans"]
        for span in scope_spans["spans"]
    ]


def attribute(span: dict[str, Any], key: str) -> Any:
    for item in span.get("attributes", []):
        if item["key"] == key:
            return next(iter(item["value"].values()))
    return None


def test_the_answer_is_what_the_api_serves_right_away(client: httpx.Client) -> None:
    response = simulate(client, {"runs": 12, "error_rate": 0.4, "seed": SEED})

    assert response.status_code == 201, response.text
    answer = response.json()
    assert answer["seed"] == SEED
    assert len(answer["trace_ids"]) == len(set(answer["trace_ids"])) == 12
    assert answer["top_level_runs"] == 12
    assert answer["runs"] == answer["top_level_runs"] + answer["nested_runs"]
    assert answer["failed_runs"] > 0 and answer["failures_by_tool"]

    # No waiting: the runs are derived before the answer.
    runs = runs_of(client, answer["trace_ids"])
    assert len(runs) == answer["runs"]
    assert sum(run["parent_run_id"] is None for run in runs) == answer["top_level_runs"]
    statuses = Counter(run["status"] for run in runs)
    assert statuses == {
        "FAILED": answer["failed_runs"],
        "SUCCESS": answer["runs"] - answer["failed_runs"],
    }

    spans = [span for trace_id in answer["trace_ids"] for span in spans_of(client, trace_id)]
    assert len(spans) == answer["spans"]
    failed_tools = Counter(
        attribute(span, "gen_ai.tool.name")
        for span in spans
        if attribute(span, "gen_ai.operation.name") == "execute_tool"
        and span.get("status", {}).get("code") == 2
    )
    assert dict(failed_tools) == answer["failures_by_tool"]


def test_a_seed_repeats_its_traces_and_stores_them_once(client: httpx.Client) -> None:
    body = {"runs": 3, "error_rate": 0.2, "seed": SEED + 1}
    first = simulate(client, body).json()
    second = simulate(client, body).json()

    assert second["trace_ids"] == first["trace_ids"]
    assert second == first
    assert len(runs_of(client, first["trace_ids"])) == first["runs"]


def test_no_body_means_the_defaults(client: httpx.Client) -> None:
    response = simulate(client)

    assert response.status_code == 201, response.text
    answer = response.json()
    assert answer["top_level_runs"] == len(answer["trace_ids"]) == 20
    agents = {run["agent"]["name"] for run in runs_of(client, answer["trace_ids"])}
    assert agents <= {"weather-agent", "research-agent", "billing-agent"}


@pytest.mark.parametrize(
    ("agents", "expected"),
    [
        (["travel-agent"], {"travel-agent"}),
        (["travel-agent", "my.own_agent-1"], {"travel-agent", "my.own_agent-1"}),
        (5, {"weather-agent", "research-agent", "billing-agent", "support-agent", "travel-agent"}),
    ],
)
def test_agents_by_name_or_number(client: httpx.Client, agents: Any, expected: set[str]) -> None:
    seed = SEED + 10 + (agents if isinstance(agents, int) else len(agents))
    answer = simulate(client, {"runs": 30, "agents": agents, "seed": seed}).json()

    names = {run["agent"]["name"] for run in runs_of(client, answer["trace_ids"])}
    assert names <= expected
    assert len(names) > len(expected) / 2
    if len(expected) == 1:
        assert answer["nested_runs"] == 0  # a single agent has nobody to delegate to


@pytest.mark.parametrize(
    ("body", "parameter"),
    [
        ({"runs": 0}, "runs"),
        ({"runs": 201}, "runs"),
        ({"runs": -5}, "runs"),
        ({"runs": "20"}, "runs"),
        ({"runs": True}, "runs"),
        ({"runs": 2.5}, "runs"),
        ({"error_rate": 1.01}, "error_rate"),
        ({"error_rate": -0.1}, "error_rate"),
        ({"error_rate": "high"}, "error_rate"),
        ({"seed": -1}, "seed"),
        ({"seed": 2**64}, "seed"),
        ({"agents": 0}, "agents"),
        ({"agents": 21}, "agents"),
        ({"agents": []}, "agents"),
        ({"agents": ["a"] * 21}, "agents"),
        ({"agents": [""]}, "agents"),
        ({"agents": ["no spaces"]}, "agents"),
        ({"agents": "weather-agent"}, "agents"),
        ({"runs": 5, "anchor_time": 0}, "anchor_time"),
    ],
)
def test_out_of_bounds_parameters_are_refused_by_name(
    client: httpx.Client, body: dict[str, Any], parameter: str
) -> None:
    response = simulate(client, body)

    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "invalid_parameter"
    assert [name.split(".")[0] for name in error["parameters"]] == [parameter]
    assert parameter in error["message"]


@pytest.mark.parametrize(
    ("content", "content_type"),
    [
        (b'{"runs": 5', "application/json"),
        (b"{runs: 5}", "application/json"),
        (b"[1, 2]", "application/json"),
        (b'"runs"', "application/json"),
        (b"runs=5", "application/x-www-form-urlencoded"),
    ],
)
def test_a_body_that_is_not_a_json_object_is_refused(
    client: httpx.Client, content: bytes, content_type: str
) -> None:
    response = client.post("/v1/simulate", content=content, headers={"Content-Type": content_type})

    assert response.status_code == 422, response.text
    assert response.json()["error"]["code"] == "invalid_parameter"


def burst(base_url: str, calls: int, body: dict[str, Any]) -> list[httpx.Response]:
    """``calls`` simultaneous POSTs, each from its own client and thread."""
    barrier = threading.Barrier(calls)
    responses: list[httpx.Response] = []

    def call() -> None:
        with httpx.Client(base_url=base_url, timeout=120) as own:
            barrier.wait()
            responses.append(simulate(own, body))

    threads = [threading.Thread(target=call) for _ in range(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return responses


def test_only_one_simulation_runs_at_a_time(client: httpx.Client) -> None:
    # Four calls of the largest size at once: while one runs, the others are turned away.
    # (If the machine served them one after the other anyway, try again.)
    for _attempt in range(3):
        responses = burst(str(client.base_url), 4, {"runs": 200})
        statuses = Counter(response.status_code for response in responses)
        assert set(statuses) <= {201, 429}, [r.text for r in responses]
        if statuses[429]:
            break

    assert statuses[201] >= 1 and statuses[429] >= 1
    busy = next(response for response in responses if response.status_code == 429)
    assert int(busy.headers["Retry-After"]) > 0
    assert busy.json()["error"]["code"] == "rate_limited"
    # Nothing stays locked once they are done.
    assert simulate(client, {"runs": 1}).status_code == 201


def test_openapi_documents_the_endpoint(client: httpx.Client) -> None:
    document = client.get("/openapi.json").json()
    operation = document["paths"]["/v1/simulate"]["post"]
    schemas = document["components"]["schemas"]

    assert {"201", "422", "429"} <= set(operation["responses"])
    answer_ref = operation["responses"]["201"]["content"]["application/json"]["schema"]["$ref"]
    assert set(schemas[answer_ref.rsplit("/", 1)[1]]["properties"]) >= {
        "trace_ids",
        "runs",
        "failed_runs",
        "spans",
        "failures_by_tool",
    }
    request_schema = schemas["SimulateRequest"]["properties"]
    assert request_schema["runs"]["maximum"] == 200 and request_schema["runs"]["minimum"] == 1
    assert request_schema["error_rate"]["maximum"] == 1
    assert set(request_schema) == {"runs", "error_rate", "seed", "agents"}
