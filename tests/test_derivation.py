"""Runs and steps are a function of the set of stored spans, through the real OTLP path."""

from __future__ import annotations

import json
import os
import random
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import grpc
import httpx
import psycopg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.proto.trace.v1.trace_pb2 import Span

from receiver.grpc_server import SERVICE_NAME
from storage.derived_rows import RUN_PREVIEW_CHARS, STEP_PREVIEW_CHARS
from tests.derived_state import derived_state
from tests.fakes.otlp_bodies import trace_request
from tests.otlp_helpers import make_request, make_span, post_protobuf, stored_spans
from tests.support import RunningServer, fixtures_dir, running_server, wait_derived

# --- sending ------------------------------------------------------------------------------


def _send(server: RunningServer, spans: Sequence[Span], protocol: str) -> None:
    request = make_request(spans, service_name="derivation-tests")
    if protocol == "grpc":
        with grpc.insecure_channel(server.grpc_endpoint) as channel:
            channel.unary_unary(f"/{SERVICE_NAME}/Export")(request.SerializeToString(), timeout=30)
    else:
        response = post_protobuf(server.http_url, request)
        assert response.status_code == 200, response.text


def _with_trace_id(spans: Sequence[Span], trace_id: bytes) -> list[Span]:
    copies = []
    for span in spans:
        copy = Span()
        copy.CopyFrom(span)
        copy.trace_id = trace_id
        copies.append(copy)
    return copies


def _ingest_in_pieces(
    server: RunningServer, spans: Sequence[Span], rng: random.Random, duplicate: bool
) -> None:
    """Send the spans in a random order, random splits, alternating protocols, with repeats."""
    shuffled = list(spans)
    rng.shuffle(shuffled)
    if duplicate and shuffled:
        shuffled += rng.sample(shuffled, k=max(1, len(shuffled) // 3))
    position = 0
    while position < len(shuffled):
        size = rng.randint(1, max(1, len(shuffled) // 2))
        _send(server, shuffled[position : position + size], rng.choice(["grpc", "http"]))
        position += size


# --- generated traces -------------------------------------------------------------------

_KINDS = ["agent", "tool", "llm", "plain", "retriever"]


@st.composite
def agent_traces(draw: st.DrawFn) -> list[Span]:
    """A tree of agent, tool, LLM, retriever and plain spans; some parents may be left out."""
    trace_id = b"\x01" * 16
    count = draw(st.integers(min_value=1, max_value=25))
    spans: list[Span] = []
    for index in range(count):
        kind = draw(st.sampled_from(_KINDS))
        parent = b""
        if spans and draw(st.integers(0, 9)) > 0:
            parent = spans[draw(st.integers(0, len(spans) - 1))].span_id
        start = 1_700_000_000_000_000_000 + draw(st.integers(0, 5)) * 1_000_000
        attributes: dict[str, Any] = {}
        name = f"plain-{index}"
        if kind == "agent":
            agent = draw(st.sampled_from(["planner", "coder", "critic"]))
            attributes = {"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": agent}
            name = f"invoke_agent {agent}"
        elif kind == "tool":
            tool = draw(st.sampled_from(["search", "fetch", "calc"]))
            attributes = {"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": tool}
            name = f"execute_tool {tool}"
        elif kind == "llm":
            attributes = {
                "gen_ai.operation.name": "chat",
                "gen_ai.request.model": "m1",
                "gen_ai.usage.input_tokens": draw(st.integers(0, 500)),
                "gen_ai.usage.output_tokens": draw(st.integers(0, 500)),
            }
            name = "chat m1"
        elif kind == "retriever":
            attributes = {"openinference.span.kind": "RETRIEVER", "input.value": "q"}
            name = "retrieve"
        spans.append(
            make_span(
                trace_id,
                name,
                span_id=(index + 1).to_bytes(8, "big"),
                parent_span_id=parent,
                attributes=attributes,
                start_ns=start,
                duration_ns=draw(st.integers(1, 10**9)),
                status_code=draw(st.sampled_from([0, 0, 0, 1, 2])),
            )
        )
    missing = draw(st.sets(st.integers(0, count - 1), max_size=min(2, count - 1)))
    return [span for index, span in enumerate(spans) if index not in missing]


@settings(
    max_examples=int(os.environ.get("AGENTGUIDE_PROPERTY_EXAMPLES", "25")),
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(spans=agent_traces(), seed=st.integers(0, 2**32 - 1), duplicate=st.booleans())
def test_any_order_split_and_duplicates_give_the_one_shot_result(
    agentguide_server: RunningServer, spans: list[Span], seed: int, duplicate: bool
) -> None:
    rng = random.Random(seed)
    one_shot_trace, pieces_trace = os.urandom(16), os.urandom(16)
    _send(agentguide_server, _with_trace_id(spans, one_shot_trace), "http")
    _ingest_in_pieces(agentguide_server, _with_trace_id(spans, pieces_trace), rng, duplicate)
    assert agentguide_server.database_url is not None
    wait_derived(agentguide_server.database_url)
    one_shot = derived_state(agentguide_server.database_url, one_shot_trace)
    assert one_shot["runs"], "every trace has at least one run"
    assert derived_state(agentguide_server.database_url, pieces_trace) == one_shot


# --- real fixture traces ------------------------------------------------------------------


def _fixture_spans(scenario: Path) -> list[Span]:
    spans = []
    for body in sorted(scenario.glob("*.body.bin")):
        request = trace_request(body)  # protobuf or JSON, as its meta.json says
        for resource_spans in request.resource_spans:
            for scope_spans in resource_spans.scope_spans:
                spans.extend(scope_spans.spans)
    return spans


def _scenarios() -> list[Path]:
    return sorted(path.parent for path in fixtures_dir().glob("*/*/expected.json"))


@pytest.mark.parametrize("scenario", _scenarios(), ids=lambda p: f"{p.parent.name}-{p.name}")
def test_fixture_traces_in_random_orders(agentguide_server: RunningServer, scenario: Path) -> None:
    spans = _fixture_spans(scenario)
    assert len({span.trace_id for span in spans}) == 1
    assert agentguide_server.database_url is not None
    rng = random.Random(scenario.name)
    one_shot_trace = os.urandom(16)
    _send(agentguide_server, _with_trace_id(spans, one_shot_trace), "grpc")
    wait_derived(agentguide_server.database_url)
    expected = derived_state(agentguide_server.database_url, one_shot_trace)
    for attempt in range(3):
        trace_id = os.urandom(16)
        _ingest_in_pieces(agentguide_server, _with_trace_id(spans, trace_id), rng, attempt > 0)
        wait_derived(agentguide_server.database_url)
        assert derived_state(agentguide_server.database_url, trace_id) == expected


@pytest.mark.parametrize("scenario", _scenarios(), ids=lambda p: f"{p.parent.name}-{p.name}")
def test_fixture_golden_through_otlp(fresh_database_url: str, scenario: Path) -> None:
    """Each capture, posted body by body as it was recorded (traces, then its log records),
    yields its expected.json."""
    expected = json.loads((scenario / "expected.json").read_text())
    with running_server(fresh_database_url) as server:
        bodies = [(body, ".body.bin", ".meta.json") for body in sorted(scenario.glob("*.body.bin"))]
        bodies += [(b, ".logs.bin", ".logs.meta.json") for b in sorted(scenario.glob("*.logs.bin"))]
        for body, suffix, meta_suffix in bodies:
            meta = json.loads(body.with_name(body.name.replace(suffix, meta_suffix)).read_text())
            headers = {"Content-Type": meta["content_type"]}
            if meta.get("content_encoding"):
                headers["Content-Encoding"] = meta["content_encoding"]
            response = httpx.post(
                server.http_url + meta["path"], content=body.read_bytes(), headers=headers
            )
            assert response.status_code == 200
        wait_derived(fresh_database_url)
        with psycopg.connect(fresh_database_url) as conn:
            runs = conn.execute(
                "SELECT trace_id, span_id, agent_name, status, error_message, parent_span_id,"
                " input_tokens, output_tokens, input FROM runs ORDER BY start_ns, span_id"
            ).fetchall()
            runs_by_span = {bytes(r[1]).hex(): r for r in runs}
            assert sorted(runs_by_span) == sorted(r["span_id"] for r in expected["runs"])
            for expected_run in expected["runs"]:
                run = runs_by_span[expected_run["span_id"]]
                assert run[2] == expected_run["agent_name"]
                assert run[3] == expected_run["status"]
                if expected_run["error_message"]:
                    assert expected_run["error_message"] in (run[4] or "")
                summary = expected_run.get("input_summary")
                assert run[8] == (summary[:RUN_PREVIEW_CHARS] if summary else None)
                parent_span = bytes(run[5]).hex() if run[5] else None
                assert parent_span == expected_run["parent_run_span_id"]
                steps = conn.execute(
                    "SELECT span_id, kind, tool_name, model, status, error_message"
                    " FROM steps WHERE trace_id = %s AND run_span_id = %s ORDER BY step_index",
                    (run[0], run[1]),
                ).fetchall()
                assert [bytes(s[0]).hex() for s in steps] == [
                    s["span_id"] for s in expected_run["steps"]
                ]
                for step, expected_step in zip(steps, expected_run["steps"], strict=True):
                    assert step[1] == expected_step["kind"]
                    assert (step[4] == "FAILED") == expected_step["errored"]
                    if expected_step.get("tool_name"):
                        assert step[2] == expected_step["tool_name"]
                    if expected_step.get("model"):
                        assert step[3] == expected_step["model"]
                totals = expected_run.get("llm_token_totals")
                if totals and any(s["kind"] == "llm" for s in expected_run["steps"]):
                    assert (run[6], run[7]) == (totals["input_tokens"], totals["output_tokens"])


# --- concurrency, orphans, payloads ---------------------------------------------------------


def test_two_processes_one_trace_concurrently(fresh_database_url: str) -> None:
    """Two receivers on one database, each with two derive workers, each taking half of one
    trace at the same time: the same result as one process taking it whole."""
    rng = random.Random(7)
    all_captured = [span for scenario in _scenarios() for span in _fixture_spans(scenario)]
    trace_split, trace_whole = os.urandom(16), os.urandom(16)
    merged = _with_trace_id(all_captured, trace_split)
    rng.shuffle(merged)
    with (
        running_server(fresh_database_url, "--derive-workers", "2") as first,
        running_server(fresh_database_url, "--derive-workers", "2") as second,
    ):

        def send(server: RunningServer, half: list[Span]) -> None:
            for index in range(0, len(half), 3):
                _send(server, half[index : index + 3], "grpc" if index % 2 else "http")

        threads = [
            threading.Thread(target=send, args=(server, half))
            for server, half in ((first, merged[::2]), (second, merged[1::2]))
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        _send(first, _with_trace_id(all_captured, trace_whole), "http")
        wait_derived(fresh_database_url)
        split_state = derived_state(fresh_database_url, trace_split)
        assert len(split_state["runs"]) >= len(_scenarios())
        assert split_state == derived_state(fresh_database_url, trace_whole)


def test_orphan_is_mapped_then_remapped_when_parent_arrives(
    agentguide_server: RunningServer,
) -> None:
    assert agentguide_server.database_url is not None
    trace_id = os.urandom(16)
    agent_id, tool_id = b"\xaa" * 8, b"\xbb" * 8
    tool = make_span(
        trace_id,
        "execute_tool lookup",
        span_id=tool_id,
        parent_span_id=agent_id,
        attributes={"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "lookup"},
        start_ns=1_700_000_000_100_000_000,
    )
    _send(agentguide_server, [tool], "http")
    wait_derived(agentguide_server.database_url)
    before = derived_state(agentguide_server.database_url, trace_id)
    assert len(before["runs"]) == 1
    assert before["runs"][0]["status"] == "RUNNING"
    assert before["runs"][0]["orphan_span_count"] == 1
    assert [s["tool_name"] for s in before["steps"]] == ["lookup"]

    agent = make_span(
        trace_id,
        "invoke_agent finder",
        span_id=agent_id,
        attributes={"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "finder"},
        start_ns=1_700_000_000_000_000_000,
        duration_ns=10**9,
    )
    _send(agentguide_server, [agent], "grpc")
    wait_derived(agentguide_server.database_url)
    after = derived_state(agentguide_server.database_url, trace_id)
    assert [(r["agent_name"], r["status"], r["orphan_span_count"]) for r in after["runs"]] == [
        ("finder", "SUCCESS", 0)
    ]
    assert after["runs"][0]["span_id"] == before["runs"][0]["span_id"], (
        "the placeholder became the run"
    )
    assert [s["run_span_id"] for s in after["steps"]] == [after["runs"][0]["span_id"]]


def test_large_payload_kept_whole_in_raw_span_and_marked_truncated(
    agentguide_server: RunningServer,
) -> None:
    from mapping import MAX_DISPLAY_CHARS

    assert agentguide_server.database_url is not None
    trace_id = os.urandom(16)
    agent_id = b"\x0c" * 8
    payload = "x" * (MAX_DISPLAY_CHARS * 3)
    spans = [
        make_span(
            trace_id,
            "invoke_agent big",
            span_id=agent_id,
            attributes={"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "big"},
        ),
        make_span(
            trace_id,
            "execute_tool dump",
            parent_span_id=agent_id,
            attributes={
                "gen_ai.operation.name": "execute_tool",
                "gen_ai.tool.name": "dump",
                "gen_ai.tool.call.result": payload,
            },
        ),
    ]
    _send(agentguide_server, spans, "http")
    wait_derived(agentguide_server.database_url)
    (step,) = derived_state(agentguide_server.database_url, trace_id)["steps"]
    assert step["output_truncated"] is True
    assert 0 < len(step["output"]) <= STEP_PREVIEW_CHARS, "the row keeps a preview"
    run_id = trace_id.hex() + agent_id.hex()
    step_id = trace_id.hex() + bytes(step["span_id"]).hex()
    shown = httpx.get(f"{agentguide_server.http_url}/v1/runs/{run_id}/steps/{step_id}").json()
    assert shown["output"] == "x" * MAX_DISPLAY_CHARS, "the step's view maps the raw span again"
    assert shown["output_truncated"] is True
    (in_detail,) = httpx.get(f"{agentguide_server.http_url}/v1/runs/{run_id}").json()["steps"]
    assert in_detail["output"] == shown["output"]
    raw = stored_spans(agentguide_server.http_url, trace_id)
    tool_raw = next(e["span"] for e in raw.values() if e["span"]["name"] == "execute_tool dump")
    values = {a["key"]: a["value"] for a in tool_raw["attributes"]}
    assert values["gen_ai.tool.call.result"]["stringValue"] == payload


def test_nul_in_mapped_text_does_not_stall_derivation(agentguide_server: RunningServer) -> None:
    """PostgreSQL text cannot hold NUL: the display copy gets U+FFFD, the raw span keeps it,
    and traces derived in the same batch are not held up."""
    assert agentguide_server.database_url is not None
    with_nul, clean = os.urandom(16), os.urandom(16)
    spans = [
        make_span(
            trace_id,
            "execute_tool nul",
            attributes={
                "gen_ai.operation.name": "execute_tool",
                "gen_ai.tool.name": "nul\x00tool",
                "gen_ai.tool.call.arguments": "a\x00b",
            },
        )
        for trace_id in (with_nul, clean)
    ]
    _send(agentguide_server, spans, "http")
    wait_derived(agentguide_server.database_url)
    (step,) = derived_state(agentguide_server.database_url, with_nul)["steps"]
    assert (step["tool_name"], step["input"]) == ("nul\ufffdtool", "a\ufffdb")
    assert derived_state(agentguide_server.database_url, clean)["steps"]
    raw = stored_spans(agentguide_server.http_url, with_nul)
    (entry,) = raw.values()
    values = {a["key"]: a["value"]["stringValue"] for a in entry["span"]["attributes"]}
    assert values["gen_ai.tool.call.arguments"] == "a\x00b"
