"""Poison inputs: nothing one sender sends stops derivation for anyone else.

Each poison trace goes in through a real server with real keys of one project; then a healthy
trace of another project must be derived. Oversized identifiers and NUL are cut and cleaned by
the mapping (the raw span keeps them); loops in the parent links and a 100,000-span trace
derive; a trace whose stored span cannot even be parsed goes to the quarantine alone, is
listed by ``agentguide derive status``, and leaves it once its trace can be derived.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import psycopg
import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse
from opentelemetry.proto.trace.v1.trace_pb2 import Span, Status

from tests.otlp_helpers import make_request, make_span, random_span_id, random_trace_id
from tests.security.helpers import Key, agentguide, create_key, post_otlp
from tests.support import PostgresServer, RunningServer, start_server, wait_derived

LONG = "x" * 10_000
NUL = "before\x00after"
IDENTIFIER_BYTES = 512


@dataclass
class Site:
    server: RunningServer
    database_url: str
    alpha: Key
    beta: Key
    beta_read: Key


@pytest.fixture(scope="module")
def site(postgres: PostgresServer) -> Iterator[Site]:
    database_url = postgres.create_database()
    alpha = create_key(database_url, "alpha", "ingest")
    beta = create_key(database_url, "beta", "ingest")
    beta_read = create_key(database_url, "beta", "read")
    server = start_server(database_url, "--auth", "required", "--rate-ingest-spans", "0")
    try:
        yield Site(server, database_url, alpha, beta, beta_read)
    finally:
        server.stop()


def _send(
    site: Site, spans: list[Span], service_name: str = "poison", key: Key | None = None
) -> None:
    response = post_otlp(
        site.server.http_url,
        make_request(spans, service_name=service_name),
        (key or site.alpha).bearer(),
    )
    assert response.status_code == 200, response.text
    answer = ExportTraceServiceResponse.FromString(response.content)
    assert answer.partial_success.rejected_spans == 0, answer.partial_success.error_message


def _healthy_trace_of_beta_is_derived(site: Site) -> None:
    trace_id = random_trace_id()
    agent = make_span(
        trace_id,
        "invoke_agent healthy",
        attributes={"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "healthy"},
    )
    _send(site, [agent], service_name="healthy", key=site.beta)
    deadline = time.monotonic() + 60
    while True:
        found = httpx.get(
            site.server.http_url + "/v1/runs",
            params={"trace_id": trace_id.hex()},
            headers=site.beta_read.bearer(),
        ).json()["items"]
        if found:
            assert found[0]["agent"]["name"] == "healthy"
            return
        assert time.monotonic() < deadline, "the healthy trace of another project was not derived"
        time.sleep(0.1)


def _run_rows(site: Site, trace_id: bytes) -> list[dict[str, Any]]:
    with psycopg.connect(site.database_url) as conn:
        cursor = conn.execute(
            "SELECT agent_name, name, session_id, user_id, service_name, error_type,"
            " truncated_fields, status FROM runs WHERE trace_id = %s",
            (trace_id,),
        )
        columns = [c.name for c in cursor.description or ()]
        return [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]


def _agent_with_tool(trace_id: bytes, text: str) -> list[Span]:
    agent = make_span(
        trace_id,
        f"invoke_agent {text}",
        attributes={
            "gen_ai.operation.name": "invoke_agent",
            "gen_ai.agent.name": text,
            "gen_ai.agent.id": text,
            "gen_ai.agent.version": text,
            "session.id": text,
            "user.id": text,
            "gen_ai.conversation.id": text,
        },
    )
    tool = make_span(
        trace_id,
        text,
        parent_span_id=agent.span_id,
        attributes={
            "gen_ai.operation.name": "execute_tool",
            "gen_ai.tool.name": text,
            "gen_ai.tool.call.id": text,
            "gen_ai.tool.call.arguments": text,
            "error.type": text,
        },
    )
    tool.status.code = Status.STATUS_CODE_ERROR
    tool.status.message = text
    llm = make_span(
        trace_id,
        text,
        parent_span_id=agent.span_id,
        attributes={
            "gen_ai.operation.name": "chat",
            "gen_ai.request.model": text,
            "gen_ai.provider.name": text,
        },
    )
    event = tool.events.add()
    event.name = text
    event.time_unix_nano = tool.start_time_unix_nano
    return [agent, tool, llm]


@pytest.mark.parametrize("text", [LONG, NUL, "ü" * 3000 + NUL], ids=["long", "nul", "multibyte"])
def test_poison_identifiers_are_cut_and_cleaned(site: Site, text: str) -> None:
    trace_id = random_trace_id()
    _send(site, _agent_with_tool(trace_id, text), service_name=text)
    _healthy_trace_of_beta_is_derived(site)
    wait_derived(site.database_url)
    (run,) = _run_rows(site, trace_id)
    for field in ("agent_name", "name", "session_id", "user_id", "service_name"):
        value = run[field]
        assert value is not None and "\x00" not in value, field
        assert len(value.encode()) <= IDENTIFIER_BYTES, field
    if len(text.encode()) > IDENTIFIER_BYTES:
        assert "agent_name" in (run["truncated_fields"] or []), run["truncated_fields"]
    with psycopg.connect(site.database_url) as conn:
        steps = conn.execute(
            "SELECT tool_name, model, error_type FROM steps WHERE trace_id = %s", (trace_id,)
        ).fetchall()
    assert len(steps) == 2
    for step in steps:
        for value in step:
            assert value is None or (
                "\x00" not in value and len(value.encode()) <= IDENTIFIER_BYTES
            )


def test_parent_loops_derive(site: Site) -> None:
    trace_id = random_trace_id()
    a, b, c = random_span_id(), random_span_id(), random_span_id()
    attributes = {"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "loop"}
    spans = [
        make_span(trace_id, "a", span_id=a, parent_span_id=b, attributes=attributes),
        make_span(trace_id, "b", span_id=b, parent_span_id=a, attributes=attributes),
        make_span(trace_id, "self", span_id=c, parent_span_id=c, attributes=attributes),
    ]
    _send(site, spans)
    _healthy_trace_of_beta_is_derived(site)
    wait_derived(site.database_url)
    with psycopg.connect(site.database_url) as conn:
        count = conn.execute(
            "SELECT count(*) FROM steps WHERE trace_id = %s", (trace_id,)
        ).fetchone()
    assert count == (3,), "every span of a loop is a step of some run"


def test_a_trace_of_100000_spans_derives(site: Site) -> None:
    trace_id = random_trace_id()
    agent = make_span(
        trace_id,
        "invoke_agent huge",
        attributes={"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "huge"},
        start_ns=1_800_000_000_000_000_000,
        duration_ns=3_600 * 10**9,
    )
    tools = [
        make_span(
            trace_id,
            "execute_tool t",
            parent_span_id=agent.span_id,
            attributes={"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": f"t{i % 7}"},
            start_ns=1_800_000_000_000_000_000 + i * 1000,
            duration_ns=500,
        )
        for i in range(99_999)
    ]
    spans = [*tools, agent]
    for position in range(0, len(spans), 10_000):
        _send(site, spans[position : position + 10_000], service_name="huge")
    _healthy_trace_of_beta_is_derived(site)
    wait_derived(site.database_url, timeout=300)
    (run,) = _run_rows(site, trace_id)
    assert (run["agent_name"], run["status"]) == ("huge", "SUCCESS")
    with psycopg.connect(site.database_url) as conn:
        step_count = conn.execute(
            "SELECT step_count FROM runs WHERE trace_id = %s", (trace_id,)
        ).fetchone()
    assert step_count == (99_999,)


def test_a_trace_that_cannot_be_derived_is_quarantined_alone(site: Site) -> None:
    """A stored span that is not protobuf at all (as if the disk had garbled it): its trace
    goes to the quarantine with the reason, the others go on, the CLI lists it; once the bad
    row is gone and a new span arrives, it is derived and leaves the quarantine."""
    broken = random_trace_id()
    _send(site, [make_span(broken, "fine")])
    wait_derived(site.database_url)
    with psycopg.connect(site.database_url, autocommit=True) as conn:
        project_id, resource_id, scope_id, start_ns = conn.execute(
            "SELECT project_id, resource_id, scope_id, start_ns FROM spans WHERE trace_id = %s",
            (broken,),
        ).fetchone()  # type: ignore[misc]
        conn.execute(
            "INSERT INTO spans (trace_id, project_id, span_id, start_ns, resource_id, scope_id,"
            " span) VALUES (%s, %s, %s, %s, %s, %s, %s)",
            (broken, project_id, random_span_id(), start_ns, resource_id, scope_id, b"\xff\xff"),
        )
        conn.execute(
            "INSERT INTO dirty_traces (trace_id, project_id, from_ns, to_ns, spans)"
            " VALUES (%s, %s, %s, %s, 1)",
            (broken, project_id, start_ns, start_ns),
        )
    _healthy_trace_of_beta_is_derived(site)
    wait_derived(site.database_url)
    status = agentguide("derive", "status", "--json", "--database-url", site.database_url).stdout
    document = json.loads(status)
    (entry,) = [q for q in document["quarantine"] if q["trace_id"] == broken.hex()]
    assert "does not map" in entry["error"]
    assert document["quarantined_traces"] >= 1
    admin = create_key(site.database_url, "alpha", "admin")
    listed = httpx.get(site.server.http_url + "/v1/admin/derive", headers=admin.bearer()).json()
    assert [q["trace_id"] for q in listed["quarantine"]] == [broken.hex()]
    assert (
        httpx.get(
            site.server.http_url + "/v1/admin/derive", headers=site.beta_read.bearer()
        ).status_code
        == 403
    )

    with psycopg.connect(site.database_url, autocommit=True) as conn:
        conn.execute("DELETE FROM spans WHERE trace_id = %s AND span = %s", (broken, b"\xff\xff"))
    _send(site, [make_span(broken, "later")])
    wait_derived(site.database_url)
    deadline = time.monotonic() + 30
    while True:
        document = json.loads(
            agentguide("derive", "status", "--json", "--database-url", site.database_url).stdout
        )
        if broken.hex() not in {q["trace_id"] for q in document["quarantine"]}:
            break
        assert time.monotonic() < deadline, "the trace stayed in the quarantine"
        time.sleep(0.2)
    assert len(_run_rows(site, broken)) == 2
