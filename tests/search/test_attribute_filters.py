"""GET /v1/runs?attr.<key>=...: equality, existence and numeric comparison over the span,
resource and scope attributes of a run's agent span and its steps, against real OTLP."""

from __future__ import annotations

from dataclasses import dataclass

import httpx
import pytest

from tests.api.builders import HOUR_NS, T0, AgentRun, Tool, unique
from tests.otlp_helpers import attr, make_request, post_protobuf
from tests.support import RunningServer, wait_derived


@dataclass
class Data:
    agent: str
    tenant: str
    runs: list[AgentRun]


@pytest.fixture(scope="module")
def data(agentguide_server: RunningServer) -> Data:
    agent, tenant = unique("attr-agent"), unique("tenant")
    runs = [
        AgentRun(agent, T0 + i * HOUR_NS, 1000, tools=[Tool(unique("tool"), 10, 20)])
        for i in range(4)
    ]
    # run 0: tier=gold on its agent span, retries=3 (int); run 1: tier=silver, retries=7.5
    # on a tool step; run 2: a nested kvlist and an array; run 3: nothing of its own.
    extra = {
        0: ({"app.tier": "gold", "app.retries": 3, "app.flag": True}, {}),
        1: ({"app.tier": "silver"}, {"app.retries": 7.5, "app.region": "eu-1"}),
        2: ({"app.meta": {"team": "search", "level": 2}, "app.labels": ["x", "y"]}, {}),
        3: ({}, {}),
    }
    spans = []
    for i, run in enumerate(runs):
        built = run.spans()
        agent_attrs, tool_attrs = extra[i]
        built[0].attributes.extend(attr(k, v) for k, v in agent_attrs.items())
        built[1].attributes.extend(attr(k, v) for k, v in tool_attrs.items())
        spans += built
    request = make_request(spans, scope_name="search-tests")
    request.resource_spans[0].resource.attributes.append(attr("deployment.tenant", tenant))
    request.resource_spans[0].scope_spans[0].scope.version = "9.9.9"
    response = post_protobuf(agentguide_server.http_url, request)
    assert response.status_code == 200, response.text
    wait_derived(agentguide_server.database_url)
    return Data(agent, tenant, runs)


def found(api: httpx.Client, data: Data, **params: str) -> set[int]:
    response = api.get("/v1/runs", params={"agent": data.agent, **params})
    assert response.status_code == 200, response.text
    ids = [item["id"] for item in response.json()["items"]]
    return {i for i, run in enumerate(data.runs) if run.id in ids}


def test_equality_on_the_agent_span(api: httpx.Client, data: Data) -> None:
    assert found(api, data, **{"attr.app.tier": "gold"}) == {0}
    assert found(api, data, **{"attr.app.tier": "bronze"}) == set()


def test_equality_on_a_step_span(api: httpx.Client, data: Data) -> None:
    assert found(api, data, **{"attr.app.region": "eu-1"}) == {1}


def test_resource_and_scope_attributes(api: httpx.Client, data: Data) -> None:
    assert found(api, data, **{"attr.deployment.tenant": data.tenant}) == {0, 1, 2, 3}
    assert found(api, data, **{"attr.otel.scope.name": "search-tests"}) == {0, 1, 2, 3}
    assert found(api, data, **{"attr.otel.scope.version": "9.9.9"}) == {0, 1, 2, 3}
    # the tenant alone finds exactly this module's runs, whatever the agent
    response = api.get("/v1/runs", params={"attr.deployment.tenant": data.tenant})
    assert {item["id"] for item in response.json()["items"]} == {run.id for run in data.runs}


def test_numbers_and_booleans_match_their_text(api: httpx.Client, data: Data) -> None:
    assert found(api, data, **{"attr.app.retries": "3"}) == {0}
    assert found(api, data, **{"attr.app.retries": "3.0"}) == {0}
    assert found(api, data, **{"attr.app.retries": "7.5"}) == {1}
    assert found(api, data, **{"attr.app.flag": "true"}) == {0}
    assert found(api, data, **{"attr.app.flag": "false"}) == set()


def test_exists(api: httpx.Client, data: Data) -> None:
    assert found(api, data, **{"attr.app.retries": "*"}) == {0, 1}
    assert found(api, data, **{"attr.app.tier": "*"}) == {0, 1}
    assert found(api, data, **{"attr.nothing.here": "*"}) == set()


def test_numeric_comparisons(api: httpx.Client, data: Data) -> None:
    assert found(api, data, **{"attr.app.retries": "gt:3"}) == {1}
    assert found(api, data, **{"attr.app.retries": "gte:3"}) == {0, 1}
    assert found(api, data, **{"attr.app.retries": "lt:7.5"}) == {0}
    assert found(api, data, **{"attr.app.retries": "lte:7.5"}) == {0, 1}
    assert found(api, data, **{"attr.app.retries": "gt:-1e3"}) == {0, 1}
    # a string value never compares as a number
    assert found(api, data, **{"attr.app.tier": "gt:0"}) == set()


def test_nested_values_are_flattened(api: httpx.Client, data: Data) -> None:
    assert found(api, data, **{"attr.app.meta.team": "search"}) == {2}
    assert found(api, data, **{"attr.app.meta.level": "gte:2"}) == {2}
    assert found(api, data, **{"attr.app.labels": "y"}) == {2}


def test_conditions_combine_with_and(api: httpx.Client, data: Data) -> None:
    params = [("agent", data.agent), ("attr.app.retries", "*"), ("attr.app.tier", "silver")]
    response = api.get("/v1/runs", params=params)
    assert [item["id"] for item in response.json()["items"]] == [data.runs[1].id]
    params = [("agent", data.agent), ("attr.app.tier", "gold"), ("attr.app.tier", "silver")]
    assert api.get("/v1/runs", params=params).json()["items"] == []


def test_with_other_filters_and_orders(api: httpx.Client, data: Data) -> None:
    tool = data.runs[1].tools[0].name
    assert found(api, data, tool=tool, **{"attr.app.retries": "*"}) == {1}
    assert found(api, data, sort="cost", **{"attr.app.retries": "*"}) == {0, 1}


def test_literal_equality_with_eq(api: httpx.Client, data: Data) -> None:
    assert found(api, data, **{"attr.app.tier": "eq:gold"}) == {0}
    assert found(api, data, **{"attr.app.tier": "eq:*"}) == set()


@pytest.mark.parametrize(
    ("name", "value", "says"),
    [
        ("attr.app.retries", "gt:many", "finite number"),
        ("attr.app.retries", "lte:nan", "finite number"),
        ("attr.app.retries", "gte:", "finite number"),
        ("attr.app.tier", "", "needs a value"),
        ("attr.", "x", "needs a key"),
        ("attr.app.tier", "x" * 300, "not indexed"),
    ],
)
def test_bad_conditions_are_rejected_naming_the_parameter(
    api: httpx.Client, name: str, value: str, says: str
) -> None:
    response = api.get("/v1/runs", params={name: value})
    assert response.status_code == 422, response.text
    body = response.text
    assert name in body and says in body


def test_too_many_conditions(api: httpx.Client) -> None:
    params = [(f"attr.k{i}", "v") for i in range(11)]
    response = api.get("/v1/runs", params=params)
    assert response.status_code == 422
    assert "at most 10" in response.text
