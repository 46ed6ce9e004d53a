"""Schemathesis against the live server's /openapi.json: generated requests to every documented
operation get no server error, a documented status and content type, and a body that matches
its schema. A bounded number of examples per operation, derandomized, so it is repeatable.

POST /v1/simulate is left out: it generates and stores up to thousands of runs per call, which
does not fit a bounded contract run (its own tests cover it). So is POST /v1/admin/alerts: a
generated rule would POST webhooks to whatever host was generated (tests/triage covers it).
GET /v1/runs/{run_id}/similar may answer its documented 501 (similar runs off here).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

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
# Routes of optional features that answer a documented 501 where the feature is off.
OPTIONAL_FEATURES = frozenset({"/v1/runs/{run_id}/similar"})
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


def _checked_cases(strategy: Any, checks: list[Any]) -> Any:
    """A Hypothesis test that calls the operation with generated cases and runs ``checks``."""

    @given(case=strategy)
    @settings(
        max_examples=EXAMPLES_PER_OPERATION,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    def check(case: schemathesis.Case) -> None:
        case.call_and_validate(checks=checks)

    return check


def test_openapi_contract(contract_server: tuple[RunningServer, dict[str, str]]) -> None:
    """Each operation in turn, with generated path parameters and again with real ids; every
    failure is collected, so one run reports them all. (Schemathesis' pytest plugin does not
    support pytest 9 yet, so its Python API drives Hypothesis directly.)"""
    server, ids = contract_server
    api_schema = schemathesis.openapi.from_url(server.http_url + "/openapi.json")
    failures: list[str] = []
    operations = 0
    operations_run = api_schema.exclude(path="/v1/simulate").exclude(
        path="/v1/admin/alerts", method="POST"
    )
    for result in operations_run.get_all_operations():
        operation = result.ok()
        operations += 1
        known = _known_ids(operation.path, operation.method.upper(), ids)
        operation_checks = CHECKS
        if operation.path in OPTIONAL_FEATURES:
            operation_checks = [c for c in CHECKS if c is not not_a_server_error]
        strategies = [operation.as_strategy()]
        if known:
            strategies.append(operation.as_strategy(path_parameters=known))
        for strategy in strategies:
            check = _checked_cases(strategy, operation_checks)
            try:
                check()
            except Exception as exc:
                failures.append(f"{operation.label}:\n{exc}")
    assert operations >= 10
    assert not failures, "\n\n".join(failures)
