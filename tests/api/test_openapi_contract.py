"""Schemathesis against the live server's /openapi.json: generated requests to every documented
operation get no server error, a documented status and content type, and a body that matches
its schema. A bounded number of examples per operation, derandomized, so it is repeatable.

POST /v1/simulate is left out: it generates and stores up to thousands of runs per call, which
does not fit a bounded contract run (its own tests cover it).
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from tests.api.builders import T0, AgentRun, Llm, Tool, send_runs
from tests.support import PostgresServer, RunningServer, running_server, wait_derived

EXAMPLES_PER_OPERATION = 40
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@pytest.fixture(scope="module")
def contract_server(postgres: PostgresServer) -> Iterator[tuple[RunningServer, dict[str, str]]]:
    """A server of its own with OTLP and REST runs, so answers have items to check; and the
    ids of real runs and steps for the operations that take them."""
    database_url = postgres.create_database()
    with running_server(database_url) as server:
        failure = ("ValueError", "bad")
        otlp = AgentRun("contract", T0, 1500, tools=[Tool("t", 1, 5), Tool("u", 10, 5, failure)],
                        llms=[Llm("m", 20, 5, 3, 4)], session_id="s", user_id="u")  # fmt: skip
        send_runs(server.http_url, [otlp, AgentRun("contract", T0 + 10**9, 200, error=failure)])
        with httpx.Client(base_url=server.http_url) as client:
            run = client.post("/v1/runs", json={"agent_name": "contract-rest", "input": "x"})
            step = client.post(f"/v1/runs/{run.json()['id']}/steps", json={"tool_name": "t"})
            assert step.status_code == 201, step.text
        wait_derived(database_url)
        yield (
            server,
            {
                "otlp_run_id": otlp.id,
                "trace_id": otlp.trace_id.hex(),
                "rest_run_id": run.json()["id"],
                "step_id": step.json()["id"],
            },
        )


def _known_ids(path: str, method: str, ids: dict[str, str]) -> dict[str, str]:
    """Real ids for the operation's path parameters (REST runs where the run is written)."""
    known = {
        "run_id": ids["rest_run_id"] if method != "GET" else ids["otlp_run_id"],
        "step_id": ids["step_id"],
        "trace_id": ids["trace_id"],
    }
    return {name: value for name, value in known.items() if "{" + name + "}" in path}


def test_openapi_contract(contract_server: tuple[RunningServer, dict[str, str]]) -> None:
    """Each operation in turn, with generated path parameters and again with real ids; every
    failure is collected, so one run reports them all. (Schemathesis' pytest plugin does not
    support pytest 9 yet, so its Python API drives Hypothesis directly.)"""
    server, ids = contract_server
    api_schema = schemathesis.openapi.from_url(server.http_url + "/openapi.json")
    failures: list[str] = []
    operations = 0
    for result in api_schema.exclude(path="/v1/simulate").get_all_operations():
        operation = result.ok()
        operations += 1
        known = _known_ids(operation.path, operation.method.upper(), ids)
        strategies = [operation.as_strategy()]
        if known:
            strategies.append(operation.as_strategy(path_parameters=known))
        for strategy in strategies:

            @given(case=strategy)
            @settings(
                max_examples=EXAMPLES_PER_OPERATION,
                deadline=None,
                derandomize=True,
                database=None,
                suppress_health_check=list(HealthCheck),
            )
            def check(case: schemathesis.Case) -> None:
                case.call_and_validate(checks=CHECKS)

            try:
                check()
            except Exception as exc:
                failures.append(f"{operation.label}:\n{exc}")
    assert operations >= 10
    assert not failures, "\n\n".join(failures)
